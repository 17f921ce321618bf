"""The one path a final caption takes, for live rooms, the AI anchor and files alike:
stored first (so that it has its id), then published, then translated; each translation is
stored, then published.

Drafts of a translation (`partial`) and marked skips are published, never stored. When the
store refuses a write (a plain store on a full disk; a server's buffered store only when its
buffer is full), captions go on being published, without ids, and `on_store_error` is told
once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from typing import TYPE_CHECKING

from ..errors import StoreError
from ..events import Final, RoomEvent, Segment, Translation
from ..store.db import Store

if TYPE_CHECKING:
    from ..mt import Glossary, TranslationWorker

log = logging.getLogger(__name__)

Publish = Callable[[RoomEvent], None]


class CaptionPath:
    def __init__(
        self,
        store: Store,
        translator: TranslationWorker | None = None,
        targets: Sequence[str] = (),
        glossary: Glossary | None = None,
        id_floor: Callable[[], int] | None = None,
    ) -> None:
        """`id_floor`: where other processes also number this room's captions, the largest
        id given so far (a new caption's id goes above it)."""
        self.store = store
        self.id_floor = id_floor
        self.translator = translator if targets else None
        self.targets = list(targets)
        self.glossary = glossary
        self.store_error: StoreError | None = None  # the first write the store refused
        self.on_store_error: Callable[[StoreError], None] | None = None
        self._translations: list[Future] = []

    def commit(
        self,
        final: Final,
        publish: Publish | None = None,
        stored: Callable[[Final], None] | None = None,
        targets: Sequence[str] | None = None,
    ) -> Final:
        """Store, publish, translate. `stored` is called between storing and publishing;
        `targets`: the languages to translate into (default: the path's, but the caption's)."""
        final.segment = self.store_segment(final.segment)
        if stored is not None:
            stored(final)
        if publish is not None:
            publish(final)
        self.translate(final, publish, targets)
        return final

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
        self, final: Final, publish: Publish | None, targets: Sequence[str] | None = None
    ) -> None:
        """Hand the caption to the translator and go on; its translations follow."""
        wanted = [t for t in (self.targets if targets is None else targets)]
        wanted = [t for t in wanted if t != final.segment.lang]
        if self.translator is None or not wanted:
            return

        def done(translation: Translation) -> None:
            if not (translation.partial or translation.skipped) and translation.segment_id:
                try:  # stored before it is shown, like the caption it belongs to
                    self.store.set_translation(
                        translation.segment_id, translation.lang, translation.text
                    )
                except StoreError as e:  # shown all the same
                    log.error("a translation is not stored: %s", e)
            if publish is not None:
                publish(translation)

        future = self.translator.submit_final(final, wanted, done, self.glossary)
        self._translations = [f for f in self._translations if not f.done()] + [future]

    def wait(self, timeout: float | None = None) -> None:
        """Until the translations of every caption so far have been delivered (or failed)."""
        wait(self._translations, timeout=timeout)
