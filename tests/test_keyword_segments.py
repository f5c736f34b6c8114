"""The local backend's keyword index in segments: BM25 as bm25s scores it, a library grown and
shrunk one document at a time scoring exactly as one built at once, a commit that writes only
the new document's postings, and an earlier version's bm25s index still answering until the
next commit converts it."""
from __future__ import annotations

import random
import shutil

import numpy as np
import pytest
from conftest import CORPUS
from test_backend_contract import EMBEDDER, MODEL, commit, document, keyword_answers, library_update, passages, update

from kb.backends import Changes
from kb.backends.local import LocalBackend
from kb.backends.local import backend as local_backend
from kb.backends.local import database as db
from kb.backends.local import keywords as kw
from kb.models import Filters
from kb.tokens import tokenize

QUESTIONS = ["What is reflective supervision?", "Medicaid financing financing of IECMH consultation",
             "DC:0-5 crosswalk", "U.S. states home visiting", "infant mental health workforce", "zebra"]


def corpus_texts() -> list[str]:
    return [p.strip() for f in sorted(CORPUS.glob("*.txt")) for p in f.read_text(encoding="utf-8").split("\n\n")
            if p.strip()]


def build(root, generation, previous, texts_by_id: dict[int, str]):
    root.mkdir(exist_ok=True)
    ids = np.array(sorted(texts_by_id), dtype=np.int64)
    folder = kw.write_generation(root, generation, previous, ids, lambda want: [(int(i), texts_by_id[int(i)])
                                                                                 for i in want])
    return kw.KeywordIndex.load(folder, mmap=True)


def by_id(index, question: str) -> dict[int, float]:
    scores = index.scores(question)
    return {int(i): float(s) for i, s in zip(index.ids, scores) if s > 0}


def test_segment_scores_equal_bm25s(tmp_path):
    import bm25s

    texts = corpus_texts()
    index = build(tmp_path, 1, None, dict(enumerate(texts, start=100)))
    reference = bm25s.BM25(k1=kw.K1, b=kw.B, method="lucene")
    reference.index([tokenize(t) for t in texts], show_progress=False)
    for question in QUESTIONS:
        ours = index.scores(question)
        theirs = reference.get_scores(tokenize(question))
        assert np.allclose(ours, theirs, rtol=1e-5, atol=1e-6), question
        top = np.argsort(-theirs, kind="stable")[:10]
        assert np.allclose(ours[top], theirs[top], rtol=1e-5)
    home = tokenize("home visiting")
    assert index.document_frequencies(set(home)) == {
        t: sum(t in set(tokenize(x)) for x in texts) for t in home}


def test_growing_and_shrinking_by_documents_scores_as_a_rebuild(tmp_path):
    """Eighty single-document commits (so small segments merge), then every second passage
    removed (so each segment is rewritten without them): the same scores, bit for bit, as one
    segment built from the passages left."""
    texts = corpus_texts()
    rng = random.Random(4)
    live = {i: texts[i % len(texts)] for i in range(1, 61)}
    index = build(tmp_path, 1, None, live)
    next_id, generation, tombstones = 61, 1, 0
    for step in range(80):
        generation += 1
        for _ in range(rng.randint(1, 4)):
            live[next_id] = rng.choice(texts)
            next_id += 1
        if step % 7 == 3:
            for gone in rng.sample(sorted(live), 2):
                del live[gone]
        index = build(tmp_path, generation, index, live)
        assert len(index) == len(live) and np.array_equal(index.live_ids(), sorted(live))
        tombstones = max(tombstones, len(index.deleted))
        if step % 10 == 9:
            whole = build(tmp_path / f"whole-{step}", 1, None, live)
            assert all(by_id(index, q) == by_id(whole, q) for q in QUESTIONS), step
    assert len(index.segments) < 2 * kw.FANOUT  # merged as they piled up
    assert tombstones  # some removals stayed tombstones for a while
    for gone in sorted(live)[::2]:
        del live[gone]
    index = build(tmp_path, generation + 1, index, live)
    assert not len(index.deleted)  # every segment rewritten without its removed rows
    whole = build(tmp_path / "whole", 1, None, live)
    for question in QUESTIONS:
        grown, rebuilt = by_id(index, question), by_id(whole, question)
        assert grown == rebuilt, question
    assert index.document_frequencies({"supervision", "medicaid"}) == whole.document_frequencies(
        {"supervision", "medicaid"})


def segment_files(root) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in (root / kw.SEGMENTS).rglob("*") if p.is_file()}


