"""The Streamlit app, driven with streamlit.testing.v1.AppTest against real knowledge bases
built with the real packaged model (no mocks), plus kb/uploads.py and kb/app_support.py.

The app caches its model with st.cache_resource, which lives as long as this pytest
process, and gets it from kb.embedders.shared_embedder: the fixtures ingest with that
same object, so the model loads once for the whole file.
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from kb import app_support as sup
from kb.embedders import shared_embedder
from kb import citations as cite
from kb.config import DEFAULT_MODEL, load_settings
from kb.errors import UsageError
from ingest.uploads import UploadRejected, sanitize_filename, save_upload, save_uploads

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
CORPUS = ROOT / "corpus"
TIMEOUT = 180  # seconds per AppTest run; the first one in a process may load the model

WORKFORCE = "Infant and Early Childhood Mental Health Systems and Supports Developing the Workforce"
MASS_FILE = "massachusetts-iecmh-resources-and-services.txt"
MASS_TITLE = "Infant and Early Childhood Mental Health Resources and Services"

HOSTILE_TEXT = """Hostile Test Note

The zebra mitigation policy says <script>alert(1)</script> and <img src=x onerror=alert(1)> and \
[click](javascript:alert(1)) and **bold** and `tick` and :red[red] and $x^2$ and https://evil.example/a.
"""
HOSTILE_HTML = """<html><head><title>Hostile &lt;b&gt;HTML&lt;/b&gt; page</title>
<script>alert('in the head')</script></head><body><h1>Giraffe funding guidance</h1>
<p>The giraffe funding guidance says &lt;script&gt;alert(2)&lt;/script&gt; and &lt;img src=x onerror=alert(2)&gt;
and [link](javascript:alert(2)) and **strong** text.</p><img src=x onerror="alert('real img')"></body></html>
"""


# ---- fixtures ------------------------------------------------------------------------------------

def _embedder():
    return shared_embedder(DEFAULT_MODEL)  # the very object the app's cache holds


def _ingest(paths, kb_dir):
    from ingest.pipeline import ingest

    report = ingest([Path(p) for p in paths], load_settings(kb_dir=kb_dir), embedder=_embedder())
    assert not report.failed, report.failed
    return report


@pytest.fixture(scope="module")
def corpus_kb(tmp_path_factory) -> Path:
    """The shipped corpus, ingested once for the read-only tests."""
    kb = tmp_path_factory.mktemp("corpus-kb") / "kb"
    _ingest([CORPUS], kb)
    return kb


@pytest.fixture
def use_kb(monkeypatch, tmp_path):
    """Point the app at a knowledge base (KB_DIR) and a corpus folder (KB_CORPUS)."""
    def use(kb_dir: Path, corpus: Path | None = None) -> Path:
        corpus = corpus or tmp_path / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv("KB_DIR", str(kb_dir))
        monkeypatch.setenv("KB_CORPUS", str(corpus))
        return corpus
    return use


def app(query: str | None = None, **params):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if query is not None:
        at.query_params["q"] = query
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def open_page(at, url_path: str):
    """Switch an AppTest to one of the app's st.navigation pages.

    AppTest.switch_page() only knows file pages; the app's pages are functions, so this
    sets the page hash that st.navigation registered for `url_path` (AppTest internals,
    Streamlit 1.67)."""
    hashes = [h for h, info in at._registered_pages.items() if info.get("url_pathname") == url_path]
    assert hashes, f"no page {url_path!r} in {at._registered_pages}"
    at._page_hash = hashes[0]
    return at.run()


def no_exception(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def cards(at) -> list[str]:
    return [m.value for m in at.markdown if re.search(r'class="kb-card[" ]', m.value)]


def card_title(body: str) -> str:
    return html.unescape(re.search(r"<strong>(.*?)</strong>", body).group(1))


def cites(at) -> list[str]:
    """Each card's citation as the reader sees it (the chosen style, tags dropped)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", re.match(r'<div class="kb-cite">(.*?)</div>', m.value).group(1)))
            for m in at.markdown if m.value.startswith('<div class="kb-cite">')]


def copied(at, key: str) -> dict:
    """What a copy button puts on the clipboard: {"label", "text", "html"}."""
    import json

    return json.loads(next(e for e in at.get("bidi_component") if e.key == key).proto.json)


def card_text(body: str) -> str:
    """A card's passage as the reader sees it: tags dropped, entities decoded."""
    passage = re.search(r'<div class="kb-passage">(.*?)</div>', body).group(1)
    return html.unescape(re.sub(r"</?mark>", "", passage))


# ---- ask, abstain, filters, exports ------------------------------------------------------------

