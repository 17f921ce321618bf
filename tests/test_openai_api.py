"""The OpenAI audio API (`/v1`) with the official `openai` client, as the tools that speak it
call it: a real server, the real recognizer and translator, real recordings, loopback only."""

from __future__ import annotations

import httpx
import numpy as np
import openai
import pytest
import srt
import webvtt

from tingshuo.asr.scoring import cer, wer
from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.live.transcription import transcribe_file
from tingshuo.mt.base import detect_lang
from tingshuo.settings import Settings
from tingshuo.store.db import Store

from .helpers import AISHELL, LJ, ORG, by_id, write_wav

API_KEY = "api-key-for-bots"
MANDARIN = "BAC009S0150W0162"  # 一九九零年后出生的人口急剧减少 (4.4 s)
ENGLISH = "LJ001-0002+8"  # two short sentences and a pause: two captions (4.5 s)
TRANSLATED = "BAC009S0150W0138"  # 而中国目前实际是十一倍: a name and a number


@pytest.fixture(scope="module")
def server_overrides() -> dict:
    # uploads: 1 MB with a key; any other body 100 KB, less than the English file's 144 KB
    return {"api_token": API_KEY, "max_upload_mb": 1, "max_body_kb": 100}


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=ORG, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def bot(server) -> openai.OpenAI:
    """A tool given the API token."""
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def clips(aishell_rows, lj_rows, tmp_path_factory) -> dict[str, dict]:
    """name → path and reference text."""
    rows = by_id(aishell_rows)
    out = {u: {**rows[u], "path": AISHELL / rows[u]["path"]} for u in (MANDARIN, TRANSLATED)}
    lj = {r["utt_id"]: r for r in lj_rows}
    first, second = lj["LJ001-0002"], lj["LJ001-0008"]
    pause = np.zeros(int(0.8 * SAMPLE_RATE), dtype=np.float32)
    audio = np.concatenate([load_audio(LJ / first["path"]), pause, load_audio(LJ / second["path"])])
    path = write_wav(tmp_path_factory.mktemp("openai") / "lj.wav", audio)
    text = f"{first['reference_text']} {second['reference_text']}"
    out[ENGLISH] = {"path": path, "reference_text": text}
    return out


def cli_transcript(worker, tmp_path, path, lang: str | None) -> list:
    """What `tingshuo transcribe` writes for the file: `transcribe_file`'s captions."""
    store = Store(f"sqlite:///{tmp_path / 'cli.db'}")
    samples = load_audio(path)
    out = transcribe_file(samples, worker, store, Settings(), title="", source="", lang=lang)
    return out.segments


# the English file goes with the API token: an upload over max_body_kb, which only a key lifts
@pytest.mark.parametrize(
    ("utt", "lang", "name", "key"),
    [(MANDARIN, "zh", "chinese", "client"), (ENGLISH, None, "english", "bot")],
)
def test_transcriptions_in_every_format_read_as_transcribe_file(
    request, clips, worker, tmp_path, utt, lang, name, key
):
    client = request.getfixturevalue(key)
    clip = clips[utt]
    path, reference = clip["path"], clip["reference_text"]
    expected = cli_transcript(worker, tmp_path, path, lang)
    texts = [seg.text for seg in expected]
    whole = ("" if lang == "zh" else " ").join(texts)
    score = cer if lang == "zh" else wer
    asked = {"language": lang} if lang else {}  # the English file's language is detected

    def create(fmt: str):
        with path.open("rb") as f:
            return client.audio.transcriptions.create(
                model="whisper-1", file=f, response_format=fmt, **asked
            )

    heard = create("json").text
    assert heard == whole
    assert score([reference], [heard]) == score([reference], [whole]) <= 0.15
    assert create("text").strip() == whole
    assert [cue.content for cue in srt.parse(create("srt"))] == texts
    assert [cue.text for cue in webvtt.from_string(create("vtt"))] == texts
    verbose = create("verbose_json")
    duration = load_audio(path).size / SAMPLE_RATE
    assert verbose.language == name
    assert abs(verbose.duration - duration) <= 0.5
    assert verbose.text == whole
    assert [s.text for s in verbose.segments] == texts
    assert [s.id for s in verbose.segments] == list(range(len(texts)))
    assert all(0 <= s.start < s.end <= duration + 0.01 for s in verbose.segments)


