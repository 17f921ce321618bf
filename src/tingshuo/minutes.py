"""Meeting minutes (会议纪要) of a stored session.

Facts come from the transcript itself: when, how long, who spoke and for how long. Topics are
the transcript's most distinctive words (TF-IDF, with jieba's IDF table for Chinese) and the key
points are the captions that carry most of them, as they were said: the bundled 1.5B model,
asked to summarise, mostly copies lines or drifts, so points are extracted, not written.
Decisions and action items are asked of the model, a chunk of transcript at a time, with short
questions it answers well ("无" when there are none); since a small model sometimes writes
what nobody said, every item must be grounded: one whose words are mostly absent from its
chunk is dropped.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

from pydantic import BaseModel

from .errors import TingshuoError
from .events import Segment
from .mt.llm import ChatModel
from .store.db import SessionInfo

log = logging.getLogger(__name__)

CHUNK_CHARS = 1200  # of transcript per request: about 900 tokens of Chinese, ~20 s on 2 cores
TOPICS = 8
POINTS = 6
_TOPIC_POS = ("n", "nr", "ns", "nt", "nz", "vn", "an", "eng")
GROUNDED = 0.6  # share of an item's characters (zh) or words (en) that must be in the chunk

_QUESTIONS = {
    "zh": {
        "decisions": "上面的会议记录里有没有明确做出的决定？有就每条一行、以“- ”开头列出；"
        "没有就只回答“无”。",
        "actions": "上面的会议记录里有没有明确分配给某人的任务或待办事项？有就每条一行、"
        "以“- ”开头列出（写明谁做什么）；没有就只回答“无”。",
    },
    "en": {
        "decisions": "Were any decisions clearly made in the transcript above? If so, list "
        "each on its own line starting with '- '; if not, answer only 'None'.",
        "actions": "Were any tasks or action items clearly given to someone in the transcript "
        "above? If so, list each on its own line starting with '- ' (who does what); if not, "
        "answer only 'None'.",
    },
}
_STOPWORDS_EN = frozenset(
    "about after again also because been being could does doing from have having here just "
    "like more most much need only other over really some such than that their them then "
    "there these they thing think this those very want well were what when where which while "
    "will with would your yeah okay right going know".split()
)
_NOTHING = {"无", "没有", "暂无", "none", "n/a", "nothing", "…", "..."}
_LABELS = {"zh": "发言人", "en": "Speaker"}


class Point(BaseModel):
    start: float
    speaker: str | None
    text: str


class Minutes(BaseModel):
    title: str
    lang: str
    date: datetime
    duration: float
    speakers: list[tuple[str, float]]  # who spoke, seconds of speech, most first
    topics: list[str] = []
    points: list[Point] = []
    decisions: list[str] = []
    actions: list[str] = []
    dropped: list[str] = []  # items the transcript did not support


def main_language(segments: Sequence[Segment]) -> str:
    counts = Counter(s.lang for s in segments if s.text.strip())
    return counts.most_common(1)[0][0] if counts else "zh"


def transcript_chunks(segments: Sequence[Segment], size: int = CHUNK_CHARS) -> list[str]:
    """The transcript as 'Speaker: text' lines, in chunks of about `size` characters."""
    chunks: list[str] = []
    lines: list[str] = []
    for seg in segments:
        if not seg.text.strip():
            continue
        lines.append(f"{seg.speaker}: {seg.text}" if seg.speaker else seg.text)
        if sum(len(line) for line in lines) >= size:
            chunks.append("\n".join(lines))
            lines = []
    if lines:
        chunks.append("\n".join(lines))
    return chunks


def topics(segments: Sequence[Segment], lang: str, k: int = TOPICS) -> list[tuple[str, float]]:
    """The transcript's most distinctive words, with their weights."""
    text = "\n".join(s.text for s in segments)
    if lang == "zh":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # jieba imports the deprecated pkg_resources
            import jieba
            import jieba.analyse

        jieba.setLogLevel(logging.WARNING)
        # nouns and verbal nouns: fillers of speech (一下, 这个, 咱们) are not topics
        tags = jieba.analyse.extract_tags(text, topK=k, withWeight=True, allowPOS=_TOPIC_POS)
        return [(w, float(x)) for w, x in tags]
    words = [w for w in re.findall(r"[a-z][a-z'-]{3,}", text.lower()) if w not in _STOPWORDS_EN]
    counts = Counter(words)
    total = sum(counts.values()) or 1
    return [(w, n / total) for w, n in counts.most_common(k) if n > 1]


def key_points(
    segments: Sequence[Segment], weights: Sequence[tuple[str, float]], k: int = POINTS
) -> list[Point]:
    """The captions that carry most of the topics, in the order they were said."""
    scored = []
    for seg in segments:
        text = seg.text.strip()
        low = text.lower()
        score = sum(w for word, w in weights if word in low)
        if score > 0 and len(text) >= 8:
            scored.append((score, seg))
    best = sorted(scored, key=lambda p: -p[0])[:k]
    return [
        Point(start=seg.start, speaker=seg.speaker, text=seg.text.strip())
        for _, seg in sorted(best, key=lambda p: p[1].start)
    ]


def _units(text: str, lang: str) -> list[str]:
    """What grounding compares: Han characters for Chinese, longer words for English."""
    if lang == "zh":
        return [ch for ch in text if "\u4e00" <= ch <= "\u9fff"]
    return [w for w in re.findall(r"[a-z0-9']+", text.lower()) if len(w) > 3]


