"""The workbench, round two, without a browser: whole-sentence quotes, the reference-list
entry beside the in-text citation, Markdown exports with working addresses, collections and
recent questions saved with the knowledge base (locked, per user, gone passages marked), the
PDF close-up, and the server's upload gate and media headers (plain ASGI). The same points in
a real browser are in tests/test_browser.py."""
from __future__ import annotations

import asyncio
import multiprocessing
import shutil

import pytest
from citation_docs import DMH, document, hit
from conftest import CORPUS, make_pdf

from kb import app_support as sup
from kb import viewer
from kb.serving import ServingGuard, UploadPermissions
from kb import workbench as wb
from kb.citations import quote_citation, short_quote, to_csv, to_markdown
from kb.models import Answer

LONG_SENTENCE = ("Consultation is funded through Medicaid administrative claiming, the Preschool Development Grant "
                 "Birth through Five, Title V Maternal and Child Health Services Block Grant dollars, state general "
                 "revenue appropriated to the early childhood agency, and philanthropic partners who pay for the "
                 "reflective supervision of consultants across every region of the state.")


# ---- quotes ------------------------------------------------------------------------------------

def test_a_long_highlighted_sentence_is_quoted_whole():
    text = "Some context first. " + LONG_SENTENCE + " More text after."
    start = text.index("Consultation")
    h = hit(DMH, text=text, page=4, label="24", highlights=[(start, start + len(LONG_SENTENCE))])
    assert len(LONG_SENTENCE.split()) > 45  # longer than the old 45-word cut
    assert short_quote(h) == LONG_SENTENCE and "…" not in quote_citation(h)
    row = to_csv(Answer("q", True, [h])).splitlines()[1]
    assert LONG_SENTENCE in row


def test_sentences_apart_are_joined_with_an_ellipsis_and_neighbours_without():
    text = "First answer here. Second answer follows. Unrelated middle. Third answer ends."
    spans = [(text.index(s), text.index(s) + len(s)) for s in
             ("First answer here.", "Second answer follows.", "Third answer ends.")]
    assert short_quote(hit(DMH, text=text, highlights=spans)) == (
        "First answer here. Second answer follows. … Third answer ends.")


def test_without_a_highlight_the_quote_is_whole_opening_sentences_marked_as_going_on():
    text = " ".join(f"Sentence number {i} says something about consultation funding." for i in range(12))
    quote = short_quote(hit(DMH, text=text, highlights=[]))
    assert quote.endswith("funding. …") and quote[:-2] in text and len(quote.split()) >= 45


def test_only_a_sentence_over_the_cap_is_cut_at_a_word():
    giant = " ".join(["word"] * 200) + "."
    quote = short_quote(hit(DMH, text=giant, highlights=[(0, len(giant))]))
    assert quote.endswith("word …") and len(quote.split()) == 151


# ---- both citation forms -----------------------------------------------------------------------------

@pytest.mark.parametrize("style, entry", [
    ("house", "Massachusetts Department of Mental Health (DMH), “Infant and Early Childhood Mental Health "
              "Consultation: A Policy Brief” (2019)."),
    ("apa", "Massachusetts Department of Mental Health (DMH). (2019). Infant and Early Childhood Mental Health "
            "Consultation: A policy brief [Policy brief]."),
])
def test_every_style_gives_the_reference_list_entry_too(style, entry):
    h = hit(DMH, page=4, label="24")
    assert sup.reference_entry(h, style).text.startswith(entry.split(" [")[0][:60])
    quoted = sup.quote_with_citation(h, style)
    both = sup.with_reference(quoted, h, style)
    assert both.text.startswith(quoted.text + "\n\n") and both.text.endswith(sup.reference_entry(h, style).text)
    assert "<p>" in both.html


def test_markdown_export_keeps_the_documents_address_a_working_link():
    page = document(90, "Early Childhood Mental Health", "Massachusetts DMH", 2024, "webpage",
                    url="https://www.mass.gov/info-details/early_childhood?a=1&b=2")
    markdown = to_markdown(Answer("q", True, [hit(page)]), "apa")
    assert "<https://www.mass.gov/info-details/early_childhood?a=1&b=2>" in markdown
    assert "https\\:" not in markdown and "www\\." not in markdown


# ---- collections and recent questions, saved -----------------------------------------------------------

def _answer(*hits):
    return Answer("How is consultation funded?", True, list(hits))


