"""The one path a final caption takes, for live rooms, the AI anchor and files alike:
stored first (so that it has its id), then published, then translated; each translation is
stored, then published.

Correction rules (wrong => right) are applied to each final before it is stored, and to the
drafts that are shown before it (`corrected`); then, where the room has prepared texts, the
caption is followed in them (live/scripts.py): it shows the script's writing, and a caption
that is whole passages of it takes their prepared translations at once. A caption corrected
later (`revised`) is published as a `correction` and translated again.

Drafts of a translation (`partial`) and marked skips are published, never stored. When the
store refuses a write (a plain store on a full disk; a server's buffered store only when its
buffer is full), captions go on being published, without ids, and `on_store_error` is told
once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from typing import TYPE_CHECKING

from ..errors import StoreError
from ..events import Correction, Final, Partial, RoomEvent, Segment, Translation
from ..rules import NO_RULES, Rules
from ..store.db import Store

if TYPE_CHECKING:
    from ..mt import Glossary, TranslationWorker
    from .scripts import Following

log = logging.getLogger(__name__)

Publish = Callable[[RoomEvent], None]


# captions corrected in this process, and their latest revision: a translation of an older
# text that comes in after it is dropped (the new text's translation follows). Keyed by
# session and id: ids are unique within a database, and a process may open several (tests).
# Where other processes share the room (`id_floor`), a correction may have been made on
# another gateway: a complete translation then asks the database too.
_REVISED: dict[tuple[str | None, int], int] = {}
_REVISED_LOCK = threading.Lock()


class CaptionPath:
    def __init__(
        self,
        store: Store,
        translator: TranslationWorker | None = None,
        targets: Sequence[str] = (),
        glossary: Glossary | None = None,
        id_floor: Callable[[], int] | None = None,
        rules: Callable[[], Rules] | None = None,
        following: Following | None = None,
    ) -> None:
        """`id_floor`: where other processes also number this room's captions, the largest
        id given so far (a new caption's id goes above it). `rules`: the correction rules in
        force now (they may change while a room is live). `following`: the room's prepared
        texts."""
        self.store = store
        self.rules = rules or (lambda: NO_RULES)
        self.id_floor = id_floor
        self.shared = id_floor is not None  # other processes write (and correct) the room too
        self.translator = translator if targets else None
        self.targets = list(targets)
        self.glossary = glossary
        self.following = following
        self.store_error: StoreError | None = None  # the first write the store refused
        self.on_store_error: Callable[[StoreError], None] | None = None
        self._translations: list[Future] = []
        self._queued: dict[int, Future] = {}  # caption → its translation, until done

    def commit(
        self,
        final: Final,
        publish: Publish | None = None,
        stored: Callable[[Final], None] | None = None,
        targets: Sequence[str] | None = None,
    ) -> Final:
        """Store, publish, translate. `stored` is called between storing and publishing;
        `targets`: the languages to translate into (default: the path's, but the caption's)."""
        rules = self.rules()
        if rules:
            final.segment.text = rules.apply(final.segment.text)
        prepared = self._followed(final.segment)
        final.segment = self.store_segment(final.segment)
        if stored is not None:
            stored(final)
        if publish is not None:
            publish(final)
        self.translate(final, publish, targets, prepared)
        return final

    def corrected(self, partial: Partial) -> Partial:
        """A draft as it will be shown: with the rules applied."""
        rules = self.rules()
        ruled = self._ruled(partial, rules) if rules else partial
        if self.following is not None:
            try:
                return self.following.partial(ruled)
            except Exception:  # the draft goes out as recognized
                log.exception("session %s: a draft was not followed", partial.session_id)
        return ruled

    def _followed(self, segment: Segment) -> dict[str, str]:
        """The final in the script's writing, where it was read from one; its prepared
        translations. A fault in following never costs the caption."""
        if self.following is None:
            return {}
        text = segment.text
        try:
            return self.following.final(segment)
        except Exception:
            log.exception("session %s: a caption was not followed", segment.session_id)
            segment.text, segment.source = text, None
            return {}

    @staticmethod
    def _ruled(partial: Partial, rules: Rules) -> Partial:
        stable = rules.apply(partial.stable)
        whole = rules.apply(partial.stable + partial.unstable)  # a rule may span the two
        unstable = (
            whole[len(stable) :] if whole.startswith(stable) else rules.apply(partial.unstable)
        )
        return partial.model_copy(update={"stable": stable, "unstable": unstable})

    def revised(
        self,
        segment: Segment,
        publish: Publish,
        by: str = "operator",
        editor: str | None = None,
    ) -> None:
        """A stored caption whose text was corrected: every page is told, and it is translated
        again (its new translation replaces the old one, in the store too)."""
        assert segment.id is not None
        key = (segment.session_id, segment.id)
        with _REVISED_LOCK:
            _REVISED[key] = max(_REVISED.get(key, 0), segment.revision)
            while len(_REVISED) > 10_000:
                _REVISED.pop(next(iter(_REVISED)))
        publish(Correction.of(segment, by, editor))
        earlier = self._queued.pop(segment.id, None)
        if earlier is not None:
            earlier.cancel()  # its old text, not begun yet: no use translating it now
        self.translate(Final(utterance=0, segment=segment), publish, revised=True)

    def store_segment(self, segment: Segment) -> Segment:
        if self.store_error is None:
            try:
                if self.id_floor is not None:
                    self.store.ensure_ids_above(self.id_floor())  # type: ignore[attr-defined]
                return self.store.add_segment(segment)
            except StoreError as e:
                self.store_error = e
                log.error("session %s: captions are no longer stored: %s", segment.session_id, e)
                if self.on_store_error is not None:
                    self.on_store_error(e)
        return segment

    def translate(
        self,
        final: Final,
        publish: Publish | None,
        targets: Sequence[str] | None = None,
        prepared: dict[str, str] | None = None,
        revised: bool = False,
    ) -> None:
        """Hand the caption to the translator and go on; its translations follow.
        `prepared`: translations made beforehand (a followed script's), given at once.
        `revised`: a correction's, after the fresh captions waiting."""
        wanted = [t for t in (self.targets if targets is None else targets)]
        wanted = [t for t in wanted if t != final.segment.lang]
        if self.translator is None or not wanted:
            return

        revision = final.segment.revision
        session = final.segment.session_id

        def done(translation: Translation) -> None:
            if translation.segment_id and self._superseded(
                session, translation.segment_id, revision, complete=not translation.partial
            ):
                return  # the caption was corrected meanwhile: its new translation follows
            if not (translation.partial or translation.skipped) and translation.segment_id:
                try:  # stored before it is shown, like the caption it belongs to
                    self.store.set_translation(
                        translation.segment_id, translation.lang, translation.text
                    )
                except StoreError as e:  # shown all the same
                    log.error("a translation is not stored: %s", e)
            if publish is not None:
                publish(translation)

        for lang in [t for t in wanted if (prepared or {}).get(t)]:
            assert prepared is not None
            wanted.remove(lang)
            done(
                Translation(
                    session_id=session,
                    segment_id=final.segment.id,
                    utterance=final.utterance,
                    lang=lang,
                    text=prepared[lang],
                    model="script",
                )
            )
        if not wanted:
            return
        future = self.translator.submit_final(final, wanted, done, self.glossary, revised)
        self._translations = [f for f in self._translations if not f.done()] + [future]
        if final.segment.id is not None:
            self._queued = {k: f for k, f in self._queued.items() if not f.done()}
            self._queued[final.segment.id] = future

    def _superseded(
        self, session: str | None, segment_id: int, revision: int, complete: bool
    ) -> bool:
        """Whether the caption was corrected after `revision` was translated: in this
        process, or (a complete translation in a shared room) through any other."""
        if _REVISED.get((session, segment_id), 0) > revision:
            return True
        if not (self.shared and complete):
            return False
        try:
            return self.store.stored_revision(segment_id) > revision
        except StoreError as e:  # the database is away: the translation is not held back
            log.warning("caption %d: its revision is not known now: %s", segment_id, e)
            return False

    def wait(self, timeout: float | None = None) -> None:
        """Until the translations of every caption so far have been delivered (or failed)."""
        wait(self._translations, timeout=timeout)
