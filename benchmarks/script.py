"""Prepared texts (a speech's script) in a live room: does following the script help, and
does it ever show what was not said?

    python -m benchmarks.script                       # every case, a 40-sentence speech
    python -m benchmarks.script --quick --cases a,b   # 12 sentences, for development
    python -m benchmarks.script --json script.json --verbose

Starts `tingshuo serve` in a subprocess (a private database and token; `Server` from
`server_load`), makes rooms that listen in Mandarin and translate into English, plays a
"speech" into a room at 1× (`start/file`) while a viewer WebSocket listens, and reads the
stored captions back (`GET /api/rooms/{id}/segments`) once the room is idle. Each case has a
fresh server, whose models are loaded by a 10-second warm-up room first.

The speech: consecutive sentences of one AISHELL speaker (S0252 W0121–W0160, one news story
on the housing market; `--quick` W0121–W0132), 0.6–0.9 s of silence between sentences
(`--seed`). The script: the references written as a script is, in paragraphs of 3–4
sentences, 。 at sentence ends, numbers in digits (`cn2an.transform`, its misreadings
repaired: 二零一五年 → 2015年, 一千亿 → 1000亿, 一二线 stays), with deviations: 2 sentences
ad-libbed (said, not in the script), 2 skipped (in the script, not said), 1 said shorter
than written (its script line has a clause appended, "，" + half a sentence said nowhere).
Cases:
- `a`: the room holds the script before it starts, its passages' English prepared (waited
  for, up to `--prepare-timeout`);
- `b`: the same room and audio without a script (the baseline);
- `c`: unscripted speech in a scripted room: another speaker's story (S0150 W0233–W0252) in a
  room with no text, then in a room holding the script of `a` (same server, one after the
  other);
- `d`: a 20-page DOCX (`--pages`; ~650 characters a page: AISHELL references of other
  stories, the script of `a` from page 4, NTREX news after it) uploaded just before the
  room starts, its translation running in the background during the speech.

Measured (CER with `tingshuo.asr.scoring.normalize_zh` on both sides: punctuation and spaces
removed, digits spelled as AISHELL writes them), per room:
- **CER** of the stored captions, all joined, against what was said (ad-libs in, skipped
  sentences out, the shortened sentence as said);
- **unsaid shown**: of the 2 skipped sentences and the unsaid clause, how many appear in the
  captions (a local alignment of its characters with the captions matches ≥ 60 % of them);
- **ad-lib CER**: the ad-libbed sentences' stretch of the captions (found by aligning the
  captions to the reference), with the script and without;
- **followed**: the share of finals with source "script"; the translation lag of those
  (complete translation's publish time minus the final's) and how many got a prepared
  translation (`"model": "script"`) rather than a live one (and, of the live ones, how many
  were whole passages all the same);
- **final lag**: a final's publish time minus the moment its last word was played (as in
  `live_translation`: the file's clock starts when `start/file` returns);
- **terms**: of the script's names, organisations, places and numbers (`PROPER`, chosen by
  hand), the share the API's `terms` list holds;
- `d`: upload to ready (the POST's `ready_s`, and its wall time).
Floors are printed beside the figures (PASS/FAIL), not asserted.
Run time: 18 minutes for every case on 2 cores (`--quick`: 7.5), measured while other work
kept the machine busy (load 2.5–3.8).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import re
import sys
import tempfile
import time
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Column, Table
from websockets.asyncio.client import connect

from tingshuo.asr.scoring import edit_distance, normalize_zh
from tingshuo.audio.decode import load_audio

from .common import DATA, median, p95, read_tsv
from .live_translation import run_case
from .server_load import LONGFORM, Server, write_wav

console = Console(stderr=True)
AISHELL = DATA / "aishell-asr0009-sample-2spk"
NTREX = DATA / "ntrex128-en-zh" / "ref.zh"
SR = 16000
SHOWN_AT = 0.6  # an unsaid piece counts as shown where this share of it is in the captions

# The script's names, organisations, places and numbers, by utterance (read from the
# references by hand; numbers of two or more digits, as the script writes them). These
# should be the room's hot words: the API's `terms` of the text are checked for them.
PROPER: dict[str, list[str]] = {
    "S0252W0122": ["2015"],
    "S0252W0129": ["8.5"],
    "S0252W0132": ["恒大地产", "中行", "1000"],
    "S0252W0133": ["中行", "300"],
    "S0252W0135": ["12"],
    "S0252W0140": ["中指院"],
    "S0252W0141": ["20"],
    "S0252W0142": ["4000"],
    "S0252W0143": ["北京"],
    "S0252W0144": ["3000"],
    "S0252W0145": ["武汉", "天津", "杭州"],
    "S0252W0146": ["天津"],
    "S0252W0147": ["1000"],
    "S0252W0148": ["好莱坞"],
    "S0252W0150": ["中新网"],
    "S0252W0153": ["万科", "保利地产"],
    "S0252W0155": ["300"],
    "S0252W0157": ["上海"],
}

# words with a numeral that are not numbers: cn2an would write 1线, 1周, 1些, 2手
_NOT_NUMBERS = [
    "一二线", "一线", "一周", "一些", "一季度", "一般", "一步", "二手", "一个", "一向",
    "一致", "一种", "一类", "一概", "一棍子", "一下", "一直", "一定", "统一", "唯一",
    "第一", "一系列", "一轮", "一旦", "一起", "一样", "一方面", "一部分", "万一", "一些",
]  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """Which sentences make the speech, and how the script departs from what is said."""

    speaker: str
    first: int  # utterance numbers (W0121 → 121), inclusive
    last: int
    adlibs: tuple[int, ...]  # said, not in the script
    skipped: tuple[int, ...]  # in the script, not said
    shortened: int  # said as recorded; its script line has a clause appended
    clause_of: str  # the utterance whose second half is that clause (said nowhere)
    other: tuple[str, int, int]  # case c: another speaker's story, no script of its own


FULL = Plan("S0252", 121, 160, (130, 158), (139, 151), 145, "S0252W0167", ("S0150", 233, 252))
QUICK = Plan("S0252", 121, 132, (123, 130), (126, 128), 131, "S0252W0167", ("S0150", 233, 240))


@dataclass
class Utt:
    id: str  # S0252W0121
    text: str  # the reference (NFKC: Ａ → A)
    path: Path
    seconds: float


def utterances() -> dict[str, Utt]:
    out = {}
    for row in read_tsv(AISHELL / "manifest.tsv"):
        uid = row["utt_id"].removeprefix("BAC009")
        text = unicodedata.normalize("NFKC", row["reference_text"])
        out[uid] = Utt(uid, text, AISHELL / row["path"], float(row["duration_s"]))
    return out


def uid(speaker: str, n: int) -> str:
    return f"{speaker}W{n:04d}"


def written(reference: str) -> str:
    """A reference as a script writes it: numbers as digits (cn2an), the words that only
    look like numbers kept, round numbers as 1000亿 / 5万; spaces of spelled letters gone.
    An error where that would not read back as the reference (两个 → 2个)."""
    import cn2an

    kept: dict[str, str] = {}
    text = reference.replace(" ", "")
    for n, word in enumerate(sorted(set(_NOT_NUMBERS), key=len, reverse=True)):
        mark = chr(0xE000 + n)
        if word in text:
            kept[mark] = word
            text = text.replace(word, mark)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = cn2an.transform(text, "cn2an")
    text = re.sub(r"(?<!\d)(\d+?)0{8}(?![\d.])", r"\1亿", text)  # 100000000000 → 1000亿
    text = re.sub(r"(?<!\d)(\d+?)0{4}(?![\d.])", r"\1万", text)  # 50000 → 5万
    for mark, word in kept.items():
        text = text.replace(mark, word)
    if normalize_zh(text) != normalize_zh(reference):
        raise SystemExit(f"the script misreads {reference!r} as {text!r}")
    return text


@dataclass
class Speech:
    """The audio's sentences (what was said) and the script."""

    said: list[Utt]  # in order
    script_lines: list[str]  # sentences of the script, in order (each ends with 。)
    script: str  # the script's text: paragraphs of 3–4 sentences
    adlibs: list[str]  # references of the ad-libbed sentences
    unsaid: dict[str, str]  # label -> script text never said
    proper: list[str]  # the script's names, places, numbers (hand-picked, PROPER)
    audio: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.float32))