def test_adding_a_document_writes_only_its_own_postings(tmp_path):
    backend = LocalBackend(tmp_path / "kb")
    commit(backend, Changes(updates=[library_update(n) for n in ("alpha.txt", "beta.txt", "gamma.txt", "delta.txt")]))
    before = segment_files(backend.root)
    commit(backend, Changes(updates=[library_update("epsilon.txt")]))
    after = segment_files(backend.root)
    assert {name: after[name] for name in before} == before  # untouched: same files, never rewritten
    added = sorted(set(after) - set(before))
    new_segment = backend.root / kw.SEGMENTS / added[0].split("/")[1]
    assert {p.split("/")[1] for p in added} == {new_segment.name}
    reader = backend.reader()
    epsilon = next(d.id for d in backend.documents() if d.name == "epsilon.txt")
    assert np.load(new_segment / "ids.npy").tolist() == [p.id for p in reader.document_passages(epsilon)]
    beta = [p.id for p in reader.document_passages(next(d.id for d in backend.documents() if d.name == "beta.txt"))]
    commit(backend, Changes(removed_paths=["/docs/beta.txt"]))
    assert segment_files(backend.root) == after  # a removal writes a tombstone only
    assert np.load(backend.keywords_path(backend.current_generation()) / "deleted.npy").tolist() == beta
    assert backend.reader().keyword("DC:0-5", 5, Filters()) == []


def test_an_earlier_versions_bm25s_index_answers_and_is_rebuilt_once(tmp_path, monkeypatch):
    backend = LocalBackend(tmp_path / "kb")
    commit(backend, Changes(updates=[library_update(n) for n in ("alpha.txt", "beta.txt", "gamma.txt")]))
    expected = keyword_answers(backend)
    generation = backend.current_generation()
    folder = backend.keywords_path(generation)  # as an earlier version left it: bm25s files only
    shutil.rmtree(folder)
    shutil.rmtree(backend.root / kw.SEGMENTS)
    with backend.read() as conn:
        rows = db.passage_texts(conn)
    kw.build_legacy(folder, [r[0] for r in rows], [r[1] for r in rows])
    reader = backend.reader()
    assert isinstance(reader.keywords, kw.LegacyKeywordIndex)
    legacy = keyword_answers(backend)
    for q in expected:
        assert [t for t, _ in legacy[q]] == [t for t, _ in expected[q]]
        assert [s for _, s in legacy[q]] == pytest.approx([s for _, s in expected[q]], rel=1e-5)
    monkeypatch.setattr(local_backend, "ANNOUNCE_KEYWORD_BUILD", 1)
    told = []
    with backend.writer(wait=5, on_wait=told.append) as writer:
        writer.commit(Changes(updates=[update(document("delta.txt"), passages("Okapi grants fund toddlers."))]),
                      model=MODEL, dimension=EMBEDDER.dimension)
    assert len(told) == 1 and "incremental" in told[0]
    reader = backend.reader()
    assert isinstance(reader.keywords, kw.KeywordIndex) and reader.keyword("okapi", 1, Filters())
    told.clear()
    with backend.writer(wait=5, on_wait=told.append) as writer:  # converted: the next commit adds a segment
        writer.commit(Changes(removed_paths=["/docs/delta.txt"]), model=MODEL, dimension=EMBEDDER.dimension)
    assert told == []
    assert keyword_answers(backend) == expected


def test_a_questions_document_frequencies_reuse_the_postings_its_scores_read(tmp_path, monkeypatch):
    texts = corpus_texts()
    half = len(texts) // 2
    index = build(tmp_path, 1, None, dict(enumerate(texts[:half], start=100)))
    index = build(tmp_path, 2, index, {**dict(enumerate(texts[:half], start=100)),
                                       **dict(enumerate(texts[half:], start=1000))})  # two segments
    fresh = kw.KeywordIndex.load(tmp_path / "keywords-000002", mmap=True)
    question = "home visiting infant mental health zebra"
    terms = set(tokenize(question))
    expected = fresh.document_frequencies(terms)  # counted from the postings, nothing remembered
    reads = []
    postings = kw.Segment.postings
    monkeypatch.setattr(kw.Segment, "postings", lambda self, term: reads.append(term) or postings(self, term))
    index.scores(question)
    assert reads  # the scores read each term's postings once per segment
    reads.clear()
    assert index.document_frequencies(terms) == expected
    assert reads == []  # ... and the question's statistics read none again
    assert index.document_frequencies({"supervision"}) == {"supervision": sum(
        "supervision" in set(tokenize(t)) for t in texts)}  # a term the scores did not read is counted
    assert reads
