"""The contract every index backend keeps: one suite, run against each backend.

Vectors come from the model-free HashingEmbedder: these tests are about storage, search
plumbing, filters, generations and crash safety, not about the meaning of embeddings.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from kb.backends import Changes, DocumentUpdate, StaleSnapshot
from kb.embedders.hashing import HashingEmbedder
from kb.errors import Busy, EmptyKnowledgeBase
from kb.models import Document, Filters, Passage, TableRow
from kb.tokens import index_text

EMBEDDER = HashingEmbedder(dimension=32)
MODEL = EMBEDDER.identity


def _local(request, tmp_path):
    from kb.backends.local import LocalBackend

    return LocalBackend(tmp_path / "kb")


def _postgres(request, tmp_path):
    """A fresh database on the session's embedded PostgreSQL server (tests/conftest.py)."""
    from kb.backends.postgres import PostgresBackend

    return PostgresBackend(request.getfixturevalue("postgres_url"))


BACKEND_FACTORIES = {"local": _local, "postgres": _postgres}  # name -> factory(request, tmp_path)


@pytest.fixture(params=sorted(BACKEND_FACTORIES))
def backend(request, tmp_path):
    return BACKEND_FACTORIES[request.param](request, tmp_path)


def document(name: str, *, publisher=None, year=None, doc_type=None, states=(), url=None, title=None) -> Document:
    return Document(None, f"/docs/{name}", name, f"{abs(hash(name)):064d}"[:64], 100, 1, title or name.title(),
                    publisher, year, doc_type, 2, kind="text", url=url, states=tuple(states))


def passages(*texts: str, states=None, page_labels=None) -> list[Passage]:
    return [Passage(None, None, i, i + 1, "Section", 0, len(t), t, page_label=(page_labels or {}).get(i),
                    ocr=i == 1, states=tuple((states or {}).get(i, ())), end_page=i + 2 if i == 1 else None,
                    end_page_label="14" if i == 1 else None, footnote=i == 2) for i, t in enumerate(texts)]


def update(doc: Document, ps: list[Passage]) -> DocumentUpdate:
    vectors = EMBEDDER.encode_passages([index_text(p.text, p.section) for p in ps])
    return DocumentUpdate(doc, ps, vectors)


def commit(backend, changes: Changes) -> int:
    with backend.writer(wait=5) as writer:
        return writer.commit(changes, model=MODEL, dimension=EMBEDDER.dimension)


def seed(backend) -> None:
    commit(backend, Changes(updates=[
        update(document("alpha.txt", publisher="Agency A", year=2019, doc_type="brief", states=("MA",),
                        url="https://example.org/alpha"),
               passages("Home visiting programs serve infants and toddlers.",
                        "Reflective supervision supports the home visitors.",
                        "Medicaid reimburses dyadic therapy in some states.",
                        states={2: ("CA",)}, page_labels={0: "12", 1: "13"})),
        update(document("beta.txt", publisher="Agency B", year=2022, doc_type="report"),
               passages("Early intervention under IDEA Part C serves children from birth to three.",
                        "The DC:0-5 manual classifies early childhood disorders.")),
    ]))


def ids_of(ranked) -> list[int]:
    return [pid for pid, _ in ranked]


def test_an_empty_backend_says_so(backend):
    assert not backend.exists() or backend.current_generation() == 0
    assert backend.recorded_model() is None  # `auto` picks the runtime of a new knowledge base
    with pytest.raises(EmptyKnowledgeBase):
        backend.reader()


