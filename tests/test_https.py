"""HTTPS on the LAN (`tingshuo serve --https`): pages that need the microphone are secure
contexts when opened by a LAN name, plain HTTP redirects there, the certificate is kept in the
data folder and made again under the same authority when the machine's names change, and a page
opened over plain HTTP says why it cannot record. All traffic stays on loopback: Chromium maps
the name hall.test to 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import ipaddress
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tingshuo.audio.decode import load_audio
from tingshuo.errors import TingshuoError
from tingshuo.server import https, tls
from tingshuo.settings import Settings

from .helpers import AISHELL, ORG, chromium, free_port, needs_chromium, wait_for, write_wav

HALL = "hall.test"  # the LAN name the browser uses, mapped to loopback
LOOPBACK = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
MAP_HALL = f"--host-resolver-rules=MAP {HALL} 127.0.0.1"
PICK_FIRST = "const p = document.getElementById('pick'); p.value = '0'; p.onchange()"


class HttpsServer:
    """The app over TLS and its redirecting HTTP port, as `tingshuo serve --https` runs them
    (the same two uvicorn servers on one event loop), on a thread, on loopback."""

    def __init__(self, worker, folder: Path, cert: tls.Certificate) -> None:
        from tingshuo.server.app import create_app

        self.port, self.https_port = free_port(), free_port()
        self.cert = cert
        settings = Settings(
            token=ORG,
            database_url=f"sqlite:///{folder / 'tingshuo.db'}",
            data_dir=folder,
            https=True,
            port=self.port,
            https_port=self.https_port,
        )
        app = create_app(settings, worker=worker)
        https.enable(app, cert)
        self.main, self.redirect = https.servers(
            app, cert, "127.0.0.1", self.port, self.https_port, log_level="warning"
        )
        self.thread = threading.Thread(
            target=asyncio.run, args=(https.serve_both(self.main, self.redirect),), daemon=True
        )

    def __enter__(self) -> HttpsServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not (self.main.started and self.redirect.started):
            assert time.monotonic() < deadline and self.thread.is_alive(), "no server"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.main.should_exit = True
        self.thread.join(timeout=30)

    def served_fingerprint(self) -> str:
        """The certificate the HTTPS port presents, as a browser would read it."""
        pem = ssl.get_server_certificate(("127.0.0.1", self.https_port))
        return tls.fingerprint(x509.load_pem_x509_certificate(pem.encode()))

    def spki(self) -> str:
        """Chromium's pin for this server's key: it trusts that key and no other."""
        cert = x509.load_pem_x509_certificate(self.cert.certfile.read_bytes())
        der = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(der).digest()).decode()


def hall_certificate(folder: Path, *names: str) -> tls.Certificate:
    return tls.local_certificate(folder / "tls", ["localhost", HALL, *names], LOOPBACK)


@contextlib.contextmanager
def https_server(worker, folder: Path, cert: tls.Certificate | None = None) -> Iterator:
    with HttpsServer(worker, folder, cert or hall_certificate(folder)) as server:
        yield server


def trusting(ca: Path) -> ssl.SSLContext:
    """A client that trusts the local authority, and nothing else."""
    return ssl.create_default_context(cafile=str(ca))


# -- the certificate


def test_the_certificate_is_kept_and_made_again_under_the_same_authority(tmp_path):
    first = hall_certificate(tmp_path)
    folder = tmp_path / "tls"
    assert {p.name for p in folder.iterdir()} == {"ca.crt", "ca.key", "server.crt", "server.key"}
    for key in ("ca.key", "server.key"):
        assert (folder / key).stat().st_mode & 0o077 == 0, "a private key others can read"
    assert set(first.names) == {"localhost", HALL, "127.0.0.1", "::1"}
    # the same names (a restart): the same certificate; fewer names: still covered, kept
    assert hall_certificate(tmp_path).fingerprint == first.fingerprint
    assert tls.local_certificate(folder, [HALL], LOOPBACK[:1]).fingerprint == first.fingerprint
    # a new name or address: a new certificate, signed by the same authority
    moved = tls.local_certificate(
        folder, ["localhost", HALL], [*LOOPBACK, ipaddress.ip_address("10.1.2.3")]
    )
    assert moved.fingerprint != first.fingerprint
    assert moved.trust_fingerprint == first.trust_fingerprint
    assert moved.trust_pem == (folder / "ca.crt").read_bytes()
    server = x509.load_pem_x509_certificate((folder / "server.crt").read_bytes())
    server.verify_directly_issued_by(x509.load_pem_x509_certificate(moved.trust_pem))
    assert "10.1.2.3" in moved.names and tls.fingerprint(server) == moved.fingerprint


def test_the_machines_names_are_all_in_its_certificate():
    names, addresses = tls.machine_names("0.0.0.0", "192.0.2.7")
    assert "localhost" in names and names.count("localhost") == 1
    assert {"127.0.0.1", "::1", "192.0.2.7"} <= {str(a) for a in addresses}
    assert ipaddress.ip_address("0.0.0.0") not in addresses


def test_a_restarted_server_presents_the_same_certificate(worker, tmp_path):
    with https_server(worker, tmp_path) as server:
        first = server.served_fingerprint()
    with https_server(worker, tmp_path) as server:
        assert server.served_fingerprint() == first == server.cert.fingerprint
        # the authority phones trusted verifies it, for the LAN name
        with httpx.Client(verify=trusting(tmp_path / "tls" / "ca.crt")) as c:
            r = c.get(f"https://localhost:{server.https_port}/api/tls")
        assert r.status_code == 200 and r.json()["fingerprint"] == first
        # and for the LAN name (what Chromium's pin below does not check)
        with (
            socket.create_connection(("127.0.0.1", server.https_port)) as raw,
            trusting(tmp_path / "tls" / "ca.crt").wrap_socket(raw, server_hostname=HALL) as s,
        ):
            assert s.version() in ("TLSv1.2", "TLSv1.3")


# -- plain HTTP


def test_plain_http_redirects_to_https_keeping_path_and_query(worker, tmp_path):
    with https_server(worker, tmp_path) as server, httpx.Client() as c:
        r = c.get(
            f"http://127.0.0.1:{server.port}/room/abc?token=x%20y&lang=zh",
            headers={"Host": f"{HALL}:{server.port}"},
        )
        assert r.status_code == 307
        assert r.headers["location"] == (
            f"https://{HALL}:{server.https_port}/room/abc?token=x%20y&lang=zh"
        )
        # the certificate to install comes over plain HTTP: no warning before it is trusted
        ca = c.get(f"http://127.0.0.1:{server.port}{https.TRUST_PATH}")
        assert ca.status_code == 200 and ca.content == (tmp_path / "tls" / "ca.crt").read_bytes()
        assert ca.headers["content-type"] == "application/x-x509-ca-cert"
        # followed, with the authority trusted: the page itself, over TLS
        ctx = trusting(tmp_path / "tls" / "ca.crt")
        with httpx.Client(verify=ctx, follow_redirects=True) as v:
            page = v.get(f"http://localhost:{server.port}/learn?x=1")
        assert page.status_code == 200 and str(page.url).startswith("https://localhost:")
        assert page.url.query == b"x=1" and "/static/secure.js" in page.text


def test_a_console_on_loopback_hands_phones_https_links_by_the_lan_address(worker, tmp_path):
    from fastapi.testclient import TestClient

    from tingshuo.server.api_rooms import lan_address
    from tingshuo.server.app import create_app

    lan = lan_address()
    if lan is None:
        pytest.skip("this machine has no LAN address")
    settings = Settings(
        token=ORG,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        host="0.0.0.0",
        https=True,
        port=8000,
        https_port=8443,
    )
    app = create_app(settings, worker=worker)
    https.enable(app, hall_certificate(tmp_path))
    # nothing is sent: the test client calls the app, the LAN address is only written
    with TestClient(app, base_url="https://localhost:8443") as c:
        room = c.post(
            "/api/rooms",
            json={"name": "Hall A", "lang": "zh"},
            headers={"Authorization": f"Bearer {ORG}"},
        ).json()
        panel = c.get("/api/tls").json()
    assert room["links"]["phone"].startswith(f"https://{lan}:8443/room/{room['id']}?token=")
    assert room["links"]["events"].startswith(f"wss://{lan}:8443/ws/rooms/")
    assert panel["trust_link"] == f"http://{lan}:8000/tingshuo-ca.crt"


# -- the command


@contextlib.contextmanager
def serve_command(data_dir: Path, *args: str) -> Iterator[tuple[int, int, list[str]]]:
    """`tingshuo serve --https` as an organizer runs it, until it has printed its links and
    its HTTP port answers (the HTTPS port waits for the models: not needed here)."""
    port, https_port = free_port(), free_port()
    env = {
        **os.environ,
        "TINGSHUO_DATA_DIR": str(data_dir),
        "TINGSHUO_DATABASE_URL": f"sqlite:///{data_dir / 'db.sqlite'}",
        "COLUMNS": "300",
    }
    command = [sys.executable, "-m", "tingshuo", "serve", "--token", ORG, "--https"]
    command += ["--port", str(port), "--https-port", str(https_port), *args]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("certificate SHA-256") for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, lines
            if select.select([proc.stderr], [], [], 1)[0]:
                lines.append(proc.stderr.readline().strip())
        while True:
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            assert time.monotonic() < deadline and proc.poll() is None, lines
            time.sleep(0.2)
        yield port, https_port, lines
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serve_https_prints_links_people_can_open_and_keeps_its_certificate(tmp_path):
    with serve_command(tmp_path) as (port, https_port, lines):
        made = x509.load_pem_x509_certificate((tmp_path / "tls" / "server.crt").read_bytes())
        # a chosen token is never printed where a service's output is kept (not a terminal)
        assert f"console: https://127.0.0.1:{https_port}/console" in lines
        assert ORG not in "\n".join(lines)
        assert f"certificate SHA-256 {tls.fingerprint(made)}; " in "\n".join(lines)
        r = httpx.get(f"http://localhost:{port}/console?token={ORG}")
        assert r.status_code == 307
        assert r.headers["location"] == f"https://localhost:{https_port}/console?token={ORG}"
    # started again on the same data folder: the same certificate
    with serve_command(tmp_path) as (_, _, again):
        assert f"certificate SHA-256 {tls.fingerprint(made)}; " in "\n".join(again)


def test_a_fingerprint_is_printed_as_written_not_as_emoji():
    """Rich turns ':ab:' into an emoji; a fingerprint holds such pairs one time in a few."""
    from tingshuo.cli import common

    with common.err.capture() as captured:
        common.err.print("certificate SHA-256 8C:37:AB:65:CD:11")
    assert "8C:37:AB:65:CD:11" in captured.get()


def test_links_printed_for_a_server_on_every_address_can_be_opened(capsys):
    from tingshuo.cli.serving import _print_console_links
    from tingshuo.server.api_rooms import lan_address

    _print_console_links("0.0.0.0", 8443, "https", "T")
    printed = capsys.readouterr().err
    assert "0.0.0.0" not in printed
    assert "console (on this machine): https://localhost:8443/console?token=T" in printed
    lan = lan_address()
    if lan:
        assert f"console: https://{lan}:8443/console?token=T" in printed


# -- the organizer's own certificate


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HALL)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HALL)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "hall.pem", folder / "hall.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


def test_the_organizers_own_certificate_is_served(worker, tmp_path):
    certfile, keyfile = _self_signed(tmp_path)
    own = tls.own_certificate(certfile, keyfile)
    with https_server(worker, tmp_path, own) as server:
        assert server.served_fingerprint() == own.fingerprint
        with httpx.Client(verify=trusting(certfile)) as c:
            info = c.get(
                f"https://127.0.0.1:{server.https_port}/api/tls",
                extensions={"sni_hostname": HALL},
                headers={"Host": HALL},
            )
        assert info.json()["own"] is True and info.json()["fingerprint"] == own.fingerprint
    assert not (tmp_path / "tls").exists()  # nothing made when the organizer brings one


def test_an_encrypted_key_is_refused_without_asking_for_its_password(tmp_path):
    certfile, keyfile = _self_signed(tmp_path)
    key = serialization.load_pem_private_key(keyfile.read_bytes(), password=None)
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(TingshuoError, match="not a PEM certificate and its unencrypted key"):
        tls.own_certificate(certfile, keyfile)


def test_a_missing_certificate_file_is_one_line(cli, tmp_path):
    done = cli("serve", "--certfile", str(tmp_path / "none.pem"), "--keyfile", "k.pem")
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"error: {tmp_path / 'none.pem'}: no such file (--certfile/--keyfile)"
    )
    certfile, keyfile = _self_signed(tmp_path)
    done = cli("serve", "--certfile", str(keyfile), "--keyfile", str(certfile))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "not a PEM certificate and its unencrypted key" in done.stderr


# -- in the browser


def _record(driver, text: str, seconds: float) -> str:
    """Record on /learn as a learner would: type the sentence, Record, read it (the fake
    microphone plays the reading), Stop; the status line shown."""
    wait_for(driver, "document.getElementById('pick').options.length > 1", 30, "sentences")
    driver.find_element("id", "text").send_keys(text)
    driver.find_element("id", "record").click()
    wait_for(driver, "document.getElementById('status').textContent.startsWith('Recording')", 20)
    time.sleep(seconds)
    driver.find_element("id", "record").click()
    wait_for(
        driver,
        "document.getElementById('result').textContent.includes('overall')"
        " || document.getElementById('status').className === 'error'",
        90,
        "the score",
    )
    return driver.find_element("id", "status").text


@needs_chromium
def test_over_https_by_a_lan_name_the_pages_may_record(worker, tmp_path):
    reading = load_audio(AISHELL / "audio" / "BAC009S0150W0121.flac")  # 其中有两个是内因的指标
    wav = write_wav(tmp_path / "reading.wav", reading)
    with https_server(worker, tmp_path) as server:
        driver = chromium(
            tmp_path,
            MAP_HALL,
            f"--ignore-certificate-errors-spki-list={server.spki()}",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}",
        )
        try:
            # an old printed link: plain HTTP, redirected, and then a secure page
            driver.get(f"http://{HALL}:{server.port}/learn?from=qr")
            wait_for(driver, "location.protocol === 'https:'", 20, "the redirect")
            assert driver.current_url == f"https://{HALL}:{server.https_port}/learn?from=qr"
            assert driver.execute_script("return window.isSecureContext") is True
            assert not driver.find_elements("id", "insecure")
            heard = _record(driver, "其中有两个是内因的指标", reading.size / 16000 + 0.3)
            assert heard.startswith("heard 听到: ") and "两个" in heard and "指标" in heard, heard
            assert "overall 总分" in driver.find_element("id", "result").text

            driver.get(f"https://{HALL}:{server.https_port}/console")
            assert driver.execute_script("return window.isSecureContext") is True
            wait_for(driver, "!document.getElementById('tls-panel').hidden", 20, "the panel")
            panel = driver.find_element("id", "tls-panel")
            assert server.cert.fingerprint in panel.text
            assert server.cert.trust_fingerprint in panel.text
            assert f"http://{HALL}:{server.port}/tingshuo-ca.crt" in panel.text
            assert "Android" in panel.text and "iPhone" in panel.text
            # the steps, opened as an organizer would
            for summary in panel.find_elements("css selector", "summary"):
                summary.click()
            assert "Install a certificate" in panel.text and "Trust Settings" in panel.text
            driver.execute_script("document.getElementById('tls-panel').scrollIntoView()")
            driver.save_screenshot(str(tmp_path / "certificate-panel.png"))
            _keep_screenshot(tmp_path / "certificate-panel.png")
            # the phone link and QR code of a room say https:// by the LAN name
            r = httpx.post(
                f"https://127.0.0.1:{server.https_port}/api/rooms",
                json={"name": "Hall A", "lang": "zh"},
                headers={"Authorization": f"Bearer {ORG}", "Host": f"{HALL}:{server.https_port}"},
                verify=False,
            )
            links = r.json()["links"]
            assert links["phone"].startswith(f"https://{HALL}:{server.https_port}/room/")
            assert links["events"].startswith(f"wss://{HALL}:{server.https_port}/ws/rooms/")
        finally:
            driver.quit()


@needs_chromium
def test_a_page_over_plain_http_says_why_it_cannot_record(server, tmp_path):
    driver = chromium(tmp_path, MAP_HALL, "--use-fake-device-for-media-stream")
    try:
        driver.get(f"http://{HALL}:{server.port}/learn")
        assert driver.execute_script("return window.isSecureContext") is False
        banner = driver.find_element("id", "insecure")
        assert banner.is_displayed()
        assert "not secure" in banner.text and "不安全" in banner.text
        assert f"http://localhost:{server.port}/learn" in banner.text
        wait_for(driver, "document.getElementById('pick').options.length > 1", 30, "sentences")
        driver.execute_script(PICK_FIRST)
        driver.find_element("id", "record").click()
        shown = driver.find_element("id", "status").text
        assert "not secure" in shown and "Cannot read" not in shown and "getUserMedia" not in shown
        driver.save_screenshot(str(tmp_path / "insecure-learn.png"))
        _keep_screenshot(tmp_path / "insecure-learn.png")

        driver.get(f"http://{HALL}:{server.port}/console")
        banner = driver.find_element("id", "insecure")
        assert banner.is_displayed() and "microphone" in banner.text and "麦克风" in banner.text
        # Start microphone says why, rather than starting
        driver.execute_script("document.getElementById('btn-mic').click()")
        assert "flash" in banner.get_attribute("class")
        driver.save_screenshot(str(tmp_path / "insecure-console.png"))
        _keep_screenshot(tmp_path / "insecure-console.png")
        assert driver.find_element("id", "tls-panel").get_attribute("hidden") is not None
    finally:
        driver.quit()


def _keep_screenshot(path: Path) -> None:
    """Screenshots for a person to look at: TINGSHUO_SCREENSHOTS names a folder to keep them."""
    keep = os.environ.get("TINGSHUO_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / path.name).write_bytes(path.read_bytes())
