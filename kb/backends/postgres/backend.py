"""The PostgreSQL backend: documents, passages, vectors (pgvector) and the BM25 keyword
segments in one database, so a commit is one transaction.

Generations: the writer bumps `generation` in kb_meta inside the commit's transaction. A
reader remembers the generation it loaded; a question runs in one REPEATABLE READ transaction
(the reader's session) that first checks the number, raising StaleSnapshot when the knowledge
base has moved on, so a search never mixes two states; a call outside a session gets such a
transaction of its own. MVCC means readers never wait for the writer.
One writer at a time: a session advisory lock, released by the server if the writer dies.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import contextmanager

import numpy as np

from ...errors import Busy, CorruptKnowledgeBase, EmptyKnowledgeBase, KBError
from ...models import Filters, Status
from ...tokens import index_text
from ..base import Backend, Changes, Generation, KeywordStats, SqlReader, SqlWriter, StaleSnapshot
from ..local.database import table_json
from ..local.vectors import HNSW_EF_CONSTRUCTION, HNSW_M, choose_kind
from . import database as db
from . import keywords as kw
from . import migrations
from .connection import PG_EF_SEARCH, connect, database_errors, pool_for, redact

WRITER_LOCK = 0x6B62_7772  # pg_advisory_lock key: "kbwr"
# Filtered HNSW searches over at most this many allowed passages score them exactly instead
# (a graph walk under a tight filter misses); above it, pgvector's iterative index scan.
EXACT_FILTER_LIMIT = 20_000
HNSW_INDEX = "passage_vectors_hnsw"


class PostgresBackend(Backend):
    def __init__(self, url: str, read_url: str | None = None, index: str = "auto", hnsw_threshold: int = 50_000):
        self.url = url
        self.read_url = read_url or url
        self.location = redact(url)
        self.index_setting = index
        self.hnsw_threshold = hnsw_threshold

    @contextmanager
    def read(self):
        """One REPEATABLE READ, read-only transaction from the readers' pool."""
        with database_errors(self.location):
            with pool_for(self.read_url).connection() as conn:
                yield conn

    def _schema_ready(self, conn) -> bool:
        found = migrations.version(conn)
        if found and found < migrations.LATEST:
            raise KBError(f"The knowledge base at {self.location} was made by an older version of this tool; run "
                          "`kb ingest` once (it upgrades the schema) before searching it.")
        return found > 0

    def exists(self) -> bool:
        with self.read() as conn:
            return migrations.version(conn) > 0

    def _missing(self) -> EmptyKnowledgeBase:
        return EmptyKnowledgeBase(f"No knowledge base in the database {self.location}. Run `kb ingest corpus/` "
                                  "(or `kb migrate --to postgres` to copy a local one).")

    def current_generation(self) -> int:
        with self.read() as conn:
            if not self._schema_ready(conn):
                return 0
            row = conn.execute("SELECT value FROM kb_meta WHERE key = 'generation'").fetchone()
            return int(row[0]) if row else 0

    def recorded_model(self) -> str | None:
        with self.read() as conn:
            if not self._schema_ready(conn):
                return None
            row = conn.execute("SELECT value FROM kb_meta WHERE key = 'model'").fetchone()
            return row[0] if row and row[0] else None

    def documents(self):
        with self.read() as conn:
            if not self._schema_ready(conn):
                raise self._missing()
            return db.documents(conn, 'ORDER BY name COLLATE "C", path COLLATE "C"')

    def passage_counts(self) -> dict[int, int]:
        with self.read() as conn:
            if not self._schema_ready(conn):
                raise self._missing()
            return dict(conn.execute("SELECT document_id, count(*) FROM passages GROUP BY document_id").fetchall())

    def problems(self) -> list[dict]:
        with self.read() as conn:
            return db.problems(conn) if self._schema_ready(conn) else []

    def facets(self) -> dict[str, list]:
        with self.read() as conn:
            if not self._schema_ready(conn):
                raise self._missing()
            return db.facets(conn)

    def status(self) -> Status:
        with self.read() as conn:
            if not self._schema_ready(conn):
                raise self._missing()
            meta = db.meta(conn)
            counts = db.counts(conn)
            problems = db.problems(conn)
            size, vector_size = conn.execute(
                "SELECT sum(pg_total_relation_size(c)), pg_total_relation_size('passage_vectors') FROM unnest("
                "array['kb_meta', 'documents', 'passages', 'passage_states', 'passage_vectors', 'terms', "
                "'keyword_segments', 'keyword_postings', 'keyword_deleted', 'problems']::regclass[]) c").fetchone()
        return Status(
            location=self.location, backend="postgres", documents=counts["documents"], passages=counts["passages"],
            model=meta.get("model"), dimension=int(meta["dim"]) if meta.get("dim") else None,
            index=meta.get("index_kind"), generation=int(meta.get("generation", 0)), updated_at=meta.get("updated_at"),
            schema=int(meta.get("schema", 0)), bytes=int(size or 0), vector_bytes=int(vector_size or 0),
            problems=problems)

    def reader(self) -> "PostgresReader":
        with self.read() as conn:
            if not self._schema_ready(conn):
                raise self._missing()
            meta = db.meta(conn)
        number = int(meta.get("generation", 0))
        if number == 0 or int(meta.get("passages", 0)) == 0:
            raise EmptyKnowledgeBase(f"The knowledge base at {self.location} has no passages yet. Run "
                                     "`kb ingest corpus/` to add documents.")
        generation = Generation(number, meta["model"], int(meta["dim"]), meta.get("index_kind", "flat"),
                                int(meta["passages"]))
        return PostgresReader(self, generation)

    @contextmanager
    def writer(self, wait: float = 600.0, on_wait=None):
        with database_errors(self.location):
            conn = connect(self.url, autocommit=True)
        try:
            with database_errors(self.location):
                self._lock(conn, wait, on_wait)
                writer = PostgresWriter(self, conn)
            yield writer
        finally:
            conn.close()  # also releases the advisory lock

    def _lock(self, conn, wait: float, on_wait) -> None:
        deadline = time.monotonic() + wait
        told = False
        while not conn.execute("SELECT pg_try_advisory_lock(%s)", (WRITER_LOCK,)).fetchone()[0]:
            if time.monotonic() >= deadline:
                raise Busy(f"Another ingest is still writing to {self.location} after {wait:.0f} s; try again later.")
            if on_wait and not told:
                on_wait(f"Another ingest is writing to {self.location}; waiting for it to finish…")
                told = True
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


