"""The on-disk knowledge base: one SQLite database plus vector and keyword files per generation.

A generation is one committed state. SQLite holds documents, passages and the current
generation number; `vectors-<gen>.faiss` and `keywords-<gen>/` are written beside it under
new names, fsynced and renamed into place before the database transaction that names them
commits. A reader reads the generation number first and loads the files it names, so it
sees the old state or the new one, never a mix. One writer at a time, by file lock.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import vectors as vec
from .config import Settings
from .errors import Busy, CorruptKnowledgeBase, EmptyKnowledgeBase, KBError
from .keyword import KeywordIndex
from .models import Document, Filters, Passage

DB_NAME = "kb.sqlite"
LOCK_NAME = "write.lock"
SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    title TEXT NOT NULL,
    publisher TEXT,
    year INTEGER,
    doc_type TEXT,
    pages INTEGER,
    kind TEXT,
    warnings TEXT NOT NULL DEFAULT '[]',
    ingested_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    page INTEGER,
    section TEXT,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    UNIQUE (document_id, ordinal)
);
CREATE TABLE IF NOT EXISTS problems (
    path TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
"""

DOC_COLUMNS = ("id, path, name, sha256, size, mtime_ns, title, publisher, year, doc_type, pages, "
               "ingested_at, kind, warnings")
PASSAGE_COLUMNS = 'id, document_id, ordinal, page, section, start, "end", text'


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _document(row) -> Document:
    return Document(*row[:13], warnings=tuple(json.loads(row[13] or "[]")))


def _passage(row) -> Passage:
    return Passage(*row)


def index_text(passage_text: str, section: str | None) -> str:
    """What keyword and dense search see: the passage under its heading, so a heading is
    searchable with every passage in its section. (Adding the document title as well
    measured worse on the dev set: it drowns short passages; see bench/quality.py.)"""
    if section and not passage_text.startswith(section):
        return f"{section} \n{passage_text}"
    return passage_text


@dataclass
class Snapshot:
    """One generation, loaded for searching."""

    generation: int
    model: str
    dim: int
    index_kind: str
    vectors: object  # faiss index
    keywords: KeywordIndex
    passages: int


@dataclass
class DocumentUpdate:
    """A new or changed file: its document row and freshly embedded passages."""

    document: Document
    passages: list[Passage]
    vectors: np.ndarray


@dataclass
class Changes:
    updates: list[DocumentUpdate] = field(default_factory=list)
    removed_paths: list[str] = field(default_factory=list)
    metadata: list[Document] = field(default_factory=list)  # same content, new title/publisher/...
    touched: list[Document] = field(default_factory=list)  # same content, new mtime: no new generation
    problems: dict[str, str] = field(default_factory=dict)  # path -> reason
    cleared_problems: list[str] = field(default_factory=list)
    repaired_vectors: dict[int, np.ndarray] = field(default_factory=dict)  # passage id -> vector

    def needs_generation(self) -> bool:
        return bool(self.updates or self.removed_paths or self.metadata or self.repaired_vectors)