def test_added_passages_come_back_whole(backend):
    seed(backend)
    reader = backend.reader()
    assert reader.generation.passages == 5 and reader.generation.model == MODEL == backend.recorded_model()
    assert reader.generation.dimension == EMBEDDER.dimension
    top = reader.keyword("reflective supervision", 5, Filters())
    found, docs = reader.fetch(ids_of(top))
    p = found[top[0][0]]
    assert p.text == "Reflective supervision supports the home visitors."
    assert (p.page, p.page_label, p.ocr, p.section, p.ordinal) == (2, "13", True, "Section", 1)
    assert (p.end_page, p.end_page_label, p.footnote) == (3, "14", False)
    in_order = reader.document_passages(p.document_id)
    assert [q.footnote for q in in_order] == [False, False, True]
    assert reader.footnotes([q.id for q in in_order] + [10**9]) == {in_order[2].id}
    assert p.states == ("MA",)  # from its document
    d = docs[p.document_id]
    assert (d.name, d.publisher, d.year, d.doc_type, d.url, d.states) == (
        "alpha.txt", "Agency A", 2019, "brief", "https://example.org/alpha", ("MA",))
    medicaid = reader.keyword("medicaid dyadic", 1, Filters())[0][0]
    assert reader.fetch([medicaid])[0][medicaid].states == ("CA", "MA")  # named + document's


def test_a_table_rows_caption_headers_and_cells_come_back(backend):
    row = TableRow("Table 1. Checks by state", ("State", "Permit", "Handgun"), ("Kentucky", "264,140", "12,155"),
                   group="South")
    p = Passage(None, None, 0, 1, None, 0, 23, "Kentucky 264,140 12,155", context="Kentucky — Permit: 264,140",
                table=row)
    commit(backend, Changes(updates=[update(document("nics.pdf"), [p])]))
    reader = backend.reader()
    pid = reader.keyword("kentucky permit", 1, Filters())[0][0]
    got = reader.fetch([pid])[0][pid]
    assert got.table == row and got.table.label == "Table 1"
    assert reader.document_passages(got.document_id)[0].table == row


def test_dense_and_keyword_search_and_both_scores(backend):
    seed(backend)
    reader = backend.reader()
    question = "Which manual classifies early childhood disorders?"
    qvec = EMBEDDER.encode_query(question)
    dense = reader.dense(qvec, 3, Filters())
    keyword = reader.keyword(question, 3, Filters())
    assert len(dense) == 3 and all(a[1] >= b[1] for a, b in zip(dense, dense[1:]))
    assert keyword and all(score > 0 for _, score in keyword)
    ids = list(dict.fromkeys(ids_of(dense) + ids_of(keyword)))
    cosine, bm25 = reader.scores(ids, qvec, question)
    assert cosine.shape == bm25.shape == (len(ids),)
    by_id = dict(dense)
    for pid, c in zip(ids, cosine):
        if pid in by_id:
            assert c == pytest.approx(by_id[pid], abs=1e-5)
    kw = dict(keyword)
    for pid, b in zip(ids, bm25):
        assert b == pytest.approx(kw.get(pid, b), rel=1e-5)
    with reader.session():  # fusion's one call: the same numbers, and the footnotes
        f_cosine, f_bm25, notes = reader.fusion_inputs(ids, qvec, question)
    assert f_cosine == pytest.approx(cosine, abs=1e-6) and f_bm25 == pytest.approx(bm25, rel=1e-6)
    assert notes == reader.footnotes(ids)
    assert bm25[ids.index(keyword[0][0])] == max(bm25)
    fresh = backend.reader()  # has run neither search: reads every score itself, the same numbers
    with fresh.session():
        again = fresh.fusion_inputs(ids, qvec, question)
    assert again[0] == pytest.approx(f_cosine, abs=1e-6) and again[1] == pytest.approx(f_bm25, rel=1e-6)
    assert again[2] == notes


def test_codes_are_kept_whole_by_the_keyword_index(backend):
    seed(backend)
    top = backend.reader().keyword("DC:0-5", 1, Filters())
    passage = backend.reader().fetch(ids_of(top))[0][top[0][0]]
    assert "DC:0-5" in passage.text


def test_keyword_statistics(backend):
    seed(backend)
    stats = backend.reader().keyword_stats("home visiting passport")
    assert stats.passages == 5
    assert stats.df["passport"] == 0 and stats.absent() == ["passport"]
    assert stats.df["home"] == 2 and stats.idf()["passport"] > stats.idf()["home"]


