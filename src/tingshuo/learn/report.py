"""An assessment as a table for the terminal, JSON, or an HTML page with pitch contours."""

from __future__ import annotations

import html
import json

from .result import Assessment, SyllableResult
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


def tone_mark(s: SyllableResult) -> str:
    """✓, ✗, — (not judged) or ? (cannot tell: `tone_sure` is False)."""
    return "?" if s.tone_sure is False else _mark(s.tone_ok)


def tone_text(s: SyllableResult) -> str:
    """The tone's shape as judged: the expected shape when right; heard and expected when wrong."""
    expected = int(s.expected[-1])
    if s.tone_sure is False:
        return f"cannot tell 听不准: {SHAPES[expected]} ({expected})?"
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
            tone_mark(s),
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
    if len(a.syllables) <= DRAW_UP_TO:
        frame = "your register" if a.mode == "drill" else "your median"
        console.print(
            f"pitch 音高 (● yours 你的, · expected 标准, semitones around {frame})",
            highlight=False,
        )
        for line in contour_lines(a.syllables, shapes=tone_shapes(a)):
            console.print(line, highlight=False)


DRAW_UP_TO = 4  # the terminal draws the contours of prompts up to this many syllables


def tone_shapes(a: Assessment) -> dict[int, list[tuple[float, float]]]:
    """The expected tones' shapes, in the frame the contours are drawn in. A drill's are the
    tone model's own means against the speaker's register (the frame its contours are drawn
    in, `assess_drill`): the picture shows what the verdict compared, so a low fall (21)
    judged a third tone is drawn on the third tone's line, not on the falling one. A
    sentence's are the textbook shapes around the reader's median."""
    if a.mode != "drill":
        return TEMPLATES
    from .drill import load_drill_model, model_shapes

    return {**TEMPLATES, **model_shapes(load_drill_model())}


def _template_at(
    tone: int, t: float, shapes: dict[int, list[tuple[float, float]]] = TEMPLATES
) -> float:
    """The expected tone shape (semitones) at relative time t in 0..1."""
    pts = shapes[tone]
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:], strict=True):
        if x0 <= t <= x1:
            return y0 + (y1 - y0) * (t - x0) / max(1e-9, x1 - x0)
    return ys[-1] if t > xs[-1] else ys[0]


def contour_lines(
    syllables: list[SyllableResult],
    width: int = 18,
    rows: int = 7,
    shapes: dict[int, list[tuple[float, float]]] = TEMPLATES,
) -> list[str]:
    """The syllables' contours drawn side by side in text: ● the learner's, · the expected.

    Rows span +8 (top) to -8 (bottom) semitones; each syllable gets `width` columns and a
    caption: its text, expected tone and what was heard.
    """

    def row(st: float) -> int:
        st = max(-_ST_RANGE, min(_ST_RANGE, st))
        return round((_ST_RANGE - st) / (2 * _ST_RANGE) * (rows - 1))

    grids = []
    for s in syllables:
        grid = [[" "] * width for _ in range(rows)]
        tone = int(s.expected[-1])
        for col in range(width):
            grid[row(_template_at(tone, col / (width - 1), shapes))][col] = "·"
        if len(s.contour) >= 2:
            n = len(s.contour) - 1
            for col in range(width):
                k = col / (width - 1) * n
                lo = int(k)
                v = s.contour[lo] + (s.contour[min(lo + 1, n)] - s.contour[lo]) * (k - lo)
                grid[row(v)][col] = "●"
        grids.append(grid)
    lines = ["  ".join("│" + "".join(g[r]) + "│" for g in grids) for r in range(rows)]
    captions = []
    for s in syllables:
        tone = int(s.expected[-1])
        if s.tone_ok is None:
            said = "?"
        else:
            said = f"{s.tone_heard}" if s.tone_heard is not None else "?"
        mark = tone_mark(s)
        captions.append(f"{s.text} {s.expected_marked} {tone}→{said} {mark}"[: width + 2])
    # CJK characters are two columns wide: pad by display width
    lines.append("  ".join(_pad(c, width + 2) for c in captions))
    return lines


def _pad(text: str, width: int) -> str:
    import unicodedata

    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)


def _colour_name(value: float) -> str:
    return "green" if value >= 80 else ("yellow" if value >= 50 else "red")


def _colour(value: float) -> str:
    return "#2e7d32" if value >= 80 else ("#c77700" if value >= 50 else "#c62828")


def contour_svg(
    s: SyllableResult,
    tone: int,
    width: int = 90,
    height: int = 70,
    shapes: dict[int, list[tuple[float, float]]] = TEMPLATES,
) -> str:
    """The syllable's pitch (solid) against its expected tone shape (dashed)."""

    def y(st: float) -> float:
        st = max(-_ST_RANGE, min(_ST_RANGE, st))
        return round(height / 2 - st / _ST_RANGE * (height / 2 - 4), 1)

    def x(t: float) -> float:
        return round(4 + t * (width - 8), 1)

    template = " ".join(f"{x(t)},{y(v)}" for t, v in shapes[tone])
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
    shapes = tone_shapes(a)
    for s in a.syllables:
        tone = int(s.expected[-1])
        cards.append(
            f'<div class="syl" style="border-color:{_colour(s.score)}">'
            f'<div class="char">{html.escape(s.text)}</div>'
            f'<div class="py">{html.escape(s.expected_marked)}</div>'
            f"{contour_svg(s, tone, shapes=shapes)}"
            f'<div class="score" style="color:{_colour(s.score)}">{s.score}</div>'
            f'<div class="detail">heard 听到: {html.escape(heard_text(s))}<br>'
            f"initial 声母 {_mark(s.initial_ok)} final 韵母 {_mark(s.final_ok)} "
            f"tone 声调 {tone_mark(s)}<br>"
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
