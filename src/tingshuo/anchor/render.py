"""Rendering a timeline to MP4: Pillow frames piped to the ffmpeg from imageio-ffmpeg (H.264,
yuv420p) with the anchor's audio muxed as AAC.

Every frame is a copy of a pre-drawn background with pre-drawn pieces pasted on it (the
presenter for each mouth shape, each subtitle state, each card), so frames are cheap.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import TingshuoError
from ..settings import Settings
from ..tts.audio_out import write_wav
from . import presenter
from .rundown import Rundown
from .timeline import SAMPLE_RATE, Caption, Card, Failure, Timeline, build_timeline

log = logging.getLogger(__name__)

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
BACKGROUND_TOP, BACKGROUND_BOTTOM = (18, 32, 68), (8, 12, 28)
ACCENT = (236, 180, 66)
SPOKEN, UNSPOKEN, OTHER = (255, 214, 102), (255, 255, 255), (190, 200, 220)
_FONT_PACKAGE = "cvttf-notosanscjk-regular==1.0"


@dataclass
class RenderReport:
    duration: float
    segments: int
    failures: list[Failure]
    frames: int
    seconds: float  # wall time of the render


@lru_cache(maxsize=1)
def font_path() -> str:
    """A font with Chinese glyphs: Noto Sans CJK from its package, or one installed."""
    try:
        import cvttf_NotoSansCJK_Regular as noto

        return noto.get_TTF_path()
    except (ImportError, TypeError):
        pass
    for candidate in (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    ):
        if Path(candidate).is_file():
            return candidate
    raise TingshuoError(f"no font with Chinese characters: pip install '{_FONT_PACKAGE}'")


@lru_cache(maxsize=16)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.truetype(font_path(), size)


def _wrap(text: str, font, width: int) -> list[str]:
    """Lines that fit `width`: break at spaces in English, anywhere in Chinese."""
    lines: list[str] = []
    current = ""
    tokens = text.split(" ") if text.isascii() else list(text)
    joiner = " " if text.isascii() else ""
    for token in tokens:
        trial = f"{current}{joiner}{token}" if current else token
        if font.getlength(trial) <= width or not current:
            current = trial
        else:
            lines.append(current)
            current = token
    if current:
        lines.append(current)
    return lines


class Painter:
    """Pre-drawn pieces of the frame for one size."""

    def __init__(self, timeline: Timeline, size: str) -> None:
        from PIL import Image, ImageDraw

        if size not in SIZES:
            raise TingshuoError(f"unknown video size {size!r}: use 720p or 1080p")
        self.width, self.height = SIZES[size]
        self.k = self.height / 720  # layouts are designed at 720p
        self.timeline = timeline
        base = Image.new("RGB", (self.width, self.height))
        pen = ImageDraw.Draw(base)
        for y in range(self.height):  # vertical gradient
            f = y / self.height
            colour = tuple(
                round(a + (b - a) * f)
                for a, b in zip(BACKGROUND_TOP, BACKGROUND_BOTTOM, strict=True)
            )
            pen.line([(0, y), (self.width, y)], fill=colour)
        pen.rectangle([0, 0, self.width, round(56 * self.k)], fill=(10, 16, 36))
        pen.rectangle([0, round(56 * self.k), self.width, round(59 * self.k)], fill=ACCENT)
        pen.text(
            (round(24 * self.k), round(12 * self.k)),
            timeline.title,
            font=_font(round(26 * self.k)),
            fill=(255, 255, 255),
        )
        self.base = base
        scale = 0.96 * self.k
        self.presenter_at = (round(70 * self.k), round(80 * self.k))
        self.sprites = {
            (mouth, blink): presenter.draw(mouth, blink, scale)
            for mouth in presenter.VISEMES
            for blink in (False, True)
        }
        self.sub_box = (
            round(40 * self.k),
            round(520 * self.k),
            self.width - round(40 * self.k),
            self.height - round(24 * self.k),
        )
        self._subs: dict[tuple[int, int], object] = {}
        self._cards: dict[int, object] = {}

    def frame(self, t: float):
        image = self.base.copy()
        sprite = self.sprites[(self.timeline.mouth_at(t), self.timeline.blink_at(t))]
        image.paste(sprite, self.presenter_at, sprite)
        caption = self.timeline.caption_at(t)
        if caption is not None:
            sub = self._subtitle(caption, t)
            image.paste(sub, self.sub_box[:2], sub)
        card = self.timeline.card_at(t)
        if card is not None:
            panel = self._card(card)
            image.paste(panel, (round(520 * self.k), round(110 * self.k)), panel)
        return image

    def _subtitle(self, caption: Caption, t: float):
        """Both languages; the one being spoken is highlighted up to the current unit."""
        index = self.timeline.captions.index(caption)
        progress = caption.progress(t)
        key = (index, round(progress * 1000))
        if key in self._subs:
            return self._subs[key]
        from PIL import Image, ImageDraw

        w, h = self.sub_box[2] - self.sub_box[0], self.sub_box[3] - self.sub_box[1]
        image = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        pen = ImageDraw.Draw(image)
        pen.rounded_rectangle([0, 0, w, h], radius=round(14 * self.k), fill=(0, 0, 0, 170))
        y = round(12 * self.k)
        pad = round(22 * self.k)
        for lang, text in caption.lines.items():
            font = _font(round((30 if lang == "zh" else 26) * self.k))
            lines = _wrap(text, font, w - 2 * pad)[:2]
            shown = "".join(lines) if lang == "zh" else " ".join(lines)
            said = round(len(shown) * progress) if lang == caption.lang else 0
            count = 0
            for line in lines:
                x = pad
                for ch in line if lang == "zh" else list(line):
                    colour = (
                        SPOKEN if count < said else (UNSPOKEN if lang == caption.lang else OTHER)
                    )
                    pen.text((x, y), ch, font=font, fill=colour)
                    x += font.getlength(ch)
                    count += 1
                if lang != "zh":
                    count += 1  # the space the wrap removed
                y += round(font.size * 1.3)
            y += round(4 * self.k)
        self._subs[key] = image
        return image

    def _card(self, card: Card):
        key = id(card)
        if key in self._cards:
            return self._cards[key]
        from PIL import Image, ImageDraw

        w, h = round(700 * self.k), round(300 * self.k)
        image = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        pen = ImageDraw.Draw(image)
        border = (220, 80, 80) if card.failed else ACCENT
        pen.rounded_rectangle(
            [0, 0, w - 1, h - 1],
            radius=round(18 * self.k),
            fill=(12, 20, 44, 230),
            outline=border,
            width=max(2, round(3 * self.k)),
        )
        head = _font(round(34 * self.k))
        body = _font(round(24 * self.k))
        pad = round(28 * self.k)
        pen.text((pad, pad), card.heading, font=head, fill=border)
        y = pad + round(56 * self.k)
        for line in _wrap(card.text, body, w - 2 * pad)[:6]:
            pen.text((pad, y), line, font=body, fill=(235, 235, 245))
            y += round(34 * self.k)
        self._cards[key] = image
        return image


def render_timeline(timeline: Timeline, output: Path, size: str, fps: int, console=None) -> int:
    """Write the MP4; returns the number of frames."""
    import imageio_ffmpeg
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    painter = Painter(timeline, size)
    frames = max(1, round(timeline.duration * fps))
    with tempfile.TemporaryDirectory(prefix="tingshuo-anchor-") as tmp:
        wav = Path(tmp) / "anchor.wav"
        write_wav(wav, timeline.audio, SAMPLE_RATE)
        writer = imageio_ffmpeg.write_frames(
            str(output),
            (painter.width, painter.height),
            fps=fps,
            codec="libx264",
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            macro_block_size=8,
            audio_path=str(wav),
            audio_codec="aac",
            output_params=["-preset", "veryfast", "-crf", "24", "-shortest"],
            ffmpeg_log_level="error",
        )
        writer.send(None)
        try:
            with Progress(
                TextColumn("[bold]rendering[/bold]"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
                disable=console is None,
            ) as progress:
                task = progress.add_task("", total=timeline.duration)
                for i in range(frames):
                    writer.send(painter.frame(i / fps).tobytes())
                    if i % fps == 0:
                        progress.update(task, completed=i / fps)
            writer.close()
        except (OSError, RuntimeError, BrokenPipeError) as e:
            raise TingshuoError(f"cannot write the video {output}: {e}") from e
    return frames


def render_video(
    rundown: Rundown, output: Path, size: str, settings: Settings, console=None
) -> RenderReport:
    """Synthesize every line, lay out the timeline, write the MP4."""
    from ..tts import load_voice

    started = time.perf_counter()
    if console is not None:
        with console.status("the anchor is reading the rundown…") as status:
            timeline = build_timeline(
                rundown,
                lambda lang: load_voice(lang, settings),
                lambda n: status.update(
                    f"the anchor is reading segment {n}/{len(rundown.segments)}…"
                ),
            )
    else:
        timeline = build_timeline(rundown, lambda lang: load_voice(lang, settings))
    frames = render_timeline(timeline, output, size, settings.anchor_fps, console)
    return RenderReport(
        duration=timeline.duration,
        segments=timeline.segments,
        failures=timeline.failures,
        frames=frames,
        seconds=time.perf_counter() - started,
    )
