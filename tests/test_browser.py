"""One real-browser test: `streamlit run app.py` as a server, headless Chromium via Playwright.

Needs the system Chromium (Debian: `apt-get install -y chromium`; set CHROMIUM_PATH to use
another binary). Without it this test FAILS on purpose: CI installs it.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
START_TIMEOUT_S = 60
ANSWER_TIMEOUT_S = 180  # the server loads the model for the first question (slow on a busy 2-core box)


def chromium_path() -> str:
    candidates = [os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium"),
                  shutil.which("chromium-browser"), shutil.which("google-chrome")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("Chromium is not installed, so the browser test cannot run. Install it with "
                "`apt-get install -y chromium` (Debian/Ubuntu) or set CHROMIUM_PATH to a Chromium/Chrome binary.",
                pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail(f"streamlit did not answer on port {port} within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def ingested_kb(tmp_path) -> Path:
    from ingest.pipeline import ingest
    from kb.embedders import shared_embedder
    from kb.config import DEFAULT_MODEL, load_settings

    kb = tmp_path / "kb"
    report = ingest([CORPUS], load_settings(kb_dir=kb), embedder=shared_embedder(DEFAULT_MODEL))
    assert report.documents == 5 and not report.failed
    return kb


def test_question_in_the_address_shows_the_cited_passage(ingested_kb, tmp_path):
    executable = chromium_path()
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("The playwright package is missing: pip install playwright (browsers are not needed: "
                    "the test launches the system Chromium).", pytrace=False)

    port = free_port()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    env = {**os.environ, "KB_DIR": str(ingested_kb), "KB_CORPUS": str(corpus), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "streamlit.log"
    streamlit = Path(sys.executable).with_name("streamlit")
    command = [str(streamlit) if streamlit.exists() else sys.executable, *([] if streamlit.exists() else
               ["-m", "streamlit"]), "run", "app.py", "--server.headless", "true", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"]
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_up(proc, port, log)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/?q=What%20is%20DC%3A0-5%3F")
                passage = page.locator(".kb-passage", has_text="diagnostic classification manual").first
                expect(passage).to_be_visible(timeout=ANSWER_TIMEOUT_S * 1000)
                print(f"first answer {time.monotonic() - started:.1f} s after `streamlit run`")
                expect(page.locator("mark").first).to_be_visible()
                expect(page.get_by_text("“Infant and Early Childhood Mental Health Systems and Supports Developing "
                                        "the Workforce” (2020), section “Louisiana”.")).to_be_visible()

                # "Open source" serves the ingested file from the app's static route, as plain text
                link = page.locator("a", has_text="Open source").first
                href = link.get_attribute("href")
                assert href.startswith("app/static/sources/") and link.get_attribute("target") == "_blank"
                response = page.request.get(f"http://127.0.0.1:{port}/{href.split('#')[0]}")
                assert response.status == 200
                assert response.headers["content-type"].startswith("text/plain")
                assert response.headers["x-content-type-options"] == "nosniff"
                assert response.body() == (CORPUS / "iecmh-workforce-systems-and-supports-2020.md").read_bytes()

                shot = tmp_path / "answer.png"
                page.screenshot(path=str(shot))
                print(f"screenshot: {shot}")

                # a second question, typed and submitted with Enter, lands in the address too
                box = page.locator("input[aria-label='Question']")
                box.fill("How do I renew a passport?")
                box.press("Enter")
                expect(page.get_by_text("Not answered: the knowledge base has no good answer")).to_be_visible(
                    timeout=60_000)
                assert "q=How+do+I+renew+a+passport" in page.url or "q=How%20do%20I%20renew" in page.url
            finally:
                browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