@pytest.mark.parametrize("filters, names", [
    (Filters(documents=("beta.txt",)), {"beta.txt"}),
    (Filters(documents=("/docs/alpha.txt",)), {"alpha.txt"}),
    (Filters(doc_types=("REPORT",)), {"beta.txt"}),
    (Filters(publishers=("agency a",)), {"alpha.txt"}),
    (Filters(year_min=2020), {"beta.txt"}),
    (Filters(year_max=2020), {"alpha.txt"}),
    (Filters(states=("ca",)), {"alpha.txt"}),
])
def test_filters_apply_inside_both_searches(backend, filters, names):
    seed(backend)
    reader = backend.reader()
    qvec = EMBEDDER.encode_query("children infants programs")
    for ranked in (reader.dense(qvec, 10, filters), reader.keyword("children infants programs services", 10, filters)):
        docs = reader.fetch(ids_of(ranked))[1]
        assert {d.name for d in docs.values()} <= names
    assert reader.dense(qvec, 10, filters)


def test_state_filter_takes_only_the_passages_that_name_it(backend):
    seed(backend)
    reader = backend.reader()
    ranked = reader.dense(EMBEDDER.encode_query("anything"), 10, Filters(states=("CA",)))
    assert [p.text for p in reader.fetch(ids_of(ranked))[0].values()] == [
        "Medicaid reimburses dyadic therapy in some states."]


@pytest.mark.parametrize("filters", [
    Filters(documents=("nope.txt",)), Filters(year_min=2030), Filters(states=("WY",)),
    Filters(publishers=("Agency A",), year_min=2022),
])
def test_a_filter_that_matches_nothing_returns_nothing(backend, filters):
    seed(backend)
    reader = backend.reader()
    assert reader.dense(EMBEDDER.encode_query("home visiting"), 5, filters) == []
    assert reader.keyword("home visiting", 5, filters) == []


def test_replace_and_remove(backend):
    seed(backend)
    old_ids = set(ids_of(backend.reader().keyword("reflective supervision", 10, Filters())))
    commit(backend, Changes(updates=[update(document("alpha.txt", publisher="Agency A", year=2020),
                                            passages("Okapi grants fund rural toddler programs."))]))
    reader = backend.reader()
    assert reader.generation.passages == 3
    assert not set(reader.fetch(list(old_ids))[0])  # the replaced passages are gone
    assert reader.keyword("reflective supervision", 5, Filters()) == []
    assert reader.keyword("okapi", 1, Filters())
    commit(backend, Changes(removed_paths=["/docs/beta.txt"]))
    reader = backend.reader()
    assert reader.generation.passages == 1
    assert [d.name for d in backend.documents()] == ["alpha.txt"]
    assert reader.keyword("DC:0-5", 5, Filters()) == []


def test_metadata_changes_keep_the_vectors(backend):
    seed(backend)
    reader = backend.reader()
    qvec = EMBEDDER.encode_query("home visiting")
    before = reader.dense(qvec, 5, Filters())
    doc = next(d for d in backend.documents() if d.name == "alpha.txt")
    from dataclasses import replace
    commit(backend, Changes(metadata=[replace(doc, title="New Title", year=2001, states=("RI",), url=None)]))
    after_reader = backend.reader()
    assert after_reader.generation.number == reader.generation.number + 1
    after = after_reader.dense(qvec, 5, Filters())
    assert ids_of(after) == ids_of(before) and [s for _, s in after] == pytest.approx([s for _, s in before])
    edited = next(d for d in backend.documents() if d.name == "alpha.txt")
    assert (edited.title, edited.year, edited.states, edited.url) == ("New Title", 2001, ("RI",), None)
    assert after_reader.dense(qvec, 5, Filters(states=("MA",))) == []  # the document no longer says MA
    medicaid = after_reader.keyword("medicaid dyadic", 1, Filters())[0][0]
    assert after_reader.fetch([medicaid])[0][medicaid].states == ("CA", "RI")  # what it names stays


