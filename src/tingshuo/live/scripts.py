"""A room's prepared texts at work: followed by its captions (prepared/follow.py), translated
before they are said, and the terms around where the speaker is given to the recognizer.

`ScriptBook` keeps each room's texts compiled, read from the store again when they change
(looked at every `ttl` s, so a text added through any gateway reaches a live room), and
compiled in a thread of its own so that a live room never waits for a new text. Machine
translations of passages are made in the translator's idle time (`Preparing`), nearest the
speaker first, and written to the store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import TingshuoError
from ..events import Partial, Segment
from ..prepared.follow import Followed, Follower, Passage, Script
from ..store.db import RoomInfo, RoomText, Store, StoredPassage

if TYPE_CHECKING:
    from ..mt import BackgroundJob, Glossary, TranslationWorker
    from ..prepared.passages import Prepared

log = logging.getLogger(__name__)

HOTWORDS_NEAR = 16  # terms of the passages around the speaker, given to the recognizer
_FLUSH_EVERY_S = 5.0  # machine translations are written to the store this often


@dataclass
class Compiled:
    """A room's texts of one version, ready to follow: one `Script` per spoken language."""

    version: tuple
    texts: list[RoomText]
    scripts: dict[str, Script] = field(default_factory=dict)
    # per script passage: (text id, index in the text)
    refs: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    # per script passage: the text's terms that occur in it
    terms: dict[str, list[list[str]]] = field(default_factory=dict)
    glossary: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, texts: Sequence[RoomText], version: tuple = ()) -> Compiled:
        out = cls(version, list(texts))
        by_lang: dict[str, list[tuple[RoomText, int, Passage]]] = {}
        for text in texts:
            out.glossary.extend(text.glossary)
            for i, p in enumerate(text.passages):
                passage = Passage(p.text, text.id, dict(p.translations))
                by_lang.setdefault(text.lang, []).append((text, i, passage))
        for lang, items in by_lang.items():
            out.scripts[lang] = Script([p for _, _, p in items], lang)
            out.refs[lang] = [(t.id, i) for t, i, _ in items]
            out.terms[lang] = [[w for w in t.terms if w in p.text] for t, _, p in items]
        return out


class ScriptBook:
    """Each room's prepared texts, compiled (see the module's doc)."""

    def __init__(self, store: Store, ttl: float = 2.0) -> None:
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, Compiled]] = {}
        self._compiling: set[str] = set()
        # machine translations made here and not yet read back from the store
        self.made: dict[tuple[int, int], dict[str, str]] = {}  # (text, passage) -> {lang: text}
        self._preparing: dict[str, Preparing] = {}

    def compile_now(self, room_id: str) -> Compiled:
        """Read and compile the room's texts, waiting for it (a room about to start)."""
        version = self.store.texts_version(room_id)
        with self._lock:
            kept = self._kept.get(room_id)
        if kept is not None and kept[1].version == version:
            with self._lock:
                self._kept[room_id] = (time.monotonic(), kept[1])
            return kept[1]
        compiled = self._compile(room_id, version)
        with self._lock:
            self._kept[room_id] = (time.monotonic(), compiled)
        return compiled

    def for_room(self, room_id: str) -> Compiled | None:
        """The room's texts as compiled last; a change is compiled in the background."""
        with self._lock:
            kept = self._kept.get(room_id)
        if kept is not None and time.monotonic() - kept[0] < self.ttl:
            return kept[1]
        try:
            version = self.store.texts_version(room_id)
        except TingshuoError as e:  # the database is away: the texts known last stay
            log.warning("room %s: prepared texts not read: %s", room_id, e)
            return kept[1] if kept is not None else None
        if kept is not None and kept[1].version == version:
            with self._lock:
                self._kept[room_id] = (time.monotonic(), kept[1])
            return kept[1]
        with self._lock:
            if room_id in self._compiling:
                return kept[1] if kept is not None else None
            self._compiling.add(room_id)
        threading.Thread(
            target=self._compile_in_background, args=(room_id, version), daemon=True
        ).start()
        return kept[1] if kept is not None else None

    def invalidate(self, room_id: str) -> None:
        with self._lock:
            kept = self._kept.get(room_id)
            if kept is not None:
                self._kept[room_id] = (0.0, kept[1])

    def _compile_in_background(self, room_id: str, version: tuple) -> None:
        try:
            compiled = self._compile(room_id, version)
            with self._lock:
                self._kept[room_id] = (time.monotonic(), compiled)
            preparing = self._preparing.get(room_id)
            if preparing is not None:
                preparing.translator.wake()
        except TingshuoError as e:
            log.warning("room %s: prepared texts not compiled: %s", room_id, e)
        finally:
            with self._lock:
                self._compiling.discard(room_id)

    def _compile(self, room_id: str, version: tuple) -> Compiled:
        started = time.monotonic()
        texts = self.store.room_texts(room_id)
        with self._lock:
            made = dict(self.made)
        for text in texts:
            for i, p in enumerate(text.passages):
                for lang, translated in made.get((text.id, i), {}).items():
                    p.translations.setdefault(lang, translated)
        compiled = Compiled.of(texts, version)
        log.info(
            "room %s: %d prepared texts compiled in %.2f s",
            room_id,
            len(texts),
            time.monotonic() - started,
        )
        return compiled

    def prepare(self, room_id: str, translator: TranslationWorker, targets: Sequence[str]) -> None:
        """Translate the room's texts into `targets` in the translator's idle time."""
        with self._lock:
            preparing = self._preparing.get(room_id)
            if preparing is not None and preparing.translator is translator:
                preparing.targets = list(targets)
                translator.wake()
                return
            preparing = Preparing(self, room_id, translator, list(targets))
            self._preparing[room_id] = preparing
        translator.add_background(preparing)

    def preparing(self, room_id: str) -> Preparing | None:
        return self._preparing.get(room_id)

    def forget(self, room_id: str) -> None:
        """A room deleted: its texts are let go, and their translation stops."""
        with self._lock:
            self._kept.pop(room_id, None)
            preparing = self._preparing.pop(room_id, None)
        if preparing is not None:
            preparing.translator.remove_background(preparing)


