"""A live session with target languages: each Final is followed by its stored Translation."""

from __future__ import annotations

import numpy as np
import srt

from tingshuo.audio.decode import load_audio
from tingshuo.events import Final, Segment, Translation
from tingshuo.live.recipe import Recipe, open_session
from tingshuo.mt import Glossary, TranslationWorker, load_translator
from tingshuo.store.db import open_store
from tingshuo.store.export import render

from .helpers import AISHELL


def test_translations_follow_their_finals_and_are_stored(worker, settings, db_url, aishell_rows):
    by_id = {r["utt_id"]: r for r in aishell_rows}
    rows = [by_id["BAC009S0150W0146"], by_id["BAC009S0150W0154"]]  # 万科 …, 万达 …
    gap = np.zeros(16_000, dtype=np.float32)
    audio = np.concatenate(
        [load_audio(AISHELL / rows[0]["path"]), gap, load_audio(AISHELL / rows[1]["path"])]
    )
    store = open_store(db_url)
    glossary = Glossary.from_pairs([("万科", "Vanke"), ("万达", "Wanda")])
    events = []
    with TranslationWorker(load_translator(settings), settings) as translator:
        recipe = Recipe("zh", targets=("en",), glossary=glossary, title="bilingual")
        session = open_session(recipe, worker, store, settings, translator=translator)
        blocks = (audio[i : i + 1600] for i in range(0, audio.size, 1600))
        session.run(blocks, events.append)
    finals = [e for e in events if isinstance(e, Final)]
    translations = [e for e in events if isinstance(e, Translation) and not e.partial]
    partials = [e for e in events if isinstance(e, Translation) and e.partial]
    assert len(finals) == 2 and len(translations) == 2
    for final in finals:
        mine = [t for t in translations if t.segment_id == final.segment.id]
        assert len(mine) == 1 and mine[0].lang == "en"
        assert events.index(final) < events.index(mine[0])
        # the first words went out while the model was still writing
        words = [p for p in partials if p.segment_id == final.segment.id]
        assert words and events.index(final) < events.index(words[0])
        assert events.index(words[-1]) < events.index(mine[0])
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in mine[0].text)
    joined = " ".join(t.text for t in translations)
    assert "Vanke" in joined and "Wanda" in joined

    stored = store.segments(session.info.id)
    assert all(s.translations.get("en") for s in stored)
    assert store.get_session(session.info.id).targets == ["en"]
    cues = list(srt.parse(render(stored, "srt", languages=["en"]).decode()))
    assert cues[0].content.split("\n") == [stored[0].text, stored[0].translations["en"]]


def test_transcribe_to_english_writes_bilingual_srt(cli, db_url, tmp_path, aishell_rows):
    """`tingshuo transcribe --to en`: each cue holds the caption and its translation, and
    the session keeps both for later exports."""
    by_id = {r["utt_id"]: r for r in aishell_rows}
    glossary = tmp_path / "terms.csv"
    glossary.write_text("万科,Vanke\n", encoding="utf-8")
    out = tmp_path / "talk.srt"
    path = AISHELL / by_id["BAC009S0150W0146"]["path"]
    result = cli(
        "transcribe",
        str(path),
        "--lang",
        "zh",
        "--to",
        "en",
        "--glossary",
        str(glossary),
        "-f",
        "srt",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    cues = list(srt.parse(out.read_text(encoding="utf-8")))
    assert cues
    for cue in cues:
        chinese, english = cue.content.split("\n")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese)
        assert english and not any("\u4e00" <= ch <= "\u9fff" for ch in english)
    assert "Vanke" in " ".join(c.content for c in cues)
    (info,) = open_store(db_url).list_sessions()
    assert info.targets == ["en"]
    again = cli("export", info.id, "-f", "txt")
    assert again.returncode == 0 and "Vanke" in again.stdout


def test_transcribe_refuses_an_unknown_target_before_working(cli, aishell_rows):
    path = AISHELL / aishell_rows[0]["path"]
    result = cli("transcribe", str(path), "--lang", "zh", "--to", "xx")
    assert result.returncode != 0
    assert "--to 'xx'" in result.stderr and "Traceback" not in result.stderr


def test_export_fills_in_translations_a_live_room_skipped(cli, db_url):
    """A live room that fell behind skipped a caption's translation (marked to viewers);
    the export translates it then, and keeps it."""
    store = open_store(db_url)
    info = store.create_session("bilingual", "websocket", "zh", [], ["en"])
    kept = store.add_segment(
        Segment(session_id=info.id, start=0.0, end=2.0, lang="zh", text="大家好。")
    )
    store.set_translation(kept.id, "en", "Hello everyone.")
    skipped = store.add_segment(
        Segment(session_id=info.id, start=2.5, end=5.0, lang="zh", text="欢迎来到发布会。")
    )
    result = cli("export", info.id, "-f", "txt", "--bilingual")
    assert result.returncode == 0, result.stderr
    assert "Hello everyone." in result.stdout
    filled = open_store(db_url).segments(info.id)[1].translations.get("en", "")
    assert skipped.id is not None and "welcome" in filled.lower()
    assert filled in result.stdout
    # a second export has nothing left to fill: the model is not loaded again
    again = cli("export", info.id, "-f", "txt", "--bilingual", "--no-fill")
    assert filled in again.stdout