def test_a_reader_keeps_its_generation_and_learns_it_is_stale(backend):
    seed(backend)
    old = backend.reader()
    commit(backend, Changes(updates=[update(document("gamma.txt"), passages("Gamma text about okapis."))]))
    assert old.generation.passages == 5
    with pytest.raises(StaleSnapshot):
        old.fetch(ids_of(old.keyword("home visiting", 2, Filters())))
    new = backend.reader()
    assert new.generation.number > old.generation.number and new.generation.passages == 6
    assert backend.current_generation() == new.generation.number


def test_a_session_reads_one_generation_or_refuses(backend):
    """A question's calls run in one session: a commit landing meanwhile is either invisible
    to all of them (a snapshot) or refused (StaleSnapshot); never half seen."""
    seed(backend)
    reader = backend.reader()
    with reader.session():
        ids = ids_of(reader.keyword("home visiting", 2, Filters()))
        commit(backend, Changes(updates=[update(document("gamma.txt"), passages("Gamma text about okapis.")),
                                         ], removed_paths=["/docs/alpha.txt"]))
        assert ids and reader.keyword("okapis", 5, Filters()) == []
        try:
            found, docs = reader.fetch(ids)
        except StaleSnapshot:
            pass  # a reader without snapshots refuses instead
        else:
            assert set(found) == set(ids) and {d.name for d in docs.values()} >= {"alpha.txt"}
    with pytest.raises(StaleSnapshot):  # the next question learns the reader is out of date
        with reader.session():
            pass
    with backend.reader().session():
        pass


def test_a_failed_commit_changes_nothing(backend):
    seed(backend)
    before = backend.reader()
    bad = DocumentUpdate(document("bad.txt"), passages("One passage.", "Two passages."),
                         EMBEDDER.encode_passages(["only one vector"]))
    with pytest.raises(Exception):
        commit(backend, Changes(updates=[bad], removed_paths=["/docs/beta.txt"]))
    after = backend.reader()
    assert after.generation == before.generation
    assert {d.name for d in backend.documents()} == {"alpha.txt", "beta.txt"}
    assert after.keyword("DC:0-5", 1, Filters())


def test_neighbours_and_document_passages_keep_reading_order(backend):
    seed(backend)
    reader = backend.reader()
    middle = reader.keyword("reflective supervision", 1, Filters())[0][0]
    around = reader.neighbours(middle, 1, 1)
    assert [p.ordinal for p in around] == [0, 1, 2]
    doc_id = around[0].document_id
    assert [p.ordinal for p in reader.document_passages(doc_id)] == [0, 1, 2]


def test_one_writer_at_a_time(backend):
    seed(backend)
    inside, release = threading.Event(), threading.Event()

    def hold():
        with backend.writer(wait=5):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert inside.wait(10)
        with pytest.raises(Busy):
            with backend.writer(wait=0.2):
                pass
    finally:
        release.set()
        t.join()
    with backend.writer(wait=5):
        pass


def test_problems_are_recorded_and_cleared(backend):
    seed(backend)
    commit(backend, Changes(problems={"/docs/broken.pdf": "corrupt or unreadable PDF"}))
    assert [(p["name"], p["reason"]) for p in backend.problems()] == [("broken.pdf", "corrupt or unreadable PDF")]
    commit(backend, Changes(cleared_problems=["/docs/broken.pdf"]))
    assert backend.problems() == []


def test_facets_and_status(backend):
    seed(backend)
    facets = backend.facets()
    assert facets["documents"] == ["alpha.txt", "beta.txt"]
    assert facets["publishers"] == ["Agency A", "Agency B"] and facets["years"] == [2019, 2022]
    assert facets["states"] == ["CA", "MA"] and facets["doc_types"] == ["brief", "report"]
    status = backend.status()
    assert (status.documents, status.passages, status.model, status.dimension) == (2, 5, MODEL, EMBEDDER.dimension)
    assert status.generation == backend.current_generation() and status.schema >= 1
    counts = backend.passage_counts()
    assert sorted(counts.values()) == [2, 3]