def test_ask_flow_shows_cards_with_passage_citation_and_source(corpus_kb, use_kb, served):
    corpus = use_kb(corpus_kb, CORPUS)
    at = app("What is DC:0-5?")
    no_exception(at)
    bodies = cards(at)
    assert len(bodies) == 5
    assert any("diagnostic classification manual" in card_text(b) for b in bodies)
    assert card_title(bodies[0]) == WORKFORCE
    assert "<mark>" in bodies[0] and "2020" in bodies[0]  # highlight, year
    citations = cites(at)
    assert citations[0] == f"“{WORKFORCE}” (2020), section “Louisiana”."
    answer = at.session_state["_answer"][1]
    top = answer.hits[0]
    assert copied(at, f"copy-{top.passage.id}")["text"] == top.citation
    assert copied(at, f"quote-{top.passage.id}")["text"] == top.quote_citation  # whole sentences with citation
    # the reference-list entry too, under the in-text citation, with its own copy button
    assert copied(at, f"ref-{top.passage.id}")["text"] == f"“{WORKFORCE}” (2020)."
    refs = [m.value for m in at.markdown if 'class="kb-ref"' in m.value]
    assert len(refs) == 5 and f"{sup.escape_html(WORKFORCE)}" in refs[0]
    assert not at.warning  # answered: no "not answered" banner

    # the best answer first: the answering sentence of one of the first passages, verbatim, with its
    # citation; that passage's card says so and highlights the same sentence
    best = next(m.value for m in at.markdown if 'class="kb-best"' in m.value)
    chosen = answer.best.hit
    start, end = chosen.highlights[0]
    assert html.unescape(chosen.passage.text[start:end]) in html.unescape(best) and "not generated" in best
    assert copied(at, "copy-best")["text"].endswith(f"({chosen.citation.rstrip('.')}).")
    with_ref = copied(at, "copy-best-ref")["text"]
    assert with_ref.startswith(copied(at, "copy-best")["text"] + "\n\n") and with_ref.endswith(
        cite.format_bibliography([chosen]).text)
    marked = [b for b in bodies if "Best answer from this passage" in b]
    assert len(marked) == 1 and "kb-card-best" in marked[0] and card_title(marked[0]) == chosen.document.title

    # "Open original": the ingested file handed to this session (a media file, never a static route), as text
    links = at.get("link_button")
    assert len(links) == 5 and links[0].proto.label == "Open original (text)"
    url = links[0].proto.url
    assert "/media/" in f"/{url}" and url.split("#")[0].endswith(".txt") and not url.startswith("app/static")
    assert _served(url) == (corpus / "iecmh-workforce-systems-and-supports-2020.md").read_bytes()

    # "More context": the neighbours of the passage appear, not the passage again
    at.toggle(key=f"ctx-{top.passage.id}").set_value(True).run()
    no_exception(at)
    context = [m.value for m in at.markdown if "kb-ctx" in m.value and "<style>" not in m.value]
    assert context and context[0].count('class="kb-ctx"') >= 1
    assert sup.escape_html(top.passage.text) not in context[0]

    # typing a new question (Enter commits a text_input) searches again
    at.text_input(key="q").input("How are states building the IECMH workforce?").run()
    no_exception(at)
    assert cards(at) and cards(at) != bodies


def test_url_question_is_what_reload_shows(corpus_kb, use_kb):
    use_kb(corpus_kb, CORPUS)
    first = app("What is reflective supervision?")
    again = app("What is reflective supervision?")  # a reload of the same address
    no_exception(again)
    assert again.text_input(key="q").value == "What is reflective supervision?"
    assert cards(first) == cards(again)


def test_example_questions_fill_the_box(corpus_kb, use_kb):
    use_kb(corpus_kb, CORPUS)
    at = app()
    no_exception(at)
    assert not cards(at)
    next(b for b in at.button if b.label == "What is DC:0-5?").click().run()
    no_exception(at)
    assert at.text_input(key="q").value == "What is DC:0-5?"
    assert any("diagnostic classification manual" in card_text(b) for b in cards(at))


def test_off_topic_question_is_not_answered(corpus_kb, use_kb):
    use_kb(corpus_kb, CORPUS)
    at = app("How do I renew a passport?")
    no_exception(at)
    assert at.warning, "expected the not-answered message"
    assert "Not answered" in at.warning[0].value
    assert any("not answers" in h.value for h in at.subheader)
    assert cards(at)  # the closest passages are still shown, labelled
    assert sum("not an answer" in c.value for c in at.caption) == len(cards(at))


