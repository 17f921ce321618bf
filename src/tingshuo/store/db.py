"""Sessions and their final segments, through SQLAlchemy: SQLite by default, PostgreSQL by URL.

The store is put together here from its parts: tables.py (the schema), records.py (what it
hands out), connection.py (the engine), reads.py, writes.py and sound.py (recorded sound).
Every name is importable from here, as it was before the split.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from ..errors import TingshuoError
from ..redact import hide_password
from .reads import Reads
from .records import (
    Corrected,
    Retranscription,
    Revision,
    RoomInfo,
    RoomText,
    SavedRundown,
    SavedVoice,
    SearchHit,
    SessionInfo,
    SpeakerCount,
    StoredPassage,
    merged_voices,
)
from .sound import Sound
from .tables import (
    Base,
    CounterRow,
    RevisionRow,
    RoomRow,
    RundownRow,
    SegmentRow,
    SessionRow,
    SettingRow,
    TextRow,
    VoiceRow,
)
from .writes import Writes

__all__ = [
    "Base",
    "Corrected",
    "CounterRow",
    "Revision",
    "RevisionRow",
    "Retranscription",
    "RoomInfo",
    "RoomRow",
    "RoomText",
    "RundownRow",
    "SavedRundown",
    "SavedVoice",
    "SearchHit",
    "SegmentRow",
    "SessionInfo",
    "SessionRow",
    "SettingRow",
    "SpeakerCount",
    "Store",
    "StoredPassage",
    "TextRow",
    "VoiceRow",
    "merged_voices",
    "open_store",
]


class Store(Writes, Reads, Sound):
    """Sessions, captions, rooms and their voices and rundowns, recorded sound, in one
    database."""


def open_store(url: str) -> Store:
    try:
        return Store(url)
    except SQLAlchemyError as e:
        raise TingshuoError(f"cannot open the database {hide_password(url)}: {e}") from e