def test_repairs_reembed_only_what_lacks_a_vector(backend):
    seed(backend)
    with backend.writer(wait=5) as writer:
        writer.check(rebuild=True)
        assert writer.damaged
        todo = writer.passages_without_vectors(set())
        assert len(todo) == 5
        vectors = EMBEDDER.encode_passages([t for _, t in todo])
        writer.commit(Changes(repaired_vectors={pid: v for (pid, _), v in zip(todo, vectors)}), model=MODEL,
                      dimension=EMBEDDER.dimension)
    reader = backend.reader()
    assert reader.generation.passages == 5
    text = "Early intervention under IDEA Part C serves children from birth to three."
    best = reader.dense(EMBEDDER.encode_query(index_text(text, "Section")), 1, Filters())[0]
    assert reader.fetch([best[0]])[0][best[0]].text == text
    assert np.isclose(best[1], 1.0, atol=1e-5)  # the same vector as before the rebuild


# ---- growing one document at a time ------------------------------------------------------------

def another(backend, request, tmp_path):
    """A second, empty backend of the same kind."""
    if backend.__class__.__name__ == "LocalBackend":
        return _local(request, tmp_path / "other")
    server = request.getfixturevalue("postgres_server")
    url = server.create_database("other")
    request.addfinalizer(lambda: server.drop_database(url))
    from kb.backends.postgres import PostgresBackend

    return PostgresBackend(url)


LIBRARY = {  # name -> passages
    "alpha.txt": ("Home visiting programs serve infants and toddlers.", "Reflective supervision supports the home "
                  "visitors and their supervision of home visits.", "Medicaid reimburses dyadic therapy."),
    "beta.txt": ("Early intervention under IDEA Part C serves children from birth to three.",
                 "The DC:0-5 manual classifies early childhood disorders."),
    "gamma.txt": ("Medicaid and CHIP fund home visiting in some states.", "Infants and toddlers in child care."),
    "delta.txt": ("Reflective supervision for early intervention providers.", "Part C eligibility by state.",
                  "Home home home visiting visiting models."),
    "epsilon.txt": ("Infant and early childhood mental health consultation in child care.",),
}
QUESTIONS = ["home visiting", "reflective supervision", "Medicaid dyadic therapy", "early intervention Part C",
             "infants toddlers child care", "DC:0-5", "home home supervision", "mental health consultation"]


def library_update(name: str) -> DocumentUpdate:
    return update(document(name), passages(*LIBRARY[name]))


def keyword_answers(backend) -> dict[str, list[tuple[str, float]]]:
    """Each question's keyword ranking as (passage text, score): ids differ between builds."""
    reader = backend.reader()
    out = {}
    for q in QUESTIONS:
        ranked = reader.keyword(q, 20, Filters())
        texts = reader.fetch(ids_of(ranked))[0]
        out[q] = [(texts[pid].text, score) for pid, score in ranked]
    return out


def assert_same_ranking(grown, rebuilt):
    for q in QUESTIONS:
        assert [t for t, _ in grown[q]] == [t for t, _ in rebuilt[q]], q
        assert [s for _, s in grown[q]] == pytest.approx([s for _, s in rebuilt[q]], rel=1e-5), q


def test_adding_and_removing_one_document_ranks_as_a_rebuild(backend, request, tmp_path):
    """A library grown and shrunk one document at a time answers keyword questions as one
    built from its documents at once: the same passages in the same order, the same scores,
    the same statistics (here after a removal of 2 passages of 11, and after more)."""
    commit(backend, Changes(updates=[library_update(n) for n in ("alpha.txt", "beta.txt", "gamma.txt", "delta.txt")]))
    commit(backend, Changes(updates=[library_update("epsilon.txt")]))
    commit(backend, Changes(removed_paths=["/docs/beta.txt"]))
    rebuilt = another(backend, request, tmp_path)
    commit(rebuilt, Changes(updates=[library_update(n) for n in ("alpha.txt", "gamma.txt", "delta.txt",
                                                                 "epsilon.txt")]))
    grown, whole = keyword_answers(backend), keyword_answers(rebuilt)
    assert grown["home visiting"] and not grown["DC:0-5"]  # beta's passages are gone, not just outranked
    assert_same_ranking(grown, whole)
    stats = backend.reader().keyword_stats("home visiting dyadic")
    assert (stats.passages, stats.df) == (9, {"home": 4, "visit": 4, "dyadic": 1})
    assert stats == rebuilt.reader().keyword_stats("home visiting dyadic")
    commit(backend, Changes(updates=[library_update("beta.txt")], removed_paths=["/docs/alpha.txt"]))
    commit(rebuilt, Changes(updates=[library_update("beta.txt")], removed_paths=["/docs/alpha.txt"]))
    assert_same_ranking(keyword_answers(backend), keyword_answers(rebuilt))


