"""The analyst's workbench without Streamlit: the Library's operations (ingest/library.py), the
app's helpers for the best answer, the by-state view, collections and exports
(kb/app_support.py), the source viewer (kb/viewer.py), `kb ask --filter state=`, and the
serving defaults. Real knowledge bases, the real packaged model, real PDFs."""
from __future__ import annotations

import html
import json
import re
import shutil
import tomllib
from dataclasses import replace

import pytest

from conftest import CORPUS, GOV_PDFS, ROOT, kb_cli, make_pdf
from kb import app_support as sup
from kb import states as us_states
from kb import citations as cite
from kb import viewer
from kb.backends.local import LocalBackend
from kb.config import load_settings
from kb.errors import UsageError
from kb.models import Filters

MASS = "massachusetts-iecmh-resources-and-services.txt"
WORKFORCE = "iecmh-workforce-systems-and-supports-2020.md"


@pytest.fixture(scope="module")
def library(tmp_path_factory, embedder):
    """A copy of the shipped corpus (the Library edits its files), ingested once for this module."""
    from ingest.pipeline import ingest

    root = tmp_path_factory.mktemp("library")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = load_settings(kb_dir=root / "kb")
    report = ingest([corpus], settings, embedder=embedder)
    assert report.documents == 5 and not report.failed
    return settings, corpus


def _doc(settings, name):
    return next(d for d in LocalBackend(settings.kb_dir).documents() if d.name == name)


def _searcher(settings, embedder):
    from kb.search import Searcher

    return Searcher(LocalBackend(settings.kb_dir), embedder)


# ---- ingest/library.py -------------------------------------------------------------------------

def test_edit_metadata_saves_the_sidecar_and_applies_it_without_embedding(library, embedder):
    from ingest import library as lib

    settings, corpus = library
    doc = _doc(settings, MASS)
    generation = LocalBackend(settings.kb_dir).current_generation()
    report = lib.edit_metadata(settings, doc.path, {"year": "2019", "states": ["MA", "Rhode Island"],
                                                    "url": "https://www.mass.gov/dmh"}, embedder=embedder)
    assert not report.model_loaded and report.new_passages == 0 and not report.failed
    edited = _doc(settings, MASS)
    assert (edited.year, edited.states, edited.url) == (2019, ("MA", "RI"), "https://www.mass.gov/dmh")
    assert edited.id == doc.id and edited.title == doc.title  # same document, other fields kept
    assert LocalBackend(settings.kb_dir).current_generation() == generation + 1
    sidecar = json.loads((corpus / "metadata.json").read_text())
    assert sidecar[MASS]["year"] == 2019 and sidecar[MASS]["states"] == ["MA", "RI"]
    assert sidecar[MASS]["source"].endswith("003_197c9cb6e9e5286c.txt")  # keys it does not edit are kept
    assert set(sidecar) == {p.name for p in CORPUS.glob("*.txt")} | {WORKFORCE}

    # the citation of a passage from it changes at once; every passage now carries the states
    answer = _searcher(settings, embedder).ask("Massachusetts DMH resources and services", k=3,
                                               filters=Filters(documents=(edited.path,)))
    assert answer.hits and all("(2019)" in h.citation for h in answer.hits)
    assert all({"MA", "RI"} <= set(h.passage.states) for h in answer.hits)
    in_ri = _searcher(settings, embedder).ask("resources and services", k=50, filters=Filters(states=("RI",)))
    assert {h.document.name for h in in_ri.hits} >= {MASS}

    # an emptied field falls back to what the file says (no year in this text file)
    lib.edit_metadata(settings, doc.path, {"year": ""}, embedder=embedder)
    assert _doc(settings, MASS).year is None and _doc(settings, MASS).states == ("MA", "RI")
    assert "year" not in json.loads((corpus / "metadata.json").read_text())[MASS]


