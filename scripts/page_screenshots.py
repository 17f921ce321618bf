"""Screenshots of every page from a real session, for docs/pages.md.

    .venv/bin/python scripts/page_screenshots.py            # writes docs/pages/*.png

Starts a server on a free port with a private database and the bundled models, makes a
room that listens in Mandarin and translates into English, plays the first 40 s of the
two-speaker AISHELL recording into it at 1×, and photographs the pages in headless Chromium
(Debian's chromium and chromium-driver, with a Chinese font such as fonts-wqy-microhei) at
the sizes people use them: a projector (1920×1080), OBS, a phone (390×844), the console and
the learner's page. About two minutes on 2 cores.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
import uvicorn

from tingshuo.audio.decode import SAMPLE_RATE, load_audio
from tingshuo.server.app import create_app
from tingshuo.settings import Settings

log = logging.getLogger("screenshots")
ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("TINGSHUO_DATA", ROOT.parent / "shared" / "data"))
LONGFORM = DATA / "aishell-asr0009-sample-2spk" / "longform" / "longform_2spk.flac"
OUT = ROOT / "docs" / "pages"
TOKEN = "screenshots-organizer-token"


def browser(width: int, height: int, mobile: bool = False):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--autoplay-policy=no-user-gesture-required",
        "--lang=zh-CN",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )
    return driver


def wait(driver, script: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not driver.execute_script(f"return {script}"):
        if time.monotonic() > deadline:
            raise TimeoutError(script)
        time.sleep(0.3)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    OUT.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="tingshuo-shots-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(
        database_url=f"sqlite:///{folder / 'tingshuo.db'}", token=TOKEN, public_url=None
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.1)
    base = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300)
    room = http.post(
        "/api/rooms", json={"name": "主会场 · Main hall", "lang": "zh", "targets": ["en"]}
    ).json()
    viewer = f"{base}/room/{room['id']}"
    token = room["viewer_token"]
    talk = folder / "talk.wav"
    sf.write(talk, load_audio(LONGFORM)[: 40 * SAMPLE_RATE].astype(np.float32), SAMPLE_RATE)

    screen = browser(1920, 1080)
    phone = browser(390, 844, mobile=True)
    try:
        screen.get(f"{viewer}/screen?token={token}")
        wait(screen, "document.getElementById('status').dataset.link === 'online'")
        time.sleep(1)
        screen.save_screenshot(str(OUT / "screen-waiting.png"))
        log.info("starting the room (the first start loads the models)")
        with talk.open("rb") as f:
            r = http.post(
                f"/api/rooms/{room['id']}/start/file",
                files={"file": ("talk.wav", f, "audio/wav")},
                data={"speed": "1"},
            )
        r.raise_for_status()
        phone.get(f"{viewer}?token={token}&lang=src,en")
        wait(screen, "document.querySelectorAll('#captions .line.tr:not(.pending)').length >= 4")
        screen.save_screenshot(str(OUT / "screen.png"))
        phone.save_screenshot(str(OUT / "phone.png"))
        screen.get(f"{viewer}/screen?token={token}&transparent=1&lang=src,en")
        wait(screen, "window.tsCaptions && window.tsCaptions.rows.size >= 2")
        time.sleep(1)
        screen.save_screenshot(str(OUT / "screen-obs.png"))

        console = browser(1440, 1000)
        try:
            console.get(f"{base}/console")
            console.find_element("id", "token").send_keys(TOKEN)
            console.find_element("id", "save-token").click()
            wait(console, f"document.querySelector('#rooms li[data-id=\"{room['id']}\"]')")
            console.find_element("css selector", f"#rooms li[data-id='{room['id']}']").click()
            wait(console, "window.tsConsole.view && window.tsConsole.view.rows.size >= 2")
            time.sleep(2)
            console.save_screenshot(str(OUT / "console.png"))
        finally:
            console.quit()
        wait(phone, "document.getElementById('status').dataset.state === 'idle'", 180)
        phone.save_screenshot(str(OUT / "phone-ended.png"))
        phone.get(f"{base}/learn")
        time.sleep(2)
        phone.save_screenshot(str(OUT / "learn.png"))
    finally:
        screen.quit()
        phone.quit()
        server.should_exit = True
    log.info("wrote %s", ", ".join(sorted(p.name for p in OUT.glob("*.png"))))


if __name__ == "__main__":
    sys.exit(main())