def test_readers_during_a_commit_see_one_generation(backend):
    """Readers opened and searching while a commit runs answer as the old generation or as the
    new one, never a mix (the new document without the removed one's removal)."""
    commit(backend, Changes(updates=[library_update("alpha.txt"), library_update("beta.txt")]))
    old = keyword_answers(backend)
    done, seen, errors = threading.Event(), [], []

    def read_until_done():
        while not done.is_set():
            try:
                seen.append(keyword_answers(backend))
            except StaleSnapshot:
                pass  # the commit landed between opening and fetching: a reader asks again
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=read_until_done) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        commit(backend, Changes(updates=[library_update("gamma.txt"), library_update("delta.txt")],
                                removed_paths=["/docs/alpha.txt"]))
        seen_after_commit = len(seen)
        while len(seen) < seen_after_commit + 2 and not errors:
            threading.Event().wait(0.01)
    finally:
        done.set()
        for t in threads:
            t.join()
    new = keyword_answers(backend)
    assert not errors, errors
    assert seen and all(answers in (old, new) for answers in seen)
    assert seen[-1] == new and old != new


CRASH_POINTS = {  # backend class -> (module, class, method): the process dies right after it
    "LocalBackend": ("kb.backends.local.backend", "LocalWriter", "_write_keywords"),
    "PostgresBackend": ("kb.backends.postgres.backend", "PostgresWriter", "_insert_passages"),
}


def crash_during_commit(kind: str, location: str) -> None:
    """Run in a child process: a commit that dies (os._exit, no cleanup) after writing the new
    generation's keyword index or postings and before the commit that names it."""
    import importlib
    import os

    from kb.backends.local import LocalBackend
    from kb.backends.postgres import PostgresBackend

    module, cls, method = CRASH_POINTS[kind]
    owner = getattr(importlib.import_module(module), cls)
    inner = getattr(owner, method)

    def then_die(self, *args, **kwargs):
        inner(self, *args, **kwargs)
        os._exit(17)

    setattr(owner, method, then_die)
    backend = LocalBackend(location) if kind == "LocalBackend" else PostgresBackend(location)
    commit(backend, Changes(updates=[library_update("gamma.txt")], removed_paths=["/docs/alpha.txt"]))


def test_a_crash_in_the_middle_of_a_commit_keeps_the_last_generation(backend):
    import subprocess
    import sys
    from pathlib import Path

    commit(backend, Changes(updates=[library_update("alpha.txt"), library_update("beta.txt")]))
    before, generation = keyword_answers(backend), backend.current_generation()
    tests = Path(__file__).resolve().parent
    child = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path[:0] = sys.argv[1:3]; import test_backend_contract as t; "
                               "t.crash_during_commit(sys.argv[3], sys.argv[4])",
         str(tests), str(tests.parent), type(backend).__name__, getattr(backend, "url", backend.location)],
        capture_output=True, text=True, timeout=120)
    assert child.returncode == 17, child.stderr
    assert backend.current_generation() == generation
    assert keyword_answers(backend) == before
    assert {d.name for d in backend.documents()} == {"alpha.txt", "beta.txt"}
    commit(backend, Changes(updates=[library_update("gamma.txt")], removed_paths=["/docs/alpha.txt"]))
    assert backend.reader().generation.passages == 4
    assert keyword_answers(backend)["infants toddlers child care"][0][0] == "Infants and toddlers in child care."