def grounded(item: str, source: str, lang: str) -> bool:
    units = _units(item, lang)
    if not units:
        return False
    present = set(_units(source, lang))
    return sum(u in present for u in units) / len(units) >= GROUNDED


def parse_items(reply: str) -> list[str]:
    """The model's list: one item per line, bullets and numbering removed, "none" ignored."""
    items = []
    for raw in reply.splitlines():
        item = re.sub(r"^(?:[-•*·]|\d+[.、)])\s*", "", raw.strip().replace("**", "")).strip()
        if item and item.lower().rstrip("。.") not in _NOTHING:
            items.append(item)
    return items


def write_minutes(
    info: SessionInfo,
    segments: Sequence[Segment],
    chat: ChatModel,
    lang: str | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Minutes:
    spoken = [s for s in segments if s.text.strip()]
    if not spoken:
        raise TingshuoError(f"session {info.id} has no captions to take minutes of")
    source_lang = main_language(spoken)
    lang = lang or (source_lang if source_lang in _QUESTIONS else "en")
    if lang not in _QUESTIONS:
        raise TingshuoError(f"minutes are written in zh or en, not {lang!r}")
    talk: Counter[str] = Counter()
    for seg in spoken:
        talk[seg.speaker or _LABELS[lang]] += seg.end - seg.start
    weights = topics(spoken, source_lang if source_lang in _QUESTIONS else "en")
    minutes = Minutes(
        title=info.title,
        lang=lang,
        date=info.created_at,
        duration=max(info.duration, max(s.end for s in spoken)),
        speakers=[(name, round(seconds, 1)) for name, seconds in talk.most_common()],
        topics=[word for word, _ in weights],
        points=key_points(spoken, weights),
    )
    chunks = transcript_chunks(spoken)
    check = lang == source_lang  # across languages the words cannot be compared
    for n, chunk in enumerate(chunks, 1):
        for key, question in _QUESTIONS[lang].items():
            kept: list[str] = getattr(minutes, key)
            for item in parse_items(_ask(chat, chunk, question, lang)):
                if check and not grounded(item, chunk, lang):
                    minutes.dropped.append(item)
                elif item not in kept:
                    kept.append(item)
        if on_chunk is not None:
            on_chunk(n, len(chunks))
    if minutes.dropped:
        log.info(
            "minutes of %s: %d items not in the transcript dropped", info.id, len(minutes.dropped)
        )
    return minutes


def _ask(chat: ChatModel, chunk: str, question: str, lang: str) -> str:
    # the transcript first and the same each time, so llama.cpp reuses it for the next question
    label = "会议记录：" if lang == "zh" else "Transcript:"
    messages = [{"role": "user", "content": f"{label}\n{chunk}\n\n{question}"}]
    try:
        return chat.chat(messages, 300, stop=())
    except ValueError as e:  # llama.cpp's way of saying the prompt does not fit
        raise TingshuoError(f"the language model refused the transcript: {e}") from e


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


_WORDS = {
    "zh": {
        "minutes": "会议纪要",
        "date": "时间",
        "duration": "时长",
        "who": "发言人",
        "topics": "主题词",
        "points": "要点（原话）",
        "decisions": "决定",
        "actions": "待办",
        "none": "无",
    },
    "en": {
        "minutes": "Minutes",
        "date": "Date",
        "duration": "Duration",
        "who": "Speakers",
        "topics": "Topics",
        "points": "Key points (as said)",
        "decisions": "Decisions",
        "actions": "Action items",
        "none": "none",
    },
}


def _facts(minutes: Minutes) -> list[tuple[str, str]]:
    words = _WORDS[minutes.lang]
    who = ", ".join(f"{name} ({_clock(sec)})" for name, sec in minutes.speakers)
    sep = "、" if minutes.lang == "zh" else ", "
    return [
        (words["date"], f"{minutes.date:%Y-%m-%d %H:%M}"),
        (words["duration"], _clock(minutes.duration)),
        (words["who"], who),
        (words["topics"], sep.join(minutes.topics) or words["none"]),
    ]


def _sections(minutes: Minutes) -> list[tuple[str, list[str]]]:
    words = _WORDS[minutes.lang]
    points = [
        f"[{_clock(p.start)}] " + (f"{p.speaker}: " if p.speaker else "") + p.text
        for p in minutes.points
    ]
    return [
        (words["points"], points or [words["none"]]),
        (words["decisions"], minutes.decisions or [words["none"]]),
        (words["actions"], minutes.actions or [words["none"]]),
    ]


def to_markdown(minutes: Minutes) -> str:
    out = [f"# {_WORDS[minutes.lang]['minutes']}: {minutes.title}", ""]
    out += [f"- {label}: {value}" for label, value in _facts(minutes)]
    for name, items in _sections(minutes):
        out += ["", f"## {name}", ""] + [f"- {item}" for item in items]
    return "\n".join(out) + "\n"


def to_docx(minutes: Minutes) -> bytes:
    import docx

    doc = docx.Document()
    doc.add_heading(f"{_WORDS[minutes.lang]['minutes']}: {minutes.title}", level=1)
    for label, value in _facts(minutes):
        p = doc.add_paragraph()
        p.add_run(f"{label}: ").bold = True
        p.add_run(value)
    for name, items in _sections(minutes):
        doc.add_heading(name, level=2)
        for item in items:
            doc.add_paragraph(item, style="List Bullet")
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