class Store:
    def __init__(self, root: Path | str):
        self.root = Path(root).expanduser()
        self.db_path = self.root / DB_NAME

    # ---- connections -------------------------------------------------------------------
    def exists(self) -> bool:
        return self.db_path.is_file()

    def _connect(self, create: bool = False) -> sqlite3.Connection:
        if not create and not self.exists():
            raise EmptyKnowledgeBase(
                f"No knowledge base at {self.root}. Run `kb ingest corpus/` (or set KB_DIR / --kb to the right folder)."
            )
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        if create:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.executescript(SCHEMA)
        return conn

    @contextmanager
    def read(self):
        """A read transaction: every query inside sees one committed state."""
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            yield conn
            conn.execute("COMMIT")
        finally:
            conn.close()

    # ---- reading -----------------------------------------------------------------------
    @staticmethod
    def meta(conn) -> dict[str, str]:
        return dict(conn.execute("SELECT key, value FROM meta"))

    def generation(self) -> int:
        if not self.exists():
            return 0
        with self.read() as conn:
            return int(self.meta(conn).get("generation", 0))

    def vectors_path(self, generation: int) -> Path:
        return self.root / f"vectors-{generation:06d}.faiss"

    def keywords_path(self, generation: int) -> Path:
        return self.root / f"keywords-{generation:06d}"

    def documents(self) -> list[Document]:
        with self.read() as conn:
            return [_document(r) for r in conn.execute(f"SELECT {DOC_COLUMNS} FROM documents ORDER BY name, path")]

    def document_stats(self) -> dict[int, int]:
        with self.read() as conn:
            return dict(conn.execute("SELECT document_id, COUNT(*) FROM passages GROUP BY document_id"))

    def problems(self) -> list[dict]:
        if not self.exists():
            return []
        with self.read() as conn:
            rows = conn.execute("SELECT path, name, reason, seen_at FROM problems ORDER BY name")
            return [dict(zip(("path", "name", "reason", "seen_at"), r)) for r in rows]

    def counts(self) -> dict:
        with self.read() as conn:
            meta = self.meta(conn)
            docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            passages = conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return {"documents": docs, "passages": passages, "meta": meta}

    def fetch(self, ids, generation: int | None = None) -> tuple[dict[int, Passage], dict[int, Document]]:
        """Passages by id and their documents, from the generation the caller searched.

        Raises StaleSnapshot when the database moved on, so the caller can reload.
        """
        ids = [int(i) for i in ids]
        with self.read() as conn:
            if generation is not None and int(self.meta(conn).get("generation", 0)) != generation:
                raise StaleSnapshot()
            passages = _select_in(conn, f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE id IN ({{}})", ids)
            passages = {row[0]: _passage(row) for row in passages}
            doc_ids = sorted({p.document_id for p in passages.values()})
            docs = _select_in(conn, f"SELECT {DOC_COLUMNS} FROM documents WHERE id IN ({{}})", doc_ids)
            return passages, {row[0]: _document(row) for row in docs}

    def neighbours(self, passage_id: int, before: int = 1, after: int = 1) -> list[Passage]:
        """The passage with up to `before`/`after` passages around it in its document."""
        with self.read() as conn:
            row = conn.execute("SELECT document_id, ordinal FROM passages WHERE id = ?", (passage_id,)).fetchone()
            if row is None:
                return []
            rows = conn.execute(
                f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE document_id = ? AND ordinal BETWEEN ? AND ? "
                "ORDER BY ordinal", (row[0], row[1] - before, row[1] + after))
            return [_passage(r) for r in rows]

    def document_passages(self, document_id: int) -> list[Passage]:
        with self.read() as conn:
            rows = conn.execute(f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE document_id = ? ORDER BY ordinal",
                                (document_id,))
            return [_passage(r) for r in rows]

    def allowed_ids(self, filters: Filters) -> np.ndarray:
        """Passage ids matching the filters, sorted."""
        where, params = [], []
        if filters.documents:
            marks = ",".join("?" * len(filters.documents))
            where.append(f"(d.name IN ({marks}) OR d.path IN ({marks}))")
            params += list(filters.documents) * 2
        if filters.doc_types:
            where.append(f"lower(d.doc_type) IN ({','.join('?' * len(filters.doc_types))})")
            params += [t.lower() for t in filters.doc_types]
        if filters.publishers:
            where.append(f"lower(d.publisher) IN ({','.join('?' * len(filters.publishers))})")
            params += [p.lower() for p in filters.publishers]
        if filters.year_min is not None:
            where.append("d.year >= ?")
            params.append(filters.year_min)
        if filters.year_max is not None:
            where.append("d.year <= ?")
            params.append(filters.year_max)
        # Documents first, then their passages through the (document_id, ...) index: a join
        # ordered by passage id scans every passage (10x slower at 1M passages).
        sql = "SELECT id FROM passages"
        if where:
            sql += " WHERE document_id IN (SELECT d.id FROM documents d WHERE " + " AND ".join(where) + ")"
        with self.read() as conn:
            return np.sort(np.fromiter((r[0] for r in conn.execute(sql, params)), dtype=np.int64))

    def facets(self) -> dict:
        """Values the filters can take, for pickers."""
        with self.read() as conn:
            def column(sql):
                return [r[0] for r in conn.execute(sql)]
            return {
                "documents": column("SELECT name FROM documents ORDER BY name"),
                "doc_types": column("SELECT DISTINCT doc_type FROM documents WHERE doc_type IS NOT NULL "
                                    "AND doc_type != '' ORDER BY doc_type"),
                "publishers": column("SELECT DISTINCT publisher FROM documents WHERE publisher IS NOT NULL "
                                     "AND publisher != '' ORDER BY publisher"),
                "years": column("SELECT DISTINCT year FROM documents WHERE year IS NOT NULL ORDER BY year"),
            }

    # ---- snapshots ---------------------------------------------------------------------
    def load_snapshot(self, mmap: bool = False, attempts: int = 5) -> Snapshot:
        """Load the current generation's indexes, checking they agree with the database."""
        for attempt in range(attempts):
            with self.read() as conn:
                meta = self.meta(conn)
                count = conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
            generation = int(meta.get("generation", 0))
            if generation == 0 or count == 0:
                raise EmptyKnowledgeBase(
                    f"The knowledge base at {self.root} has no passages yet. Run `kb ingest corpus/` to add documents."
                )
            try:
                index = vec.read(self.vectors_path(generation), mmap=mmap)
                keywords = KeywordIndex.load(self.keywords_path(generation), mmap=mmap)
            except (FileNotFoundError, RuntimeError, OSError, ValueError) as exc:
                if self.generation() != generation:
                    continue  # a writer committed meanwhile: load the new one
                raise CorruptKnowledgeBase(
                    f"The knowledge base at {self.root} is missing or has a damaged index file for generation "
                    f"{generation} ({type(exc).__name__}). Run `kb ingest --rebuild` to repair it from the database."
                ) from exc
            if index.ntotal != count or len(keywords) != count:
                raise CorruptKnowledgeBase(
                    f"The knowledge base at {self.root} is inconsistent: the database has {count} passages, the vector "
                    f"index {index.ntotal}, the keyword index {len(keywords)}. Run `kb ingest --rebuild` to repair it."
                )
            return Snapshot(generation, meta["model"], int(meta["dim"]), meta.get("index_kind", "flat"),
                            index, keywords, count)
        raise Busy(f"The knowledge base at {self.root} kept changing while loading; try again.")

    # ---- writing -----------------------------------------------------------------------
    @contextmanager
    def writer(self, wait: float = 600.0, on_wait=None):
        """Hold the write lock for an ingest. `on_wait(message)` is told if we must wait."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / LOCK_NAME))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait:
                on_wait(f"Another ingest is writing to {self.root}; waiting for it to finish…")
            try:
                lock.acquire(timeout=wait)
            except Timeout:
                raise Busy(f"Another ingest is still writing to {self.root} after {wait:.0f} s; try again later.") from None
        try:
            writer = Writer(self)
            try:
                yield writer
            finally:
                writer.close()
        finally:
            lock.release()


class StaleSnapshot(KBError):
    """The database moved to a newer generation than the loaded indexes."""


def _select_in(conn, sql: str, values: list, chunk: int = 900):
    rows = []
    for i in range(0, len(values), chunk):
        part = values[i:i + chunk]
        rows += conn.execute(sql.format(",".join("?" * len(part))), part).fetchall()
    return rows


class Writer:
    """Applies Changes as new generations. Only exists while the write lock is held.

    `base` is the (ids, vectors) of the current generation, kept in memory between the
    commits of one ingest so each commit does not re-read the index it just wrote.
    """

    def __init__(self, store: Store):
        self.store = store
        self.conn = store._connect(create=True)
        self.meta = Store.meta(self.conn)
        if self.meta.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise KBError(f"{store.root} was made by another version of this tool (schema {self.meta['schema']}); "
                          "ingest into a new --kb folder.")
        self._base: tuple[np.ndarray, np.ndarray] | None = None
        self._index = None  # the faiss index the base came from, reused to grow an HNSW graph
        self.vector_ids = np.zeros(0, np.int64)
        self.damaged = False  # set by check() when the current generation's files are not usable

    @property
    def generation(self) -> int:
        return int(self.meta.get("generation", 0))

    @property
    def dim(self) -> int | None:
        return int(self.meta["dim"]) if self.meta.get("dim") else None

    def documents_by_path(self) -> dict[str, Document]:
        rows = self.conn.execute(f"SELECT {DOC_COLUMNS} FROM documents")
        return {r[1]: _document(r) for r in rows}

    def problem_paths(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT path FROM problems")]

    def counts(self) -> dict:
        docs = self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        passages = self.conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return {"documents": docs, "passages": passages}

    def check(self, rebuild: bool = False) -> None:
        """Check the current generation's files against the database, cheaply (memory-mapped).

        Anything missing, unreadable or out of step sets `damaged`: the next commit then
        writes a fresh generation, and passages without a usable vector are embedded again
        from their stored text (`passages_without_vectors`). The vectors themselves are
        read only when a commit needs them (`base`).
        """
        self._base = None
        self._index = None
        self.vector_ids = np.zeros(0, np.int64)
        self.damaged = False
        if not self.generation:
            return
        stored = np.fromiter((r[0] for r in self.conn.execute("SELECT id FROM passages ORDER BY id")), dtype=np.int64)
        try:
            keywords_ok = np.array_equal(KeywordIndex.load(self.store.keywords_path(self.generation), mmap=True).ids,
                                         stored)
        except (OSError, ValueError, KeyError):
            keywords_ok = False
        try:
            index = vec.read(self.store.vectors_path(self.generation), mmap=True)
            ids = vec.ids_of(index) if index.d == self.dim else None
        except (RuntimeError, OSError):
            ids = None
        if ids is not None and not rebuild:
            self.vector_ids = ids
        self.damaged = rebuild or not keywords_ok or ids is None or not np.array_equal(np.sort(ids), stored)

    @property
    def base(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) to build the next generation from: read on first use, then kept
        in memory across the commits of one ingest."""
        if self._base is None:
            if len(self.vector_ids):
                self._index = vec.read(self.store.vectors_path(self.generation))
                self._base = vec.contents(self._index)
            else:
                self._base = (np.zeros(0, np.int64), np.zeros((0, self.dim or 0), np.float32))
        return self._base

    def passages_without_vectors(self, skip_paths: set[str]) -> list[tuple[int, str]]:
        """(id, text to embed) of stored passages the base lacks, outside `skip_paths`."""
        have = set(self.vector_ids.tolist())
        rows = self.conn.execute(
            "SELECT p.id, p.text, p.section, d.path FROM passages p JOIN documents d ON d.id = p.document_id "
            "ORDER BY p.id")
        return [(pid, index_text(text, section)) for pid, text, section, path in rows
                if pid not in have and path not in skip_paths]

    def all_passage_texts(self) -> list[tuple[int, str]]:
        rows = self.conn.execute("SELECT id, text, section FROM passages ORDER BY id")
        return [(pid, index_text(text, section)) for pid, text, section in rows]

    def commit(self, changes: Changes, *, model: str, dim: int | None, index_setting: str = "auto",
               hnsw_threshold: int = Settings.hnsw_threshold) -> int:
        """Write `changes` as the next generation; returns the generation now current.

        Vectors come from the base (for passages kept), the updates, and
        `changes.repaired_vectors`; a passage left without one aborts the commit.
        """
        conn = self.conn
        now = now_iso()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for path in changes.cleared_problems:
                conn.execute("DELETE FROM problems WHERE path = ?", (path,))
            for path, reason in changes.problems.items():
                conn.execute("INSERT OR REPLACE INTO problems (path, name, reason, seen_at) VALUES (?, ?, ?, ?)",
                             (path, Path(path).name, reason, now))
            for doc in changes.touched:
                conn.execute("UPDATE documents SET mtime_ns = ?, size = ? WHERE path = ?",
                             (doc.mtime_ns, doc.size, doc.path))
            if not changes.needs_generation() and not self.damaged:
                conn.execute("COMMIT")
                return self.generation

            for path in set(changes.removed_paths) | {u.document.path for u in changes.updates}:
                conn.execute("DELETE FROM documents WHERE path = ?", (path,))
            for doc in changes.metadata:
                conn.execute("UPDATE documents SET title = ?, publisher = ?, year = ?, doc_type = ? WHERE path = ?",
                             (doc.title, doc.publisher, doc.year, doc.doc_type, doc.path))
            new_ids, new_vectors = self._insert(changes.updates, now)

            stored = np.fromiter((r[0] for r in conn.execute("SELECT id FROM passages ORDER BY id")), dtype=np.int64)
            base_ids, base_vecs = self.base
            keep = np.isin(base_ids, stored)
            rep_ids = np.fromiter(changes.repaired_vectors, dtype=np.int64, count=len(changes.repaired_vectors))
            rep_vecs = [changes.repaired_vectors[int(i)] for i in rep_ids]
            dim = dim or self.dim or next((len(v) for v in rep_vecs), 0)
            all_ids = np.concatenate([base_ids[keep], new_ids, rep_ids]).astype(np.int64)
            all_vecs = np.concatenate([
                base_vecs[keep] if base_vecs.size else np.zeros((0, dim), np.float32),
                new_vectors.reshape(-1, dim),
                np.asarray(rep_vecs, dtype=np.float32).reshape(-1, dim),
            ]).astype(np.float32)
            order = np.argsort(all_ids, kind="stable")
            all_ids, all_vecs = all_ids[order], all_vecs[order]
            if not np.array_equal(stored, all_ids):
                raise CorruptKnowledgeBase(
                    f"Internal error: vectors for {len(np.setxor1d(stored, all_ids))} passages do not match the "
                    "database; nothing was changed. Run `kb ingest --rebuild`.")

            generation = self.generation + 1
            kind = vec.choose_kind(len(all_ids), index_setting, hnsw_threshold)
            if kind == "hnsw" and self._index is not None and vec.kind_of(self._index) == "hnsw" and keep.all():
                # Only additions: grow the existing graph instead of building it again.
                index = self._index
                added = np.isin(all_ids, np.concatenate([new_ids, rep_ids]))
                index.add_with_ids(all_vecs[added], all_ids[added])
            else:
                index = vec.build(all_ids, all_vecs, dim, kind)
            vec.write(index, self.store.vectors_path(generation))
            self._write_keywords(generation)

            new_meta = {"schema": SCHEMA_VERSION, "generation": str(generation), "model": model, "dim": str(dim),
                        "index_kind": kind, "updated_at": now}
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", new_meta.items())
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self._index = None  # it may hold additions that were just rolled back
            raise
        self.meta.update(new_meta)
        self._base = (all_ids, all_vecs)
        self._index = index
        self.vector_ids = all_ids
        self.damaged = False
        self._remove_old_generations(keep={generation, generation - 1})
        return generation

    def _insert(self, updates: list[DocumentUpdate], now: str) -> tuple[np.ndarray, np.ndarray]:
        conn = self.conn
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'passages'").fetchone()
        next_id = max(row[0] if row else 0, conn.execute("SELECT COALESCE(MAX(id), 0) FROM passages").fetchone()[0]) + 1
        ids, vecs = [], []
        for update in updates:
            d = update.document
            cur = conn.execute(
                "INSERT INTO documents (path, name, sha256, size, mtime_ns, title, publisher, year, doc_type, pages, "
                "kind, warnings, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (d.path, d.name, d.sha256, d.size, d.mtime_ns, d.title, d.publisher, d.year, d.doc_type, d.pages,
                 d.kind, json.dumps(list(d.warnings)), now))
            rows = []
            for p in update.passages:
                rows.append((next_id, cur.lastrowid, p.ordinal, p.page, p.section, p.start, p.end, p.text))
                ids.append(next_id)
                next_id += 1
            conn.executemany(f"INSERT INTO passages ({PASSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            vecs.append(update.vectors)
        dim = next((v.shape[1] for v in vecs if v.ndim == 2 and v.size), 0)
        stacked = np.concatenate([v.reshape(-1, dim) for v in vecs]) if ids else np.zeros((0, dim), np.float32)
        return np.asarray(ids, dtype=np.int64), stacked.astype(np.float32)

    def _write_keywords(self, generation: int) -> None:
        rows = self.all_passage_texts()
        index = KeywordIndex.build([r[0] for r in rows], [r[1] for r in rows])
        final = self.store.keywords_path(generation)
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)  # leftover of a crashed attempt at this generation
        index.save(tmp)
        for f in tmp.iterdir():
            vec.fsync(f)
        vec.fsync(tmp)
        os.replace(tmp, final)
        vec.fsync(final.parent)

    def _remove_old_generations(self, keep: set[int]) -> None:
        for path in self.store.root.iterdir():
            stem = path.name.split(".")[0]
            if not stem.startswith(("vectors-", "keywords-")):
                continue
            try:
                gen = int(stem.split("-")[1])
            except (IndexError, ValueError):
                continue
            if gen not in keep or path.name.endswith(".tmp"):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    def close(self) -> None:
        self.conn.close()