class Preparing:
    """A room's passages translated in the translator's idle time: the passage the speaker
    is at first, then those ahead, then the rest."""

    def __init__(
        self, book: ScriptBook, room_id: str, translator: TranslationWorker, targets: list[str]
    ) -> None:
        self.book = book
        self.room_id = room_id
        self.translator = translator
        self.targets = targets
        self.position: tuple[str, int] | None = None  # (language, script passage) of the speaker
        self._unwritten: dict[int, dict[int, dict[str, str]]] = {}
        self._written_at = time.monotonic()
        self._busy: set[tuple[int, int, str]] = set()

    def next_job(self) -> BackgroundJob | None:
        from ..mt import BackgroundJob, Glossary, Turn

        compiled = self.book.for_room(self.room_id)
        if compiled is None:
            self._flush(force=True)
            return None
        for lang, script in compiled.scripts.items():
            wanted = [t for t in self.targets if t != lang]
            if not wanted:
                continue
            at = self.position[1] if self.position and self.position[0] == lang else 0
            order = list(range(at, len(script.passages))) + list(range(0, at))
            for i in order:
                passage = script.passages[i]
                for tgt in wanted:
                    if tgt in passage.translations:
                        continue
                    text_id, index = compiled.refs[lang][i]
                    if (text_id, index, tgt) in self._busy:
                        continue
                    self._busy.add((text_id, index, tgt))
                    before = script.passages[max(i - 2, 0) : i]
                    context = tuple(
                        Turn(p.text, p.translations[tgt]) for p in before if tgt in p.translations
                    )
                    glossary = Glossary.from_pairs(compiled.glossary) if compiled.glossary else None
                    return BackgroundJob(
                        passage.text,
                        lang,
                        tgt,
                        conversation=("prepared", self.room_id, text_id, tgt),
                        context=context,
                        glossary=glossary,
                    )
        self._flush(force=True)
        return None

    def done(self, job: BackgroundJob, text: str | None) -> None:
        compiled = self.book.for_room(self.room_id)
        if compiled is None:
            return
        script = compiled.scripts.get(job.src)
        if script is None:
            return
        _, _, text_id, tgt = job.conversation  # type: ignore[misc]
        for i, passage in enumerate(script.passages):
            ref = compiled.refs[job.src][i]
            if ref[0] != text_id or passage.text != job.text or tgt in passage.translations:
                continue
            self._busy.discard((ref[0], ref[1], tgt))
            if text is None:
                passage.translations[tgt] = ""  # failed: followed captions translate live
                continue
            passage.translations[tgt] = text
            with self.book._lock:
                self.book.made.setdefault(ref, {})[tgt] = text
            self._unwritten.setdefault(ref[0], {}).setdefault(ref[1], {})[tgt] = text
        self._flush()

    def _flush(self, force: bool = False) -> None:
        if not self._unwritten:
            return
        if not force and time.monotonic() - self._written_at < _FLUSH_EVERY_S:
            return
        unwritten, self._unwritten = self._unwritten, {}
        self._written_at = time.monotonic()
        for text_id, translations in unwritten.items():
            try:
                self.book.store.set_passage_translations(text_id, translations)
            except TingshuoError as e:  # kept in memory; written with the next batch
                log.warning("prepared translations not stored: %s", e)
                for index, by_lang in translations.items():
                    self._unwritten.setdefault(text_id, {}).setdefault(index, {}).update(by_lang)