def test_edit_metadata_refuses_bad_values_and_read_only(library, embedder):
    from ingest import library as lib

    settings, corpus = library
    doc = _doc(settings, WORKFORCE)
    before = (corpus / "metadata.json").read_bytes()
    for values, message in [({"year": "20x1"}, "year must be a whole number"), ({"url": "javascript:alert(1)"},
                            "http"), ({"states": ["Atlantis"]}, "states"), ({"colour": "red"}, "Cannot edit")]:
        with pytest.raises(UsageError, match=message):
            lib.edit_metadata(settings, doc.path, values, embedder=embedder)
    with pytest.raises(UsageError, match="read-only"):
        lib.edit_metadata(settings.with_(read_only=True), doc.path, {"year": 2021}, embedder=embedder)
    assert (corpus / "metadata.json").read_bytes() == before
    assert _doc(settings, WORKFORCE).year == 2020


def test_reingest_one_document_embeds_it_again(library, embedder):
    from ingest import library as lib

    settings, _ = library
    doc = _doc(settings, WORKFORCE)
    counts = LocalBackend(settings.kb_dir).passage_counts()
    report = lib.reingest_document(settings, doc.path, embedder=embedder)
    again = _doc(settings, WORKFORCE)
    assert report.model_loaded and report.added == [WORKFORCE] and report.new_passages == counts[doc.id]
    assert again.id != doc.id and again.sha256 == doc.sha256 and again.year == 2020
    assert LocalBackend(settings.kb_dir).passage_counts()[again.id] == counts[doc.id]


def test_delete_document_removes_file_passages_sidecar_entry_and_served_original(library, embedder, tmp_path):
    from ingest import library as lib

    settings, corpus = library
    name = "iecmh-resources.txt"
    doc = _doc(settings, name)
    original = (corpus / name).read_bytes()
    assert sup.source_file(doc, paged=False).data == original
    still_held = sup.document_hashes_check(settings)  # what the server asks before serving a handed-out original
    assert still_held(doc.sha256)

    removal = lib.delete_document(settings, doc.path, corpus)
    assert removal.file_deleted and not (corpus / name).exists()
    assert name not in {d.name for d in LocalBackend(settings.kb_dir).documents()}
    assert name not in json.loads((corpus / "metadata.json").read_text())
    assert not still_held(doc.sha256)  # a session still holding its address gets 404
    with pytest.raises(sup.SourceUnavailable, match="no longer at"):
        sup.source_file(doc, paged=False)
    answer = _searcher(settings, embedder).ask("IECMH resources", k=50)
    assert all(h.document.name != name for h in answer.hits)
    with pytest.raises(UsageError, match="not in the knowledge base"):
        lib.delete_document(settings, doc.path, corpus)


def test_delete_keeps_files_outside_the_corpus_folder(tmp_path, embedder):
    from ingest import library as lib
    from ingest.pipeline import ingest

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "note.txt").write_text("Ocelot note\n\nThe ocelot programme funds home visiting in two counties.\n")
    settings = load_settings(kb_dir=tmp_path / "kb")
    ingest([elsewhere], settings, embedder=embedder)
    removal = lib.delete_document(settings, str(elsewhere / "note.txt"), tmp_path / "corpus")
    assert not removal.file_deleted and (elsewhere / "note.txt").exists() and "outside the corpus" in removal.message
    assert LocalBackend(settings.kb_dir).documents() == []