class PostgresReader(SqlReader):
    db = db
    # The Searcher may run keyword() on another thread while it embeds the question and runs
    # dense(): the two are separate server processes, so they overlap on a multi-core server.
    concurrent_retrieval = True

    def __init__(self, backend: PostgresBackend, generation: Generation):
        self.backend = backend
        self.generation = generation
        self._allowed: dict[Filters, kw.Allowed] = {}
        self._questions: dict[str, kw.Question] = {}
        self._keywords: kw.SegmentIndex | None = None  # this generation's, read at its first keyword question
        self._keyword_scores: dict[str, np.ndarray] = {}  # question -> BM25 of every row, for the last few
        self._cosines: dict[bytes, dict[int, float]] = {}  # query vector -> the cosines dense() read
        self._lock = threading.Lock()
        self._session = threading.local()  # .conn: the connection of this thread's open session

    @contextmanager
    def session(self):
        """One connection and one REPEATABLE READ transaction for a question's calls on this
        thread: the generation is checked once, every statement sees the same snapshot, and no
        call checks a connection out of the pool. (Keyword search on the Searcher's other
        thread gets a transaction of its own, which checks the same generation number.)"""
        if getattr(self._session, "conn", None) is not None:
            yield  # already inside one
            return
        with self._read() as conn:
            self._session.conn = conn
            try:
                yield
            finally:
                self._session.conn = None

    @contextmanager
    def _read(self):
        """A read transaction on this reader's generation: this thread's session, or a new one
        that first checks the generation (StaleSnapshot if the database moved on)."""
        conn = getattr(self._session, "conn", None)
        if conn is not None:
            yield conn
            return
        import psycopg

        with self.backend.read() as conn:
            try:
                row = conn.execute("SELECT value FROM kb_meta WHERE key = 'generation'").fetchone()
            except psycopg.errors.UndefinedTable:
                row = None  # the knowledge base was dropped: reloading says so
            if row is None or int(row[0]) != self.generation.number:
                raise StaleSnapshot("The knowledge base changed during the search; ask again.")
            yield conn

    def _allowed_ids(self, conn, filters: Filters) -> kw.Allowed | None:
        """Passages the filters allow in this generation (None: no filter), cached per filter."""
        if filters.is_empty():
            return None
        with self._lock:
            if filters not in self._allowed:
                self._allowed[filters] = kw.Allowed(db.allowed_ids(conn, filters))
                if len(self._allowed) > 64:
                    self._allowed.pop(next(iter(self._allowed)))
            return self._allowed[filters]

    def _question(self, conn, question: str) -> kw.Question:
        """The question's terms in this generation, cached: one question asks for them three times."""
        with self._lock:
            q = self._questions.get(question)
        if q is None:
            q = kw.Question(conn, question)
            with self._lock:
                self._questions[question] = q
                if len(self._questions) > 256:
                    self._questions.pop(next(iter(self._questions)))
        return q

    def dense(self, vector, k, filters):
        q = vector_literal(vector)
        with self._read() as conn:
            allowed = self._allowed_ids(conn, filters)
            if allowed is not None and not allowed:
                return []
            params = {"q": q, "k": k, **(allowed.params() if allowed is not None else {})}
            exact = "ORDER BY score DESC, passage_id LIMIT %(k)s"  # not the index's order: a scan
            if allowed is not None and (self.generation.index_kind != "hnsw" or len(allowed) <= EXACT_FILTER_LIMIT):
                # The ids as a sub-select: a run-time array, which the planner need not estimate element by element.
                sql = "SELECT passage_id, -(embedding <#> %(q)s::vector) AS score FROM passage_vectors " \
                      "WHERE passage_id = ANY((SELECT %(ids)s::int8[])::int8[]) " + exact
                params["ids"] = allowed.array
            elif self.generation.index_kind != "hnsw":
                sql = "SELECT passage_id, -(embedding <#> %(q)s::vector) AS score FROM passage_vectors " + exact
            else:
                where = ""
                if allowed is not None or k > PG_EF_SEARCH:
                    # past ef_search (the connection's, at pgvector's maximum) results, or the filter's
                    # share of them, the scan goes on searching the graph
                    conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
                if allowed is not None:
                    where = "WHERE " + allowed.sql("passage_id")
                sql = f"SELECT passage_id, -(embedding <#> %(q)s::vector) FROM passage_vectors {where} " \
                      "ORDER BY embedding <#> %(q)s::vector LIMIT %(k)s"
            rows = conn.execute(sql, params).fetchall()
        found = [(pid, float(score)) for pid, score in rows]
        self._remember(self._cosines, _vector_key(vector), found)
        return found

    def _bm25(self, conn, question: str) -> tuple[kw.SegmentIndex, np.ndarray]:
        """The generation's keyword index and the question's BM25 for each of its rows, kept for
        the last few questions: fusion and scores() read the scores keyword() computed (a score
        does not depend on the filter)."""
        with self._lock:
            index, scores = self._keywords, self._keyword_scores.get(question)
        if index is None:
            index = kw.SegmentIndex.load(conn)
            with self._lock:
                self._keywords = index = self._keywords or index
        if scores is None:
            scores = index.scores(conn, self._question(conn, question))
            with self._lock:
                self._keyword_scores[question] = scores
                if len(self._keyword_scores) > 8:
                    self._keyword_scores.pop(next(iter(self._keyword_scores)))
        return index, scores

    def keyword(self, question, k, filters):
        with self._read() as conn:
            allowed = self._allowed_ids(conn, filters)
            if allowed is not None and not allowed:
                return []
            index, scores = self._bm25(conn, question)
        return index.top(scores, k, allowed)

    def scores(self, ids, vector, question):
        if not ids:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        ids = [int(i) for i in ids]
        with self._read() as conn:
            cosine = dict(conn.execute("SELECT passage_id, -(embedding <#> %s::vector) FROM passage_vectors "
                                       "WHERE passage_id = ANY(%s)", (vector_literal(vector), ids)).fetchall())
            index, bm25 = self._bm25(conn, question)
        return np.array([cosine.get(i, 0.0) for i in ids], dtype=np.float32), index.scores_of(bm25, ids)

    def fusion_inputs(self, ids, vector, question):
        """Cosine, BM25 and footnote flag of every candidate: one statement reads the footnote
        flags and the cosines dense() did not already return (the same generation); BM25 comes
        from the scores keyword() computed for every row. Fusion's candidates are their results."""
        if not ids:
            return np.zeros(0, np.float32), np.zeros(0, np.float32), set()
        ids = [int(i) for i in ids]
        with self._lock:
            cosines = dict(self._cosines.get(_vector_key(vector), {}))
        with self._read() as conn:
            index, bm25 = self._bm25(conn, question)
            rows = conn.execute(
                "SELECT s.id, -(v.embedding <#> %(q)s::vector), s.footnote FROM passages s "
                "LEFT JOIN passage_vectors v ON v.passage_id = s.id AND v.passage_id = ANY(%(cosine_ids)s) "
                "WHERE s.id = ANY(%(ids)s)",
                {"q": vector_literal(vector), "ids": ids, "cosine_ids": [i for i in ids if i not in cosines]}).fetchall()
        notes = set()
        for pid, cosine, note in rows:
            cosines.setdefault(pid, cosine or 0.0)
            if note:
                notes.add(pid)
        return np.array([cosines.get(i, 0.0) for i in ids], dtype=np.float32), index.scores_of(bm25, ids), notes

    def _remember(self, cache: dict, key, found: list[tuple[int, float]]) -> None:
        """Keep the (passage id, score) pairs read for `key`, for the last 64 keys."""
        with self._lock:
            cache.setdefault(key, {}).update(found)
            if len(cache) > 64:
                cache.pop(next(iter(cache)))

    def keyword_stats(self, question):
        with self._read() as conn:
            q = self._question(conn, question)
        return KeywordStats(self.generation.passages, q.df)