def test_document_filter_returns_only_that_document(corpus_kb, use_kb):
    use_kb(corpus_kb, CORPUS)
    at = app()
    no_exception(at)
    at.multiselect(key="doc").select(MASS_TITLE).run()
    at.text_input(key="q").input("How are states building the IECMH workforce?").run()
    no_exception(at)
    bodies = cards(at)
    assert bodies and {card_title(b) for b in bodies} == {MASS_TITLE}
    # filters apply inside the search: k results come back when the document has that many
    from kb.backends.local import LocalBackend

    store = LocalBackend(corpus_kb)
    doc = next(d for d in store.documents() if d.name == MASS_FILE)
    assert len(bodies) == min(5, store.passage_counts()[doc.id])

    # the same filter from the address (bookmarked search)
    again = app("How are states building the IECMH workforce?", doc=MASS_TITLE)
    assert {card_title(b) for b in cards(again)} == {MASS_TITLE}


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """File name -> bytes of every download button the app renders (recorded, then served as usual)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    added: dict[str, bytes] = {}
    real_add = MediaFileManager.add

    def recording_add(self, path_or_data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if file_name:
            added[file_name] = path_or_data if isinstance(path_or_data, bytes) else str(path_or_data).encode()
        return real_add(self, path_or_data, mimetype, coordinates, file_name, is_for_static_download)

    monkeypatch.setattr(MediaFileManager, "add", recording_add)
    return added


def test_exports_hold_the_citations(corpus_kb, use_kb, downloads):
    added = downloads
    use_kb(corpus_kb, CORPUS)
    at = app("What is DC:0-5?")
    no_exception(at)
    assert [b.label for b in at.get("download_button")] == ["BibTeX", "RIS", "CSL-JSON", "Markdown", "CSV"]
    answer = at.session_state["_answer"][1]
    top = answer.hits[0]
    files = {Path(name).suffix: data.decode("utf-8") for name, data in added.items()
             if name.startswith("iecmh-sources-what-is-dc-0-5")}
    assert set(files) == {".md", ".csv", ".bib", ".ris", ".json"}
    assert files[".md"] == cite.to_markdown(answer) and top.citation in files[".md"]
    assert files[".csv"] == cite.to_csv(answer) and top.citation in files[".csv"]
    assert files[".bib"] == cite.to_bibtex(answer) and files[".ris"] == cite.to_ris(answer)
    assert files[".json"] == cite.to_csl_json(answer)
    assert "title = {Infant and Early Childhood Mental Health Systems and Supports Developing the Workforce}" \
        in files[".bib"] and "year = {2020}" in files[".bib"]

    # another style: the cards' citations and the styled exports follow it
    added.clear()
    at.selectbox(key="style").set_value("apa").run()
    no_exception(at)
    answer = at.session_state["_answer"][1]
    assert cites(at)[0] == html.unescape(re.sub(r"<[^>]+>", "", cite.format_citation(answer.hits[0], "apa").html))
    assert copied(at, f"copy-{answer.hits[0].passage.id}")["html"] == cite.format_citation(answer.hits[0], "apa").html
    md = next(data.decode() for name, data in added.items() if name.endswith(".md"))
    assert md == cite.to_markdown(answer, "apa") and "## References" in md


def test_library_errors_are_one_line_messages(corpus_kb, use_kb, tmp_path):
    broken = tmp_path / "broken-kb"
    shutil.copytree(corpus_kb, broken)
    for vectors in broken.glob("vectors-*.faiss"):
        vectors.unlink()  # a damaged knowledge base: CorruptKnowledgeBase from the library
    use_kb(broken, CORPUS)
    at = app("What is DC:0-5?")
    assert not at.exception  # no traceback
    assert len(at.error) == 1 and "kb ingest \\-\\-rebuild" in at.error[0].value
    assert "\n" not in at.error[0].value and not cards(at)


def test_source_viewer_shows_the_passage_marked_in_its_document(corpus_kb, use_kb):
    use_kb(corpus_kb, CORPUS)
    at = app("What is DC:0-5?")
    top = at.session_state["_answer"][1].hits[0]
    at.button(key=f"view-{top.passage.id}").click().run()
    no_exception(at)
    view = next(m.value for m in at.markdown if 'class="kb-view"' in m.value)
    marked = re.search(rf'class="kb-view-p kb-view-current" id="kb-view-current" data-passage="{top.passage.id}">'
                       r'(.*?)</div>', view).group(1)
    assert html.unescape(re.sub(r"</?mark>", "", marked)) == top.passage.text and "<mark>" in marked
    assert view.count('class="kb-view-p') > 5  # the whole document, readable, around it
    assert "&lt;sup&gt;" not in view and "&#91;" not in view  # no raw Markdown markup shown
    assert [e.key for e in at.get("bidi_component") if e.key == "viewer-scroll"]  # scrolled to the mark
    assert any(b.proto.label.startswith("Open original") for b in at.get("link_button"))
    at.button(key="close-viewer").click().run()
    assert not any('class="kb-view"' in m.value for m in at.markdown)


def test_collect_across_questions_history_and_back(corpus_kb, use_kb, downloads):
    added = downloads
    use_kb(corpus_kb, CORPUS)
    shutil.rmtree(corpus_kb / "workbench", ignore_errors=True)  # recent questions of the tests before
    first_q, second_q = "What is DC:0-5?", "What is reflective supervision?"
    at = app(first_q)
    first = at.session_state["_answer"][1]
    at.checkbox(key=f"collect-{first.hits[0].passage.id}").check().run()
    at.text_input(key="q").input(second_q).run()
    no_exception(at)
    assert at.query_params["q"] == second_q  # set by the app: a new browser history entry
    second = at.session_state["_answer"][1]
    assert second.question == second_q
    at.checkbox(key=f"collect-{second.hits[1].passage.id}").check().run()
    assert any(h.value == "Collection (2)" for h in at.sidebar.subheader)
    assert [b.label for b in at.sidebar.button if b.key.startswith("recent-")] == [second_q, first_q]
    at.selectbox(key="collection-format").select_index(0).run()  # BibTeX
    bib = added["iecmh-collection.bib"].decode()
    import bibtexparser

    titles = {e.fields_dict["title"].value for e in bibtexparser.parse_string(bib).entries}
    assert titles == {first.hits[0].document.title, second.hits[1].document.title}
    at.selectbox(key="collection-format").set_value(
        next(e for e in sup.EXPORTS if e.extension == "md")).run()
    md = added["iecmh-collection.md"].decode()
    assert f"## Sources for: {first_q}" in md and f"## Sources for: {second_q}" in md

    # Back: the browser puts the previous address back; the app shows that question's results
    at.query_params["q"] = first_q
    at.run()
    no_exception(at)
    assert at.text_input(key="q").value == first_q and at.session_state["_answer"][1].question == first_q
    assert at.checkbox(key=f"collect-{first.hits[0].passage.id}").value  # still collected
    # a recent question asks it again
    assert [b.label for b in at.sidebar.button if b.key.startswith("recent-")] == [first_q, second_q]
    at.sidebar.button(key="recent-1").click().run()
    assert at.text_input(key="q").value == second_q

    # a reload, a new tab, a server restart: a new session finds the collection and the questions
    fresh = app()
    assert any(h.value == "Collection (2)" for h in fresh.sidebar.subheader)
    assert [b.label for b in fresh.sidebar.button if b.key.startswith("recent-")] == [second_q, first_q]
    assert (corpus_kb / "workbench").is_dir()
    # named: renamed, and a second one made, each kept
    fresh.sidebar.text_input(key="collection-name-Collection").input("Consultation memo").run()
    fresh.sidebar.text_input(key="collection-new").input("Workforce memo").run()
    no_exception(fresh)
    again = app()
    assert again.sidebar.selectbox(key="collection-pick").options == ["Consultation memo", "Workforce memo"]
    assert again.sidebar.selectbox(key="collection-pick").value == "Workforce memo"
    assert any(h.value == "Collection (0)" for h in again.sidebar.subheader)
    again.sidebar.selectbox(key="collection-pick").set_value("Consultation memo").run()
    assert any(h.value == "Collection (2)" for h in again.sidebar.subheader)
    shutil.rmtree(corpus_kb / "workbench", ignore_errors=True)


def test_state_filter_and_by_state_view(corpus_kb, use_kb):
    use_kb(corpus_kb, CORPUS)
    at = app("How are states building the IECMH workforce?", k="10")
    no_exception(at)
    at.button_group(key="layout").set_value("By state").run()
    no_exception(at)
    heads = [h.value for h in at.subheader if " · " in h.value]
    assert heads and any(h.startswith("Louisiana (LA)") for h in heads)
    answer = at.session_state["_answer"][1]
    la = next(h for h in heads if h.startswith("Louisiana (LA)"))
    assert int(la.rsplit("· ", 1)[1]) == sum("LA" in h.passage.states for h in answer.hits)

    at.multiselect(key="state").select("LA").run()
    no_exception(at)
    filtered = at.session_state["_answer"][1]
    assert filtered.hits and all("LA" in h.passage.states for h in filtered.hits)
    # the same filter from the address (a bookmarked or shared search)
    again = app("How are states building the IECMH workforce?", k="10", state="Louisiana (LA)")
    assert [h.passage.id for h in again.session_state["_answer"][1].hits] == [h.passage.id for h in filtered.hits]


# ---- injection ---------------------------------------------------------------------------------

def test_document_text_cannot_inject_html_or_markdown(tmp_path, use_kb, served):
    corpus = tmp_path / "hostile"
    corpus.mkdir()
    (corpus / "hostile-note.txt").write_text(HOSTILE_TEXT, encoding="utf-8")
    (corpus / "hostile-page.html").write_text(HOSTILE_HTML, encoding="utf-8")
    kb = tmp_path / "kb"
    _ingest([corpus], kb)
    use_kb(kb, corpus)

    at = app("What does the zebra mitigation policy say?")
    no_exception(at)
    bodies = cards(at)
    assert len(bodies) == 2
    note = next(b for b in bodies if "zebra" in b)
    # the reader sees exactly the document's text...
    for literal in ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
                    "**bold**", "`tick`", ":red[red]", "$x^2$"):
        assert literal in card_text(note), literal
    assert "&lt;script&gt;alert&#40;1&#41;&lt;&#47;script&gt;" in note  # html.escape'd, then entities
    # ...and nothing in any rendered Markdown body is markup that came from a document
    for m in at.markdown:
        body = m.value
        if "<style>" in body:
            continue
        assert "<script" not in body.lower() and "<img" not in body.lower()
        assert "javascript:" not in body.lower() and "](" not in body
        assert "**" not in body and "`" not in body and "$x" not in body
        assert set(re.findall(r"</?([a-z]+)", body)) <= {"div", "span", "strong", "mark", "em", "i", "b", "sup", "sub"}
    html_card = next(b for b in bodies if "giraffe" in b.lower())
    assert card_title(html_card) == "Hostile <b>HTML</b> page"
    assert "<b>" not in html_card

    # an HTML source is served as plain text (.txt -> text/plain, nosniff), never as a page
    urls = [b.proto.url for b in at.get("link_button")]
    html_url = next(u for u in urls if _served(u) == HOSTILE_HTML.encode())
    assert html_url.split("#")[0].endswith(".txt")

    # citations are escaped too: the title shows literally
    assert any("Hostile <b>HTML</b> page" in c for c in cites(at))


SERVED: dict[str, bytes] = {}  # address -> bytes of every media file the app added (see `served`)


def _served(url: str) -> bytes:
    """The bytes behind an "Open original" address: a file the app put in Streamlit's media storage."""
    return SERVED[url.split("#")[0].lstrip("/")]