def test_the_workbench_survives_a_new_store_and_keeps_names_and_questions(tmp_path):
    first = hit(DMH, page=4, label="24")
    store = wb.WorkbenchStore(tmp_path)
    store.update(lambda b: wb.collect(b, _answer(first), first))
    store.update(lambda b: wb.remember(b, "How is consultation funded?"))
    store.update(lambda b: wb.rename(b, wb.DEFAULT_NAME, "Memo"))
    store.update(lambda b: wb.create(b, "Second memo"))
    with pytest.raises(wb.CollectionError):
        store.update(lambda b: wb.create(b, "Memo"))
    loaded = wb.WorkbenchStore(tmp_path).load()  # a new process, a restart
    assert list(loaded.collections) == ["Memo", "Second memo"] and loaded.active == "Second memo"
    assert [i.hit.passage.text for i in loaded.items("Memo")] == [first.passage.text]
    assert loaded.items("Memo")[0].hit == first and loaded.recent == ["How is consultation funded?"]


def test_each_user_has_a_workbench_of_their_own(tmp_path):
    wb.WorkbenchStore(tmp_path, "analyst@example.org").update(lambda b: wb.remember(b, "mine"))
    assert wb.WorkbenchStore(tmp_path, "other@example.org").load().recent == []
    assert wb.WorkbenchStore(tmp_path).load().recent == []
    assert wb.WorkbenchStore(tmp_path, "analyst@example.org").load().recent == ["mine"]
    odd = wb.WorkbenchStore(tmp_path, "../../etc/passwd")
    assert odd.path.parent == tmp_path / wb.FOLDER  # never a path made from a user name


def _add_many(kb_dir: str, worker: int, count: int) -> None:
    store = wb.WorkbenchStore(kb_dir)
    for i in range(count):
        store.update(lambda b, name=f"memo {worker}-{i}": wb.create(b, name))


def test_two_processes_changing_the_workbench_lose_nothing(tmp_path):
    """Read-modify-write under the file lock: 2 processes x 40 changes, all 80 kept."""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_many, args=(str(tmp_path), w, 40)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    assert all(p.exitcode == 0 for p in workers)
    assert len(wb.WorkbenchStore(tmp_path).load().collections) == 1 + 80


def test_a_passage_removed_from_the_knowledge_base_shows_as_gone(tmp_path, embedder):
    from ingest import library
    from ingest.pipeline import ingest
    from kb.backends.local import LocalBackend
    from kb.config import load_settings
    from kb.search import Searcher

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = load_settings(kb_dir=tmp_path / "kb")
    ingest([corpus], settings, embedder=embedder)
    searcher = Searcher(LocalBackend(settings.kb_dir), embedder)
    answer = searcher.ask("How are states building the IECMH workforce?", k=10)
    kept, removed = answer.hits[0], next(h for h in answer.hits if h.document.path != answer.hits[0].document.path)
    store = wb.WorkbenchStore(settings.kb_dir)
    store.update(lambda b: wb.collect(b, answer, kept))
    store.update(lambda b: wb.collect(b, answer, removed))
    library.delete_document(settings, removed.document.path, corpus)
    bench = wb.refresh(store.load(), Searcher(LocalBackend(settings.kb_dir), embedder).reader().fetch)
    assert [i.gone for i in bench.items()] == [False, True]
    exported = wb.sources(bench.items())
    assert [h.passage.id for a in exported for h in a.hits] == [kept.passage.id]
    # a Library edit shows in the collection's next export
    library.edit_metadata(settings, kept.document.path, {"year": "2031"}, embedder=embedder)
    bench = wb.refresh(store.load(), Searcher(LocalBackend(settings.kb_dir), embedder).reader().fetch)
    assert "(2031)" in bench.items()[0].hit.citation


def test_a_collected_passage_read_again_under_new_ids_is_found_by_its_document_and_text(tmp_path, embedder):
    """Re-ingesting a document (Library button, a changed file or reader) gives its passages new
    ids; a collected passage whose text is still there keeps showing, under its new id, and the
    saved file takes that id. `kb ingest --rebuild` keeps every id."""
    from conftest import kb_cli
    from ingest import library
    from ingest.pipeline import ingest
    from kb.backends.local import LocalBackend
    from kb.config import load_settings
    from kb.search import Searcher

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = load_settings(kb_dir=tmp_path / "kb")
    ingest([corpus], settings, embedder=embedder)
    answer = Searcher(LocalBackend(settings.kb_dir), embedder).ask("How are states building the IECMH workforce?", k=5)
    collected = answer.hits[0]
    store = wb.WorkbenchStore(settings.kb_dir)
    store.update(lambda b: wb.collect(b, answer, collected))

    rebuilt = kb_cli("ingest", "--rebuild", "--kb", settings.kb_dir)
    assert rebuilt.returncode == 0, rebuilt.stderr
    bench = wb.load_checked(store, Searcher(LocalBackend(settings.kb_dir), embedder).reader())
    assert [(i.gone, i.passage_id) for i in bench.items()] == [(False, collected.passage.id)]

    library.reingest_document(settings, collected.document.path, embedder=embedder)
    reader = Searcher(LocalBackend(settings.kb_dir), embedder).reader()
    passages, _ = reader.fetch([collected.passage.id])
    assert collected.passage.id not in passages  # the old id holds nothing now
    bench = wb.load_checked(store, reader)
    [item] = bench.items()
    assert not item.gone and item.passage_id != collected.passage.id
    assert item.hit.passage.text == collected.passage.text and item.hit.document.path == collected.document.path
    assert reader.fetch([item.passage_id])[0][item.passage_id].text == collected.passage.text
    assert [i.passage_id for i in store.load().items()] == [item.passage_id]  # saved under the new id
    assert [h.passage.id for a in wb.sources(bench.items()) for h in a.hits] == [item.passage_id]


