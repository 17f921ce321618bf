"""Transcript exports: TXT, SRT, VTT, JSON and DOCX, optionally with translations beside."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import timedelta

import srt

from ..errors import TingshuoError
from ..events import Segment

FORMATS = ("txt", "srt", "vtt", "json", "docx")


def _clock(seconds: float, sep: str = ".") -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _lines(segment: Segment, languages: Sequence[str]) -> list[str]:
    """The caption text, then each requested translation that exists."""
    lines = [segment.text]
    lines += [segment.translations[lang] for lang in languages if segment.translations.get(lang)]
    return lines


def to_txt(segments: Sequence[Segment], languages: Sequence[str] = ()) -> str:
    out = []
    for seg in segments:
        who = f"{seg.speaker}: " if seg.speaker else ""
        stamp = f"[{_clock(seg.start)[:8]}] "
        out.append(stamp + who + "\n    ".join(_lines(seg, languages)))
    return "\n".join(out) + ("\n" if out else "")


def to_srt(segments: Sequence[Segment], languages: Sequence[str] = ()) -> str:
    """SubRip cues; where more than one voice speaks, the speaker's name leads a cue when
    the speaker changes, as subtitlers mark a new voice (SRT has no speaker field)."""
    subtitles = []
    previous = None
    several = len({seg.speaker for seg in segments}) > 1
    for i, seg in enumerate(segments, 1):
        lines = _lines(seg, languages)
        if several and seg.speaker and seg.speaker != previous:
            lines[0] = f"{seg.speaker}: {lines[0]}"
        previous = seg.speaker
        subtitles.append(
            srt.Subtitle(
                index=i,
                start=timedelta(seconds=seg.start),
                end=timedelta(seconds=max(seg.end, seg.start + 0.001)),
                content="\n".join(lines),
            )
        )
    return srt.compose(subtitles, reindex=False)


def to_vtt(segments: Sequence[Segment], languages: Sequence[str] = ()) -> str:
    out = ["WEBVTT", ""]
    for i, seg in enumerate(segments, 1):
        text = "\n".join(_lines(seg, languages)).replace("-->", "->")
        if seg.speaker:
            text = f"<v {seg.speaker}>{text}"
        end = max(seg.end, seg.start + 0.001)
        out += [str(i), f"{_clock(seg.start)} --> {_clock(end)}", text, ""]
    return "\n".join(out)


def to_json(segments: Sequence[Segment], meta: dict | None = None) -> str:
    doc = dict(meta or {})
    doc["segments"] = [
        seg.model_dump(include={"id", "start", "end", "lang", "text", "speaker", "translations"})
        for seg in segments
    ]
    return json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n"


def to_docx(segments: Sequence[Segment], title: str, languages: Sequence[str] = ()) -> bytes:
    from docx import Document
    from docx.shared import Pt, RGBColor

    doc = Document()
    doc.add_heading(title, level=1)
    if languages:
        table = doc.add_table(rows=1, cols=2 + len(languages))
        table.style = "Table Grid"
        header = table.rows[0].cells
        header[0].text, header[1].text = "Time", "Transcript"
        for i, lang in enumerate(languages, 2):
            header[i].text = lang
        for seg in segments:
            cells = table.add_row().cells
            cells[0].text = _clock(seg.start)[:8]
            cells[1].text = (f"{seg.speaker}: " if seg.speaker else "") + seg.text
            for i, lang in enumerate(languages, 2):
                cells[i].text = seg.translations.get(lang, "")
    else:
        for seg in segments:
            p = doc.add_paragraph()
            stamp = p.add_run(_clock(seg.start)[:8] + "  ")
            stamp.font.size = Pt(9)
            stamp.font.color.rgb = RGBColor(0x80, 0x80, 0x80)
            if seg.speaker:
                p.add_run(f"{seg.speaker}: ").bold = True
            p.add_run(seg.text)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def machine_text(segments: Sequence[Segment]) -> list[Segment]:
    """The captions as the machine wrote them, before anyone corrected them."""
    return [
        s.model_copy(update={"text": s.original}) if s.original is not None else s for s in segments
    ]


def render(
    segments: Sequence[Segment],
    fmt: str,
    title: str = "Transcript",
    meta: dict | None = None,
    languages: Sequence[str] = (),
) -> bytes:
    """The transcript in `fmt`, as bytes ready to write or send."""
    if fmt == "txt":
        return to_txt(segments, languages).encode()
    if fmt == "srt":
        return to_srt(segments, languages).encode()
    if fmt == "vtt":
        return to_vtt(segments, languages).encode()
    if fmt == "json":
        return to_json(segments, meta).encode()
    if fmt == "docx":
        return to_docx(segments, title, languages)
    raise TingshuoError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