@pytest.fixture
def served(monkeypatch):
    """Record each media file the app adds, by the address it gets (then stored as usual)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    real_add = MediaFileManager.add

    def recording_add(self, path_or_data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        url = real_add(self, path_or_data, mimetype, coordinates, file_name, is_for_static_download)
        SERVED[url.lstrip("/")] = path_or_data if isinstance(path_or_data, bytes) else b""
        return url

    monkeypatch.setattr(MediaFileManager, "add", recording_add)
    return SERVED


# ---- first run, upload, ingest -------------------------------------------------------------------

def test_empty_knowledge_base_offers_to_ingest_the_corpus(tmp_path, use_kb, monkeypatch):
    from streamlit.elements.progress import ProgressMixin

    shown: list[tuple[float, str]] = []
    real_progress = ProgressMixin.progress

    def recording_progress(self, value, text=None, **kwargs):
        shown.append((value, text))
        return real_progress(self, value, text=text, **kwargs)

    monkeypatch.setattr(ProgressMixin, "progress", recording_progress)  # records, then draws the real bar
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    use_kb(tmp_path / "empty-kb", corpus)
    at = app("What is DC:0-5?")
    no_exception(at)
    assert "Welcome" in at.title[0].value
    # the question of the ?q= link is named: it will be answered once there are documents
    assert any("knowledge base is empty" in i.value and "“What is DC:0-5?” cannot be answered" in i.value.replace("\\", "")
               for i in at.info)
    button = at.button(key="ingest-corpus")
    assert "5 documents" in button.label
    button.click().run()
    no_exception(at)
    # the progress bar was driven by the ingest callback from 0 to done, through every stage
    values = [v for v, _ in shown]
    assert values[0] == 0.0 and values[-1] == 1.0 and values == sorted(values)
    labels = " ".join(t or "" for _, t in shown)
    assert "Reading files" in labels and "Embedding passages" in labels and "Writing the index" in labels
    # the app reran into the search page, the same cached Searcher now sees the new index
    assert at.title[0].value.startswith("Ask")
    assert any("5 added" in s.value for s in at.success)
    assert any("diagnostic classification manual" in card_text(b) for b in cards(at))


def at_rows(kb_dir):
    from kb.backends.local import LocalBackend

    return sup.library_rows(LocalBackend(kb_dir))[0]


def test_library_table_shows_every_column_whole_and_escaped(tmp_path, use_kb, monkeypatch):
    """The Library's table wraps its cells (every column readable at 1280 px, the browser test
    measures it) and shows document text as text: a title holding markup never becomes markup."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    name = "a-very-long-file-name-for-the-state-infant-and-early-childhood-mental-health-plan-2024.txt"
    (corpus / name).write_text("Infant and early childhood mental health consultation in child care settings.\n")
    title = ("<img src=x onerror=alert(1)> State Plan for Infant & Early Childhood Mental Health Consultation, "
             "Workforce Development and Financing in Child Care and Home Visiting, 2024–2028")
    (corpus / "metadata.json").write_text(json.dumps({name: {"title": title, "publisher": "Dept. of *Early* Care"}}))
    kb = tmp_path / "kb"
    _ingest([corpus], kb)
    use_kb(kb, corpus)
    at = open_page(app(), "library")
    no_exception(at)
    [table] = [m.value for m in at.markdown if 'class="kb-lib"' in m.value]
    headers = re.findall(r"<th>(.*?)</th>", table)
    assert headers == ["Title", "Publisher", "Year", "Type", "File", "Passages", "Pages", "Format", "Ingested",
                       "Problems"]
    assert "<img" not in table and sup.escape_html(title) in table  # whole and inert
    assert sup.escape_html("Dept. of *Early* Care") in table
    assert sup.escape_html(name) in table and 'class="kb-lib-path"' not in table  # in the corpus folder itself
    assert "overflow-wrap: anywhere" in table
    elsewhere = {**at_rows(kb)[0], "Path": "/srv/other/plan.txt"}
    nested = {**elsewhere, "Path": str(corpus / "state" / "plan.txt")}
    web = {**elsewhere, "Path": "https://example.gov/plan"}
    assert sup.escape_html("/srv/other/plan.txt") in sup.library_table_html([elsewhere], corpus)
    assert f'<span class="kb-lib-path">{sup.escape_html("state/plan.txt")}</span>' in sup.library_table_html([nested], corpus)
    assert sup.escape_html("https://example.gov/plan") in sup.library_table_html([web], corpus)
    assert at.dataframe[0].value["File"].tolist() == [name]  # the sortable grid, on request
    monkeypatch.setattr(sup, "LIBRARY_TABLE_LIMIT", 0)  # a library too long for a page of HTML: the grid alone
    at = open_page(app(), "library")
    assert not [m for m in at.markdown if 'class="kb-lib"' in m.value]
    assert "Sort, search or download the table" not in [e.label for e in at.expander]
    assert at.dataframe[0].value["File"].tolist() == [name]