def test_remove_rejected_files(tmp_path, embedder):
    from ingest import library as lib
    from ingest.pipeline import ingest

    corpus, elsewhere = tmp_path / "corpus", tmp_path / "elsewhere"
    corpus.mkdir()
    elsewhere.mkdir()
    (corpus / "good.txt").write_text("Lynx guidance\n\nLynx guidance covers home visiting for families.\n")
    (corpus / "fake.pdf").write_bytes(b"not a pdf at all")
    (elsewhere / "empty.md").write_bytes(b"   \n")
    settings = load_settings(kb_dir=tmp_path / "kb")
    ingest([corpus, elsewhere], settings, embedder=embedder)
    backend = LocalBackend(settings.kb_dir)
    assert sorted(p["name"] for p in backend.problems()) == ["empty.md", "fake.pdf"]

    assert lib.remove_rejected(settings, str(corpus / "fake.pdf"), corpus).file_deleted
    assert not (corpus / "fake.pdf").exists()
    outside = lib.remove_rejected(settings, str(elsewhere / "empty.md"), corpus)
    assert not outside.file_deleted and (elsewhere / "empty.md").exists()
    assert backend.problems() == []
    report = ingest([corpus], settings, embedder=embedder)  # a re-scan does not report it again
    assert not report.failed and backend.problems() == []
    with pytest.raises(UsageError, match="read-only"):
        lib.remove_rejected(settings.with_(read_only=True), str(corpus / "good.txt"), corpus)
    assert (corpus / "good.txt").exists()


def test_uploads_stay_within_the_quota(tmp_path):
    from ingest import library as lib

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "old.txt").write_bytes(b"x" * 600_000)
    settings = load_settings(kb_dir=tmp_path / "kb").with_(upload_quota_mb=1)
    result = lib.save_uploads_within_quota(settings, corpus, [("a.txt", b"a" * 300_000), ("b.txt", b"b" * 300_000),
                                                              ("c.txt", b"c" * 100_000)])
    assert [s.path.name for s in result.saved] == ["a.txt", "c.txt"]
    assert len(result.rejected) == 1 and "b.txt" in str(result.rejected[0]) and "1 MB quota" in str(result.rejected[0])
    assert lib.folder_bytes(corpus) == 1_000_000 <= 1024 * 1024
    with pytest.raises(UsageError, match="read-only"):
        lib.save_uploads_within_quota(settings.with_(read_only=True), corpus, [("d.txt", b"d")])


# ---- kb/app_support.py: best answer, by state, collections, exports --------------------------------

@pytest.fixture(scope="module")
def corpus_searcher(tmp_path_factory, embedder):
    from ingest.pipeline import ingest

    settings = load_settings(kb_dir=tmp_path_factory.mktemp("corpus-kb") / "kb")
    ingest([CORPUS], settings, embedder=embedder)
    return _searcher(settings, embedder)


def test_best_answer_is_a_verbatim_highlighted_sentence(corpus_searcher):
    answer = corpus_searcher.ask("What is reflective supervision?", k=5)
    best = sup.best_answer(answer)
    assert best is not None and best.hit is answer.hits[best.rank - 1] and best.rank <= 3
    start, end = best.hit.highlights[0]  # its card highlights the same sentence
    assert best.sentence == " ".join(best.hit.passage.text[start:end].split())
    assert best.sentence.startswith("Reflective supervision is a framework")
    rendered = sup.best_answer_html(best, cite.format_citation(best.hit, "apa").html)
    assert "not generated" in rendered and html.unescape(re.sub(r"<[^>]+>", "", rendered)).count(best.sentence) == 1
    assert sup.best_answer(corpus_searcher.ask("How do I renew a passport?", k=5)) is None


def test_by_state_groups_the_answering_passages(corpus_searcher):
    answer = corpus_searcher.ask("How are states building the IECMH workforce?", k=10)
    groups = sup.by_state(answer.hits)
    labels = [g.label for g in groups]
    assert labels and all(re.fullmatch(r".+ \([A-Z]{2}\)", label) for label in labels if label != sup.NO_STATE)
    for group in groups:
        assert all((group.code in h.passage.states) if group.code else not h.passage.states
                   for h in group.hits + [h for h, _ in group.also])
    sizes = [len(g.hits) + len(g.also) for g in groups if g.label != sup.NO_STATE]
    assert sizes == sorted(sizes, reverse=True)
    shown = [id(h) for g in groups for h in g.hits]
    assert sorted(shown) == sorted(id(h) for h in answer.hits)  # every passage shown, and each exactly once
    many = [h for h in answer.hits if len(h.passage.states) >= 2]
    assert many, "the corpus has passages naming several states"
    for hit in many:  # listed as "also" under each of its other states
        assert sum(any(a is hit for a, _ in g.also) for g in groups) == len(hit.passage.states) - 1


