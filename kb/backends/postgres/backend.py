"""The PostgreSQL backend: documents, passages, vectors (pgvector) and the BM25 postings in
one database, so a commit is one transaction.

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
from ..local.vectors import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, choose_kind
from . import database as db
from . import keywords as kw
from . import migrations
from .connection import connect, database_errors, pool_for, redact

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
                "array['kb_meta', 'documents', 'passages', 'passage_states', 'passage_vectors', 'terms', 'postings', "
                "'problems']::regclass[]) c").fetchone()
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
        return PostgresReader(self, generation, float(meta["avgdl"]))

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

    def __init__(self, backend: PostgresBackend, generation: Generation, avgdl: float):
        self.backend = backend
        self.generation = generation
        self.avgdl = avgdl
        self._allowed: dict[Filters, kw.Allowed] = {}
        self._questions: dict[str, kw.Question] = {}
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
            q = kw.Question(conn, question, self.generation.passages)
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
                if k > HNSW_EF_SEARCH:  # the connection's setting (connection.py) is HNSW_EF_SEARCH
                    conn.execute(f"SET LOCAL hnsw.ef_search = {int(k)}")
                where = ""
                if allowed is not None:
                    conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
                    where = "WHERE " + allowed.sql("passage_id")
                sql = f"SELECT passage_id, -(embedding <#> %(q)s::vector) FROM passage_vectors {where} " \
                      "ORDER BY embedding <#> %(q)s::vector LIMIT %(k)s"
            rows = conn.execute(sql, params).fetchall()
        found = [(pid, float(score)) for pid, score in rows]
        self._remember(self._cosines, _vector_key(vector), found)
        return found

    def keyword(self, question, k, filters):
        with self._read() as conn:
            allowed = self._allowed_ids(conn, filters)
            if allowed is not None and not allowed:
                return []
            q = self._question(conn, question)
            found = kw.top(conn, q, self.avgdl, k, allowed)
        with self._lock:
            q.known.update(found)
        return found

    def scores(self, ids, vector, question):
        if not ids:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        ids = [int(i) for i in ids]
        with self._read() as conn:
            cosine = dict(conn.execute("SELECT passage_id, -(embedding <#> %s::vector) FROM passage_vectors "
                                       "WHERE passage_id = ANY(%s)", (vector_literal(vector), ids)).fetchall())
            bm25 = kw.scores_of(conn, self._question(conn, question), self.avgdl, ids)
        return (np.array([cosine.get(i, 0.0) for i in ids], dtype=np.float32),
                np.array([bm25.get(i, 0.0) for i in ids], dtype=np.float32))

    def fusion_inputs(self, ids, vector, question):
        """Cosine, BM25 and footnote flag of every candidate in one statement, which reads only
        what this question's dense() and keyword() did not already return (the same generation,
        the same sums): fusion's candidates are their results."""
        if not ids:
            return np.zeros(0, np.float32), np.zeros(0, np.float32), set()
        ids = [int(i) for i in ids]
        with self._lock:
            cosines = dict(self._cosines.get(_vector_key(vector), {}))
        with self._read() as conn:
            q = self._question(conn, question)
            with self._lock:
                bm25 = dict(q.known)
            rows = kw.fusion_inputs(conn, q, self.avgdl, ids, vector_literal(vector),
                                    [i for i in ids if i not in cosines], [i for i in ids if i not in bm25])
        notes = set()
        for pid, cosine, score, note in rows:
            cosines.setdefault(pid, cosine or 0.0)
            bm25.setdefault(pid, score)
            if note:
                notes.add(pid)
        return (np.array([cosines.get(i, 0.0) for i in ids], dtype=np.float32),
                np.array([bm25.get(i, 0.0) for i in ids], dtype=np.float32), notes)

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
        self._damaged = False
        self._drop_vectors = False
        self.check()

    def check(self, rebuild: bool = False) -> None:
        """Every passage has a vector of the recorded dimension (the database keeps them in
        step; this catches a knowledge base edited by hand). `rebuild` drops them all."""
        self._drop_vectors = rebuild
        missing = self.conn.execute(
            "SELECT count(*) FROM passages p WHERE NOT EXISTS "
            "(SELECT 1 FROM passage_vectors v WHERE v.passage_id = p.id)").fetchone()[0]
        self._damaged = rebuild or missing > 0

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
            kw.remove_postings(conn, "document_id IN (SELECT id FROM documents WHERE path = ANY(%s))", (gone,))
            conn.execute("DELETE FROM documents WHERE path = ANY(%s)", (gone,))
            db.update_metadata(conn, changes.metadata)
            self._insert(changes, now, dim)
            self._store_vectors(changes.repaired_vectors)
            stats = self._check_and_count()
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

    def _insert(self, changes: Changes, now: str, dim: int) -> None:
        """Documents, passages, states, postings and vectors of the updates, by COPY."""
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
        if any(p.id is not None for _, _, p in passages):
            db.advance_passage_ids(self.conn)
        self._insert_passages(passages)
        db.copy_rows(self.conn, "COPY passage_states (state, passage_id, named) FROM STDIN", states)
        self._store_vectors(dict(vectors))

    def _insert_passages(self, rows: list) -> None:
        tokens = {pid: kw.passage_tokens(p.text, p.section, p.context) for pid, _, p in rows}
        ids = kw.term_ids(self.conn, {t for c in tokens.values() for t in c})
        db.copy_rows(self.conn, 'COPY passages (id, document_id, ordinal, page, section, start, "end", text, '
                                'page_label, ocr, context, length, terms, end_page, end_page_label, footnote, table_row) '
                                'FROM STDIN',
                     ((pid, doc_id, p.ordinal, p.page, p.section, p.start, p.end, p.text, p.page_label, p.ocr,
                       p.context, sum(tokens[pid].values()), sorted(ids[t] for t in tokens[pid]), p.end_page,
                       p.end_page_label, p.footnote, table_json(p.table))
                      for pid, doc_id, p in rows))
        db.copy_rows(self.conn, "COPY postings (term_id, passage_id, tf, dl) FROM STDIN WITH (FORMAT BINARY)",
                     ((ids[t], pid, n, sum(c.values())) for pid, c in tokens.items() for t, n in c.items()),
                     ["int4", "int8", "int4", "int4"])
        kw.add_document_frequencies(self.conn, Counter(ids[t] for c in tokens.values() for t in c))

    def _store_vectors(self, vectors: dict[int, np.ndarray]) -> None:
        if not vectors:
            return
        self.conn.execute("DELETE FROM passage_vectors WHERE passage_id = ANY(%s)", (list(vectors),))
        db.copy_rows(self.conn, "COPY passage_vectors (passage_id, embedding) FROM STDIN WITH (FORMAT BINARY)",
                     ((int(pid), np.asarray(v, dtype=np.float32)) for pid, v in vectors.items()), ["int8", "vector"])

    def _check_and_count(self) -> dict[str, float]:
        """Passages and BM25 totals of the next generation; a passage without a vector aborts."""
        n, total, missing = self.conn.execute(
            "SELECT count(*), COALESCE(sum(length), 0), count(*) FILTER (WHERE NOT EXISTS "
            "(SELECT 1 FROM passage_vectors v WHERE v.passage_id = p.id)) FROM passages p").fetchone()
        if missing:
            raise CorruptKnowledgeBase(f"Internal error: {missing} passages would have no vector; nothing was changed. "
                                       "Run `kb ingest --rebuild`.")
        return {"passages": n, "avgdl": total / n if n else 0.0}

    def _choose_index(self, passages: int) -> str:
        """HNSW (built once, then grown by pgvector on insert) from the threshold on; none below."""
        kind = choose_kind(passages, self.backend.index_setting, self.backend.hnsw_threshold)
        has = self.conn.execute("SELECT to_regclass(%s)", (HNSW_INDEX,)).fetchone()[0] is not None
        if kind == "hnsw" and not has:
            self.conn.execute("SET LOCAL maintenance_work_mem = '2GB'")
            self.conn.execute(f"CREATE INDEX {HNSW_INDEX} ON passage_vectors USING hnsw (embedding vector_ip_ops) "
                              f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})")
        elif kind == "flat" and has:
            self.conn.execute(f"DROP INDEX {HNSW_INDEX}")
        return kind