def test_upload_saves_ingests_and_search_uses_it(tmp_path, use_kb):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "okapi-brief.txt").write_text("An older okapi note about something else entirely.\n")
    kb = tmp_path / "kb"
    _ingest([corpus], kb)
    use_kb(kb, corpus)
    at = open_page(app(), "library")
    no_exception(at)
    assert at.title[0].value == "Library"
    assert at.dataframe[0].value["File"].tolist() == ["okapi-brief.txt"]

    text = ("Okapi Consultation Funding\n\nThe okapi consultation fund pays for infant and early childhood "
            "mental health consultation in child care through a braided Medicaid and Part C budget.\n")
    pdf = _pdf_bytes(tmp_path)
    at.file_uploader[0].set_value([
        ("okapi-brief.txt", text.encode(), "text/plain"),  # same name as a corpus file: saved as (2)
        ("../../etc/okapi-budget.pdf", pdf, "application/pdf"),  # a path: only the name is kept
        ("notes.txt", b"", "text/plain"),  # empty: refused with a message
    ]).run()
    at.button(key="add-uploads").click().run()
    assert not at.exception

    assert sorted(p.name for p in corpus.iterdir()) == ["okapi-brief (2).txt", "okapi-brief.txt", "okapi-budget.pdf"]
    assert not list(tmp_path.glob("etc*")) and not (tmp_path.parent / "etc").exists()
    assert (corpus / "okapi-brief.txt").read_text().startswith("An older")  # not overwritten
    assert any("2 added" in s.value for s in at.success)
    assert any("saved as okapi\\-brief \\(2\\)\\.txt" in i.value for i in at.info)
    assert any("notes\\.txt" in e.value and "empty" in e.value for e in at.error)
    files = at.dataframe[0].value["File"].tolist()
    assert sorted(files) == ["okapi-brief (2).txt", "okapi-brief.txt", "okapi-budget.pdf"]
    assert not at.file_uploader[0].value  # the uploader is emptied for the next batch

    # the search page uses the new index at once, without restarting anything
    at.query_params["q"] = "Who pays for okapi consultation?"
    at = open_page(at, "")
    no_exception(at)
    assert any("okapi consultation fund" in card_text(b) for b in cards(at))
    pdf_links = [b.proto.url for b in at.get("link_button") if ".pdf" in b.proto.url]
    assert pdf_links and all(re.search(r"\.pdf#page=\d+$", u) for u in pdf_links)