def _vector_key(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form: readers need no type registration (their pool may predate the extension)."""
    return "[" + ",".join(map(repr, np.asarray(vector, dtype=np.float32).tolist())) + "]"


class PostgresWriter(SqlWriter):
    """Applies Changes as new generations, each in one transaction. Exists while the advisory
    lock is held on `conn` (autocommit; commit() opens its own transaction)."""

    db = db

    def __init__(self, backend: PostgresBackend, conn):
        self.backend = backend
        self.conn = conn
        migrations.upgrade(conn, backend.location)
        from pgvector.psycopg import register_vector

        register_vector(conn)
        self.meta = db.meta(conn)
        # A copy made by an earlier version left the id sequence behind the ids it kept.
        conn.execute("SELECT setval('passage_ids', m) FROM (SELECT max(id) AS m FROM passages) x "
                     "WHERE m >= (SELECT last_value FROM passage_ids)")
        self._damaged = False
        self._drop_vectors = False
        self.check()

    def check(self, rebuild: bool = False) -> None:
        """Every passage has a vector of the recorded dimension (the database keeps them in
        step; this catches a knowledge base edited by hand). `rebuild` drops them all."""
        self._drop_vectors = rebuild
        # Two counts, not an anti-join (88 ms of a 640 ms add at 100k): every vector's passage
        # exists (a foreign key), so fewer vectors than passages is a passage without one.
        passages, vectors = self.conn.execute(
            "SELECT (SELECT count(*) FROM passages), (SELECT count(*) FROM passage_vectors)").fetchone()
        self._damaged = rebuild or vectors < passages

    def passages_without_vectors(self, skip_paths):
        where = "" if self._drop_vectors else \
            "WHERE NOT EXISTS (SELECT 1 FROM passage_vectors v WHERE v.passage_id = p.id)"
        return [(pid, index_text(text, section, context))
                for pid, text, section, context, path in db.passage_texts(self.conn, where) if path not in skip_paths]

    def commit(self, changes: Changes, *, model: str, dimension: int | None) -> int:
        conn = self.conn
        now = db.now_iso()
        with database_errors(self.backend.location), conn.transaction():
            db.record_problems(conn, changes.cleared_problems, changes.problems, now)
            db.touch(conn, changes.touched)
            if not changes.needs_generation() and not self._damaged:
                return self.generation
            dim = dimension or self.dimension or next((len(v) for v in changes.repaired_vectors.values()), 0)
            self._prepare_vectors(dim)
            gone = list(set(changes.removed_paths) | {u.document.path for u in changes.updates})
            removed = kw.remove_passages(conn, "document_id IN (SELECT id FROM documents WHERE path = ANY(%s))",
                                         (gone,))
            conn.execute("DELETE FROM documents WHERE path = ANY(%s)", (gone,))
            db.update_metadata(conn, changes.metadata)
            added = self._insert(changes, now, dim)
            kw.maintain(conn)
            self._store_vectors(changes.repaired_vectors)
            stats = self._check_and_count(added, removed, whole=self._damaged or bool(changes.repaired_vectors))
            kind = self._choose_index(stats["passages"])
            new_meta = {"generation": str(self.generation + 1), "model": model, "dim": str(dim), "index_kind": kind,
                        "updated_at": now, **{k: str(v) for k, v in stats.items()}}
            db.set_meta(conn, new_meta)
        self.meta.update(new_meta)
        self._damaged = self._drop_vectors = False
        return self.generation

    def _prepare_vectors(self, dim: int) -> None:
        """Drop every vector for a rebuild; give the column the vectors' dimension."""
        if self._drop_vectors:
            self.conn.execute("DELETE FROM passage_vectors")
        typmod = self.conn.execute("SELECT atttypmod FROM pg_attribute WHERE attrelid = 'passage_vectors'::regclass "
                                   "AND attname = 'embedding'").fetchone()[0]
        if typmod != dim:
            self.conn.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
            self.conn.execute(f"ALTER TABLE passage_vectors ALTER COLUMN embedding TYPE vector({int(dim)})")

    def _insert(self, changes: Changes, now: str, dim: int) -> tuple[int, int]:
        """Documents, passages, states, vectors (by COPY) and a keyword segment of the updates;
        returns how many passages and tokens were added."""
        passages, states, vectors = [], [], []
        for update in changes.updates:
            doc_id = db.insert_document(self.conn, update.document, now)
            if len(update.vectors) != len(update.passages) or (len(update.passages) and update.vectors.shape[1] != dim):
                raise CorruptKnowledgeBase(
                    f"Internal error: {update.document.name} has {len(update.passages)} passages but vectors of shape "
                    f"{update.vectors.shape}; nothing was changed.")
            kept = [p.id for p in update.passages if p.id is not None]
            ids = kept if len(kept) == len(update.passages) else db.reserve_passage_ids(self.conn, len(update.passages))
            doc_states = set(update.document.states)
            for pid, p, v in zip(ids, update.passages, update.vectors):
                passages.append((pid, doc_id, p))
                states += [(s, pid, s in p.states) for s in sorted(set(p.states) | doc_states)]
                vectors.append((pid, v))
        added = self._insert_passages(passages)
        if any(p.id is not None for _, _, p in passages):
            db.advance_passage_ids(self.conn)  # past the kept ids, now that they are in the table
        db.copy_rows(self.conn, "COPY passage_states (state, passage_id, named) FROM STDIN", states)
        self._store_vectors(dict(vectors))
        return added

    def _insert_passages(self, rows: list) -> tuple[int, int]:
        tokens = {pid: kw.passage_tokens(p.text, p.section, p.context) for pid, _, p in rows}
        ids = kw.term_ids(self.conn, {t for c in tokens.values() for t in c})
        db.copy_rows(self.conn, 'COPY passages (id, document_id, ordinal, page, section, start, "end", text, '
                                'page_label, ocr, context, length, terms, end_page, end_page_label, footnote, table_row) '
                                'FROM STDIN',
                     ((pid, doc_id, p.ordinal, p.page, p.section, p.start, p.end, p.text, p.page_label, p.ocr,
                       p.context, sum(tokens[pid].values()), sorted(ids[t] for t in tokens[pid]), p.end_page,
                       p.end_page_label, p.footnote, table_json(p.table))
                      for pid, doc_id, p in rows))
        kw.add_segment(self.conn, tokens, ids)
        kw.add_document_frequencies(self.conn, Counter(ids[t] for c in tokens.values() for t in c))
        return len(tokens), sum(sum(c.values()) for c in tokens.values())

    def _store_vectors(self, vectors: dict[int, np.ndarray]) -> None:
        if not vectors:
            return
        self.conn.execute("DELETE FROM passage_vectors WHERE passage_id = ANY(%s)", (list(vectors),))
        db.copy_rows(self.conn, "COPY passage_vectors (passage_id, embedding) FROM STDIN WITH (FORMAT BINARY)",
                     ((int(pid), np.asarray(v, dtype=np.float32)) for pid, v in vectors.items()), ["int8", "vector"])

    def _check_and_count(self, added: tuple[int, int], removed: tuple[int, int], whole: bool) -> dict[str, float]:
        """Passages and BM25 totals of the next generation: the last generation's, plus the
        (passages, tokens) added, less those removed (a scan of every passage took 280 ms of a
        640 ms add at 100k), or counted `whole` (a repair, a first commit, a database from before
        the token count was kept), where a passage without a vector aborts."""
        if not whole and "passages" in self.meta and "tokens" in self.meta:
            n = int(self.meta["passages"]) + added[0] - removed[0]
            total = int(self.meta["tokens"]) + added[1] - removed[1]
            return {"passages": n, "avgdl": total / n if n else 0.0, "tokens": total}
        n, total, missing = self.conn.execute(
            "SELECT count(*), COALESCE(sum(length), 0), count(*) FILTER (WHERE NOT EXISTS "
            "(SELECT 1 FROM passage_vectors v WHERE v.passage_id = p.id)) FROM passages p").fetchone()
        if missing:
            raise CorruptKnowledgeBase(f"Internal error: {missing} passages would have no vector; nothing was changed. "
                                       "Run `kb ingest --rebuild`.")
        return {"passages": n, "avgdl": total / n if n else 0.0, "tokens": int(total)}

    def _choose_index(self, passages: int) -> str:
        """HNSW (built once, then grown by pgvector on insert) from the threshold on; none below."""
        kind = choose_kind(passages, self.backend.index_setting, self.backend.hnsw_threshold)
        has = self.conn.execute("SELECT to_regclass(%s)", (HNSW_INDEX,)).fetchone()[0] is not None
        if kind == "hnsw" and not has:
            # pgvector builds several times faster while its graph fits in maintenance_work_mem (about
            # 2.8 kB per 384-d passage at m 32): at least 2 GB, more where the server is set higher.
            self.conn.execute("SELECT set_config('maintenance_work_mem', greatest(pg_size_bytes("
                              "current_setting('maintenance_work_mem')), pg_size_bytes('2GB')) / 1024 || 'kB', true)")
            self.conn.execute(f"CREATE INDEX {HNSW_INDEX} ON passage_vectors USING hnsw (embedding vector_ip_ops) "
                              f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})")
        elif kind == "flat" and has:
            self.conn.execute(f"DROP INDEX {HNSW_INDEX}")
        return kind
