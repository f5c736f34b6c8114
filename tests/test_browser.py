"""One real-browser test: `python app.py` (the launcher: `streamlit run app.py` in-process, which
loads the model and index at server start) as a server, headless Chromium via Playwright.

Needs the system Chromium (Debian: `apt-get install -y chromium`; set CHROMIUM_PATH to use
another binary). Without it this test FAILS on purpose: CI installs it.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port, stop_process

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
def ingested_kb(tmp_path) -> tuple[Path, Path]:
    """A copy of the shipped corpus (the Library edits its metadata.json) and its knowledge base."""
    from ingest.pipeline import ingest
    from kb.embedders import shared_embedder
    from kb.config import DEFAULT_MODEL, load_settings

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    (corpus / "home-visiting-slots.md").write_text(TABLE_DOC, encoding="utf-8")  # a table to answer from
    kb = tmp_path / "kb"
    report = ingest([corpus], load_settings(kb_dir=kb), embedder=shared_embedder(DEFAULT_MODEL))
    assert report.documents == 6 and not report.failed
    return kb, corpus


TABLE_DOC = """# Home visiting slots

Table 2. Home visiting slots by county, 2023

| County | Funded slots | Families waiting |
|---|---|---|
| Adams | 1,250 | 310 |
| Brown | 840 | 95 |
| Clark | 615 | 40 |
"""
TABLE_QUESTION = "How many families were waiting for home visiting in Adams county?"
FIRST = "What is DC:0-5?"
SECOND = "What is reflective supervision?"
WORKFORCE = "Infant and Early Childhood Mental Health Systems and Supports Developing the Workforce"
IDLE = "!document.querySelector('[data-testid=stStatusWidgetRunningIcon],[data-testid=stStatusWidgetRunningManIcon]')"
DEEP_FOCUS = """() => { let a = document.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
    return a ? {tag: a.tagName, cls: a.className || '', text: a.textContent || '', label: a.getAttribute('aria-label')} : null; }"""
CLIPBOARD = """async () => { const out = {};
    for (const item of await navigator.clipboard.read()) for (const t of item.types) out[t] = await (await item.getType(t)).text();
    return out; }"""


def expected_answers(kb: Path) -> dict:
    """What the library itself answers, to hold the page to."""
    from kb import citations as cite
    from kb.backends.local import LocalBackend
    from kb.config import DEFAULT_MODEL
    from kb.embedders import shared_embedder
    from kb.models import Filters
    from kb.search import Searcher

    searcher = Searcher(LocalBackend(kb), shared_embedder(DEFAULT_MODEL))
    first, second = searcher.ask(FIRST, k=5), searcher.ask(SECOND, k=5)
    in_la = searcher.ask(FIRST, k=5, filters=Filters(states=("LA",)))
    return {"first": first, "second": second, "la": in_la, "apa": cite.format_citation(first.hits[0], "apa").text}


def opening(text: str, words: int = 8) -> str:
    return " ".join(text.split()[:words])


def test_the_analysts_workbench_in_a_browser(ingested_kb, tmp_path):
    """Open a ?q= link, copy with the keyboard, switch citation style, export BibTeX and parse it
    back, open the source viewer, filter by a state, press Back, edit a year in the Library and
    see the citation change without re-embedding; screenshots on the way."""
    import bibtexparser

    executable = chromium_path()
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("The playwright package is missing: pip install playwright (browsers are not needed: "
                    "the test launches the system Chromium).", pytrace=False)

    kb, corpus = ingested_kb
    expected = expected_answers(kb)
    shots = Path(os.environ.get("KB_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KB_DIR": str(kb), "KB_CORPUS": str(corpus), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "streamlit.log"
    # The launcher: `streamlit run app.py` in-process (the model and index load at server start).
    command = [sys.executable, "app.py", "--server.headless", "true", "--server.port", str(port),
               "--server.fileWatcherType", "none"]
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_up(proc, port, log)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
                context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
                page = context.new_page()

                # a ?q= link: the question box is focused, the best answer and the cited passage show
                page.goto(f"{url}/?q=What%20is%20DC%3A0-5%3F")
                expect(page.locator("input[aria-label='Question']")).to_be_visible(timeout=START_TIMEOUT_S * 1000)
                print(f"page chrome {time.monotonic() - started:.1f} s after start")
                first = expected["first"]
                passage = page.locator(".kb-passage").first
                expect(passage).to_contain_text(opening(first.hits[0].passage.text), timeout=ANSWER_TIMEOUT_S * 1000)
                print(f"first answer {time.monotonic() - started:.1f} s after start")
                page.wait_for_function(IDLE, timeout=60_000)
                # the page focuses the box once its scripts have run: wait for it, then check
                page.wait_for_function(f"() => ({DEEP_FOCUS})()?.label === 'Question'", timeout=20_000)
                assert page.evaluate(DEEP_FOCUS)["label"] == "Question"
                expect(page.locator(".kb-best")).to_contain_text("not generated")
                expect(page.locator("mark").first).to_be_visible()
                expect(page.locator(".kb-cite").first).to_have_text(first.hits[0].citation)
                page.screenshot(path=str(shots / "answer.png"))

                # copy buttons are real buttons, reached with Tab, putting HTML and plain text on the clipboard
                page.locator("input[aria-label='Question']").focus()
                for _ in range(12):
                    page.keyboard.press("Tab")
                    if "kb-copy" in (page.evaluate(DEEP_FOCUS) or {}).get("cls", ""):
                        break
                focused = page.evaluate(DEEP_FOCUS)
                assert focused["tag"] == "BUTTON" and "kb-copy" in focused["cls"], focused
                page.keyboard.press("Enter")
                page.wait_for_timeout(500)
                clip = page.evaluate(CLIPBOARD)
                assert {"text/plain", "text/html"} <= set(clip) and clip["text/plain"].startswith("“")
                assert first.hits[0].citation.rstrip(".") in clip["text/plain"]

                # another citation style
                page.locator("[data-testid=stSelectbox]").filter(has_text="Citation style").click()
                page.get_by_role("option", name="APA Style 7th edition").click()
                expect(page.locator(".kb-cite").first).to_have_text(expected["apa"], timeout=60_000)
                page.wait_for_function(IDLE, timeout=60_000)

                # export BibTeX and parse it back
                page.get_by_role("button", name="Export these results").click()
                with page.expect_download() as download:
                    page.get_by_role("button", name="BibTeX").click()
                entries = bibtexparser.parse_string(Path(download.value.path()).read_text(encoding="utf-8")).entries
                assert download.value.suggested_filename == "iecmh-sources-what-is-dc-0-5.bib"
                assert [e.fields_dict["title"].value for e in entries][0] == WORKFORCE
                assert entries[0].fields_dict["year"].value == "2020"
                page.keyboard.press("Escape")

                # the source viewer: the passage marked in its document, scrolled into its box
                page.get_by_role("button", name="View source").first.click()
                mark = page.locator(".kb-view-current")
                expect(mark).to_contain_text(opening(first.hits[0].passage.text), timeout=60_000)
                page.wait_for_function(IDLE, timeout=60_000)
                page.wait_for_timeout(500)
                box = page.locator(".st-key-viewer-text")
                inside = page.evaluate("""() => { const m = document.querySelector('.kb-view-current').getBoundingClientRect();
                    let b = document.querySelector('.kb-view-current').parentElement;
                    while (b && b.scrollHeight <= b.clientHeight + 1) b = b.parentElement;
                    const r = b.getBoundingClientRect(); return m.top >= r.top - 1 && m.top < r.bottom; }""")
                assert inside and box.count() == 1
                expect(mark.locator("mark").first).to_be_visible()
                page.screenshot(path=str(shots / "source-viewer.png"))
                page.set_viewport_size({"width": 800, "height": 900})  # a laptop window: still usable
                page.wait_for_timeout(500)
                sidebar = page.locator("[data-testid=stSidebar]").bounding_box()
                assert sidebar["width"] <= 800 * 0.3, sidebar
                expect(mark).to_be_visible()
                page.screenshot(path=str(shots / "source-viewer-800px.png"))
                page.set_viewport_size({"width": 1400, "height": 1000})
                page.get_by_role("button", name="Close").click()
                expect(mark).to_have_count(0)

                # filter by a state (full titles and names in the sidebar's pickers)
                page.locator("[data-testid=stMultiSelect]").filter(has_text="US state").click()
                page.keyboard.type("Louisiana")
                page.keyboard.press("Enter")
                page.keyboard.press("Escape")
                expect(page.locator(".kb-passage").first).to_contain_text(
                    opening(expected["la"].hits[0].passage.text), timeout=60_000)
                assert "state=Louisiana" in page.url
                page.screenshot(path=str(shots / "state-filter.png"))
                page.locator("[data-testid=stMultiSelect]").filter(has_text="US state").get_by_role(
                    "button", name=re.compile("Delete|Remove|Clear", re.I)).first.click()
                page.wait_for_function(IDLE, timeout=60_000)

                # a second question is a new history entry; Back returns to the first one's results
                box_input = page.locator("input[aria-label='Question']")
                box_input.fill(SECOND)
                box_input.press("Enter")
                expect(page.locator(".kb-passage").first).to_contain_text(
                    opening(expected["second"].hits[0].passage.text), timeout=60_000)
                assert "reflective" in page.url
                page.go_back()
                expect(box_input).to_have_value(FIRST, timeout=60_000)
                expect(page.locator(".kb-passage").first).to_contain_text(opening(first.hits[0].passage.text),
                                                                         timeout=60_000)
                expect(page.get_by_role("button", name=SECOND)).to_be_visible()  # in the recent questions

                # the Library: edit the year; the citation follows, and nothing is embedded again
                page.get_by_role("link", name="Library").click()
                page.locator("[data-testid=stSelectbox]").filter(has_text="Document").click()
                page.get_by_role("option", name=re.compile(re.escape(WORKFORCE))).click()
                page.wait_for_function(  # the form shows this document (and the previous one's is gone)
                    "(() => { const y = document.querySelectorAll(\"input[aria-label='Year']\");"
                    " return y.length === 1 && y[0].value === '2020'; })()", timeout=60_000)
                page.wait_for_function(IDLE, timeout=60_000)
                page.get_by_label("Year").fill("2021")
                page.get_by_role("button", name="Save metadata").click()
                expect(page.get_by_text("without embedding anything again")).to_be_visible(timeout=60_000)
                page.screenshot(path=str(shots / "library-edit.png"))
                page.goto(f"{url}/?q=What%20is%20DC%3A0-5%3F")
                expect(page.locator(".kb-cite").first).to_have_text(
                    first.hits[0].citation.replace("(2020)", "(2021)"), timeout=ANSWER_TIMEOUT_S * 1000)

                # "Open original" serves each ingested file from the app's static route, as plain text
                links = page.locator("a", has_text="Open original")
                expect(links.first).to_be_visible()
                assert links.count() >= 5  # one per card (Streamlit may draw a link button as two anchors)
                served = set()
                for i in range(links.count()):
                    href = links.nth(i).get_attribute("href")
                    assert href.startswith("app/static/sources/") and links.nth(i).get_attribute("target") == "_blank"
                    response = page.request.get(f"{url}/{href.split('#')[0]}")
                    assert response.status == 200 and response.headers["content-type"].startswith("text/plain")
                    assert response.headers["x-content-type-options"] == "nosniff"
                    served.add(response.body())
                assert (corpus / "iecmh-workforce-systems-and-supports-2020.md").read_bytes() in served
                assert served <= {f.read_bytes() for f in corpus.iterdir() if f.name != "metadata.json"}

                # a table answers as a table: its column names over the row, the asked cell marked,
                # and the best answer is that cell with its row and column named
                page.goto(f"{url}/?q={urllib.parse.quote(TABLE_QUESTION)}")
                table = page.locator(".kb-table").first
                expect(table).to_be_visible(timeout=ANSWER_TIMEOUT_S * 1000)
                expect(table.locator("th")).to_have_text(["County", "Funded slots", "Families waiting"])
                expect(table.locator(".kb-cell-asked")).to_have_text("310")
                expect(table.locator("td").first).to_have_text("Adams")
                expect(page.locator(".kb-best")).to_contain_text("Adams, Families waiting: “310”")
                expect(page.locator(".kb-card-best .kb-table")).to_have_count(1)  # the card it came from is marked
                page.screenshot(path=str(shots / "table-answer.png"))
                print(f"screenshots: {shots}")
            finally:
                browser.close()
    finally:
        stop_process(proc)
