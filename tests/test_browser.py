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

    from conftest import make_pdf

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    (corpus / "home-visiting-slots.md").write_text(TABLE_DOC, encoding="utf-8")  # a table to answer from
    make_pdf(corpus / "okapi-consultation-brief.pdf", OKAPI_PAGES, title="Okapi Consultation Brief",
             author="Okapi State Office of Early Childhood")  # a PDF page to read beside the answers
    kb = tmp_path / "kb"
    report = ingest([corpus], load_settings(kb_dir=kb), embedder=shared_embedder(DEFAULT_MODEL))
    assert report.documents == 7 and not report.failed
    return kb, corpus


TABLE_DOC = """# Home visiting slots

Table 2. Home visiting slots by county, 2023

| County | Funded slots | Families waiting |
|---|---|---|
| Adams | 1,250 | 310 |
| Brown | 840 | 95 |
| Clark | 615 | 40 |
"""
OKAPI_PAGES = [[("h", "Okapi Consultation Brief"),
                ("p", "This brief describes how the okapi state funds early childhood mental health consultation "
                      "for child care programs, home visiting and family child care homes across its counties."),
                ("p", "The okapi consultation budget rose by twelve percent in 2023, paid for with Medicaid "
                      "administrative claiming and state general revenue for the consultants' reflective supervision."),
                ("p", "Consultants visit each program every two weeks, observe classrooms, coach teachers and meet "
                      "families, and the state reviews the results of the programme with providers each spring.")]]
OKAPI_QUESTION = "How much did the okapi consultation budget rise?"
TABLE_QUESTION = "How many families were waiting for home visiting in Adams county?"
FIRST = "What is DC:0-5?"
SECOND = "What is reflective supervision?"
WORKFORCE = "Infant and Early Childhood Mental Health Systems and Supports Developing the Workforce"
IDLE = "!document.querySelector('[data-testid=stStatusWidgetRunningIcon],[data-testid=stStatusWidgetRunningManIcon]')"
DEEP_FOCUS = """() => { let a = document.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
    return a ? {tag: a.tagName, cls: a.className || '', text: a.textContent || '', label: a.getAttribute('aria-label')} : null; }"""
# The source viewer's box holds the marked passage in view (its own scroll, SCROLL_JS in app.py).
MARK_IN_BOX = """() => { const box = document.querySelector('.st-key-viewer-text');
    const mark = box && box.querySelector('.kb-view-current');
    if (!mark || !box.dataset.kbScrolledTo) return false;
    const m = mark.getBoundingClientRect(), b = box.getBoundingClientRect();
    return m.top >= b.top - 1 && m.top < b.bottom - 20; }"""
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
                page.wait_for_function(MARK_IN_BOX, timeout=20_000)
                assert box.count() == 1
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
                # the flash after the save (the form's caption says "without embedding anything again" too)
                expect(page.get_by_text(re.compile(r"Metadata of .* saved in .*without embedding anything again"))
                       ).to_be_visible(timeout=60_000)
                page.screenshot(path=str(shots / "library-edit.png"))
                page.goto(f"{url}/?q=What%20is%20DC%3A0-5%3F")
                expect(page.locator(".kb-cite").first).to_have_text(
                    first.hits[0].citation.replace("(2020)", "(2021)"), timeout=ANSWER_TIMEOUT_S * 1000)

                # "Open original" hands each ingested file to this session (media files), as plain text
                links = page.locator("a", has_text="Open original")
                expect(links.first).to_be_visible()
                expect(links.nth(4)).to_be_attached(timeout=60_000)  # the cards render one after another
                assert links.count() >= 5  # one per card (Streamlit may draw a link button as two anchors)
                served = set()
                for i in range(links.count()):
                    href = links.nth(i).get_attribute("href")
                    assert href.startswith("media/") and links.nth(i).get_attribute("target") == "_blank"
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


# ---- the workbench, round two (issue 28) and what the page itself may reach (issue 27) -----------------

LAUNCH = "What is Project LAUNCH in Massachusetts?"
WORKFORCE_Q = "How are states building the IECMH workforce?"
# Every scrollable element outside the source viewer, with its scroll offset: the page's own scroll.
PAGE_SCROLL = """() => [...document.querySelectorAll('*')].filter(el => !el.closest('.st-key-viewer-text')
    && /(auto|scroll)/.test(getComputedStyle(el).overflowY) && el.scrollHeight > el.clientHeight + 1)
    .map(el => el.scrollTop)"""


