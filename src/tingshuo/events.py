"""The typed messages the listening pipeline passes from stage to stage, and the events a
room's viewers get (docs/protocol.md): typed from where they are made onto the bus, which
serializes each once for every subscriber."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter


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
    # corrections: how many times the text was changed since the machine wrote it, and the
    # machine's own text (None while uncorrected)
    revision: int = 0
    original: str | None = None
    # "script": shown in a prepared text's writing, where the speaker followed it
    source: str | None = None


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
    source: str | None = None  # "script": shown in a prepared text's writing

    @property
    def text(self) -> str:
        return self.stable + self.unstable


class Final(BaseModel):
    """An utterance committed at the end of a phrase."""

    type: Literal["final"] = "final"
    utterance: int
    segment: Segment
    # the recognizer's other readings, for the second pass; never sent to viewers
    alternatives: tuple[str, ...] = Field(default=(), exclude=True)


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


class _Notice(BaseModel):
    """A room event whose unset fields are left out of the message."""

    def wire(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(mode="json").items() if v is not None}


class RoomState(_Notice):
    """The room started, paused or ended (then with `status`, and `error` after a failure)."""

    type: Literal["state"] = "state"
    state: Literal["live", "paused", "idle"]
    session_id: str | None = None
    source: str | None = None
    status: str | None = None
    error: str | None = None


class Lag(_Notice):
    """How far behind the room's captions and translations are, and what is shed."""

    type: Literal["lag"] = "lag"
    caption_s: float
    translation_s: float
    shed: str
    # the second pass: "keeping up", "behind" (it skips finals), or None where it is off
    second_pass: str | None = None


class SoundNotice(_Notice):
    """How the room's input sounds (audio/room_sound.py), for the organizer: the speech's
    level and the noise floor (dBFS), how long speech rings on after it stops (`echo_s`,
    None until heard), a verdict with advice in words, and whether the front end cleans
    the input."""

    type: Literal["sound"] = "sound"
    level_db: int
    noise_db: int
    echo_s: float | None = None
    verdict: Literal["good", "quiet", "noisy", "echo", "clipping"]
    advice: str
    cleaning: bool


class StoreNotice(_Notice):
    """Whether captions are being saved, and how many of the room's wait to be."""

    type: Literal["store"] = "store"
    saving: bool
    waiting: int
    lost: bool | None = None


class RecordingNotice(_Notice):
    """The room's sound stopped being recorded (a full disk, a database that refuses it);
    its captions go on. `message` says it in words for the console."""

    type: Literal["recording"] = "recording"
    recording: bool
    message: str


class StreamNotice(_Notice):
    """A room listening to a network stream lost it (`back: false`, while it tries again:
    `tries`, `gap_s` so far) or has it back (`gap_s` of sound lost in that drop; `lost_s` in
    the session). `message` says it in words for the console."""

    type: Literal["stream"] = "stream"
    back: bool
    tries: int
    gap_s: float
    lost_s: float
    message: str


class BusNotice(_Notice):
    """From a gateway to its own viewers: the message bus between processes (Redis) is away
    (`ok: false`: captions are paused) or back."""

    type: Literal["bus"] = "bus"
    ok: bool


class StageSound(_Notice):
    """The room's stage page can (`muted: false`) or cannot play the anchor's voice: its
    browser blocks sound until someone clicks the page."""

    type: Literal["stage_sound"] = "stage_sound"
    muted: bool


class ScriptPlace(_Notice):
    """Where the speaker is in the room's prepared texts: the passage `index` of text
    `text_id` (the console highlights it)."""

    type: Literal["script"] = "script"
    lang: str
    text_id: int
    index: int


class Correction(BaseModel):
    """A final caption's text was changed: by an operator, or by the machine's second pass
    (`by`). Pages replace the caption in place; its translation follows as a `translation`.
    `editor`: the console that saved it (so that it knows its own save)."""

    type: Literal["correction"] = "correction"
    segment_id: int
    session_id: str | None = None
    text: str
    lang: str | None = None
    revision: int
    by: Literal["operator", "model", "reread"] = "operator"
    editor: str | None = None
    original: str | None = None
    # with a viewer's catch-up only: the caption's translations as they are now
    translations: dict[str, str] | None = None

    @classmethod
    def of(
        cls,
        segment: Segment,
        by: str = "operator",
        editor: str | None = None,
        translations: dict[str, str] | None = None,
    ) -> Correction:
        assert segment.id is not None
        return cls(
            segment_id=segment.id,
            session_id=segment.session_id,
            text=segment.text,
            lang=segment.lang,
            revision=segment.revision,
            by=by,  # type: ignore[arg-type]
            editor=editor,
            original=segment.original,
            translations=translations,
        )


class SpeakerNamed(BaseModel):
    type: Literal["speaker"] = "speaker"
    segment_ids: list[int]
    speaker: str | None


class AnchorRundown(_Notice):
    type: Literal["anchor_rundown"] = "anchor_rundown"
    title: str
    languages: list[str] = Field(default_factory=list)
    segments: int


class AnchorCue(_Notice):
    type: Literal["anchor_cue"] = "anchor_cue"
    action: str
    index: int
    cue: int
    segment: dict[str, Any]
    caption_id: int | None = None
    error: str | None = None

    def wire(self) -> dict[str, Any]:
        out = super().wire()
        out.setdefault("caption_id", None)  # null: a pause, cue card or silent slot
        return out


class AnchorSkip(_Notice):
    type: Literal["anchor_skip"] = "anchor_skip"
    index: int
    cue: int


RoomEvent = (
    Partial
    | Final
    | Translation
    | RoomState
    | Lag
    | SoundNotice
    | StoreNotice
    | RecordingNotice
    | StreamNotice
    | BusNotice
    | StageSound
    | SpeakerNamed
    | Correction
    | AnchorRundown
    | AnchorCue
    | AnchorSkip
    | ScriptPlace
)


def wire(event: RoomEvent) -> dict[str, Any]:
    """The event as its JSON message says it."""
    if isinstance(event, _Notice):
        return event.wire()
    return event.model_dump(mode="json")


# `type` says which event a message is: one validator for the whole union
_ROOM_EVENT: TypeAdapter[RoomEvent] = TypeAdapter(Annotated[RoomEvent, Field(discriminator="type")])


def parse_event(text: str | bytes) -> RoomEvent:
    """The typed event of a JSON message (as `wire` wrote it; other keys, such as the bus's
    `seq` and `ts`, are ignored)."""
    return _ROOM_EVENT.validate_json(text)
