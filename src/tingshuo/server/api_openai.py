"""The OpenAI audio API on the same server (`/v1`), for the tools that speak it: meeting bots,
note apps, n8n, Open WebUI and the `openai` client with its `base_url` pointed here.

`POST /v1/audio/transcriptions` and `/v1/audio/translations` run an upload through the same
`transcribe_file` as `POST /api/transcribe` (stored as a session, the second pass unless
`fast`); translations go through the server's translator. `GET /v1/models` names the
recognizer and the alias `whisper-1`. The key is the organizer token or `api_token`, which
opens `/v1` only. Errors under `/v1` come in OpenAI's shape (`{"error": {...}}`) so that its
clients raise their own exceptions; the rest of the app keeps `{"detail": ...}`.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from ..errors import AudioError, TingshuoError
from ..events import Segment
from ..live.transcription import Transcript, translate_transcript
from ..mt.base import CJK, detect_lang
from ..prepared.terms import terms
from ..store.export import render
from .auth import presented_token, same
from .uploads import transcribe_upload

log = logging.getLogger(__name__)

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
ALIAS = "whisper-1"  # what clients send by default; any other name is accepted too
_STARTED = int(time.time())

# OpenAI's `language` in verbose_json is the language's English name, in lower case
_NAMES = {
    "zh": "chinese", "en": "english", "ja": "japanese", "ko": "korean", "yue": "cantonese",
    "fr": "french", "de": "german", "es": "spanish", "it": "italian", "pt": "portuguese",
    "ru": "russian", "ar": "arabic", "hi": "hindi", "vi": "vietnamese", "th": "thai",
    "id": "indonesian", "ms": "malay", "nl": "dutch", "tr": "turkish", "pl": "polish",
    "uk": "ukrainian",
}  # fmt: skip
_CODES = {name: code for code, name in _NAMES.items()}

# a prompt is a list of terms when cut at these, each piece short; else it is prose
_TERM_SEPARATORS = re.compile(r"[,，、;；\n]+")
_SENTENCE_END = re.compile(r"[.!?。！？]$")
_FULL_STOPS = set("。！？，、；：”）")


class ApiError(Exception):
    """An error in OpenAI's shape: `param` names the field at fault."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


class TextOut(BaseModel):
    text: str


class SegmentOut(BaseModel):
    """A caption as OpenAI's clients read a segment. `temperature` is 0: nothing is sampled.
    There are no `tokens` to give (the text was tidied after decoding), and no
    `avg_logprob` or `no_speech_prob`: the VAD and the commit policy decided, not a
    threshold on them."""

    id: int
    seek: int  # where the caption starts, in 10 ms frames as Whisper counts
    start: float
    end: float
    text: str
    tokens: list[int] = []
    temperature: float = 0.0


class Usage(BaseModel):
    type: Literal["duration"] = "duration"
    seconds: int


class VerboseOut(BaseModel):
    task: Literal["transcribe", "translate"]
    language: str
    duration: float
    text: str
    segments: list[SegmentOut]
    usage: Usage


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = _STARTED
    owned_by: str = "tingshuo"


class ModelsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


def is_api_key(conn: HTTPConnection) -> bool:
    """The organizer token or the API token (which opens `/v1` only)."""
    token = presented_token(conn)
    if token is None:
        return False
    api_token = conn.app.state.settings.api_token
    return same(token, conn.app.state.token) or bool(api_token and same(token, api_token))


def api_key(request: Request) -> None:
    """FastAPI dependency of every `/v1` route."""
    if presented_token(request) is None:
        raise ApiError(
            401,
            "no API key: send 'Authorization: Bearer <key>' (the organizer token or "
            "TINGSHUO_API_TOKEN)",
            code="missing_api_key",
        )
    if not is_api_key(request):
        raise ApiError(401, "wrong API key", code="invalid_api_key")


router = APIRouter(prefix="/v1", tags=["OpenAI audio API"], dependencies=[Depends(api_key)])

_ERRORS: dict[int | str, dict] = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
    413: {"model": ErrorOut},
}
_FILE = File(description="any audio or video file PyAV decodes")
_PROMPT = (
    "hot words: terms separated by commas or new lines; a sentence gives its names, places "
    "and numbers"
)


