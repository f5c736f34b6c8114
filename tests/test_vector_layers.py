"""The local backend's vectors in layers: a commit that adds or removes a document writes a
small delta and tombstones beside the generation's base file, never the base itself, and
answers as a library built at once (flat: the same top 10 with the same scores)."""
from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from test_backend_contract import EMBEDDER, MODEL, commit, document, passages, update

from kb.backends import Changes
from kb.backends.local import LocalBackend
from kb.backends.local import backend as local_backend
from kb.backends.local import vectors as vec
from kb.models import Filters
from kb.tokens import index_text

TOPICS = ["home visiting", "reflective supervision", "Medicaid financing", "early intervention", "child care",
          "mental health consultation", "workforce pay", "screening tools", "family engagement", "state policy"]


def doc_update(i: int):
    texts = [f"Report {i} passage {j}: {TOPICS[(i + j) % len(TOPICS)]} and {TOPICS[(i * j) % len(TOPICS)]} "
             f"in program {i * 31 + j}." for j in range(10)]
    return update(document(f"report-{i:03d}.txt", publisher=f"Agency {i % 3}", year=2010 + i % 10),
                  passages(*texts))


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dense_answers(backend, filters: Filters) -> dict[int, list[tuple[str, float]]]:
    """Each query's dense top 10 as (passage text, score): ids differ between builds. Random
    queries: the hashing embedder scores many of these passages alike for a worded one."""
    queries = np.random.default_rng(5).standard_normal((40, EMBEDDER.dimension)).astype(np.float32)
    reader = backend.reader()
    out = {}
    for n, q in enumerate(queries / np.linalg.norm(queries, axis=1, keepdims=True)):
        ranked = reader.dense(q, 10, filters)
        texts = reader.fetch([pid for pid, _ in ranked])[0]
        out[n] = [(texts[pid].text, score) for pid, score in ranked]
    return out


@pytest.fixture(params=["flat", "hnsw"])
def grown(request, tmp_path):
    """A library of 30 documents (300 passages) in one commit, then a few single-document commits."""
    backend = LocalBackend(tmp_path / "kb", index=request.param)
    commit(backend, Changes(updates=[doc_update(i) for i in range(30)]))
    return backend


def test_adding_one_document_leaves_the_base_vector_file_untouched(grown):
    base = grown.vectors_path(1)
    before, inode = sha(base), base.stat().st_ino
    commit(grown, Changes(updates=[doc_update(100)]))
    assert not grown.vectors_path(2).exists() and vec.base_generation(grown.vectors_path(2)) == 1
    assert sha(base) == before and base.stat().st_ino == inode
    reader = grown.reader()
    assert reader.vectors.ntotal == 310
    text = doc_update(100).passages[3].text
    best = reader.dense(EMBEDDER.encode_query(index_text(text, "Section")), 1, Filters())[0]
    assert reader.fetch([best[0]])[0][best[0]].text == text
    commit(grown, Changes(updates=[doc_update(101)]))
    commit(grown, Changes(updates=[doc_update(102)]))
    assert sha(base) == before and vec.base_generation(grown.vectors_path(4)) == 1
    assert grown.reader().vectors.ntotal == 330


def test_a_removal_hides_the_passage_without_rebuilding(grown):
    base = grown.vectors_path(1)
    before = sha(base)
    removed = doc_update(7)
    commit(grown, Changes(removed_paths=[removed.document.path]))
    assert not grown.vectors_path(2).exists() and sha(base) == before
    reader = grown.reader()
    assert reader.vectors.ntotal == 290
    everyone = Filters(year_min=2000)  # a filter that allows every passage left: the filtered path
    for text in [p.text for p in removed.passages]:
        query = EMBEDDER.encode_query(index_text(text, "Section"))
        for filters in (Filters(), everyone, Filters(publishers=("Agency 1",))):
            found = reader.fetch([pid for pid, _ in reader.dense(query, 10, filters)])[0]
            assert text not in {p.text for p in found.values()}
    # The file says it is gone even where the database would not be asked: the tombstone itself.
    assert len(reader.vectors.deleted) == 10
    assert set(reader.vectors.deleted) <= set(vec.ids_of(reader.vectors.base).tolist())
    assert not set(reader.vectors.deleted) & set(vec.search(reader.vectors, query, 300)[1].tolist())