class Following:
    """One session's place in its room's scripts (or in scripts given on the command line)."""

    def __init__(
        self,
        compiled: Callable[[], Compiled | None],
        preparing: Callable[[], Preparing | None] = lambda: None,
    ) -> None:
        self._compiled = compiled
        self._preparing = preparing
        self._followers: dict[str, Follower] = {}
        self._seen: Compiled | None = None
        # where the speaker is, as (text id, passage index), to carry over a new compile
        self._at: dict[str, tuple[int, int]] = {}
        self.changed = False  # the hot words near the speaker changed
        self.moved = False  # the speaker reached another passage (to tell the console)
        self._stable_seen: dict[str, Followed] = {}

    @classmethod
    def of_texts(cls, texts: Sequence[RoomText]) -> Following:
        compiled = Compiled.of(texts)
        return cls(lambda: compiled)

    def _follower(self, lang: str) -> Follower | None:
        compiled = self._compiled()
        if compiled is None:
            return None
        if compiled is not self._seen:
            self._seen = compiled
            self._followers = {}
            self.changed = True
        follower = self._followers.get(lang)
        script = compiled.scripts.get(lang)
        if follower is None and script is not None:
            follower = self._followers[lang] = Follower(script)
            at = self._at.get(lang)
            if at is not None and at in compiled.refs[lang]:
                follower.move_to(compiled.refs[lang].index(at))
        return follower

    def final(self, segment: Segment) -> dict[str, str]:
        """A final as shown (its text and `source`); its prepared translations, if whole."""
        follower = self._follower(segment.lang)
        if follower is None:
            return {}
        followed = follower.follow(segment.text, commit=True)
        if followed.source is None:
            return {}
        segment.text, segment.source = followed.text, followed.source
        self._moved(segment.lang, follower)
        return {k: v for k, v in followed.translations.items() if v}

    def partial(self, partial: Partial) -> Partial:
        follower = self._follower(partial.lang)
        if follower is None:
            return partial
        whole = follower.follow(partial.stable + partial.unstable)
        if whole.source is None:
            return partial
        stable = self._stable_seen.get(partial.stable)
        if stable is None:  # the stable words only grow: each is followed once
            stable = follower.follow(partial.stable) if partial.stable else Followed("")
            self._stable_seen = {partial.stable: stable}
        if stable.source is not None and whole.text.startswith(stable.text):
            cut = len(stable.text)
        else:
            cut = _common_prefix(whole.text, partial.stable)
        return partial.model_copy(
            update={"stable": whole.text[:cut], "unstable": whole.text[cut:], "source": "script"}
        )

    def _moved(self, lang: str, follower: Follower) -> None:
        compiled = self._seen
        if compiled is None:
            return
        passage = follower.script.passage_at(follower.cursor - 1)  # the one said last
        ref = compiled.refs[lang][passage] if compiled.refs[lang] else None
        if ref is not None and self._at.get(lang) != ref:
            self._at[lang] = ref
            self.changed = self.moved = True
        preparing = self._preparing()
        if preparing is not None:
            preparing.position = (lang, passage)

    def move_to(self, text_id: int, index: int) -> bool:
        """An operator's re-anchoring: the speaker is at this passage now."""
        compiled = self._compiled()
        if compiled is None:
            return False
        for lang, refs in compiled.refs.items():
            if (text_id, index) in refs:
                follower = self._follower(lang)
                if follower is None:
                    return False
                follower.move_to(refs.index((text_id, index)))
                self._at[lang] = (text_id, index)
                self.changed = self.moved = True
                return True
        return False

    def position(self) -> dict[str, tuple[int, int]]:
        """Where the speaker is in each language's script: (text id, passage index)."""
        return dict(self._at)

    def hotwords(self) -> list[str]:
        """The terms of the passages around the speaker (the next ones first)."""
        compiled = self._compiled()
        if compiled is None:
            return []
        out: dict[str, None] = {}
        for lang, script in compiled.scripts.items():
            follower = self._followers.get(lang)
            at = script.passage_at(follower.cursor) if follower is not None else 0
            terms = compiled.terms[lang]
            for i in [*range(at, min(at + 6, len(terms))), *range(max(at - 2, 0), at)]:
                for w in terms[i]:
                    out.setdefault(w, None)
        self.changed = False
        return list(out)[:HOTWORDS_NEAR]

    def glossary(self) -> Glossary | None:
        compiled = self._compiled()
        if compiled is None or not compiled.glossary:
            return None
        from ..mt import Glossary

        return Glossary.from_pairs(compiled.glossary)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


