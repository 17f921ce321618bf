"""The second pass on live captions: a final it reads again is corrected through the caption
path (a `correction` event by the model, stored as a revision), never one an operator
corrected, and never while the room is behind."""

from __future__ import annotations

import pytest

from tingshuo.asr.second_pass import SecondPass
from tingshuo.events import Correction, Final, Segment
from tingshuo.live.captions import CaptionPath
from tingshuo.live.review import Job, ReviewWorker
from tingshuo.store.db import Store

HEARD = "杨成宇表示，房价断崖式下跌的可能性不大。"
MEANT = "杨澄宇表示，房价断崖式下跌的可能性不大。"


@pytest.fixture(scope="module")
def review(settings):
    # at normal priority: this tests what a review does, not that it yields the CPU
    worker = ReviewWorker(lambda: SecondPass.load(settings), nice=0, stale_s=600)
    yield worker
    worker.close()


def test_the_second_pass_corrects_a_live_caption_unless_an_operator_did(review, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'review.db'}")
    session = store.create_session("live", lang="zh")
    path = CaptionPath(store)
    events: list = []

    def final(text: str) -> Segment:
        seg = Segment(session_id=session.id, start=0, end=3, lang="zh", text=text)
        return path.commit(Final(utterance=0, segment=seg), events.append).segment

    def job(seg: Segment, behind: bool = False) -> Job:
        return Job(seg, ["房价会不会下跌？"], ["杨澄宇"], [], path, events.append, lambda: behind)

    machine, operator, late = final(HEARD), final(HEARD), final(HEARD)
    store.correct_segment(operator.id, "杨澄宇说，房价不会断崖式下跌。", by="operator")
    for seg, behind in [(machine, False), (operator, False), (late, True)]:
        review.submit(job(seg, behind))
    assert review.wait(300)

    assert store.get_segment(machine.id).text == MEANT
    assert [(r.by, r.text) for r in store.revisions(machine.id)] == [
        ("machine", HEARD),
        ("model", MEANT),
    ]
    corrections = [e for e in events if isinstance(e, Correction)]
    assert [(c.segment_id, c.by, c.text) for c in corrections] == [(machine.id, "model", MEANT)]
    # the operator's text stands; the late room's caption was not read again
    assert store.get_segment(operator.id).text == "杨澄宇说，房价不会断崖式下跌。"
    assert store.get_segment(late.id).text == HEARD
    assert review.counts.skipped == 1 and review.counts.changed == 1
    assert review.counts.reviewed == 1 and review.counts.refused == 1
