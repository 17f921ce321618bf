"""The presenter, drawn by tingshuo: one description for video frames (Pillow) and the stage
page (SVG), so both show the same anchor.

The drawing is a list of plain shapes (ellipse, rect, polygon) in a 400×500 box; the mouth
is one of a handful of shapes (visemes) chosen from the synthesizer's phones.
"""

from __future__ import annotations

from typing import Any

WIDTH, HEIGHT = 400, 500

Shape = dict[str, Any]

SKIN, HAIR, SUIT, SHIRT, TIE = "#f1c7a3", "#2b2220", "#23355c", "#f4f4f4", "#b8323a"
LIP, MOUTH, TEETH = "#c0575b", "#5a1e24", "#ffffff"

BODY: list[Shape] = [
    {
        "kind": "polygon",
        "points": [[60, 500], [95, 390], [200, 370], [305, 390], [340, 500]],
        "fill": SUIT,
    },
    {"kind": "polygon", "points": [[165, 372], [200, 440], [235, 372]], "fill": SHIRT},
    {
        "kind": "polygon",
        "points": [[192, 385], [208, 385], [214, 450], [200, 470], [186, 450]],
        "fill": TIE,
    },
    {"kind": "rect", "x": 178, "y": 300, "w": 44, "h": 80, "r": 10, "fill": "#e5b892"},
    {"kind": "ellipse", "cx": 200, "cy": 120, "rx": 100, "ry": 85, "fill": HAIR},
    {"kind": "ellipse", "cx": 112, "cy": 215, "rx": 16, "ry": 26, "fill": SKIN},
    {"kind": "ellipse", "cx": 288, "cy": 215, "rx": 16, "ry": 26, "fill": SKIN},
    {"kind": "ellipse", "cx": 200, "cy": 205, "rx": 88, "ry": 112, "fill": SKIN},
    {
        "kind": "polygon",
        "points": [[108, 170], [130, 95], [200, 78], [270, 95], [292, 170], [255, 125], [175, 118]],
        "fill": HAIR,
    },
    {"kind": "rect", "x": 140, "y": 168, "w": 40, "h": 7, "r": 3, "fill": HAIR},
    {"kind": "rect", "x": 220, "y": 168, "w": 40, "h": 7, "r": 3, "fill": HAIR},
    {"kind": "polygon", "points": [[200, 205], [190, 245], [210, 245]], "fill": "#e0a884"},
]
EYES_OPEN: list[Shape] = [
    {"kind": "ellipse", "cx": 160, "cy": 195, "rx": 15, "ry": 10, "fill": "#ffffff"},
    {"kind": "ellipse", "cx": 240, "cy": 195, "rx": 15, "ry": 10, "fill": "#ffffff"},
    {"kind": "ellipse", "cx": 160, "cy": 195, "rx": 7, "ry": 7, "fill": "#3a2a20"},
    {"kind": "ellipse", "cx": 240, "cy": 195, "rx": 7, "ry": 7, "fill": "#3a2a20"},
]
EYES_CLOSED: list[Shape] = [
    {"kind": "rect", "x": 145, "y": 194, "w": 30, "h": 4, "r": 2, "fill": "#3a2a20"},
    {"kind": "rect", "x": 225, "y": 194, "w": 30, "h": 4, "r": 2, "fill": "#3a2a20"},
]

# mouth centred at (200, 268)
MOUTHS: dict[str, list[Shape]] = {
    "rest": [{"kind": "rect", "x": 175, "y": 264, "w": 50, "h": 8, "r": 4, "fill": LIP}],
    "closed": [{"kind": "rect", "x": 178, "y": 262, "w": 44, "h": 11, "r": 5, "fill": LIP}],
    "fv": [
        {"kind": "rect", "x": 176, "y": 260, "w": 48, "h": 14, "r": 6, "fill": LIP},
        {"kind": "rect", "x": 182, "y": 260, "w": 36, "h": 6, "r": 2, "fill": TEETH},
    ],
    "mid": [
        {"kind": "ellipse", "cx": 200, "cy": 268, "rx": 24, "ry": 11, "fill": LIP},
        {"kind": "ellipse", "cx": 200, "cy": 268, "rx": 18, "ry": 6, "fill": MOUTH},
    ],
    "open": [
        {"kind": "ellipse", "cx": 200, "cy": 271, "rx": 26, "ry": 20, "fill": LIP},
        {"kind": "ellipse", "cx": 200, "cy": 271, "rx": 20, "ry": 15, "fill": MOUTH},
        {"kind": "rect", "x": 186, "y": 256, "w": 28, "h": 6, "r": 2, "fill": TEETH},
    ],
    "wide": [
        {"kind": "ellipse", "cx": 200, "cy": 268, "rx": 30, "ry": 10, "fill": LIP},
        {"kind": "ellipse", "cx": 200, "cy": 268, "rx": 25, "ry": 5, "fill": MOUTH},
        {"kind": "rect", "x": 183, "y": 263, "w": 34, "h": 3, "r": 1, "fill": TEETH},
    ],
    "round": [
        {"kind": "ellipse", "cx": 200, "cy": 269, "rx": 15, "ry": 16, "fill": LIP},
        {"kind": "ellipse", "cx": 200, "cy": 269, "rx": 9, "ry": 10, "fill": MOUTH},
    ],
}
VISEMES = tuple(MOUTHS)