def test_ingest_after_upload_reports_per_file_failures(tmp_path, use_kb):
    """A saved upload that cannot be ingested (not really a PDF) is listed with its reason,
    in the flash messages and in the library's problems table."""
    corpus = tmp_path / "corpus"
    kb = tmp_path / "kb"
    use_kb(kb, corpus)
    at = open_page(app(), "library")
    at.file_uploader[0].set_value([("fake.pdf", b"this is not a pdf at all, just text", "application/pdf"),
                                   ("good.md", b"# Lynx Guidance\n\nLynx guidance covers home visiting.\n",
                                    "text/markdown")]).run()
    at.button(key="add-uploads").click().run()
    no_exception(at)
    assert any("fake\\.pdf" in w.value and "not ingested" in w.value and "not a PDF" in w.value for w in at.warning)
    assert at.dataframe[0].value["File"].tolist() == ["good.md"]
    problems = at.dataframe[1].value
    assert problems["File"].tolist() == ["fake.pdf"] and "not a PDF" in problems["Problem"][0]

    # nothing added and a file refused: the outcome is a plain note above the file's message, never a
    # green box between two errors
    at.file_uploader[0].set_value([("fake2.pdf", b"still not a pdf, only text", "application/pdf"),
                                   ("good.md", b"# Lynx Guidance\n\nLynx guidance covers home visiting.\n",
                                    "text/markdown")]).run()
    at.button(key="add-uploads").click().run()
    assert not at.exception and at.error and at.warning  # good.md again: refused; fake2.pdf: not ingested
    assert not at.success and any("0 added" in i.value for i in at.info)
    kinds = [type(e).__name__ for e in at.main if type(e).__name__ in ("Info", "Error", "Warning", "Success")]
    assert kinds[0] == "Info" and "Success" not in kinds, kinds