def paragraphs(lines: list[str]) -> str:
    out, i, size = [], 0, 4
    while i < len(lines):
        out.append("".join(lines[i : i + size]))
        i += size
        size = 7 - size  # 4, 3, 4, 3 …
    return "\n".join(out)


def build_audio(utts: list[Utt], rng: random.Random) -> np.ndarray:
    pieces = [np.zeros(int(0.5 * SR), np.float32)]
    for k, u in enumerate(utts):
        if k:
            pieces.append(np.zeros(int(rng.uniform(0.6, 0.9) * SR), np.float32))
        pieces.append(load_audio(u.path))
    pieces.append(np.zeros(int(1.0 * SR), np.float32))
    return np.concatenate(pieces)


def build_speech(plan: Plan, all_utts: dict[str, Utt], rng: random.Random) -> Speech:
    said: list[Utt] = []
    lines: list[str] = []
    adlibs: list[str] = []
    unsaid: dict[str, str] = {}
    proper: dict[str, None] = {}
    clause = written(all_utts[plan.clause_of].text)
    clause = clause[len(clause) // 2 :]
    for n in range(plan.first, plan.last + 1):
        u = all_utts[uid(plan.speaker, n)]
        if n not in plan.skipped:
            said.append(u)
        if n in plan.adlibs:
            adlibs.append(u.text)
            continue
        line = written(u.text)
        if n == plan.shortened:
            line += "，" + clause
            unsaid[f"clause of W{n:04d}"] = clause
        if n in plan.skipped:
            unsaid[f"skipped W{n:04d}"] = line
        lines.append(line + "。")
        for w in PROPER.get(u.id, []):
            proper.setdefault(w, None)
    speech = Speech(said, lines, paragraphs(lines), adlibs, unsaid, list(proper))
    reference = normalize_zh("".join(u.text for u in said))
    for label, piece in unsaid.items():  # the test must not find an unsaid piece in the said
        if shown_share(normalize_zh(piece), reference) >= SHOWN_AT:
            raise SystemExit(f"{label} ({piece}) is too like what is said: choose another")
    speech.audio = build_audio(said, rng)
    return speech


# -- scoring


def shown_share(needle: str, hay: str) -> float:
    """The share of `needle`'s characters matched by its best local alignment in `hay`
    (Smith–Waterman: match +2, mismatch and gap −1): a run of it shown, errors and all."""
    if not needle or not hay:
        return 0.0
    best = (0, 0)
    prev = [(0, 0)] * (len(hay) + 1)  # (score, matched)
    for a in needle:
        row = [(0, 0)]
        for j, b in enumerate(hay, 1):
            d = prev[j - 1]
            cands = [
                (d[0] + (2 if a == b else -1), d[1] + (a == b)),
                (prev[j][0] - 1, prev[j][1]),
                (row[j - 1][0] - 1, row[j - 1][1]),
                (0, 0),
            ]
            cell = max(cands)
            row.append(cell)
            if cell > best:
                best = cell
        prev = row
    return best[1] / len(needle)


def aligned_parts(parts: list[str], hyp: str) -> list[str]:
    """`hyp` cut where it aligns with the boundaries of `parts` (a minimum edit alignment
    of the whole): each part's stretch of the recognized text."""
    ref = "".join(parts)
    n, m = len(ref), len(hyp)
    d = [list(range(m + 1))]
    for i in range(1, n + 1):
        row = [i] + [0] * m
        prev = d[-1]
        r = ref[i - 1]
        for j in range(1, m + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (r != hyp[j - 1]))
        d.append(row)
    # walk back: at_ref[i] = the hyp position where ref char i begins
    at_ref = [0] * (n + 1)
    i, j = n, m
    at_ref[n] = m
    while i > 0:  # insertions go with the part before them
        if j > 0 and d[i][j] == d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            i, j = i - 1, j - 1
        elif d[i][j] == d[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
            continue
        at_ref[i] = j
    at_ref[0] = 0
    out, start = [], 0
    for p in parts:
        out.append(hyp[at_ref[start] : at_ref[start + len(p)]])
        start += len(p)
    return out


def cer_of(ref: str, hyp: str) -> tuple[float, int, int]:
    r, h = normalize_zh(ref), normalize_zh(hyp)
    edits = edit_distance(r, h)
    return edits / max(len(r), 1), edits, len(r)


def whole_passages(text: str, passages: list[str]) -> bool:
    """Whether a caption as shown is one or more whole passages of the script."""
    rest = text.strip()
    while rest:
        found = max((p for p in passages if rest.startswith(p)), key=len, default=None)
        if found is None:
            return False
        rest = rest[len(found) :].lstrip()
    return True


def term_found(word: str, terms: list[str]) -> bool:
    """Whether a term holds the word: a number as a whole number (1000 in 1000亿, not in
    10000), a name whole (恒大 alone is only part of 恒大地产)."""
    if re.fullmatch(r"[\d.]+", word):
        pattern = rf"(?<![\d.]){re.escape(word)}(?![\d.])"
        return any(re.search(pattern, t) for t in terms)
    return any(word in t for t in terms)


def term_parts(word: str, terms: list[str]) -> list[str]:
    """Terms of two or more characters that are part of a name the list lacks whole."""
    return [t for t in terms if len(t) >= 2 and t in word and t != word]


# -- a room


async def watch(server: Server, room: dict, started: asyncio.Event, out: dict) -> None:
    url = f"{server.ws}/ws/rooms/{room['id']}/events?token={room['viewer_token']}"
    finals: dict[int, dict] = {}
    done: dict[int, dict] = {}
    async with connect(url, max_queue=None, open_timeout=120) as ws:
        async for message in ws:
            event = json.loads(message)
            kind = event["type"]
            if kind == "caught_up":
                started.set()
            elif kind == "final":
                finals[event["segment"]["id"]] = event
            elif kind == "translation" and not event.get("partial"):
                done.setdefault(event["segment_id"], event)
            elif kind == "state" and event["state"] == "idle":
                break
    out.update(finals=finals, done=done)


def upload(server: Server, room: dict, script: str | bytes, name: str) -> dict:
    """POST a text (JSON, or a DOCX as a file); its answer with `wall_s` added."""
    started = time.monotonic()
    if isinstance(script, bytes):
        mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        r = server.http.post(
            f"/api/rooms/{room['id']}/texts",
            files={"file": (name, io.BytesIO(script), mime)},
            timeout=300,
        )
    else:
        r = server.http.post(
            f"/api/rooms/{room['id']}/texts", json={"name": name, "text": script}, timeout=300
        )
    wall = time.monotonic() - started
    r.raise_for_status()
    return {**r.json(), "wall_s": wall}


def wait_prepared(server: Server, room: dict, timeout: float) -> tuple[int, int, float]:
    """Until every passage has its English (or `timeout`): (translated, passages, seconds)."""
    started = time.monotonic()
    while True:
        texts = server.http.get(f"/api/rooms/{room['id']}/texts").json()
        ready = sum(t["translated"].get("en", 0) for t in texts)
        total = sum(t["passages"] for t in texts)
        if ready >= total or time.monotonic() - started > timeout:
            return ready, total, time.monotonic() - started
        time.sleep(2)


async def play_room(
    server: Server,
    wav: Path,
    name: str,
    script: str | bytes | None = None,
    prepared_wait: float | None = None,
) -> dict:
    """A room (zh → en) with `script` uploaded first, `wav` played into it at 1×: the viewer's
    events, the stored captions, and what the API said of the text."""
    r = server.http.post("/api/rooms", json={"name": name, "lang": "zh", "targets": ["en"]})
    r.raise_for_status()
    room = r.json()
    raw: dict = {"room": room["id"]}
    if script is not None:
        added = upload(server, room, script, "speech.docx" if isinstance(script, bytes) else name)
        raw["text"] = {k: added[k] for k in ("id", "passages", "pages", "terms", "ready_s")}
        raw["text"]["wall_s"] = added["wall_s"]
        if prepared_wait is not None:
            ready, total, waited = await asyncio.to_thread(
                wait_prepared, server, room, prepared_wait
            )
            raw["prepared_before"] = {"ready": ready, "passages": total, "waited_s": waited}
    out: dict = {}
    started = asyncio.Event()
    watcher = asyncio.create_task(watch(server, room, started, out))
    await asyncio.wait_for(started.wait(), 120)
    t0 = await asyncio.to_thread(server.play, room, wav)
    await watcher
    raw.update(out, t0=t0)
    segs = server.http.get(f"/api/rooms/{room['id']}/segments").json()
    raw["segments"] = sorted(segs, key=lambda s: (s["start"], s["id"]))
    if script is not None:
        full = server.http.get(f"/api/rooms/{room['id']}/texts/{raw['text']['id']}").json()
        raw["lines"] = [p["text"] for p in full["lines"]]
        raw["translated_after"] = [
            i for i, p in enumerate(full["lines"]) if p["translations"].get("en")
        ]
    return raw


def measure(raw: dict, said: list[str], speech: Speech | None) -> dict:
    """A room's figures from its raw record (see the module's doc)."""
    segs = raw["segments"]
    captions = "".join(s["text"] for s in segs)
    c, edits, chars = cer_of("".join(said), captions)
    finals = raw["finals"]
    t0 = raw["t0"]
    final_lags, followed_lags, all_tr = [], [], []
    prepared = live_whole = live_part = untranslated = 0
    lines = raw.get("lines", [])
    detail = []
    for sid, ev in finals.items():
        seg = ev["segment"]
        lag = ev["ts"] - (t0 + seg["end"])
        final_lags.append(lag)
        tr = raw["done"].get(sid)
        after = tr["ts"] - ev["ts"] if tr is not None and not tr.get("skipped") else None
        if after is not None:
            all_tr.append(after)
        how = "-" if tr is None else "skip" if tr.get("skipped") else tr.get("model") or "?"
        if seg.get("source") == "script":
            if after is not None:
                followed_lags.append(after)
            if tr is None or tr.get("skipped"):
                untranslated += 1
            elif tr.get("model") == "script":
                prepared += 1
            elif whole_passages(seg["text"], lines):
                live_whole += 1
            else:
                live_part += 1
        detail.append(
            {
                "id": sid,
                "start": seg["start"],
                "end": seg["end"],
                "text": seg["text"],
                "source": seg.get("source"),
                "final_lag": round(lag, 3),
                "translation": how,
                "translation_after": None if after is None else round(after, 3),
                "whole": bool(lines) and whole_passages(seg["text"], lines),
            }
        )
    followed = sum(1 for ev in finals.values() if ev["segment"].get("source") == "script")
    out: dict = {
        "finals": len(finals),
        "stored": len(segs),
        "cer": c,
        "edits": edits,
        "chars": chars,
        "followed": followed,
        "followed_share": followed / max(len(finals), 1),
        "followed_tr_p50": median(followed_lags),
        "followed_tr_p95": p95(followed_lags),
        "prepared": prepared,
        "live_whole": live_whole,
        "live_part": live_part,
        "followed_untranslated": untranslated,
        "final_p50": median(final_lags),
        "final_p95": p95(final_lags),
        "tr_p50": median(all_tr),
        "tr_p95": p95(all_tr),
        # a final cut in the middle of a character (the recognizer stopped short)
        "broken": sum("\ufffd" in ev["segment"]["text"] for ev in finals.values()),
        "captions": captions,
        "detail": sorted(detail, key=lambda d: d["start"]),
    }
    if speech is not None:  # the speech of cases a, b, d
        hyp = normalize_zh(captions)
        shares = {k: shown_share(normalize_zh(v), hyp) for k, v in speech.unsaid.items()}
        out["unsaid"] = {k: round(v, 2) for k, v in shares.items()}
        out["unsaid_shown"] = sum(v >= SHOWN_AT for v in shares.values())
        parts = [normalize_zh(u.text) for u in speech.said]
        stretches = aligned_parts(parts, hyp)
        ad_edits = ad_chars = 0
        out["adlib_heard"] = []
        for p, h in zip(parts, stretches, strict=True):
            if p in {normalize_zh(a) for a in speech.adlibs}:
                ad_edits += edit_distance(p, h)
                ad_chars += len(p)
                out["adlib_heard"].append(h)
        out["adlib_cer"] = ad_edits / max(ad_chars, 1)
        out["adlib_edits"] = ad_edits
    if "text" in raw:
        terms = raw["text"]["terms"]
        out["text"] = raw["text"]
        out["terms_n"] = len(terms)
        if speech is not None:
            found = [w for w in speech.proper if term_found(w, terms)]
            out["terms_recall"] = len(found) / max(len(speech.proper), 1)
            out["terms_missing"] = [
                w + "".join(f" ({p})" for p in term_parts(w, terms))
                for w in speech.proper
                if w not in found
            ]
        done = raw.get("translated_after", [])
        out["translated_after"] = len(done)
        if speech is not None:  # of the speech's own passages (the first script line on)
            lines = raw.get("lines", [])
            first = lines.index(speech.script_lines[0]) if speech.script_lines[0] in lines else 0
            spoken = range(first, first + len(speech.script_lines))
            out["translated_spoken"] = sum(1 for i in done if i in spoken)
            out["translated_indices"] = done
    if "prepared_before" in raw:
        out["prepared_before"] = raw["prepared_before"]
    return out


def changed_by_following(scripted: dict, plain: dict) -> list[tuple[str, str]]:
    """Finals shown from the script whose text differs from what the room without a script
    showed for the same stretch of the same audio: (without, with)."""
    out = []
    for d in scripted["detail"]:
        if d["source"] != "script":
            continue
        near = min(plain["detail"], key=lambda p: abs(p["start"] - d["start"]), default=None)
        if near is None or abs(near["start"] - d["start"]) > 1.0:
            out.append(("", d["text"]))
        elif normalize_zh(near["text"]) != normalize_zh(d["text"]):
            out.append((near["text"], d["text"]))
    return out


# -- the 20-page document


def long_document(speech: Speech, plan: Plan, utts: dict[str, Utt], pages: int) -> bytes:
    """A DOCX of `pages` pages (~650 characters each, a page break after each): AISHELL
    references of other stories (3 pages), the speech's script, more of them, then NTREX
    news. Nothing of case c's audio or of the unsaid clause's sentence is in it."""
    from docx import Document

    per_page = 650
    spoken = {uid(plan.speaker, n) for n in range(plan.first, plan.last + 1)}
    other_spk, o_first, o_last = plan.other
    avoid = spoken | {uid(other_spk, n) for n in range(o_first, o_last + 1)} | {plan.clause_of}
    others = [u for k, u in sorted(utts.items()) if k not in avoid]
    before = [u for u in others if u.id.startswith("S0150")]
    after = [u for u in others if not u.id.startswith("S0150")]

    def lines_of(us: list[Utt]) -> list[str]:
        return [u.text.replace(" ", "") + "。" for u in us]  # as the references write them

    news = [x.strip() for x in NTREX.read_text(encoding="utf-8").splitlines() if x.strip()]
    paras: list[str] = []
    intro = lines_of(before)
    size, chars = 4, 0
    while intro and chars < 3 * per_page:  # three pages before the speech
        paras.append("".join(intro[:size]))
        chars += len(paras[-1])
        intro, size = intro[size:], 7 - size
    paras.extend(speech.script.split("\n"))
    rest = intro + lines_of(after)
    while rest:
        paras.append("".join(rest[:size]))
        rest, size = rest[size:], 7 - size
    k = 0
    while sum(len(p) for p in paras) < pages * per_page and k < len(news):
        paras.append("".join(news[k : k + 3]))
        k += 3
    doc = Document()
    doc.add_heading("房地产市场周评（讲稿）", level=1)
    page_chars = 0
    for p in paras:
        doc.add_paragraph(p)
        page_chars += len(p)
        if page_chars >= per_page:
            doc.add_page_break()
            page_chars = 0
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


# -- the cases


def fresh_server(folder: Path, warm: Path) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    server = Server(folder)
    # load the models (recognizer, translator) before anything is timed
    asyncio.run(run_case(server, [warm], 1, 10.0))
    return server


def run_cases(args: argparse.Namespace, cases: list[str]) -> dict:
    plan = QUICK if args.quick else FULL
    utts = utterances()
    rng = random.Random(args.seed)
    speech = build_speech(plan, utts, rng)
    spk, a, b = plan.other
    other = [utts[uid(spk, n)] for n in range(a, b + 1)]
    other_audio = build_audio(other, rng)
    said = [u.text for u in speech.said]
    results: dict = {
        "plan": {
            "speech": f"{plan.speaker} W{plan.first:04d}–W{plan.last:04d}",
            "said": len(speech.said),
            "script_lines": len(speech.script_lines),
            "audio_s": round(len(speech.audio) / SR, 1),
            "other": f"{spk} W{a:04d}–W{b:04d}",
            "other_audio_s": round(len(other_audio) / SR, 1),
            "proper": speech.proper,
            "script": speech.script,
            "seed": args.seed,
        },
        "rooms": {},
        "load": {},
    }
    console.log(
        f"speech: {len(speech.said)} sentences said, {len(speech.audio) / SR:.0f} s; "
        f"script {len(speech.script_lines)} lines, {len(speech.script)} characters"
    )
    if args.verbose:
        print(speech.script, file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        wav, other_wav, warm = base / "speech.wav", base / "other.wav", base / "warm.wav"
        write_wav(wav, speech.audio)
        write_wav(other_wav, other_audio)
        write_wav(warm, load_audio(LONGFORM)[-10 * SR :])
        rooms = results["rooms"]
        for case in cases:
            server = fresh_server(base / case, warm)
            try:
                if case == "a":
                    console.log("a: the script, its translations prepared before the start")
                    raw = asyncio.run(
                        play_room(server, wav, "a", speech.script, args.prepare_timeout)
                    )
                    rooms["a"] = measure(raw, said, speech)
                elif case == "b":
                    console.log("b: no script")
                    rooms["b"] = measure(asyncio.run(play_room(server, wav, "b")), said, speech)
                elif case == "c":
                    other_said = [u.text for u in other]
                    console.log("c: another story, no script")
                    raw = asyncio.run(play_room(server, other_wav, "c-none"))
                    rooms["c-none"] = measure(raw, other_said, None)
                    console.log("c: another story, the room holding the script")
                    raw = asyncio.run(play_room(server, other_wav, "c-script", speech.script))
                    rooms["c-script"] = measure(raw, other_said, None)
                    rooms["c-script"]["followed_changed"] = changed_by_following(
                        rooms["c-script"], rooms["c-none"]
                    )
                elif case == "d":
                    docx = long_document(speech, plan, utts, args.pages)
                    console.log(f"d: a {args.pages}-page DOCX ({len(docx) // 1024} KB)")
                    raw = asyncio.run(play_room(server, wav, "d", docx))
                    rooms["d"] = measure(raw, said, speech)
            finally:
                server.close()
            # how busy the machine was (the server's own load included): 1-minute average
            results["load"][case] = round(os.getloadavg()[0], 2)
            if args.verbose:
                for name, r in rooms.items():
                    if name.startswith(case):
                        print(f"--- {name}", file=sys.stderr)
                        for d in r["detail"]:
                            print(
                                f"{d['end']:6.1f} {d['final_lag']:5.2f} "
                                f"{d['source'] or '-':6} {d['translation']:>12} "
                                f"{d['translation_after'] or 0:5.2f} "
                                f"{'whole' if d['whole'] else '     '} {d['text']}",
                                file=sys.stderr,
                            )
    return results


# -- the table


def pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:.1f} %"


def sec(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.2f}"


def floors(rooms: dict, pages: int) -> list[tuple[str, str, bool | None]]:
    """(floor, figure, passed); passed None where a case it needs was not run."""
    out: list[tuple[str, str, bool | None]] = []
    a, b, d = rooms.get("a"), rooms.get("b"), rooms.get("d")
    cn, cs = rooms.get("c-none"), rooms.get("c-script")
    for name, r in (("a", a), ("d", d)):
        if r is None:
            continue
        out.append((f"{name}: CER with the script ≤ 3 %", pct(r["cer"]), r["cer"] <= 0.03))
        shown = r["unsaid_shown"]
        out.append((f"{name}: unsaid sentences shown = 0", str(shown), not shown))
        if b is not None:
            out.append(
                (
                    f"{name}: ad-libs no worse than without a script",
                    f"{pct(r['adlib_cer'])} vs {pct(b['adlib_cer'])}",
                    r["adlib_edits"] <= b["adlib_edits"],
                )
            )
    if a is not None:
        ok = a["followed_tr_p50"] <= 0.5 and a["followed_tr_p95"] <= 2.0
        out.append(
            (
                "a: followed translations p50 ≤ 0.5 s, p95 ≤ 2 s",
                f"{sec(a['followed_tr_p50'])} / {sec(a['followed_tr_p95'])}",
                ok and a["followed"] > 0,
            )
        )
    if d is not None:
        ready = d["text"]["ready_s"]
        out.append((f"d: {pages}-page text ready ≤ 10 s", sec(ready), ready <= 10.0))
        if b is not None:
            diff = d["final_p95"] - b["final_p95"]
            out.append(
                (
                    f"d: final lag p95 with the {pages}-page text within 0.3 s of without",
                    f"{sec(d['final_p95'])} vs {sec(b['final_p95'])} ({diff:+.2f})",
                    diff <= 0.3,
                )
            )
    if cn is not None and cs is not None:
        out.append(
            (
                "c: unscripted speech in a scripted room no worse than without",
                f"{pct(cs['cer'])} vs {pct(cn['cer'])}",
                cs["edits"] <= cn["edits"],
            )
        )
    return out


def table(results: dict, pages: int, seconds: float) -> tuple[Table, Table]:
    rooms = results["rooms"]
    names = [n for n in ("a", "b", "c-none", "c-script", "d") if n in rooms]
    heads = {
        "a": "a: script",
        "b": "b: no script",
        "c-none": "c: other story, no script",
        "c-script": "c: other story, script",
        "d": f"d: {pages}-page DOCX",
    }
    plan = results["plan"]
    t = Table(
        Column("", no_wrap=True),
        *(heads[n] for n in names),
        title=(
            f"script following, zh→en, {plan['speech']} ({plan['said']} said, "
            f"{plan['audio_s']:.0f} s), other story {plan['other']}; {os.cpu_count()} cores, "
            f"{seconds / 60:.1f} min; load at each case's end "
            + ", ".join(f"{k} {v:.1f}" for k, v in results["load"].items())
        ),
    )

    def row(label: str, f) -> None:
        cells = []
        for n in names:
            try:
                cells.append(f(rooms[n]))
            except KeyError:
                cells.append("-")
        t.add_row(label, *cells)

    row("finals (stored)", lambda r: f"{r['finals']} ({r['stored']})")
    row("CER", lambda r: f"{pct(r['cer'])} ({r['edits']}/{r['chars']})")
    row(
        "unsaid shown of 3 (share found)",
        lambda r: f"{r['unsaid_shown']}  ({' '.join(f'{v:.2f}' for v in r['unsaid'].values())})",
    )
    row("ad-lib CER", lambda r: f"{pct(r['adlib_cer'])} ({r['adlib_edits']})")
    row("finals from the script", lambda r: f"{pct(r['followed_share'])} ({r['followed']})")
    row(
        "followed: translation lag p50 / p95 s",
        lambda r: f"{sec(r['followed_tr_p50'])} / {sec(r['followed_tr_p95'])}",
    )
    row(
        "followed: prepared·live whole·part·none",
        lambda r: (
            f"{r['prepared']} · {r['live_whole']} · {r['live_part']} · {r['followed_untranslated']}"
        ),
    )
    row(
        "followed finals changed by the script",
        lambda r: f"{len(r['followed_changed'])} of {r['followed']}",
    )
    row("finals with a cut character (U+FFFD)", lambda r: str(r["broken"]))
    row("final lag p50 / p95 s", lambda r: f"{sec(r['final_p50'])} / {sec(r['final_p95'])}")
    row("translation lag, all p50 / p95 s", lambda r: f"{sec(r['tr_p50'])} / {sec(r['tr_p95'])}")
    row("terms: proper nouns found", lambda r: f"{pct(r['terms_recall'])} of {len(plan['proper'])}")
    row("terms: missing", lambda r: " ".join(r["terms_missing"]) or "none")
    row("text: passages · terms", lambda r: f"{r['text']['passages']} · {r['terms_n']}")
    row(
        "text: ready s (POST wall s)",
        lambda r: f"{sec(r['text']['ready_s'])} ({sec(r['text']['wall_s'])})",
    )
    row(
        "in English: at start · at end (the speech's)",
        lambda r: (
            (
                f"{r['prepared_before']['ready']} ({r['prepared_before']['waited_s']:.0f} s wait)"
                if "prepared_before" in r
                else "not waited"
            )
            + f" · {r['translated_after']} ({r['translated_spoken']}/{plan['script_lines']})"
        ),
    )
    f = Table("floor", "figure", "", title="floors")
    for label, figure, ok in floors(rooms, pages):
        f.add_row(label, figure, "-" if ok is None else "PASS" if ok else "FAIL")
    return t, f


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="a,b,c,d", help="of a, b, c, d")
    parser.add_argument("--quick", action="store_true", help="12 sentences (development)")
    parser.add_argument("--seed", type=int, default=1, help="the silences between sentences")
    parser.add_argument("--pages", type=int, default=20, help="case d's document")
    parser.add_argument(
        "--prepare-timeout", type=float, default=600.0, help="case a: wait for translations"
    )
    parser.add_argument("--json", type=Path, help="save the figures here")
    parser.add_argument("--verbose", action="store_true", help="every final, the script")
    args = parser.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in cases:
        if c not in "abcd" or len(c) != 1:
            raise SystemExit(f"unknown case {c!r}: use a, b, c, d")
    started = time.monotonic()
    results = run_cases(args, cases)
    seconds = time.monotonic() - started
    results["seconds"] = round(seconds, 1)
    if args.json:  # first: the figures are kept whatever the table makes of them
        results["floors"] = [
            {"floor": label, "figure": figure, "passed": ok}
            for label, figure, ok in floors(results["rooms"], args.pages)
        ]
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    t, f = table(results, args.pages, seconds)
    out = Console(width=220)
    out.print(t)
    out.print(f)


if __name__ == "__main__":
    main()