def shapes(mouth: str = "rest", blink: bool = False) -> list[Shape]:
    """The whole presenter for one mouth shape, back to front."""
    return BODY + (EYES_CLOSED if blink else EYES_OPEN) + MOUTHS[mouth]


def description() -> dict[str, Any]:
    """Everything a page needs to draw the same presenter (served as JSON)."""
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "body": BODY,
        "eyes": {"open": EYES_OPEN, "closed": EYES_CLOSED},
        "mouths": MOUTHS,
    }


def to_svg(mouth: str = "rest", blink: bool = False) -> str:
    parts = []
    for s in shapes(mouth, blink):
        if s["kind"] == "ellipse":
            parts.append(
                f'<ellipse cx="{s["cx"]}" cy="{s["cy"]}" rx="{s["rx"]}" ry="{s["ry"]}" '
                f'fill="{s["fill"]}"/>'
            )
        elif s["kind"] == "rect":
            parts.append(
                f'<rect x="{s["x"]}" y="{s["y"]}" width="{s["w"]}" height="{s["h"]}" '
                f'rx="{s.get("r", 0)}" fill="{s["fill"]}"/>'
            )
        else:
            points = " ".join(f"{x},{y}" for x, y in s["points"])
            parts.append(f'<polygon points="{points}" fill="{s["fill"]}"/>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}">'
        + "".join(parts)
        + "</svg>"
    )


def draw(mouth: str, blink: bool, scale: float, supersample: int = 3):
    """The presenter as an RGBA Pillow image, `scale` pixels per drawing unit."""
    from PIL import Image, ImageDraw

    k = scale * supersample  # draw big and shrink: smooth edges without anti-aliasing
    image = Image.new("RGBA", (round(WIDTH * k), round(HEIGHT * k)), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    for s in shapes(mouth, blink):
        if s["kind"] == "ellipse":
            box = [
                (s["cx"] - s["rx"]) * k,
                (s["cy"] - s["ry"]) * k,
                (s["cx"] + s["rx"]) * k,
                (s["cy"] + s["ry"]) * k,
            ]
            pen.ellipse(box, fill=s["fill"])
        elif s["kind"] == "rect":
            box = [s["x"] * k, s["y"] * k, (s["x"] + s["w"]) * k, (s["y"] + s["h"]) * k]
            pen.rounded_rectangle(box, radius=s.get("r", 0) * k, fill=s["fill"])
        else:
            pen.polygon([(x * k, y * k) for x, y in s["points"]], fill=s["fill"])
    size = (round(WIDTH * scale), round(HEIGHT * scale))
    return image.resize(size, Image.Resampling.LANCZOS)


# -- phones → mouth shapes ------------------------------------------------------------------

_ZH_INITIALS = set("b p m f d t n l g k h j q x zh ch sh r z c s".split())


def viseme(phone: str, lang: str = "zh") -> str:
    """Mouth shape for one phone: Baker pinyin parts ("b", "ang1") or IPA ("æ")."""
    p = phone.strip("ˈˌːˑ0123456789 ").lower()
    if not p or p in ("sil", "#", "#0", "#3", "^", "_"):
        return "rest"
    if p in ("b", "p", "m"):
        return "closed"
    if p in ("f", "v") and (lang != "zh" or p == "f"):
        return "fv"
    if lang == "zh":
        if p in _ZH_INITIALS:
            return "mid"
        if "a" in p:
            return "open"
        if p.startswith(("o", "u", "v")) or p in ("iong", "iou"):
            return "round"
        return "wide" if p.startswith("i") else "mid"
    first = p[0]
    if first in "aɑæʌɐ":
        return "open"
    if first in "oɔʊuwɒ":
        return "round"
    if first in "iɪeɛj":
        return "wide"
    return "mid"