def test_growing_and_shrinking_in_layers_ranks_as_a_rebuild(grown, tmp_path):
    commit(grown, Changes(updates=[doc_update(100)]))
    commit(grown, Changes(removed_paths=[doc_update(3).document.path]))
    commit(grown, Changes(updates=[doc_update(101)], removed_paths=[doc_update(100).document.path]))
    commit(grown, Changes(updates=[doc_update(5)]))  # replaced: its old passages are tombstones
    assert vec.base_generation(grown.vectors_path(5)) == 1
    rebuilt = LocalBackend(tmp_path / "rebuilt", index=grown.index_setting)
    commit(rebuilt, Changes(updates=[doc_update(i) for i in list(range(30)) + [101] if i != 3]))
    assert vec.base_generation(rebuilt.vectors_path(1)) is None
    for filters in (Filters(), Filters(publishers=("Agency 2",)), Filters(year_min=2015)):
        ours, theirs = dense_answers(grown, filters), dense_answers(rebuilt, filters)
        for q in ours:
            assert [t for t, _ in ours[q]] == [t for t, _ in theirs[q]], (q, filters)
            if grown.index_setting == "flat":
                assert [s for _, s in ours[q]] == [s for _, s in theirs[q]], (q, filters)


def test_the_base_is_rewritten_once_the_delta_passes_its_share(grown):
    for n in range(4):  # 40 passages over a base of 300: past 10% at the fourth
        commit(grown, Changes(updates=[doc_update(100 + n)]))
    assert vec.base_generation(grown.vectors_path(4)) == 1
    assert grown.vectors_path(5).exists() and vec.base_generation(grown.vectors_path(5)) is None
    commit(grown, Changes(updates=[doc_update(200)]))
    commit(grown, Changes(updates=[doc_update(201)]))
    files = sorted(p.name for p in grown.root.glob("vectors-*"))
    assert "vectors-000001.faiss" not in files  # no generation kept names the old base
    assert "vectors-000005.faiss" in files and grown.reader().vectors.ntotal == 360


def vectors_in_memory(index) -> bool:
    """Whether a whole index holds its vectors in memory it owns (not a map of its file)."""
    inner = vec.faiss().downcast_index(index.index)
    flat = vec.faiss().downcast_index(inner.storage) if vec.kind_of(index) == "hnsw" else inner
    return flat.codes.is_owned


def test_a_reader_maps_the_vector_files_instead_of_reading_them(grown):
    """A server loads each new generation: the base's vectors (1.5 GB at a million passages)
    are mapped from the file, not read, whole or under a delta."""
    assert not vectors_in_memory(grown.reader().vectors)
    commit(grown, Changes(updates=[doc_update(100)]))
    reader = grown.reader()
    assert isinstance(reader.vectors, vec.Layered) and not vectors_in_memory(reader.vectors.base)
    text = doc_update(3).passages[2].text
    best = reader.dense(EMBEDDER.encode_query(index_text(text, "Section")), 1, Filters())[0]
    assert reader.fetch([best[0]])[0][best[0]].text == text
    with grown.writer(wait=5) as writer:  # what a writer grows or rewrites is its own copy
        assert vectors_in_memory(writer.base and writer._index.base)


def test_a_commit_reads_the_databases_passage_ids_once(grown, monkeypatch):
    """At a million passages each read of the id list costs a good part of a second: the
    commit that passes the share (layered first, then whole) reads it once, as one that layers."""
    for n in range(3):
        commit(grown, Changes(updates=[doc_update(100 + n)]))
    reads = []
    passage_ids = local_backend.db.passage_ids
    monkeypatch.setattr(local_backend.db, "passage_ids", lambda conn: reads.append(1) or passage_ids(conn))
    for n, whole in ((3, True), (4, False)):  # 40 passages over 300 (a whole index), then 10 over 340
        with grown.writer(wait=5) as writer:
            reads.clear()  # (opening the writer checks the files against the database)
            generation = writer.commit(Changes(updates=[doc_update(100 + n)]), model=MODEL,
                                       dimension=EMBEDDER.dimension)
        assert (vec.base_generation(grown.vectors_path(generation)) is None) == whole
        assert len(reads) == 1
    assert grown.reader().vectors.ntotal == 350


def test_a_whole_file_left_by_a_crashed_commit_does_not_shadow_a_layered_generation(grown):
    """A commit that died after writing its generation's whole file (before the database named
    it) leaves `vectors-000002.faiss`; the next commit layers generation 2 and is read as such."""
    shutil.copy(grown.vectors_path(1), grown.vectors_path(2))  # 300 passages, as the crashed commit wrote
    commit(grown, Changes(updates=[doc_update(100)]))
    assert vec.base_generation(grown.vectors_path(2)) == 1 and not grown.vectors_path(2).exists()
    assert grown.reader().vectors.ntotal == 310