def start_app(port: int, env: dict, log: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "app.py", "--server.headless", "true", "--server.port", str(port),
               "--server.fileWatcherType", "none", *extra]
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_until_up(proc, port, log)
    return proc


def watch_session(page) -> dict:
    """The server's id for this page's session, read from the websocket's first messages (as any
    browser can): what an upload request names."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    seen: dict = {}

    def on_frame(payload):
        if isinstance(payload, (bytes, bytearray)):
            try:
                msg = ForwardMsg.FromString(bytes(payload))
            except Exception:  # not a ForwardMsg
                return
            if msg.HasField("new_session") and msg.new_session.initialize.session_id:
                seen["id"] = msg.new_session.initialize.session_id

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    return seen


def try_upload(page, url: str, session: str) -> int:
    """PUT a file to Streamlit's upload endpoint for `session`, as its own uploader would."""
    xsrf = next((c["value"] for c in page.context.cookies(url) if c["name"] == "_streamlit_xsrf"), "")
    response = page.request.put(f"{url}/_stcore/upload_file/{session}/kb-test-file", headers={"X-Xsrftoken": xsrf},
                                multipart={"file": {"name": "note.txt", "mimeType": "text/plain",
                                                    "buffer": b"An uploaded note.\n"}})
    return response.status


def test_the_memo_workbench_round_two_in_a_browser(ingested_kb, tmp_path):
    """Issue 28 end to end, and issue 27's page-level points: the viewer scrolls its own box and
    the clicked card stays put; both citation forms and whole quotes are copied; a collection and
    the recent questions survive a reload and a server restart; by state shows a passage once;
    the PDF page is readable at 1280 px; originals reach only the session showing them (no static
    route, gone with their document); the upload endpoint refuses sessions not offered the
    uploader; no request leaves 127.0.0.1. Screenshots at 800, 1280 and 1920 px."""
    from ingest import library
    from kb import app_support as sup
    from kb import citations as cite
    from kb.backends.local import LocalBackend
    from kb.config import DEFAULT_MODEL, load_settings
    from kb.embedders import shared_embedder
    from kb.search import Searcher

    executable = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    kb, corpus = ingested_kb
    searcher = Searcher(LocalBackend(kb), shared_embedder(DEFAULT_MODEL))
    launch, okapi = searcher.ask(LAUNCH, k=5), searcher.ask(OKAPI_QUESTION, k=5)
    shots = Path(os.environ.get("KB_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KB_DIR": str(kb), "KB_CORPUS": str(corpus), "PYTHONUNBUFFERED": "1"}
    requests: list[str] = []
    proc = start_app(port, env, tmp_path / "streamlit.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
                context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
                context.on("request", lambda request: requests.append(request.url))
                page = context.new_page()
                session = watch_session(page)

                # 28.1: View source on a .txt card: its box scrolls to the mark; the page and the card do not move
                page.goto(f"{url}/?q={urllib.parse.quote(LAUNCH)}")
                text_hit = next(h for h in launch.hits if h.document.name.endswith(".txt"))
                card = page.locator(f".st-key-card-{text_hit.passage.id}")
                expect(card).to_be_visible(timeout=ANSWER_TIMEOUT_S * 1000)
                page.wait_for_function(IDLE, timeout=60_000)
                card.scroll_into_view_if_needed()
                page.mouse.wheel(0, 120)  # "scroll a little"
                page.wait_for_timeout(400)
                before = card.bounding_box()["y"]
                card.get_by_role("button", name="View source").click()
                page.wait_for_function(MARK_IN_BOX, timeout=60_000)
                page.wait_for_function(IDLE, timeout=60_000)
                page.wait_for_timeout(800)
                assert page.evaluate(MARK_IN_BOX)
                assert page.locator(".kb-view-current").get_attribute("data-passage") == str(text_hit.passage.id)
                after = card.bounding_box()["y"]
                assert abs(after - before) <= 4, (before, after)  # the clicked card stayed where it was
                assert 0 <= after < 900
                scrolled = page.evaluate("() => document.querySelector('.st-key-viewer-text [data-kb-scrolled-to], "
                                         ".st-key-viewer-text').scrollTop")
                print(f"viewer: card at {before:.0f} px before, {after:.0f} px after; box scrolled {scrolled} px")
                page.screenshot(path=str(shots / "viewer-1280.png"))
                page.get_by_role("button", name="Close").click()
                expect(page.locator(".kb-view-current")).to_have_count(0, timeout=60_000)
                page.wait_for_function(IDLE, timeout=60_000)

                # 28.2 both citation forms (Chicago), 28.4 the whole quote: what the buttons put on the clipboard
                # (the style through the address it is bound to: a shared link keeps the reader's style)
                chicago = cite.STYLES["chicago-author-date"]  # the address holds the label shown
                page.goto(f"{url}/?q={urllib.parse.quote(LAUNCH)}&style={urllib.parse.quote(chicago)}")
                expect(page.locator(".kb-card").first).to_be_visible(timeout=ANSWER_TIMEOUT_S * 1000)
                style_box = page.locator("[data-testid=stSelectbox]").filter(has_text="Citation style")
                expect(style_box.locator("input")).to_have_value(re.compile(r"\(author-date\)$"), timeout=30_000)
                value_width = style_box.locator("input").evaluate("el => [el.scrollWidth, el.clientWidth]")
                assert value_width[0] <= value_width[1] + 1, value_width  # the label is shown whole, not cut
                page.wait_for_function(IDLE, timeout=60_000)
                top = launch.hits[0]
                first_card = page.locator(f".st-key-card-{top.passage.id}")
                first_card.locator("button.kb-copy", has_text="Copy citation").click()
                page.wait_for_timeout(400)
                assert page.evaluate(CLIPBOARD)["text/plain"] == cite.format_citation(top, "chicago-author-date").text
                first_card.locator("button.kb-copy", has_text="Copy reference").click()
                page.wait_for_timeout(400)
                clip = page.evaluate(CLIPBOARD)
                assert clip["text/plain"] == cite.format_bibliography([top], "chicago-author-date").text
                assert clip["text/html"] == cite.format_bibliography([top], "chicago-author-date").html  # formatted
                first_card.locator("button.kb-copy", has_text="Copy quote + citation").click()
                page.wait_for_timeout(400)
                quoted = page.evaluate(CLIPBOARD)["text/plain"]
                whole = cite.short_quote(top)
                assert quoted.startswith(f"“{whole}”") and all(
                    top.passage.text[s:e].strip() in quoted for s, e in top.highlights)
                page.locator("button.kb-copy", has_text="Copy best answer + citation + reference").click()
                page.wait_for_timeout(400)
                assert page.evaluate(CLIPBOARD)["text/plain"].endswith(
                    cite.format_bibliography([launch.best.hit], "chicago-author-date").text)
                print(f"copied quote: {len(quoted.split())} words, reference: {clip['text/plain'][:80]}…")

                # 28.3: collect two passages; a reload (F5) and a server restart keep them and the questions
                for hit in launch.hits[:2]:
                    page.locator(f".st-key-card-{hit.passage.id}").get_by_text("Collect", exact=True).click()
                    page.wait_for_function(IDLE, timeout=60_000)
                sidebar = page.locator("[data-testid=stSidebar]")
                expect(sidebar.get_by_text("Collection (2)")).to_be_visible(timeout=30_000)
                page.reload()
                expect(sidebar.get_by_text("Collection (2)")).to_be_visible(timeout=ANSWER_TIMEOUT_S * 1000)
                expect(sidebar.get_by_role("button", name=LAUNCH)).to_be_visible()
                stop_process(proc)
                proc = start_app(port, env, tmp_path / "streamlit-2.log")
                page.goto(url)
                expect(sidebar.get_by_text("Collection (2)")).to_be_visible(timeout=ANSWER_TIMEOUT_S * 1000)
                expect(sidebar.get_by_role("button", name=LAUNCH)).to_be_visible()
                page.screenshot(path=str(shots / "collection-after-restart-1280.png"))

                # 28.5: by state shows each passage once, its states as chips, the state's mention marked
                page.goto(f"{url}/?q={urllib.parse.quote(WORKFORCE_Q)}&k=10")
                expect(page.locator(".kb-card").first).to_be_visible(timeout=ANSWER_TIMEOUT_S * 1000)
                page.locator("[data-testid=stButtonGroup]").get_by_text("By state", exact=True).click()
                expect(page.locator(".kb-chips").first).to_be_visible(timeout=60_000)
                page.wait_for_function(IDLE, timeout=60_000)
                workforce = searcher.ask(WORKFORCE_Q, k=10)
                shown = page.locator(".kb-card .kb-rank").all_text_contents()
                assert sorted(shown) == sorted(f"{i}." for i in range(1, len(workforce.hits) + 1))  # each once
                assert page.locator(".kb-state-mention").count() >= 1 and page.locator(".kb-chip-current").count() >= 1
                print(f"by state: {len(shown)} cards for {len(workforce.hits)} passages, "
                      f"{page.locator('.kb-also').count()} 'also naming' lines")
                page.screenshot(path=str(shots / "by-state-1280.png"), full_page=False)

                # 28.6: the PDF page beside the answers, readable at 1280 px
                page.goto(f"{url}/?q={urllib.parse.quote(OKAPI_QUESTION)}")
                pdf_hit = next(h for h in okapi.hits if h.document.name.endswith(".pdf"))
                pdf_card = page.locator(f".st-key-card-{pdf_hit.passage.id}")
                expect(pdf_card).to_be_visible(timeout=ANSWER_TIMEOUT_S * 1000)
                page.wait_for_function(IDLE, timeout=60_000)
                pdf_card.get_by_role("button", name="View source").click()
                closeup = page.locator("[data-testid=stImage] img").first
                expect(closeup).to_be_visible(timeout=60_000)
                page.wait_for_function(IDLE, timeout=60_000)
                page.wait_for_timeout(500)
                width = closeup.bounding_box()["width"]
                natural = closeup.evaluate("img => img.naturalWidth")
                # the page is rendered 900 px wide for 595 pt (A4): shown at `width` the type is drawn at
                # width / natural * 900 / 595 px per point; 11 pt text needs >= ~1 px per point to be read
                per_point = width / natural * 900 / 595
                print(f"PDF close-up at 1280 px: {width:.0f} px wide, {per_point:.2f} px per point")
                assert width >= 500 and per_point >= 1.0
                page.screenshot(path=str(shots / "pdf-viewer-1280.png"))

                # screenshots at three widths
                for width_px in (800, 1280, 1920):
                    page.set_viewport_size({"width": width_px, "height": 1000})
                    page.wait_for_timeout(700)
                    page.screenshot(path=str(shots / f"answer-with-viewer-{width_px}.png"))
                page.set_viewport_size({"width": 1280, "height": 900})
                page.goto(f"{url}/library")
                expect(page.locator("table.kb-lib")).to_be_visible(timeout=60_000)  # every column: see the test below
                page.wait_for_timeout(800)
                page.screenshot(path=str(shots / "library-1280.png"))

                # 27.5: the upload endpoint takes a file only from a session showing the uploader
                page.wait_for_function(IDLE, timeout=60_000)
                assert session.get("id"), "no session id seen on the websocket"
                library_session = session["id"]
                assert try_upload(page, url, library_session) == 204  # the Library's uploader is on screen
                page.get_by_role("link", name="Ask").click()  # the same session, now on a page without one
                box_input = page.locator("input[aria-label='Question']")
                expect(box_input).to_be_visible(timeout=60_000)
                box_input.fill(LAUNCH)
                box_input.press("Enter")
                expect(page.locator(".kb-card").first).to_be_visible(timeout=ANSWER_TIMEOUT_S * 1000)
                page.wait_for_function(IDLE, timeout=60_000)
                assert session["id"] == library_session
                assert try_upload(page, url, library_session) == 403  # the Ask page offers no upload

                # 27.3: originals reach only this session, never a static route, and go with their document
                link = page.locator("a", has_text="Open original").first
                href = link.get_attribute("href")
                assert href.startswith("media/")
                response = page.request.get(f"{url}/{href.split('#')[0]}")
                assert response.status == 200 and response.headers["x-content-type-options"] == "nosniff"
                assert response.headers["content-security-policy"] == "sandbox"
                gone_doc = launch.hits[0].document
                static = page.request.get(f"{url}/app/static/sources/{gone_doc.sha256}.txt")
                # no static route: an unknown path gets the app's own page (to sign in to), never the file
                assert static.headers["content-type"].startswith("text/html")
                assert static.body() != Path(gone_doc.path).read_bytes()
                library.delete_document(load_settings(kb_dir=kb), gone_doc.path, corpus)
                box_input.fill(SECOND)  # the next thing this page does (here: another question)
                box_input.press("Enter")
                expect(page.locator(".kb-card").first).to_be_visible(timeout=ANSWER_TIMEOUT_S * 1000)
                page.wait_for_function(IDLE, timeout=60_000)
                assert page.request.get(f"{url}/{href.split('#')[0]}").status == 404  # gone with its document
                # ...and the collection shows the removed passage as gone, not as an error
                expect(sidebar.get_by_text("Gone from the knowledge base").first).to_be_visible(timeout=30_000)
                print(f"screenshots: {shots}")
            finally:
                browser.close()
    finally:
        stop_process(proc)

    # 27.11: nothing the pages loaded came from anywhere but this server
    outside = sorted({r for r in requests if not r.startswith(url) and not r.startswith(("data:", "blob:"))})
    print(f"{len(requests)} requests, {len(outside)} outside {url}")
    assert requests and not outside, outside
    assert sup  # imported for the names above


def test_uploads_are_refused_before_the_login_and_in_read_only_mode(tmp_path):
    """A real server with a login configured (before signing in), and one read-only: Streamlit's
    upload endpoint refuses both sessions, and the static route serves nothing."""
    executable = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "http://127.0.0.1:8501/oauth2callback"\ncookie_secret = "'
                       + "x" * 32 + '"\nclient_id = "kb"\nclient_secret = "s"\n'
                       'server_metadata_url = "https://login.example.org/.well-known/openid-configuration"\n')
    base = {**os.environ, "KB_DIR": str(tmp_path / "kb"), "KB_CORPUS": str(tmp_path / "corpus"),
            "PYTHONUNBUFFERED": "1"}
    cases = [("login", base, ("--secrets.files", str(secrets)), "Log in"),
             ("read-only", {**base, "KB_READ_ONLY": "1"}, (), "This library is read-only")]
    for name, env, extra, shown in cases:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_app(port, env, tmp_path / f"streamlit-{name}.log", *extra)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page()
                    session = watch_session(page)
                    page.goto(f"{url}/library" if name == "read-only" else url)
                    expect(page.get_by_text(shown).first).to_be_visible(timeout=ANSWER_TIMEOUT_S * 1000)
                    page.wait_for_function(IDLE, timeout=60_000)
                    assert session.get("id")
                    status = try_upload(page, url, session["id"])
                    print(f"{name}: upload answered {status}")
                    assert status == 403
                    static = page.request.get(f"{url}/app/static/favicon.png")  # no static route: the app's page
                    assert static.headers["content-type"].startswith("text/html")
                    assert static.body() != (ROOT / "static" / "favicon.png").read_bytes()
                finally:
                    browser.close()
        finally:
            stop_process(proc)


LIBRARY_FIT = """() => { const box = document.querySelector('.kb-lib-box'), table = box.querySelector('table.kb-lib');
    const clipped = [...table.querySelectorAll('th, td')].filter(c => c.scrollWidth > c.clientWidth + 1)
        .map(c => c.textContent.slice(0, 60));
    const title = table.querySelector('tbody td');
    return {table: table.scrollWidth, box: box.clientWidth, right: table.getBoundingClientRect().right,
            page: document.documentElement.scrollWidth, viewport: window.innerWidth, clipped,
            titleHeight: title.getBoundingClientRect().height}; }"""


def test_the_library_table_shows_every_column_whole_at_1280_px(ingested_kb, tmp_path):
    """28.6: every column of the Library table, whole titles and file names included, is read
    without scrolling sideways at 1280 px (the data grid cut titles at 340 px and reached the
    File column only by scrolling); the same at 1920 px; at 800 px the table's box scrolls, never
    the page. Screenshots saved."""
    executable = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    kb, corpus = ingested_kb
    shots = Path(os.environ.get("KB_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KB_DIR": str(kb), "KB_CORPUS": str(corpus), "PYTHONUNBUFFERED": "1"}
    proc = start_app(port, env, tmp_path / "streamlit.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{url}/library")
                expect(page.locator("table.kb-lib")).to_be_visible(timeout=60_000)
                expect(page.locator("table.kb-lib tbody tr")).to_have_count(7)
                for width_px in (1280, 800, 1920):
                    page.set_viewport_size({"width": width_px, "height": 900})
                    page.wait_for_timeout(700)
                    fit = page.evaluate(LIBRARY_FIT)
                    print(f"library table at {width_px} px: {fit}")
                    page.screenshot(path=str(shots / f"library-table-{width_px}.png"))
                    assert fit["page"] <= fit["viewport"] and fit["clipped"] == [], fit  # the page never scrolls sideways
                    if width_px >= 1280:  # every column in view, no sideways scroll in the table's box either
                        assert fit["table"] <= fit["box"] and fit["right"] <= fit["viewport"], fit
                for header in ("Title", "Publisher", "Year", "File", "Passages", "Problems"):
                    expect(page.locator("table.kb-lib th", has_text=header)).to_be_in_viewport()
                expect(page.locator("table.kb-lib td", has_text=WORKFORCE).first).to_be_visible()
                expect(page.locator("table.kb-lib td", has_text="okapi-consultation-brief.pdf")).to_be_in_viewport()
            finally:
                browser.close()
    finally:
        stop_process(proc)

