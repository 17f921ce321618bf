"""All configuration in one place: environment variables `TINGSHUO_*` and CLI flags."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_database_url(fields: dict) -> str:
    return f"sqlite:///{fields['data_dir'] / 'tingshuo.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TINGSHUO_", extra="ignore")

    # where bundled models are assembled once; tests and every process share it
    cache_dir: Path = Field(default_factory=lambda: Path(user_cache_dir("tingshuo")))
    # what a server keeps of its own: the default SQLite database, and `tls/` (the local
    # certificate authority and certificate of `tingshuo serve --https`)
    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("tingshuo")))
    database_url: str = Field(default_factory=_default_database_url)
    # while the database refuses writes, a server keeps this many waiting (journaled beside
    # a SQLite file, or in the data folder) and retries; a SQLite lock is waited for this long
    store_pending_max: int = 20_000
    store_busy_timeout_s: float = 5.0
    # several processes (docs/deployment in the README): with a Redis URL, `tingshuo serve`
    # is a gateway and `tingshuo worker` processes run the rooms, each holding a room with a
    # lease it renews; a room whose worker stops is taken over once the lease lapses
    bus_url: str | None = None
    worker_lease_s: float = 3.0
    # a room keeps its sessions' sound (Ogg/Opus in the database) unless its `record` setting
    # says no; this is the setting's default for new rooms. Sound older than
    # keep_audio_days is deleted (its text stays), checked at start and daily
    record: bool = True
    keep_audio_days: float | None = Field(default=None, gt=0)

    # recognizer: a bundled name ("base", "tiny.en") or a faster-whisper model folder
    asr_model: str = "base"
    asr_threads: int = 2
    # int8 reads AISHELL as well as float32 (CER 12.4 % vs 12.9 % on 400) in 80 % of the time
    asr_compute_type: str = "int8"
    asr_beam_size: int = 5
    # partial hypotheses are drafts: greedy decoding keeps them cheap
    asr_partial_beam_size: int = 1
    # weight of the word-frequency model that picks among Mandarin beam hypotheses (0: off);
    # 0.2 chosen on the first half of the AISHELL sentences, checked on the second
    asr_lm_weight: float = 0.2
    # Mandarin finals: replace words by same-sounding dictionary words where the dictionary
    # finds them far likelier (asr/homophones.py): AISHELL CER 11.0 → 9.3 %
    asr_fix_homophones: bool = True
    # live Mandarin finals: the encoder reads the utterance and this much silence after it,
    # not Whisper's whole 30 s window (0): 2.1× faster, AISHELL CER 7.5 → 7.8 % on 150
    # sentences. Files are transcribed on the whole window.
    asr_live_final_pad_s: float = 3.0
    # live Mandarin finals: a narrower beam, 20 % faster (p95 1.46 → 1.08 s a final) for
    # AISHELL CER 8.8 → 9.1 % on 240 sentences, so that a room keeps time beside translation
    asr_live_beam_size: int = 2
    # a server's redrafts run on a second instance at this nice value: below finals (0) and
    # translation (mt_nice), since drafts are the first thing to go when the CPU is short
    asr_draft_nice: int = 15
    # bounded queue in front of the one shared model instance
    asr_queue_size: int = 64

    # finals read again by the bundled language model, which chooses among the recognizer's
    # other readings and same-sound ones (asr/second_pass.py): live in the background
    # (live/review.py), in file transcription before each caption is stored (`--fast` skips it)
    second_pass: bool = True
    # its model: a bundled name or a GGUF path ("": mt_model)
    second_pass_model: str = ""

    # hall sound (audio/enhance.py): DeepFilterNet3 cleans the input before the VAD and the
    # recognizer. "on", "off", or "auto": on while the input sounds echoing or noisy
    front_end: Literal["off", "on", "auto"] = "auto"

    # streaming commit policy (seconds)
    vad_threshold: float = 0.5
    min_speech_s: float = 0.25
    min_silence_s: float = 0.45
    lead_pad_s: float = 0.3
    speech_pad_s: float = 0.15
    max_utterance_s: float = 20.0
    partial_interval_s: float = 0.5
    first_partial_s: float = 0.4

    # automatic speaker turns (speakers/): each final's voice (Resemblyzer GE2E) joins the
    # speaker whose centroid it is most similar to, if at least `speaker_threshold`, else it
    # opens "Speaker N"; utterances under `speaker_min_voice_s` only join (unreliable voices)
    speakers: bool = True
    speaker_threshold: float = 0.75
    speaker_min_voice_s: float = 1.0
    speaker_threads: int = 1

    # translator: a bundled name ("qwen2.5-1.5b", "qwen2.5-0.5b") or a GGUF file path
    mt_model: str = "qwen2.5-1.5b"
    # live rooms degrade to this one when translations fall behind ("" for none)
    mt_fast_model: str = "qwen2.5-0.5b"
    # threads of the translation model; live, it uses one while the recognizer works
    mt_threads: int = 2
    # recognition first: the translator's thread runs at this nice value (0-19, Linux)
    mt_nice: int = 10
    # a live caption goes to the fast model when the main one would finish it later than
    # this after its final, or when other captions wait
    mt_target_lag_s: float = 2.5
    # a caption whose translation would be done later than this after its final, even by
    # the fast model, is skipped (and marked) when newer ones wait: the oldest goes first
    mt_skip_after_s: float = 5.0
    # captions this late (s behind the speaker): translations go to the fast model; later
    # still: translation stops until captions catch up
    mt_shed_quality_lag_s: float = 2.0
    mt_shed_translation_lag_s: float = 5.0
    mt_context_captions: int = 2
    mt_queue_size: int = 64
    mt_cache_size: int = 2048

    # speech synthesis (issue 5): zh → FastSpeech2 (Baker), en → Piper joe, others → espeak-ng
    tts_threads: int = 2
    tts_pause_s: float = 0.35  # silence between sentences of one line
    tts_cache_size: int = 256  # sentences kept in memory per voice
    tts_disk_cache: bool = True  # also keep them under cache_dir/tts (re-renders are instant)
    tts_max_chars: int = 2000  # one line longer than this is refused: split the script
    # Mandarin durations × 1.2: a deliberate hall pace; round-trip CER 11.1 % vs 12.2 % at 1.0
    tts_zh_pace: float = 1.2
    anchor_fps: int = 25

    host: str = "127.0.0.1"
    port: int = 8000
    # HTTPS on the LAN (`tingshuo serve --https`): browsers give the microphone only to secure
    # pages. TLS is served on https_port; `port` then only redirects to it, so links already
    # printed still work. certfile/keyfile: the organizer's own certificate (else one is made
    # under data_dir/tls)
    https: bool = False
    https_port: int = 8443
    certfile: Path | None = None
    keyfile: Path | None = None
    max_upload_mb: int = 512
    # rooms from a network stream (POST .../start/url, `listen --url`): the hosts it may come
    # from, a comma list of names, *.domain patterns, addresses and CIDR networks ("*": any).
    # This machine, the LAN and multicast by default: the hall's encoder is there, and an
    # organizer's token cannot make an offline server fetch from the internet unless this
    # says so
    stream_hosts: str = (
        "127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,fc00::/7,"
        "fe80::/10,224.0.0.0/4,ff00::/8"
    )

    # pronunciation assessment (tingshuo assess): limits on one reading
    assess_max_syllables: int = 80
    assess_max_audio_s: float = 30.0

    # live event server (issue 4): access, limits of rooms and sockets
    token: str | None = None  # organizer token (TINGSHUO_TOKEN); generated at start when unset
    # a key for the OpenAI audio API (/v1) only, besides the organizer token: what meeting
    # bots and other tools are given, opening none of the organizer's routes
    api_token: str | None = None
    # a key for /metrics only (Prometheus's `authorization` credentials), besides the
    # organizer token: a scraper that holds it can open nothing else
    metrics_token: str | None = None
    # `tingshuo worker` serves its own /metrics on this port (0: none), on this address: the
    # lag histograms are measured where the rooms run (docs/operations.md)
    worker_metrics_port: int = 0
    worker_metrics_host: str = "127.0.0.1"
    public_url: str | None = None  # base of viewer links and QR codes, e.g. behind a proxy
    max_live_rooms: int = 8  # rooms listening at once (they share one recognizer)
    max_viewers_per_room: int = 2000
    max_viewers: int = 5000
    viewer_queue_size: int = 512  # events waiting for one viewer before it is dropped as too slow
    ws_max_frame_bytes: int = 256 * 1024  # one audio frame (8 s of 16 kHz s16le)
    audio_backlog_s: float = 10.0  # audio waiting for the recognizer before a sender is slowed

    # hardening (issue 12): limits applied before any work (server/limits.py)
    # viewer sockets open at once from one address (0: no cap); raise it, or 0, when the
    # audience reaches the server through one NAT or proxy without --proxy-headers
    max_viewers_per_address: int = 20
    max_viewers_per_link: int = 2000  # per room viewer link (the organizer's token is apart)
    # public model-running endpoints (/api/learn/*, /api/anchor/rundown) per client address
    public_rate_per_minute: float = 30.0  # 0: no rate limit
    public_burst: int = 10
    public_workers: int = 1  # their own threads, never the live rooms'
    public_queue: int = 8  # requests waiting for those threads before 503
    max_body_kb: int = 2048  # any request body but file uploads (max_upload_mb)
    max_transcribe_s: float = 6 * 3600.0  # longest file /api/transcribe decodes


@lru_cache
def get_settings() -> Settings:
    return Settings()