MAX_TEXTS = 50  # per room


def _read(text: str, lang: str | None, kind: str) -> tuple[Prepared, list[str]]:
    """A text cut into passages, and its terms (a bilingual text's glossary terms first)."""
    from ..prepared.passages import prepare
    from ..prepared.terms import terms

    prepared = prepare(text, lang, wrapped=kind == "pdf")
    found = terms([p.text for p in prepared.passages], prepared.lang)
    return prepared, list(dict.fromkeys([*(a for a, _ in prepared.glossary), *found]))


def _stored(prepared: Prepared) -> list[StoredPassage]:
    return [
        StoredPassage(text=p.text, translations=dict(p.translations), given=list(p.translations))
        for p in prepared.passages
    ]


def add_text(
    store: Store, room: RoomInfo, name: str, kind: str, text: str, pages: int = 0
) -> RoomText:
    """A prepared text for a room: cut into passages in the room's language (a bilingual
    text's other language is its translation), its terms found, stored. Blocking (a second
    or two for a long text)."""
    if len(store.room_texts(room.id)) >= MAX_TEXTS:
        raise TingshuoError(f"room {room.name!r} already has {MAX_TEXTS} texts: remove one first")
    prepared, found = _read(text, None if room.lang == "auto" else room.lang, kind)
    names = {"zh": "Chinese", "en": "English"}
    if not prepared.passages or room.lang not in ("auto", prepared.lang):
        raise TingshuoError(
            f"{name!r} is in {names.get(prepared.lang, prepared.lang)}, and room "
            f"{room.name!r} listens for {names.get(room.lang, room.lang)}: give the text the "
            "speaker reads (or, for a translation, both languages line by line)"
        )
    return store.add_text(
        room.id, name, kind, prepared.lang, _stored(prepared), found, prepared.glossary, pages
    )


def texts_from_files(paths: Sequence[Path], lang: str | None) -> list[RoomText]:
    """Prepared texts given on the command line (`--script FILE`), read as a room reads an
    upload; nothing is stored."""
    from datetime import UTC, datetime

    from ..prepared.documents import read_document

    out: list[RoomText] = []
    now = datetime.now(UTC)
    for n, path in enumerate(paths, start=1):
        try:
            data = path.read_bytes()
        except OSError as e:
            raise TingshuoError(f"{path}: cannot read the script ({e.strerror})") from e
        doc = read_document(path.name, data)
        prepared, found = _read(doc.text, lang, doc.kind)
        out.append(
            RoomText(
                id=n,
                room_id="",
                name=doc.name,
                kind=doc.kind,
                lang=prepared.lang,
                pages=doc.pages,
                passages=_stored(prepared),
                terms=found,
                glossary=prepared.glossary,
                created_at=now,
                updated_at=now,
            )
        )
    return out
