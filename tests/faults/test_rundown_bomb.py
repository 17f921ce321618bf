"""Item 1: the public rundown parser and YAML aliases ("billion laughs")."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tingshuo.anchor.rundown import MAX_CHARS, RundownError, parse_markdown, parse_yaml

from ..helpers import health_latency, rss_mb

# 9 levels of 9 aliases: 9⁹ (387 million) copies of "lol" once the values are read
BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]"
        for i in range(8)
    ]
    + ["title: *i", "segments:", "  - say: *i"]
)


def test_the_bomb_is_small():
    assert len(BOMB.encode()) < 600


def test_billion_laughs_is_refused_at_once_without_memory(server):
    # a first rundown warms the route (its imports, the parser), which is not the bomb's
    # doing: cold, on a loaded machine, the server's first answer took 0.51 s
    warm = httpx.post(
        f"{server.url}/api/anchor/rundown",
        json={"text": "title: warm\nsegments:\n  - say: hello", "format": "yaml"},
        timeout=30,
    )
    assert warm.status_code < 500, warm.text
    before = rss_mb()
    done = False

    def attack() -> httpx.Response:
        nonlocal done
        try:
            return httpx.post(
                f"{server.url}/api/anchor/rundown",
                json={"text": BOMB, "format": "yaml"},
                timeout=30,
            )
        finally:
            done = True

    out: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: out.append(attack()))
    t0 = time.monotonic()
    thread.start()
    worst = health_latency(server.url, 5, lambda: done)
    thread.join()
    took = time.monotonic() - t0
    r = out[0]
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert "aliases" in detail and "line 1" in detail and "\n" not in detail
    assert took < 2 and worst < 0.5
    assert rss_mb() - before < 50


def test_the_same_bomb_in_markdown_front_matter_is_refused():
    text = "---\n" + BOMB.replace("segments:\n  - say: *i", "") + "\n---\nzh: 你好。\n"
    with pytest.raises(RundownError, match="aliases"):
        parse_markdown(text)


def test_merge_keys_and_single_anchors_are_refused_too():
    with pytest.raises(RundownError, match=r"line 2: .*aliases"):
        parse_yaml("title: x\nbase: &b {zh: 你好}\nsegments:\n  - say: *b\n")


def test_deep_nesting_and_huge_numbers_are_one_line_errors():
    with pytest.raises(RundownError, match="nested too deeply|not valid YAML"):
        parse_yaml("segments: " + "[" * 50_000)
    with pytest.raises(RundownError, match="line 1: a value cannot be read"):
        parse_yaml("title: " + "9" * 5000 + "\nsegments:\n  - say: 你好\n")


def test_length_is_checked_before_parsing(server):
    with pytest.raises(RundownError, match="over the limit"):
        parse_yaml("#" * (MAX_CHARS + 1))
    r = httpx.post(
        f"{server.url}/api/anchor/rundown",
        json={"text": "a" * (MAX_CHARS + 1), "format": "markdown"},
        timeout=30,
    )
    assert r.status_code == 422


def test_an_ordinary_rundown_still_parses(server):
    text = "title: 开幕\nlanguages: [zh, en]\nsegments:\n  - say: {zh: 大家好。, en: Hello.}\n"
    r = httpx.post(f"{server.url}/api/anchor/rundown", json={"text": text}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["segments"][0]["lines"] == {"zh": "大家好。", "en": "Hello."}
