"""The AI anchor: rundowns, the timeline driven by the real voices, and the rendered video."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tingshuo.anchor.presenter import to_svg
from tingshuo.anchor.render import SPOKEN, Painter
from tingshuo.anchor.rundown import RundownError, load_rundown, parse_markdown, parse_yaml
from tingshuo.anchor.timeline import build_timeline
from tingshuo.cli import run
from tingshuo.tts import load_voice

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

SHORT = """\
title: 测试 Test
languages: [zh, en]
segments:
  - say:
      zh: 大家好，欢迎光临！
      en: Welcome, everyone!
  - pause: 0.5
  - say:
      zh: 这一句有表情😀不能读。
  - cue: play video
    seconds: 1
"""


def test_example_rundowns_parse_alike():
    yaml_plan = load_rundown(EXAMPLES / "opening-ceremony.yaml")
    md_plan = load_rundown(EXAMPLES / "opening-ceremony.md")
    assert yaml_plan.languages == md_plan.languages == ["zh", "en"]
    for plan in (yaml_plan, md_plan):
        kinds = {s.kind for s in plan.segments}
        assert kinds == {"say", "pause", "cue", "speaker"}
        first = plan.segments[0]
        assert first.speak == ["zh", "en"] and "2026年" in first.lines["zh"]
    assert yaml_plan.title == md_plan.title


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("segments:\n  - say: {zh: 你好\n", "line 3: not valid YAML"),
        ("title: x\n", "no `segments:` list"),
        ("segments:\n  - say: 你好\n  - sing: la\n", "line 3: unknown key 'sing'"),
        ("segments:\n  - say:\n      zh: ''\n", "line 2: the zh line is empty"),
        ("segments:\n  - say: {xx1: hi}\n", "line 2: `say`: unknown language"),
        ("segments:\n  - pause: soon\n", "line 2: `pause` must be seconds"),
        ("segments:\n  - say: {zh: 你好}\n    speak: [en]\n", "`say` has no en line"),
        ("segments:\n  - title: nothing\n", "line 2: the segment has nothing to do"),
    ],
)
def test_malformed_yaml_rundowns_say_which_line_and_why(text, message):
    with pytest.raises(RundownError, match=None) as caught:
        parse_yaml(text, "plan.yaml")
    assert message in str(caught.value) and str(caught.value).startswith("plan.yaml")


def test_malformed_markdown_rundown_names_the_line():
    text = "---\ntitle: t\n---\n\nzh: 你好\nen: Hello\n\nThis line is prose.\n"
    with pytest.raises(RundownError, match=r"plan.md line 8: cannot read 'This line is prose.'"):
        parse_markdown(text, "plan.md")
    with pytest.raises(RundownError, match="line 1: a Markdown rundown starts with front matter"):
        parse_markdown("zh: 你好\n", "plan.md")


def test_missing_rundown_file_is_a_clear_error(tmp_path, capsys):
    assert run(["anchor", str(tmp_path / "nope.yaml"), "--video", str(tmp_path / "o.mp4")]) == 1
    assert "no such rundown file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def timeline(settings):
    return build_timeline(parse_yaml(SHORT, "short.yaml"), lambda lang: load_voice(lang, settings))


def test_failed_line_is_reported_and_shown_not_dropped(timeline):
    assert [(f.line, f.lang) for f in timeline.failures] == [(8, "zh")]
    failed = [c for c in timeline.cards if c.failed]
    assert len(failed) == 1 and "line 8" in failed[0].heading and "😀" in failed[0].text
    # its words still appear as a subtitle while the card is up
    assert any("表情" in c.lines.get("zh", "") for c in timeline.captions)


def test_mouth_follows_the_synthesizer_timings(timeline):
    zh, en = timeline.captions[0], timeline.captions[1]
    assert (zh.lang, en.lang) == ("zh", "en") and zh.end <= en.start + 1e-6
    spoken = [timeline.mouth_at(u.start + 0.3 * (u.end - u.start)) for u in zh.units + en.units]
    assert {"open", "wide", "round"} & set(spoken) and len(set(spoken)) >= 3
    # silent during the pause after the English line
    assert timeline.mouth_at(en.units[-1].end + 0.3) == "rest"
    assert timeline.audio[round((en.units[-1].end + 0.3) * 24_000)] == 0


def test_subtitles_highlight_as_the_words_are_spoken(timeline):
    painter = Painter(timeline, "720p")
    zh = timeline.captions[0]
    early, late = zh.units[1].end, zh.units[-2].end

    def highlighted(t: float) -> int:
        pixels = np.asarray(painter.frame(t))[520:, :, :]
        return int((np.abs(pixels.astype(int) - SPOKEN).sum(axis=2) < 40).sum())

    assert 0 < highlighted(early) < highlighted(late)


def test_presenter_svg_matches_the_video_drawing():
    svg = to_svg("open")
    assert svg.startswith("<svg") and svg.count("<ellipse") >= 8
    assert to_svg("open") != to_svg("rest")


@pytest.mark.parametrize("size", ["720p", "1080p"])
def test_video_has_the_expected_size_duration_and_audio(size, tmp_path, timeline, settings):
    from tingshuo.anchor.render import render_timeline

    out = tmp_path / "anchor.mp4"
    render_timeline(timeline, out, size, settings.anchor_fps)
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio
        assert (video.codec_context.width, video.codec_context.height) == (
            {"720p": (1280, 720), "1080p": (1920, 1080)}[size]
        )
        assert len(audio) == 1 and audio[0].codec_context.name == "aac"
        assert container.duration / 1e6 == pytest.approx(timeline.duration, abs=0.2)
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
    assert np.abs(samples).max() > 0.1  # the anchor is audible


def test_anchor_command_renders_and_reports_the_failed_line(tmp_path, capsys):
    plan = tmp_path / "short.yaml"
    plan.write_text(SHORT, encoding="utf-8")
    out = tmp_path / "short.mp4"
    assert run(["anchor", str(plan), "--video", str(out)]) == 2
    err = capsys.readouterr().err
    assert "line 8:" in err and "😀" in err and "1 failed" in err
    assert out.stat().st_size > 10_000
