"""The commit policy and the hypothesis stabilizer, with scripted inputs and no model."""

from __future__ import annotations

import pytest

from tingshuo.asr.policy import (
    Commit,
    CommitPolicy,
    Draft,
    HypothesisStabilizer,
    PolicyConfig,
    Prepare,
)

FRAME = 0.032


def play(policy: CommitPolicy, probs: list[float], t0: float = 0.0):
    """Feed frame probabilities; return (frame start, action) pairs."""
    out = []
    for i, p in enumerate(probs):
        t = t0 + i * FRAME
        out += [(t, a) for a in policy.feed(t, t + FRAME, p)]
    return out


def seconds(s: float, p: float) -> list[float]:
    return [p] * round(s / FRAME)


def test_speech_then_silence_gives_drafts_then_one_commit():
    policy = CommitPolicy(PolicyConfig())
    actions = [a for _, a in play(policy, seconds(1, 0.0) + seconds(3, 0.9) + seconds(1, 0.0))]
    drafts = [a for a in actions if isinstance(a, Draft)]
    commits = [a for a in actions if isinstance(a, Commit)]
    assert len(commits) == 1
    assert len(drafts) >= 4
    assert actions.index(drafts[0]) < actions.index(commits[0])
    # the utterance starts a pad before the speech and ends a pad after it
    assert commits[0].start == pytest.approx(1.0 - 0.3, abs=FRAME)
    assert commits[0].end == pytest.approx(4.0 + 0.15, abs=FRAME)
    assert not policy.open


def test_drafts_grow_at_a_steady_cadence():
    cfg = PolicyConfig(partial_interval_s=0.5, first_partial_s=0.4)
    steps = play(CommitPolicy(cfg), seconds(4, 0.9))
    drafts = [a for _, a in steps if isinstance(a, Draft)]
    ends = [d.end for d in drafts]
    assert ends == sorted(ends)
    gaps = [b - a for a, b in zip(ends, ends[1:], strict=False)]
    assert all(g == pytest.approx(0.5, abs=FRAME) for g in gaps)
    assert all(d.start == drafts[0].start for d in drafts)


def test_a_short_click_is_not_speech():
    actions = play(
        CommitPolicy(PolicyConfig(min_speech_s=0.25)), seconds(0.1, 0.95) + seconds(2, 0.0)
    )
    assert actions == []


def test_a_pause_shorter_than_min_silence_keeps_the_utterance_open():
    cfg = PolicyConfig(min_silence_s=0.45)
    policy = CommitPolicy(cfg)
    actions = [a for _, a in play(policy, seconds(1, 0.9) + seconds(0.3, 0.0) + seconds(1, 0.9))]
    assert not any(isinstance(a, Commit) for a in actions)
    assert policy.open


def test_final_is_prepared_early_in_a_pause_and_matches_the_commit():
    policy = CommitPolicy(PolicyConfig(speculate_after_s=0.15, min_silence_s=0.45))
    actions = [a for _, a in play(policy, seconds(2, 0.9) + seconds(1, 0.0))]
    prepares = [a for a in actions if isinstance(a, Prepare)]
    commits = [a for a in actions if isinstance(a, Commit)]
    assert len(prepares) == 1 and len(commits) == 1
    assert (prepares[0].start, prepares[0].end) == (commits[0].start, commits[0].end)
    assert actions.index(prepares[0]) < actions.index(commits[0])


def test_long_speech_is_cut_at_the_quietest_moment_without_gap_or_overlap():
    cfg = PolicyConfig(max_utterance_s=5.0, min_silence_s=0.45)
    speech, dip = seconds(3.5, 0.9), seconds(0.1, 0.4)
    probs = speech + dip + seconds(4, 0.9) + seconds(1, 0.0)
    commits = [a for _, a in play(CommitPolicy(cfg), probs) if isinstance(a, Commit)]
    assert len(commits) == 2
    first, second = commits
    assert first.end - first.start <= 5.0 + FRAME
    dip_start = len(speech) * FRAME
    assert dip_start <= first.end < dip_start + len(dip) * FRAME  # in the dip, not mid-word
    assert second.start == first.end  # the next utterance starts exactly where the cut is


def test_utterances_never_overlap_and_flush_closes_the_last():
    policy = CommitPolicy(PolicyConfig())
    probs = (seconds(1, 0.9) + seconds(0.6, 0.0)) * 5 + seconds(1.5, 0.9)
    commits = [a for _, a in play(policy, probs) if isinstance(a, Commit)]
    commits += policy.flush(len(probs) * FRAME)
    assert len(commits) == 6
    for a, b in zip(commits, commits[1:], strict=False):
        assert a.end <= b.start
    assert policy.flush(len(probs) * FRAME) == []


def test_stabilizer_commits_what_two_drafts_agree_on():
    s = HypothesisStabilizer()
    assert s.update("这一切") == ("", "这一切")
    assert s.update("这一切都是为") == ("这一切", "都是为")
    assert s.update("这一切都是为了解决") == ("这一切都是为", "了解决")
    # a draft that contradicts the stable part does not take it back
    assert s.update("这一起") == ("这一切都是为", "")
    s.reset()
    assert s.stable == ""


def test_stabilizer_agrees_on_whole_words_in_english():
    s = HypothesisStabilizer()
    s.update("printing in the only")
    stable, unstable = s.update("printing in the only sense")
    assert stable == "printing in the only"
    assert unstable == " sense"
    stable, _ = s.update("printing in the other sense")
    assert stable == "printing in the only"
    s2 = HypothesisStabilizer()
    s2.update("printing in th")
    assert s2.update("printing in the")[0] == "printing in "
