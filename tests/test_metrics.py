"""/metrics for Prometheus: who may read it, and figures that match what a real room did."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from .helpers import ORG, Viewer, audio_url, ended, events_url, talk_wav

METRICS_TOKEN = "metrics-scraper-key"
CLIPS = ["BAC009S0150W0146", "BAC009S0150W0154"]  # 万科 …, 万达 …


@pytest.fixture(scope="module")
def server_overrides() -> dict:
    return {"metrics_token": METRICS_TOKEN}


class Translated:
    """A phone's end: the room ended, and every final has its translation (or its skip)."""

    def __init__(self) -> None:
        self.finals: set[int] = set()
        self.done: set[int] = set()
        self.ended = False

    def __call__(self, m: dict) -> bool:
        if m["type"] == "final":
            self.finals.add(m["segment"]["id"])
        elif m["type"] == "translation" and not m.get("partial"):
            self.done.add(m["segment_id"])
        self.ended = self.ended or ended(m)
        return self.ended and self.finals <= self.done


def scrape(server, token: str = METRICS_TOKEN) -> dict[str, dict[tuple, float]]:
    """Each sample by name, then its labels: {name: {((label, value), …): value}}."""
    r = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def test_metrics_take_the_organizer_or_metrics_token_and_refuse_others(server):
    room = server.room()
    url = f"{server.url}/metrics"
    missing = httpx.get(url)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    viewer = httpx.get(url, headers={"Authorization": f"Bearer {room['viewer_token']}"})
    assert viewer.status_code == 403
    for token in (ORG, METRICS_TOKEN):
        samples = scrape(server, token)
        assert [dict(labels)["role"] for labels in samples["tingshuo_info"]] == ["server"]
        assert "process_resident_memory_bytes" in samples
        assert samples["tingshuo_model_thread_up"][(("thread", "recognizer"),)] == 1
        assert (("model", "recognizer"),) in samples["tingshuo_model_queue_depth"]
        assert samples["tingshuo_store_writes_pending"][()] >= 0


def test_rooms_viewers_and_lags_match_what_the_rooms_did(server, aishell_rows, tmp_path):
    talk = talk_wav(tmp_path / "talk.wav", CLIPS, aishell_rows)
    played = server.room(name="played", targets=["en"])
    paused = server.room(name="paused")
    server.room(name="idle")
    phones = [Viewer(events_url(server, played), Translated(), seconds=180) for _ in range(2)]
    for phone in phones:
        assert phone.ready.wait(30)
    with connect(audio_url(server, paused)) as console:
        console.send(json.dumps({"type": "start"}))
        console.recv(timeout=30)
        assert server.http.post(f"/api/rooms/{paused['id']}/pause").status_code == 200
        with Path(talk).open("rb") as f:
            r = server.http.post(
                f"/api/rooms/{played['id']}/start/file",
                files={"file": ("talk.wav", f, "audio/wav")},
                data={"speed": "2"},
            )
        assert r.status_code == 200, r.text
        now = scrape(server)
        rooms = {labels[0][1]: n for labels, n in now["tingshuo_rooms"].items()}
        others = len(server.http.get("/api/rooms").json()) - 2  # this module's other rooms
        assert rooms == {"live": 1, "paused": 1, "idle": others, "starting": 0}
        assert now["tingshuo_viewers"][()] == 2
        assert now["tingshuo_event_subscribers"][()] == 2
    for phone in phones:
        phone.join(180)
    assert phones[0].until(phones[0].events[-1]), phones[0].events[-5:]
    done = [m for m in phones[0].events if m["type"] == "translation" and not m.get("partial")]
    written = [m for m in done if not m.get("skipped")]
    stored = server.http.get(f"/api/sessions/{r.json()['session_id']}").json()["segments"]
    assert len(stored) >= 2 and written
    assert len(written) == sum(bool(s["translations"].get("en")) for s in stored)

    after = scrape(server)
    assert after["tingshuo_final_lag_seconds_count"][()] == len(stored)
    assert after["tingshuo_translation_lag_seconds_count"][()] == len(written)
    assert 0 < after["tingshuo_final_lag_seconds_sum"][()] < 10 * len(stored)
    assert after["tingshuo_translation_lag_seconds_bucket"][(("le", "+Inf"),)] == len(written)
    assert after["tingshuo_model_thread_up"][(("thread", "translator"),)] == 1
    assert (("model", "translator"),) in after["tingshuo_model_queue_depth"]
    rooms = {labels[0][1]: n for labels, n in after["tingshuo_rooms"].items()}
    assert rooms["live"] == 0 and rooms["idle"] == others + 2
    assert after["tingshuo_viewers"][()] == 0


def test_a_workers_metrics_ask_for_a_token_and_stay_on_this_machine_without_one(tmp_path):
    from types import SimpleNamespace

    from tingshuo.errors import TingshuoError
    from tingshuo.live.models import Models
    from tingshuo.server.metrics import serve_worker_metrics
    from tingshuo.settings import Settings

    from .helpers import free_port

    def worker(**settings) -> SimpleNamespace:
        s = Settings(data_dir=tmp_path, worker_metrics_port=free_port(), **settings)
        return SimpleNamespace(settings=s, models=Models(s), store=None, held={"r": None})

    with pytest.raises(TingshuoError, match="TINGSHUO_METRICS_TOKEN"):
        serve_worker_metrics(worker(worker_metrics_host="0.0.0.0"))
    held = worker(metrics_token=METRICS_TOKEN)
    server = serve_worker_metrics(held)
    try:
        url = f"http://127.0.0.1:{held.settings.worker_metrics_port}/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": f"Bearer {ORG}"}).status_code == 403
        held.models.meter.final(0.8)
        r = httpx.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        samples = {(s.name, tuple(s.labels.items())): s.value
                   for f in text_string_to_metric_families(r.text) for s in f.samples}  # fmt: skip
        assert samples[("tingshuo_rooms", (("state", "live"),))] == 1
        assert samples[("tingshuo_final_lag_seconds_bucket", (("le", "1.0"),))] == 1
        assert [dict(k)["role"] for n, k in samples if n == "tingshuo_info"] == ["worker"]
    finally:
        server.shutdown()
        server.server_close()