# ---- the PDF page beside the answers ----------------------------------------------------------------

def test_the_pdf_close_up_is_the_marked_lines_at_page_scale(tmp_path):
    import io

    from PIL import Image

    path = make_pdf(tmp_path / "brief.pdf", [[("h", "Okapi Budget"), ("p", "Intro text for the page. " * 8),
                                              ("p", "The okapi consultation budget rose by ten percent in 2023."),
                                              ("p", "Closing text for the page. " * 20)]])
    page = viewer.pdf_page_image(str(path), 1, "The okapi consultation budget rose by ten percent in 2023.")
    close = Image.open(io.BytesIO(viewer.closeup(page)))
    assert page.marked and close.height < page.height / 4  # the lines, not the page
    # shown at the viewer's width (about 560 px at 1280 px) the close-up is drawn at least as large as the page itself
    assert close.width <= page.width


# ---- the server: uploads and media ---------------------------------------------------------------------

def _call(guard, method: str, path: str, response_headers=()):
    sent, reached = [], []

    async def app(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": list(response_headers)})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    guard.app = app
    asyncio.run(guard({"type": "http", "method": method, "path": path, "headers": []}, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), reached


def test_the_upload_endpoint_takes_files_only_for_a_session_showing_the_uploader():
    permissions = UploadPermissions()
    guard = ServingGuard(None, permissions)
    status, _, reached = _call(guard, "PUT", "/_stcore/upload_file/session-1/file-1")
    assert status == 403 and not reached
    permissions.allow("session-1")
    assert _call(guard, "PUT", "/_stcore/upload_file/session-1/file-1")[0] == 204
    assert _call(guard, "PUT", "/kb/_stcore/upload_file/session-2/file-1")[0] == 403  # under a base path too
    permissions.deny("session-1")
    assert _call(guard, "PUT", "/_stcore/upload_file/session-1/file-1")[0] == 403


def test_media_responses_are_never_sniffed_and_text_is_sandboxed():
    guard = ServingGuard(None, UploadPermissions())
    _, headers, _ = _call(guard, "GET", "/media/abc.txt", [(b"content-type", b"text/plain")])
    assert headers[b"x-content-type-options"] == b"nosniff" and headers[b"content-security-policy"] == b"sandbox"
    _, headers, _ = _call(guard, "GET", "/media/abc.pdf", [(b"content-type", b"application/pdf")])
    assert headers[b"x-content-type-options"] == b"nosniff" and b"content-security-policy" not in headers


def test_an_original_is_refused_once_its_document_is_gone():
    from kb.serving import SourceFiles

    held = {"a" * 64}
    sources = SourceFiles()
    sources.still_held = held.__contains__
    sources.register("media/0123abcd.txt", "a" * 64)
    guard = ServingGuard(None, UploadPermissions(), sources)
    assert _call(guard, "GET", "/media/0123abcd.txt", [(b"content-type", b"text/plain")])[0] == 204
    held.clear()  # the document left the knowledge base (another session may still hold the address)
    status, _, reached = _call(guard, "GET", "/media/0123abcd.txt")
    assert status == 404 and not reached
    assert _call(guard, "GET", "/media/ffff.png", [(b"content-type", b"image/png")])[0] == 204  # not an original


def test_the_server_never_looks_up_this_machines_public_address(tmp_path):
    """Streamlit asks checkip.amazonaws.com when it listens on every interface; the app turns the
    look-up off as `streamlit run` imports it. A recording proxy on 127.0.0.1 stands in for the
    internet: it must see no request."""
    import http.server
    import subprocess
    import sys
    import threading

    from conftest import ROOT

    seen: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"203.0.113.7")

        def log_message(self, *args):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    address = f"http://127.0.0.1:{proxy.server_address[1]}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HTTP_PROXY": address, "http_proxy": address,
           "HTTPS_PROXY": address, "https_proxy": address, "NO_PROXY": "", "no_proxy": "", "KB_DIR": str(tmp_path)}
    probe = ("import importlib.util, sys; sys.argv = ['streamlit', 'run', 'app.py'];"
             "spec = importlib.util.spec_from_file_location('app', 'app.py'); app = importlib.util.module_from_spec(spec);"
             "spec.loader.exec_module(app); from streamlit import net_util; print(net_util.get_external_ip())")
    try:
        out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=120)
    finally:
        proxy.shutdown()
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "None" and seen == []
