"""An assessment as a table for the terminal, JSON, or an HTML page with pitch contours."""

from __future__ import annotations

import html
import json

from .assess import Assessment, SyllableResult
from .sandhi import SHAPES

# the expected shape of each tone, in semitones around the speaker's median, over the
# syllable's voiced part (Chao's tone letters 55, 35, 214, 51 mapped onto about an octave)
TEMPLATES: dict[int, list[tuple[float, float]]] = {
    1: [(0.0, 4.0), (1.0, 4.0)],
    2: [(0.0, -1.0), (1.0, 4.0)],
    3: [(0.0, -2.0), (0.6, -6.0), (1.0, -1.0)],
    4: [(0.0, 5.0), (1.0, -5.0)],
    5: [(0.0, 0.0), (1.0, -1.0)],
}
_ST_RANGE = 8.0  # the drawing spans -8 .. +8 semitones


def to_json(a: Assessment, contours: bool = True) -> str:
    data = a.model_dump()
    if not contours:
        for s in data["syllables"]:
            s.pop("contour", None)
    return json.dumps(data, ensure_ascii=False)


def _mark(ok: bool | None) -> str:
    return "—" if ok is None else ("✓" if ok else "✗")


def tone_text(s: SyllableResult) -> str:
    """The tone's shape as judged: the expected shape when right; heard and expected when wrong."""
    expected = int(s.expected[-1])
    if s.tone_ok is False and s.tone_heard is not None:
        return f"heard {s.shape} ({s.tone_heard}), expected {SHAPES[expected]} ({expected})"
    if s.tone_ok is False:
        return f"expected {SHAPES[expected]} ({expected})"
    return s.shape


def heard_text(s: SyllableResult) -> str:
    """The character recognized and its toneless pinyin: its tone is judged in tone_text."""
    if not s.heard:
        return "—"
    return f"{s.heard_text or ''} {s.heard.rstrip('012345')}".strip()


def print_table(a: Assessment, console) -> None:
    from rich.table import Table

    table = Table(title=f"{a.prompt}  (heard: {a.recognized})", title_justify="left")
    for name in (
        "#",
        "字",
        "expected",
        "heard",
        "initial",
        "final",
        "tone",
        "tone shape",
        "time (s)",
        "score",
    ):
        table.add_column(name, justify="right" if name in ("#", "score") else "left")
    for s in a.syllables:
        colour = _colour_name(s.score)
        table.add_row(
            str(s.index + 1),
            s.text,
            f"{s.expected_marked} ({s.expected})",
            heard_text(s),
            _mark(s.initial_ok),
            _mark(s.final_ok),
            _mark(s.tone_ok),
            tone_text(s),
            f"{s.start:.2f}–{s.end:.2f}",
            f"[{colour}]{s.score}[/{colour}]",
        )
    console.print(table)
    sc = a.scores
    console.print(
        f"accuracy 准确度 {sc.accuracy:.0f}   fluency 流利度 {sc.fluency:.0f} "
        f"({sc.speech_rate:.1f} syllables/s, {sc.pauses} pauses)   "
        f"completeness 完整度 {sc.completeness:.0f} ({sc.missing} missing, {sc.extra} extra)   "
        f"[bold]overall 总分 {sc.overall:.0f}[/bold]"
    )
    for s in a.syllables:
        if s.advice != "good":
            console.print(f"  {s.text} {s.expected_marked}: {s.advice} / {s.advice_zh}")


def _colour_name(value: float) -> str:
    return "green" if value >= 80 else ("yellow" if value >= 50 else "red")


def _colour(value: float) -> str:
    return "#2e7d32" if value >= 80 else ("#c77700" if value >= 50 else "#c62828")


def contour_svg(s: SyllableResult, tone: int, width: int = 90, height: int = 70) -> str:
    """The syllable's pitch (solid) against its expected tone shape (dashed)."""

    def y(st: float) -> float:
        st = max(-_ST_RANGE, min(_ST_RANGE, st))
        return round(height / 2 - st / _ST_RANGE * (height / 2 - 4), 1)

    def x(t: float) -> float:
        return round(4 + t * (width - 8), 1)

    template = " ".join(f"{x(t)},{y(v)}" for t, v in TEMPLATES[tone])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="pitch of {html.escape(s.text)}">',
        f'<line x1="0" y1="{y(0)}" x2="{width}" y2="{y(0)}" stroke="#ddd"/>',
        f'<polyline points="{template}" fill="none" stroke="#888" stroke-width="3" '
        'stroke-dasharray="5 4" stroke-linecap="round"/>',
    ]
    if len(s.contour) >= 2:
        n = len(s.contour) - 1
        points = " ".join(f"{x(k / n)},{y(v)}" for k, v in enumerate(s.contour))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{_colour(s.score)}" '
            'stroke-width="2.5" stroke-linejoin="round"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def cards_html(a: Assessment) -> str:
    """One coloured card per syllable: character, pinyin, contour, score, what to fix."""
    cards = []
    for s in a.syllables:
        tone = int(s.expected[-1])
        cards.append(
            f'<div class="syl" style="border-color:{_colour(s.score)}">'
            f'<div class="char">{html.escape(s.text)}</div>'
            f'<div class="py">{html.escape(s.expected_marked)}</div>'
            f"{contour_svg(s, tone)}"
            f'<div class="score" style="color:{_colour(s.score)}">{s.score}</div>'
            f'<div class="detail">heard 听到: {html.escape(heard_text(s))}<br>'
            f"initial 声母 {_mark(s.initial_ok)} final 韵母 {_mark(s.final_ok)} "
            f"tone 声调 {_mark(s.tone_ok)}<br>"
            f'<span class="shape">{html.escape(tone_text(s))}</span><br>'
            f"{s.start:.2f}–{s.end:.2f} s</div>"
            f'<div class="advice">{html.escape(s.advice)}<br>{html.escape(s.advice_zh)}</div>'
            "</div>"
        )
    return "".join(cards)


def to_html(a: Assessment) -> str:
    sc = a.scores
    legend = " · ".join(f"{t}: {SHAPES[t]}" for t in (1, 2, 3, 4))
    return f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8">
<title>听说 · pronunciation report</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
.scores span{{display:inline-block;margin-right:1.5em;font-size:1.1em}}
.syls{{display:flex;flex-wrap:wrap;gap:.6em;margin-top:1em}}
.syl{{border:2px solid;border-radius:8px;padding:.4em;width:110px;text-align:center}}
.char{{font-size:2em}} .py{{font-size:1.1em}} .score{{font-weight:bold;font-size:1.2em}}
.detail,.advice{{font-size:.75em;color:#555}} .advice{{margin-top:.3em}}
</style></head><body>
<h1>{html.escape(a.prompt)}</h1>
<p>heard 听到: {html.escape(a.recognized)}</p>
<div class="scores"><span>accuracy 准确度 <b>{sc.accuracy:.0f}</b></span>
<span>fluency 流利度 <b>{sc.fluency:.0f}</b>
({sc.speech_rate:.1f} syllables/s, {sc.pauses} pauses)</span>
<span>completeness 完整度 <b>{sc.completeness:.0f}</b></span>
<span>overall 总分 <b>{sc.overall:.0f}</b></span></div>
<p style="font-size:.8em;color:#777">solid line: your pitch 你的音高 · dashed: the expected tone
标准声调 ({legend}), in semitones around your own median pitch</p>
<div class="syls">{cards_html(a)}</div>
</body></html>
"""