@pytest.fixture
def own_corpus(tmp_path, use_kb):
    """A copy of the shipped corpus and its own knowledge base: the Library changes both."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    (corpus / "fake.pdf").write_bytes(b"this is not a pdf at all")
    kb = tmp_path / "kb"
    from ingest.pipeline import ingest

    ingest([corpus], load_settings(kb_dir=kb), embedder=_embedder())
    use_kb(kb, corpus)
    return kb, corpus


def test_library_edits_metadata_and_the_citation_follows_without_embedding(own_corpus):
    kb, corpus = own_corpus
    from kb.backends.local import LocalBackend

    at = app("What is DC:0-5?")
    assert cites(at)[0].startswith(f"“{WORKFORCE}” (2020)")
    at = open_page(at, "library")
    no_exception(at)
    doc = next(d for d in LocalBackend(kb).documents() if d.title == WORKFORCE)
    at.selectbox(key="edit-doc").set_value(doc.path).run()
    at.text_input(key=f"meta-year-{doc.id}").input("2021")
    at.multiselect(key=f"meta-states-{doc.id}").select("LA")
    at.button[[b.label for b in at.button].index("Save metadata")].click().run()
    no_exception(at)
    assert any("without embedding anything again" in s.value for s in at.success), [s.value for s in at.success]
    edited = next(d for d in LocalBackend(kb).documents() if d.id == doc.id)
    assert edited.year == 2021 and edited.states == ("LA",)
    import json

    assert json.loads((corpus / "metadata.json").read_text())[doc.name]["year"] == 2021
    at.query_params["q"] = "What is DC:0-5?"
    at = open_page(at, "")
    no_exception(at)
    assert cites(at)[0].startswith(f"“{WORKFORCE}” (2021)")


def test_library_deletes_documents_and_removes_rejected_files(own_corpus):
    kb, corpus = own_corpus
    from kb.backends.local import LocalBackend

    at = open_page(app(), "library")
    assert at.dataframe[1].value["File"].tolist() == ["fake.pdf"]
    at.button(key="remove-rejected").click().run()
    no_exception(at)
    assert not (corpus / "fake.pdf").exists() and len(at.dataframe) == 1  # no problems table any more
    assert any("fake\\.pdf was deleted" in i.value for i in at.info)

    doc = next(d for d in LocalBackend(kb).documents() if d.name == MASS_FILE)
    at.selectbox(key="edit-doc").set_value(doc.path).run()
    at.button(key="delete-doc").click().run()
    no_exception(at)
    assert not (corpus / MASS_FILE).exists()
    assert MASS_FILE not in at.dataframe[0].value["File"].tolist()
    assert any("deleted from the corpus folder" in s.value for s in at.success)


def test_read_only_library_cannot_change_anything(corpus_kb, use_kb, monkeypatch, tmp_path):
    use_kb(corpus_kb, CORPUS)
    monkeypatch.setenv("KB_READ_ONLY", "1")
    at = open_page(app(), "library")
    no_exception(at)
    assert at.dataframe[0].value["File"].tolist()  # the documents are listed
    assert not at.file_uploader and not at.get("form") and not at.button
    assert any("read-only" in i.value for i in at.info)
    use_kb(tmp_path / "empty-kb", CORPUS)  # an empty knowledge base: no ingest button either
    at = app()
    no_exception(at)
    assert "Welcome" in at.title[0].value and not [b for b in at.button if b.key == "ingest-corpus"]


def test_uploads_past_the_quota_are_refused(tmp_path, use_kb, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "big.txt").write_text("Quota note\n\n" + "The quota note fills the folder. " * 30_000)
    kb = tmp_path / "kb"
    _ingest([corpus], kb)
    use_kb(kb, corpus)
    monkeypatch.setenv("KB_UPLOAD_QUOTA_MB", "1")
    at = open_page(app(), "library")
    at.file_uploader[0].set_value([("small.txt", b"Marten note\n\nMarten guidance for home visiting.\n", "text/plain"),
                                   ("large.txt", b"Badger note. " * 20_000, "text/plain")]).run()
    at.button(key="add-uploads").click().run()
    assert any("large\\.txt" in e.value and "quota" in e.value for e in at.error)
    assert sorted(p.name for p in corpus.iterdir()) == ["big.txt", "small.txt"]


def test_login_gate(corpus_kb, use_kb):
    from streamlit.testing.v1 import AppTest

    use_kb(corpus_kb, CORPUS)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                          "client_id": "kb", "client_secret": "s",
                          "server_metadata_url": "https://login.example.org/.well-known/openid-configuration"}
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception and [b.label for b in at.button] == ["Log in"] and not at.text_input
    at.user = {"is_logged_in": True, "email": "analyst@example.org"}
    at.run()
    assert not at.exception and at.text_input(key="q") and not [b for b in at.button if b.label == "Log in"]


def test_listening_beyond_this_machine_needs_a_login(corpus_kb, use_kb):
    from streamlit import config

    use_kb(corpus_kb, CORPUS)
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = app("What is DC:0-5?")
    finally:
        config.set_option("server.address", before)
    assert len(at.error) == 1 and "without a login" in at.error[0].value and not at.text_input and not cards(at)


def _pdf_bytes(tmp_path: Path) -> bytes:
    from conftest import make_pdf

    path = make_pdf(tmp_path / "budget.pdf", [
        [("h", "Okapi Budget"), ("p", "General introduction to the budget of the okapi programme for families.")],
        [("h", "Okapi Consultation"), ("p", "Page two: consultation hours for okapi keepers in each county.")],
    ], title="Okapi Budget")
    return path.read_bytes()


# ---- kb/uploads.py ------------------------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("/etc/cron.d/job.md", "job.md"),
    ("C:\\Users\\me\\Brief.HTML", "Brief.html"),
    ("..hidden.txt", "hidden.txt"),
    ("bad\x00na\x1bme\n.txt", "badname.txt"),
    ("evil\u202etxt.pdf", "eviltxt.pdf"),  # right-to-left override removed
    ('a<b>:c|d?e*f".htm', "a_b__c_d_e_f_.htm"),
    ("  spaced   out  .md", "spaced out.md"),
    ("CON.txt", "_CON.txt"),
])
def test_sanitize_filename(given, expected):
    assert sanitize_filename(given) == expected


@pytest.mark.parametrize("given", ["run.exe", "archive.tar.gz", "README", "..", "../..", ".txt", "...pdf",
                                   "x.pdf.exe", "metadata.json"])
def test_sanitize_filename_refuses(given):
    with pytest.raises(UploadRejected) as info:
        sanitize_filename(given)
    assert isinstance(info.value, UsageError)
    assert "\n" not in str(info.value) and str(info.value)


def test_long_names_are_shortened_keeping_the_extension():
    name = sanitize_filename("é" * 300 + ".pdf")
    assert name.endswith(".pdf") and len(name.encode()) <= 200


def test_save_upload_never_overwrites_and_stays_in_the_folder(tmp_path):
    folder = tmp_path / "corpus"
    first = save_upload(folder, "brief.txt", b"one", limit_mb=1)
    second = save_upload(folder, "brief.txt", b"two", limit_mb=1)
    third = save_upload(folder, "../brief.txt", b"three", limit_mb=1)
    assert [first.path.name, second.path.name, third.path.name] == ["brief.txt", "brief (2).txt", "brief (3).txt"]
    assert not first.renamed and second.renamed
    assert (folder / "brief.txt").read_bytes() == b"one"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["brief (2).txt", "brief (3).txt", "brief.txt"]


def test_save_upload_limits(tmp_path):
    with pytest.raises(UploadRejected, match="over the 1 MB upload limit"):
        save_upload(tmp_path, "big.txt", b"x" * (1024 * 1024 + 1), limit_mb=1)
    with pytest.raises(UploadRejected, match="empty"):
        save_upload(tmp_path, "empty.txt", b"", limit_mb=1)
    with pytest.raises(UploadRejected, match="not accepted"):
        save_upload(tmp_path, "tool.exe", b"MZ", limit_mb=1)
    assert not list(tmp_path.iterdir())  # nothing saved, no temporary files left


def test_save_uploads_refuses_duplicate_content(tmp_path):
    known = {hashlib.sha256(b"already").hexdigest(): "old.txt"}
    result = save_uploads(tmp_path, [("a.txt", b"already"), ("b.txt", b"new"), ("c.txt", b"new")], 1, known)
    assert [s.path.name for s in result.saved] == ["b.txt"]
    assert [r.name for r in result.rejected] == ["a.txt", "c.txt"]
    assert "old.txt" in str(result.rejected[0]) and "b.txt" in str(result.rejected[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt"]


# ---- kb/app_support.py ----------------------------------------------------------------------------

def test_escape_html_makes_every_markup_character_inert():
    hostile = "<script>x</script> [a](javascript:b) **c** _d_ `e` $f$ :red[g] | h | ~i~ &amp; # j \\"
    escaped = sup.escape_html(hostile)
    assert html.unescape(escaped) == hostile
    assert not set(re.sub(r"&(#\d+|[a-z]+);", "", escaped)) & set("<>[]()*_`$|~#&;\\\"'")  # entities only
    assert sup.highlighted_html("a <b> c", [(2, 5)]) == "a <mark>&lt;b&gt;</mark> c"


def test_source_file_serves_only_what_was_ingested(tmp_path):
    from kb.models import Document

    source = tmp_path / "page.html"
    source.write_bytes(b"<script>alert(1)</script>")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    doc = Document(1, str(source), "page.html", digest, 25, 0, "Page", None, None, None, None, kind="html")
    served = sup.source_file(doc, paged=False)
    assert (served.data, served.mime, served.file_name, served.as_text) == (
        source.read_bytes(), "text/plain", "page.txt", True)
    changed = Document(2, str(source), "page.html", "0" * 64, 25, 0, "Page", None, None, None, None, kind="html")
    with pytest.raises(sup.SourceUnavailable, match="changed since it was ingested"):
        sup.source_file(changed, paged=False)
    forged = Document(3, "/etc/passwd", "passwd.txt", "../../x", 1, 0, "x", None, None, None, None)
    with pytest.raises(sup.SourceUnavailable):
        sup.source_file(forged, paged=False)
    source.unlink()
    with pytest.raises(sup.SourceUnavailable, match="no longer at"):
        sup.source_file(doc, paged=False)


def test_progress_state_covers_every_stage():
    assert sup.progress_state("scan", 0, 0)[0] == 0.0
    assert sup.progress_state("extract", 5, 5)[0] == pytest.approx(0.40)
    assert sup.progress_state("embed", 33, 33) == (pytest.approx(0.90), "Embedding passages (33 of 33)")
    assert sup.progress_state("write", 1, 1)[0] == 1.0
    assert sup.progress_state("other", 1, 1) is None


def test_corpus_dir_setting(monkeypatch, tmp_path):
    from kb.config import load_settings

    monkeypatch.delenv("KB_CORPUS", raising=False)
    assert sup.corpus_dir(ROOT, load_settings()) == ROOT / "corpus"
    monkeypatch.setenv("KB_CORPUS", str(tmp_path / "mine"))
    assert sup.corpus_dir(ROOT, load_settings()) == tmp_path / "mine"


@pytest.mark.parametrize("command", [["streamlit", "run", "app.py"], ["python", "app.py"]],
                         ids=["streamlit-run", "launcher"])
def test_the_server_loads_the_model_and_index_when_it_starts(corpus_kb, tmp_path, command):
    """`streamlit run app.py` and the launcher both start loading the model and index with the
    server (app.py's st.App lifespan), with no browser ever connecting."""
    import subprocess
    import sys
    import time

    from conftest import free_port, stop_process

    port = free_port()
    program = str(Path(sys.executable).with_name("streamlit")) if command[0] == "streamlit" else sys.executable
    env = {**os.environ, "KB_DIR": str(corpus_kb), "KB_CORPUS": str(tmp_path / "corpus"), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([program, *command[1:], "--server.headless", "true", "--server.port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + TIMEOUT
        while "Model and index loaded at server start" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        assert "Model and index loaded at server start" in log.read_text(), log.read_text()[-3000:]
    finally:
        stop_process(proc)