@router.post("/audio/transcriptions", responses=_ERRORS)
async def transcriptions(
    request: Request,
    file: Annotated[UploadFile, _FILE],
    model: Annotated[str, Form(description="any name: the server's recognizer hears")] = ALIAS,
    language: Annotated[str, Form(description="ISO-639-1, e.g. zh or en; empty: detect")] = "",
    prompt: Annotated[str, Form(description=_PROMPT)] = "",
    response_format: Annotated[str, Form()] = "json",
    temperature: Annotated[float, Form(description="ignored: nothing is sampled")] = 0.0,
    stream: Annotated[bool, Form()] = False,
    fast: Annotated[bool, Form(description="tingshuo's own: skip the second pass")] = False,
) -> Response:
    """Speech to text, as OpenAI's `audio.transcriptions.create`."""
    lang = _check_request(language, response_format, stream)
    hotwords = await run_in_threadpool(prompt_terms, prompt, lang)  # jieba may tag it
    heard = await _transcribe(request, file, lang, hotwords, fast)
    segments = heard.transcript.segments
    spoken = lang or _main_language(segments)
    return _answer(response_format, "transcribe", segments, spoken, heard)


@router.post("/audio/translations", responses=_ERRORS)
async def translations(
    request: Request,
    file: Annotated[UploadFile, _FILE],
    model: Annotated[str, Form(description="any name: the server's recognizer hears")] = ALIAS,
    prompt: Annotated[str, Form(description=_PROMPT)] = "",
    response_format: Annotated[str, Form()] = "json",
    temperature: Annotated[float, Form(description="ignored: nothing is sampled")] = 0.0,
    fast: Annotated[bool, Form(description="tingshuo's own: skip the second pass")] = False,
) -> Response:
    """Speech into English text, as OpenAI's `audio.translations.create`: the transcript,
    then the server's translator caption by caption; English speech comes back as heard."""
    _check_request("", response_format, False)
    hotwords = await run_in_threadpool(prompt_terms, prompt, None)
    heard = await _transcribe(request, file, None, hotwords, fast)
    segments = heard.transcript.segments
    if any(seg.lang != "en" for seg in segments):
        models = request.app.state.models
        translator = (await run_in_threadpool(models.translator)).translator
        store = None if heard.transcript.lost else request.app.state.store
        try:
            segments = await run_in_threadpool(
                translate_transcript, translator, segments, "en", store
            )
        except TingshuoError as e:  # a language the translator has no pair for
            raise ApiError(400, str(e), param="file", code="unsupported_language") from None
    return _answer(response_format, "translate", segments, "en", heard)


@router.get("/models")
def models(request: Request) -> ModelsOut:
    """The recognizer every name reaches, and the alias clients send by default."""
    return ModelsOut(data=[ModelOut(id=name) for name in _model_ids(request)])


@router.get("/models/{model_id}", responses={404: {"model": ErrorOut}})
def model(request: Request, model_id: str) -> ModelOut:
    if model_id not in _model_ids(request):
        raise ApiError(404, f"no model {model_id!r} here", param="model", code="model_not_found")
    return ModelOut(id=model_id)


def _model_ids(request: Request) -> list[str]:
    return [Path(request.app.state.settings.asr_model).name, ALIAS]


def prompt_terms(prompt: str, lang: str | None) -> list[str]:
    """Hot words from OpenAI's `prompt`: a list of terms is cut as `/api/transcribe` cuts its
    hot words (and at 、，；). A prompt that is prose (often the text said before, or what
    the recording is about) gives its names, places and numbers: put whole into the
    recognizer's prompt it would also set the captions' style, which tingshuo sets itself."""
    pieces = [p.strip() for p in _TERM_SEPARATORS.split(prompt) if p.strip()]
    if all(_is_term(p) for p in pieces):
        return pieces
    found = terms([prompt], "zh" if (lang or detect_lang(prompt)) == "zh" else "en")
    log.info("a prompt in prose: hot words %s", found)
    return found


def _is_term(piece: str) -> bool:
    if _SENTENCE_END.search(piece):
        return False
    return len(piece) <= 12 if CJK.search(piece) else len(piece.split()) <= 4


