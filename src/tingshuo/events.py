"""The typed messages the listening pipeline passes from stage to stage."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Segment(BaseModel):
    """A final caption: what was said, when, in which language, by whom (when known)."""

    id: int | None = None  # set by the store
    session_id: str | None = None
    start: float  # seconds from the start of the session's audio
    end: float
    lang: str  # ISO 639-1 code: "zh", "en", …
    text: str
    speaker: str | None = None
    # target language -> translated text, filled by the translator when a session has targets
    translations: dict[str, str] = Field(default_factory=dict)


class Partial(BaseModel):
    """A draft of the open utterance; `stable` will not change, `unstable` may."""

    type: Literal["partial"] = "partial"
    session_id: str | None = None
    utterance: int  # counts utterances within the session
    start: float
    end: float
    lang: str
    stable: str
    unstable: str

    @property
    def text(self) -> str:
        return self.stable + self.unstable


class Final(BaseModel):
    """An utterance committed at the end of a phrase."""

    type: Literal["final"] = "final"
    utterance: int
    segment: Segment


class Translation(BaseModel):
    """Follows the Final of the same segment once its translation is ready.

    While the model writes, `partial` ones carry the translation so far (shown, not stored).
    When translation falls behind, a final's translation may come from the faster model
    (`degraded`) or be `skipped` (empty text; marked, so nothing is lost silently).
    """

    type: Literal["translation"] = "translation"
    session_id: str | None = None
    segment_id: int | None = None
    utterance: int
    lang: str
    text: str
    partial: bool = False
    degraded: bool = False
    skipped: bool = False
    model: str | None = None


Event = Partial | Final | Translation
