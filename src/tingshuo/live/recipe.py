"""How a live session is opened, the one way for every runner: a room in this process
(`live/rooms.py`), a room on a worker (`live/room_worker.py`) and `tingshuo listen`.

A `Recipe` is what the session listens for and where it writes (a room's settings, or the
command line's flags); `open_session` puts it together with the models that do the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..asr.worker import RecognizerWorker
from ..errors import StoreError
from ..rules import RuleBook, Rules
from ..settings import Settings
from ..store.db import RoomInfo, SessionInfo, Store
from .scripts import Following, ScriptBook
from .session import LiveSession

if TYPE_CHECKING:
    from ..mt import Glossary, TranslationWorker
    from ..speakers import Diarizer
    from .models import Models

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    lang: str | None  # None: each utterance's language is detected
    hotwords: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    glossary: Glossary | None = None
    title: str = "Live session"
    source: str = ""
    room_id: str | None = None

    @classmethod
    def of_room(cls, room: RoomInfo, source: str = "") -> Recipe:
        """A room's session: its language, hot words (the glossary's terms too), targets."""
        glossary = room_glossary(room)
        hotwords = list(room.hotwords) + ([e.source for e in glossary.entries] if glossary else [])
        return cls(
            lang=None if room.lang == "auto" else room.lang,
            hotwords=tuple(dict.fromkeys(hotwords)),
            targets=tuple(room.targets),
            glossary=glossary,
            title=room.name,
            source=source,
            room_id=room.id,
        )


def room_glossary(room: RoomInfo) -> Glossary | None:
    if not room.glossary:
        return None
    from ..mt import Glossary

    return Glossary.from_pairs(room.glossary)


def open_session(
    recipe: Recipe,
    worker: RecognizerWorker,
    store: Store,
    settings: Settings,
    *,
    translator: TranslationWorker | None = None,
    diarizer: Diarizer | None = None,
    rules: Callable[[], Rules] | None = None,
    review=None,
    resume: SessionInfo | None = None,
    offset_s: float = 0.0,
    utterance_base: int = 0,
    id_floor: Callable[[], int] | None = None,
    on_store_error: Callable[[StoreError], None] | None = None,
    following: Following | None = None,
) -> LiveSession:
    """A session ready to `run`: its language checked, and stored (or resumed)."""
    worker.recognizer.check_language(recipe.lang)
    session = LiveSession(
        recipe,
        worker,
        store,
        settings,
        translator=translator,
        diarizer=diarizer,
        rules=rules,
        review=review,
        resume=resume,
        offset_s=offset_s,
        utterance_base=utterance_base,
        id_floor=id_floor,
        following=following,
    )
    session.on_store_error = on_store_error
    return session


def room_session(
    room: RoomInfo,
    source: str,
    models: Models,
    store: Store,
    rulebook: RuleBook,
    diarizer: Diarizer | None,
    scriptbook: ScriptBook | None = None,
    **resume,
) -> LiveSession:
    """A room's session with the process's models (blocking: the translator may load now).
    `resume`: `open_session`'s arguments for a session taken over, and `on_store_error`.
    The translator is told what is coming, so that the room's first caption does not wait
    for it to read its instructions. The room's prepared texts are compiled now, and their
    translation goes on in the translator's idle time."""
    recipe = Recipe.of_room(room, source)
    following = None
    if scriptbook is not None:
        try:
            compiled = scriptbook.compile_now(room.id)
        except StoreError as e:  # the texts come in once the database is back
            log.warning("room %s: prepared texts not read: %s", room.id, e)
            compiled = None
        if compiled is not None and compiled.glossary:
            recipe = replace(recipe, glossary=merged_glossary(recipe.glossary, compiled.glossary))
        following = Following(
            lambda: scriptbook.for_room(room.id), lambda: scriptbook.preparing(room.id)
        )
    translator = models.translator() if room.targets else None
    session = open_session(
        recipe,
        models.worker,
        store,
        models.settings,
        translator=translator,
        diarizer=diarizer,
        rules=lambda: rulebook.for_room(room.id),
        review=models.review(),
        following=following,
        **resume,
    )
    session.meter = models.meter
    record(session, room, store, models.settings.record)
    if session.translator is not None and recipe.lang is not None:
        session.translator.prepare(session.info.id, recipe.lang, list(recipe.targets))
    if scriptbook is not None and session.translator is not None:
        scriptbook.prepare(room.id, session.translator, list(recipe.targets))
    return session


def record(session: LiveSession, room: RoomInfo, store: Store, default: bool) -> None:
    """The room's sound is kept unless its `record` setting (or the server's) says no."""
    from .recording import Recorder

    keep = room.record and default
    try:
        store.set_session_audio(session.info.id, "kept" if keep else "off")
    except StoreError as e:  # its pages will meet the same refusal: the recorder says so
        log.warning("session %s: its sound's state is not stored: %s", session.info.id, e)
    if keep:
        session.recorder = Recorder(store, session.info.id, session.offset_s)


def merged_glossary(glossary: Glossary | None, pairs: list[tuple[str, str]]) -> Glossary:
    """The room's glossary, then the pairs its bilingual texts give (the room's wins)."""
    from ..mt import Glossary

    own = [(e.source, e.target) for e in glossary.entries] if glossary is not None else []
    known = {source for source, _ in own}
    return Glossary.from_pairs([*own, *[(a, b) for a, b in pairs if a not in known]])