def _check_request(language: str, response_format: str, stream: bool) -> str | None:
    """The request's language (None: detect), once what can be refused before the upload is
    read has been checked (the language is checked by the recognizer, in `_transcribe`)."""
    if response_format not in RESPONSE_FORMATS:
        raise ApiError(
            400,
            f"response_format {response_format!r}: use one of {', '.join(RESPONSE_FORMATS)}",
            param="response_format",
        )
    if stream:
        raise ApiError(400, "streaming is not offered: leave stream unset", param="stream")
    code = language.strip().lower().split("-")[0]
    return None if code in ("", "auto") else _CODES.get(code, code)


class _Heard:
    def __init__(self, transcript: Transcript, duration: float) -> None:
        self.transcript = transcript
        self.duration = duration


async def _transcribe(
    request: Request, file: UploadFile, lang: str | None, hotwords: list[str], fast: bool
) -> _Heard:
    """The upload transcribed and stored as a session, as `POST /api/transcribe` does, so
    that a client that gave up waiting on a long file finds it in the console."""
    source = f"OpenAI API {request.url.path}"
    try:
        transcript, duration = await transcribe_upload(request, file, lang, hotwords, fast, source)
    except AudioError as e:
        raise ApiError(400, str(e), param="file", code="invalid_file") from None
    except TingshuoError as e:  # the recognizer has no such language
        raise ApiError(400, str(e), param="language", code="unsupported_language") from None
    if transcript.lost is not None:  # the client still gets its text
        log.warning("an API transcript not fully stored: %s", transcript.lost)
    return _Heard(transcript, duration)


def transcript_text(segments: Sequence[Segment]) -> str:
    """The captions as one text: Chinese (and Japanese, Korean) captions run on after each
    other, as `tingshuo transcribe` reads them; any other pair takes a space."""
    out = ""
    for seg in segments:
        text = seg.text.strip()
        runs_on = CJK.match(text[:1]) and (CJK.match(out[-1:]) or out[-1:] in _FULL_STOPS)
        out += text if not out or runs_on else " " + text
    return out


def _main_language(segments: Sequence[Segment]) -> str:
    """The language most of the speech was in (captions may each have their own)."""
    spoken = Counter[str]()
    for seg in segments:
        spoken[seg.lang] += seg.end - seg.start
    return spoken.most_common(1)[0][0] if spoken else ""


def _answer(
    fmt: str,
    task: Literal["transcribe", "translate"],
    segments: list[Segment],
    lang: str,
    heard: _Heard,
) -> Response:
    text = transcript_text(segments)
    headers = {"X-Tingshuo-Session": heard.transcript.info.id}
    if fmt == "json":
        return JSONResponse(TextOut(text=text).model_dump(), headers=headers)
    if fmt == "text":
        return PlainTextResponse(text + "\n", headers=headers)
    if fmt in ("srt", "vtt"):
        return PlainTextResponse(render(segments, fmt).decode(), headers=headers)
    body = VerboseOut(
        task=task,
        language=_NAMES.get(lang, lang),
        duration=round(heard.duration, 3),
        text=text,
        segments=[
            SegmentOut(id=n, seek=round(s.start * 100), start=s.start, end=s.end, text=s.text)
            for n, s in enumerate(segments)
        ],
        usage=Usage(seconds=math.ceil(heard.duration)),
    )
    return JSONResponse(body.model_dump(), headers=headers)


def openai_errors(app: FastAPI) -> None:
    """Errors under `/v1` in OpenAI's shape; elsewhere the app's own handlers still answer.
    Call it after the app's handlers are registered: it wraps them."""

    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.param, exc.code)

    app.add_exception_handler(ApiError, api_error)
    for kind in (HTTPException, RequestValidationError, TingshuoError):
        _wrap(app, kind)


def _wrap(app: FastAPI, kind: type[Exception]) -> None:
    previous = app.exception_handlers.get(kind)

    async def handler(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/v1/"):
            if previous is None:
                raise exc
            return await previous(request, exc)
        if isinstance(exc, HTTPException):
            return _error(exc.status_code, str(exc.detail), headers=exc.headers)
        if isinstance(exc, RequestValidationError):
            first = exc.errors()[0] if exc.errors() else {}
            param = str(first.get("loc", ("", ""))[-1]) or None
            return _error(400, f"{param}: {first.get('msg', 'invalid request')}", param)
        status = getattr(exc, "status", None) or 400
        return _error(status, str(exc))

    app.add_exception_handler(kind, handler)


def _error(
    status: int,
    message: str,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    body = ErrorOut(error=ErrorDetail(message=message, type=kind, param=param, code=code))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)