def test_by_state_card_marks_the_state_and_shows_its_states_as_chips(corpus_searcher):
    answer = corpus_searcher.ask("How are states building the IECMH workforce?", k=10)
    hit = next(h for h in answer.hits if len(h.passage.states) >= 2 and
               us_states.mentions(h.passage.text, h.passage.states[-1]))
    code = hit.passage.states[-1]
    body = sup.card_html(hit, 1, state=code)
    chips = re.findall(r'<span class="kb-chip( kb-chip-current)?" title="([A-Z]{2})">', body)
    assert [c for _, c in chips][0] == code and chips[0][0] and {c for _, c in chips} == set(hit.passage.states)
    marked = re.findall(r'<b class="kb-state-mention">(.*?)</b>', body)
    assert marked and all(html.unescape(re.sub(r"<[^>]+>", "", m)) in (sup.us_states.name_of(code), code)
                          for m in marked)
    # the text is still the passage, marks and all
    passage = re.search(r'<div class="kb-passage">(.*?)</div>', body).group(1)
    assert html.unescape(re.sub(r"<[^>]+>", "", passage)) == hit.passage.text


def test_state_filter_keeps_only_passages_about_that_state(corpus_searcher):
    answer = corpus_searcher.ask("workforce development", k=10, filters=sup.build_filters(states=["Louisiana"]))
    assert answer.hits and all("LA" in h.passage.states for h in answer.hits)
    assert sup.build_filters(states=["LA", "Louisiana"]).states == ("LA",)
    assert sup.state_label("DC") == "District of Columbia (DC)"


def test_collection_exports_hold_every_collected_passage_by_question(corpus_searcher, tmp_path):
    import bibtexparser
    import rispy

    from kb import workbench as wb

    first = corpus_searcher.ask("What is DC:0-5?", k=5)
    second = corpus_searcher.ask("What is reflective supervision?", k=5)
    bench = wb.Workbench()
    wb.collect(bench, first, first.hits[0], True)
    wb.collect(bench, second, second.hits[1], True)
    wb.collect(bench, second, second.hits[2], True)
    wb.collect(bench, second, second.hits[2], False)
    sources = wb.sources(bench.items())
    assert [(a.question, len(a.hits)) for a in sources] == [(first.question, 1), (second.question, 1)]
    files = {e.extension: sup.export_text(sources, e, "apa") for e in sup.EXPORTS}
    assert first.question in files["md"] and second.question in files["md"]
    assert files["csv"].startswith("\ufeff") and files["csv"].count("\n") == 3
    docs = {first.hits[0].document.title, second.hits[1].document.title}
    assert {e.fields_dict["title"].value for e in bibtexparser.parse_string(files["bib"]).entries} == docs
    assert {r["title"] for r in rispy.loads(files["ris"])} == docs
    assert {item["title"] for item in json.loads(files["json"])} == docs
    # the same exports after a round trip through the saved file
    store = wb.WorkbenchStore(tmp_path)
    store.update(lambda b: b.collections.update(bench.collections))
    again = wb.sources(wb.WorkbenchStore(tmp_path).load().items())
    assert {e.extension: sup.export_text(again, e, "apa") for e in sup.EXPORTS} == files


def test_history_and_year_note():
    from kb import workbench as wb

    bench = wb.Workbench(recent=["b", "a"])
    assert wb.remember(bench, "a").recent == ["a", "b"]
    bench = wb.Workbench(recent=[str(i) for i in range(10)])
    assert wb.remember(bench, "new").recent[:2] == ["new", "0"] and len(bench.recent) == 10
    from kb.models import Document

    docs = [Document(i, f"/c/{i}.txt", f"{i}.txt", "0" * 64, 1, 0, "T", None, y, None, None) for i, y in
            enumerate([2020, None, None, None, None])]
    assert sup.year_note(docs) == "1 of 5 documents has a year (2020)."
    assert "No document has a year" in sup.year_note(docs[1:])
    twins = [Document(1, "/a/x.txt", "x.txt", "", 1, 0, "Same", None, None, None, None),
             Document(2, "/b/y.txt", "y.txt", "", 1, 0, "Same", None, None, None, None)]
    assert sup.document_titles(twins) == {"Same (x.txt)": ["/a/x.txt"], "Same (y.txt)": ["/b/y.txt"]}