# the client marks `audio.translations` deprecated (OpenAI's own endpoint is going); tools
# still call it, so the server keeps it
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_translation_of_mandarin_speech_is_english_with_its_name_and_number(client, clips):
    with clips[TRANSLATED]["path"].open("rb") as f:
        english = client.audio.translations.create(model="whisper-1", file=f).text
    assert detect_lang(english) == "en" and english.isascii(), english
    assert "China" in english, english
    assert "11" in english or "eleven" in english.lower(), english


def test_a_wrong_key_is_refused_as_openai_refuses_it(server, clips):
    wrong = openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.models.list()
    assert refused.value.code == "invalid_api_key"
    with clips[MANDARIN]["path"].open("rb") as f, pytest.raises(openai.AuthenticationError):
        wrong.audio.transcriptions.create(model="whisper-1", file=f)


def test_bad_requests_come_back_as_openai_errors(client, tmp_path, clips):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a recording\n" * 50)
    with notes.open("rb") as f, pytest.raises(openai.BadRequestError) as bad:
        client.audio.transcriptions.create(model="whisper-1", file=f)
    assert bad.value.param == "file" and "notes.txt" in bad.value.message
    path = clips[MANDARIN]["path"]
    for field, value in [("language", "xx"), ("response_format", "mp3")]:
        with path.open("rb") as f, pytest.raises(openai.BadRequestError) as bad:
            client.audio.transcriptions.create(model="whisper-1", file=f, **{field: value})
        assert bad.value.param == field
    # over TINGSHUO_MAX_UPLOAD_MB (1 here): refused before it is read, in OpenAI's shape too
    long = write_wav(tmp_path / "long.wav", np.zeros(45 * SAMPLE_RATE, dtype=np.float32))
    with long.open("rb") as f, pytest.raises(openai.APIStatusError) as bad:
        client.audio.transcriptions.create(model="whisper-1", file=f)
    assert bad.value.status_code == 413 and "larger than 1 MB" in bad.value.message


def test_the_api_token_opens_the_api_and_no_organizer_route(server, bot):
    ids = [m.id for m in bot.models.list().data]
    assert ids == ["base", "whisper-1"]
    assert bot.models.retrieve("whisper-1").id == "whisper-1"
    with pytest.raises(openai.NotFoundError):
        bot.models.retrieve("gpt-4o")
    as_bot = {"Authorization": f"Bearer {API_KEY}"}
    for method, route in [("GET", "/api/sessions"), ("POST", "/api/rooms")]:
        r = httpx.request(method, f"{server.url}{route}", headers=as_bot, json={"name": "x"})
        assert r.status_code == 403, r.text
        assert "detail" in r.json()  # the app's own errors keep their shape outside /v1
    r = httpx.post(f"{server.url}/v1/chat/completions", headers=as_bot, json={})
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"


def test_a_prompt_is_hot_words_listed_or_the_names_and_numbers_of_its_prose():
    from tingshuo.server.api_openai import prompt_terms

    assert prompt_terms("科大讯飞, 讯飞听见、青岛", None) == ["科大讯飞", "讯飞听见", "青岛"]
    assert prompt_terms("Kubernetes, PostgreSQL\nn8n", "en") == ["Kubernetes", "PostgreSQL", "n8n"]
    prose = prompt_terms("我们在青岛和张伟讨论了2025年的预算。", None)
    assert {"青岛", "张伟", "2025"} <= set(prose) and "预算" not in prose
    assert "Qingdao" in prompt_terms("We met him in Qingdao to discuss the budget.", None)
    assert prompt_terms("", None) == []
