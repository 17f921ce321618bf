"""Speech synthesis and AI anchor benchmark: speed, time to first audio, round trip, render.

    python -m benchmarks.tts              # everything (a few minutes on 2 cores)
    python -m benchmarks.tts --limit 10   # a quick look

Texts: AISHELL reference sentences (real Mandarin news text) plus sentences with numbers,
dates, percentages and acronyms; LJ Speech reference sentences plus the same kind in English.
Round trip: the synthesized audio is transcribed by tingshuo's recognizer (Whisper base) and
scored with tingshuo.asr.scoring (digits spelled the same way on both sides). Mandarin is scored
against the words the voice was given, i.e. the text after its normalisation (9:30 → 九点三十分,
-5℃ → 零下五度, ¥380 → 三百八十元): the recognizer writing 9点30分 is not an error of speech.
RTF = synthesis time / audio duration (median over sentences, cache off). First audio = time
from a paragraph's request to its first sentence's audio (median). Render = wall seconds per
minute of video, timeline (speech) ready, for the example rundown.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from tingshuo.anchor.render import render_timeline
from tingshuo.anchor.rundown import load_rundown
from tingshuo.anchor.timeline import build_timeline
from tingshuo.asr import load_recognizer
from tingshuo.asr.base import Request
from tingshuo.asr.scoring import cer, wer
from tingshuo.settings import Settings
from tingshuo.tts import Voice, load_voice
from tingshuo.tts.audio_out import resample
from tingshuo.tts.zh_text import normalize as normalize_zh_text

from .common import DATA, median, peak_rss_mb, read_tsv

console = Console()
ROOT = Path(__file__).resolve().parents[1]

ZH_EXTRA = [
    "大家好，欢迎来到2026年世界人工智能大会。",
    "今年一季度GDP同比增长5.2%。",
    "会议将于3月15日上午9:30在上海开幕。",
    "我们邀请了来自50个国家的1,200位嘉宾。",
    "5G网络已经覆盖全国所有地级市。",
    "AI正在改变我们的生活和工作方式。",
    "门票价格为¥380元，学生半价。",
    "气温将降到-5℃，请注意保暖。",
    "本次展览面积超过5万平方米。",
    "公司的研发投入占收入的12.5%。",
]
EN_EXTRA = [
    "Good evening, and welcome to the 2026 World AI Conference.",
    "The economy grew by 5.2 percent in the first quarter.",
    "More than 1,200 guests from 50 countries are with us today.",
    "Our next speaker has worked on speech recognition for 20 years.",
    "Please turn off your phones before the ceremony begins.",
]
PARAGRAPHS = {
    "zh": [
        "尊敬的各位来宾，大家上午好！欢迎来到2026年世界人工智能大会。今年的大会共有来自50个"
        "国家的嘉宾参加。让我们以热烈的掌声欢迎各位的到来。",
        "下面，请允许我介绍今天的议程。上午是开幕式和主旨演讲，下午是分论坛。晚上六点举行欢迎"
        "晚宴。",
        "本届大会的主题是智联世界，共创未来。我们将讨论AI、5G与绿色发展。感谢大家的参与。",
    ],
    "en": [
        "Distinguished guests, good morning, and welcome to the 2026 World AI Conference. "
        "This year, guests from 50 countries are with us. Please join me in welcoming them.",
        "Let me walk you through today's program. The morning is the opening ceremony and the "
        "keynotes. The afternoon has the parallel forums.",
        "Our theme is connecting the world and creating the future. Thank you for being here.",
    ],
}


def texts(limit: int | None) -> dict[str, list[str]]:
    aishell = read_tsv(DATA / "aishell-asr0009-sample-2spk" / "manifest.tsv")
    lj = read_tsv(DATA / "ljspeech-subset-en" / "manifest.tsv")
    zh = ZH_EXTRA + [r["reference_text"] + "。" for r in aishell[:: max(1, len(aishell) // 30)]]
    en = EN_EXTRA + [r["reference_text"] for r in lj]
    if limit:
        zh, en = zh[:limit], en[:limit]
    return {"zh": zh, "en": en}


def measure(lang: str, sentences: list[str], voice: Voice, recognizer) -> dict[str, float]:
    rtf, hyps = [], []
    for text in track(sentences, description=f"{lang} round trip", console=console):
        started = time.perf_counter()
        speech = voice.engine.synthesize(text)  # the engine itself: no cache
        rtf.append((time.perf_counter() - started) / speech.duration)
        audio = resample(speech.audio, speech.sample_rate, 16_000)
        hyps.append(recognizer.recognize(Request(audio, lang)).text)
    first = []
    for paragraph in PARAGRAPHS[lang]:
        fresh = Voice(voice.engine, voice.settings)  # empty memory, cache off
        started = time.perf_counter()
        next(fresh.stream(paragraph))
        first.append(time.perf_counter() - started)
    score = cer if lang == "zh" else wer
    if lang == "zh":
        sentences = [normalize_zh_text(text) for text in sentences]
    extra = len(ZH_EXTRA if lang == "zh" else EN_EXTRA)
    worst = sorted(
        zip(sentences, hyps, strict=True),
        key=lambda p: -score([p[0]], [p[1]]),
    )[:3]
    for ref, hyp in worst:
        logging.getLogger("benchmark").info("%s | %s", ref, hyp)
    return {
        "rtf": median(rtf),
        "first": median(first),
        "error": score(sentences, hyps),
        "event": score(sentences[:extra], hyps[:extra]),
        "corpus": score(sentences[extra:], hyps[extra:]) if sentences[extra:] else float("nan"),
        "n": len(sentences),
        "n_event": min(extra, len(sentences)),
    }


def render_speed(settings: Settings) -> dict[str, tuple[float, float]]:
    plan = load_rundown(ROOT / "examples" / "opening-ceremony.yaml")
    started = time.perf_counter()
    timeline = build_timeline(plan, lambda lang: load_voice(lang, settings))
    speak_s = time.perf_counter() - started
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in ("720p", "1080p"):
            started = time.perf_counter()
            render_timeline(timeline, Path(tmp) / f"{size}.mp4", size, settings.anchor_fps)
            wall = time.perf_counter() - started
            results[size] = (wall / timeline.duration * 60, timeline.duration)
    results["speech"] = (speak_s / timeline.duration * 60, timeline.duration)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="sentences per language")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = Settings(tts_disk_cache=False)
    recognizer = load_recognizer(settings)
    started = time.perf_counter()
    voices = {lang: load_voice(lang, settings) for lang in ("zh", "en")}
    load_s = time.perf_counter() - started
    rows = {
        lang: measure(lang, sentences, voices[lang], recognizer)
        for lang, sentences in texts(args.limit).items()
    }
    render = render_speed(settings)
    table = Table(title="tingshuo speech synthesis and anchor (medians; floors in brackets)")
    table.add_column("measure")
    table.add_column("zh (FastSpeech2 Baker)")
    table.add_column("en (Piper joe)")
    table.add_row("sentences", str(rows["zh"]["n"]), str(rows["en"]["n"]))
    table.add_row(
        "real-time factor [≤ 0.2]", f"{rows['zh']['rtf']:.3f}", f"{rows['en']['rtf']:.3f}"
    )
    table.add_row(
        "time to first audio [≤ 0.5 s]",
        f"{rows['zh']['first']:.2f} s",
        f"{rows['en']['first']:.2f} s",
    )
    table.add_row(
        "round trip CER zh [≤ 10 %] / WER en: all",
        f"{rows['zh']['error']:.1%}",
        f"{rows['en']['error']:.1%}",
    )
    table.add_row(
        f"  event sentences (numbers, dates, AI/GDP/5G; {rows['zh']['n_event']} / "
        f"{rows['en']['n_event']})",
        f"{rows['zh']['event']:.1%}",
        f"{rows['en']['event']:.1%}",
    )
    table.add_row(
        "  corpus references (AISHELL news / LJ Speech)",
        f"{rows['zh']['corpus']:.1%}",
        f"{rows['en']['corpus']:.1%}",
    )
    console.print(table)
    video = Table(title=f"anchor video: example rundown, {render['720p'][1]:.0f} s")
    video.add_column("step")
    video.add_column("seconds per minute of video")
    video.add_row("speech (zh + en, cache off)", f"{render['speech'][0]:.1f}")
    video.add_row("render 720p (frames + H.264 + AAC)", f"{render['720p'][0]:.1f}")
    video.add_row("render 1080p", f"{render['1080p'][0]:.1f}")
    console.print(video)
    console.print(f"voices loaded in {load_s:.1f} s; peak memory {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