def test_more_context_leaves_out_the_passage_itself(corpus_searcher):
    answer = corpus_searcher.ask("What is DC:0-5?", k=1)
    hit = answer.hits[0]
    around = corpus_searcher.neighbours(hit.passage.id)
    rendered = sup.context_html(around, hit)
    assert html.unescape(sup.escape_html(hit.passage.text)) not in html.unescape(rendered)
    assert rendered.count('class="kb-ctx"') == len(around) - 1


def test_citation_html_keeps_the_style_italics_and_nothing_else():
    hostile = 'Agency, <i>**Bold** [x](javascript:alert(1)) $y$</i> <script>alert(1)</script><img src=x> &amp; more'
    safe = sup.citation_html(hostile)
    assert safe.startswith("Agency&#44; <i>") and "</i>" in safe
    assert not re.search(r"<(?!/?i>)", safe) and "**" not in safe and "](" not in safe and "$" not in safe
    assert html.unescape(re.sub(r"</?i>", "", safe)) == "Agency, **Bold** [x](javascript:alert(1)) $y$ alert(1) & more"


def test_loopback_addresses():
    assert all(sup.is_loopback(a) for a in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(sup.is_loopback(a) for a in ("0.0.0.0", "", None, "192.168.1.5", "::", "example.org"))


def test_streamlit_config_binds_to_this_machine_only():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    # no static route (it served published sources to anyone, login or not); uploads capped at the app's limit
    assert config["server"]["enableStaticServing"] is False
    assert config["server"]["maxUploadSize"] == load_settings(kb_dir=ROOT / "unused").upload_limit_mb


# ---- kb/viewer.py --------------------------------------------------------------------------------

def test_text_view_marks_the_passage_and_escapes_everything(corpus_searcher):
    answer = corpus_searcher.ask("What is DC:0-5?", k=1)
    hit = answer.hits[0]
    passages = corpus_searcher.reader().document_passages(hit.document.id)
    rendered = viewer.text_view_html(passages, hit.passage.id, hit.highlights)
    assert rendered.count(f'id="{viewer.MARK_ID}"') == 1 and "<mark>" in rendered
    # data-passage: the scroll script finds this passage's mark, never a stale one left from the last view
    marked = re.search(rf'id="{viewer.MARK_ID}" data-passage="{hit.passage.id}">(.*?)</div>', rendered).group(1)
    assert html.unescape(re.sub(r"</?mark>", "", marked)) == hit.passage.text
    assert "<sup>" not in rendered and "](#" not in rendered  # no raw markup from the Markdown source
    hostile = [passages[0].__class__(1, 1, 0, None, "<b>x</b>", 0, 5, "<script>alert(1)</script> [a](javascript:x)")]
    evil = viewer.text_view_html(hostile, None)
    assert "<script" not in evil and "<b>" not in evil and "](" not in evil


def test_pdf_page_image_marks_the_passage_where_it_is(tmp_path):
    from PIL import Image
    import io

    body = ("The okapi consultation fund pays for infant and early childhood mental health consultation in child "
            "care through a braided Medicaid and Part C budget.")
    path = make_pdf(tmp_path / "okapi.pdf", [[("h", "Okapi Budget"), ("p", "General introduction to the budget.")],
                                            [("h", "Okapi Consultation"), ("p", "Page two opens here. " + body)]])
    image = viewer.pdf_page_image(str(path), 2, body, ["The okapi consultation fund pays for infant"])
    assert image.marked == image.runs > 0 and image.boxes
    picture = Image.open(io.BytesIO(image.png)).convert("RGB")
    assert picture.size == (image.width, image.height)
    x0, y0, x1, y1 = image.boxes[0]
    inside = picture.getpixel((int(x0 + 3), int((y0 + y1) / 2)))
    assert inside[2] < 200 <= inside[0]  # yellowish: marked
    assert picture.getpixel((5, 5)) == (255, 255, 255)  # the margin stays white
    assert all(y1 < image.height * 0.4 for _, _, _, y1 in image.boxes)  # on the top of page 2, where the text is
    missing = viewer.pdf_page_image(str(path), 1, body)  # not on page 1: nothing marked, and it says so
    assert missing.marked == 0 and missing.boxes == []
    with pytest.raises(ValueError, match="not in this 2-page PDF"):
        viewer.pdf_page_image(str(path), 3, body)


def test_a_passage_run_over_a_page_break_is_marked_on_both_pages():
    """The Federal Register sentence "… from Soekarno-" / "Hatta International Airport …" is
    one passage on pp. 47698–47699: the viewer shows both PDF pages, each marking its part."""
    from pypdf import PdfReader

    from ingest.formats.pdf_layout import lay_out_pages
    from ingest.split import split_pages

    path = GOV_PDFS / "federal_register_2020-17221.pdf"
    broken = next(p for p in split_pages(lay_out_pages(PdfReader(path))) if "Soekarno-" in p.text)
    assert viewer.passage_pages(broken) == [broken.page, broken.page + 1]
    first, second = (viewer.pdf_page_image(str(path), page, broken.text, ["Hatta International Airport in Jakarta"])
                     for page in viewer.passage_pages(broken))
    assert first.marked > second.marked > 0  # most of the passage on the first page, its last sentence's end on the next
    assert len(second.boxes) >= 2  # the run-over lines and the highlighted sentence's end
    one_page = replace(broken, end_page=None, end_page_label=None)
    assert viewer.passage_pages(one_page) == [broken.page]
    assert viewer.passage_pages(replace(broken, page=None)) == []


# ---- kb ask --filter state= ----------------------------------------------------------------------

def test_cli_state_filter(corpus_searcher):
    kb = corpus_searcher.backend.location
    out = json.loads(kb_cli("ask", "workforce development", "--kb", kb, "--json", "-k", "5",
                            "--filter", "state=Louisiana").stdout)
    assert out["passages"] and all("LA" in p["states"] for p in out["passages"])
    both = json.loads(kb_cli("ask", "workforce development", "--kb", kb, "--json", "-k", "20",
                             "--filter", "state=LA,AL").stdout)
    assert {s for p in both["passages"] for s in p["states"]} & {"LA", "AL"} and all(
        {"LA", "AL"} & set(p["states"]) for p in both["passages"])
    bad = kb_cli("ask", "x", "--kb", kb, "--filter", "state=Atlantis")
    assert bad.returncode == 2 and "not a US state" in bad.stderr


def test_card_text_meets_wcag_aa_contrast():
    """Every text colour of the cards reads at 4.5:1 or more on its background (white unless the
    rule sets one): rank numbers and context labels were #888 / #999 (3.5:1, 2.8:1)."""
    def luminance(colour: str) -> float:
        h = colour.lstrip("#")
        h = "".join(c * 2 for c in h) if len(h) == 3 else h
        channels = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    rules = re.findall(r"([^{}]+)\{([^}]*)\}", sup.CARD_CSS)
    checked = 0
    for selector, body in rules:
        text = re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{3,6})", body)
        if not text:
            continue
        background = re.search(r"background:\s*(#[0-9a-fA-F]{3,6})", body)
        lighter, darker = sorted([luminance(text.group(1)), luminance(background.group(1) if background else "#fff")],
                                 reverse=True)
        assert (lighter + 0.05) / (darker + 0.05) >= 4.5, (selector.strip(), text.group(1))
        checked += 1
    assert checked >= 5
