"""The local backend: one SQLite database plus FAISS and keyword files per generation, in a folder.

A generation is one committed state. SQLite holds documents, passages and the current
generation number; its vectors (`vectors-<gen>.faiss`, or a delta and tombstones over an
earlier generation's file: vectors.py) and `keywords-<gen>/` (the keyword segments it
names, in `keyword-segments/`, and its tombstones: keywords.py) are written beside it under
new names, fsynced and renamed into place before the database transaction that names them
commits. A reader reads the generation number first and loads the files it names, and checks
the number again inside every read transaction, so it sees the old state or the new one,
never a mix. One writer at a time, by file lock.
"""
from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ...errors import Busy, CorruptKnowledgeBase, EmptyKnowledgeBase, KBError
from ...models import Filters, Status
from ...tokens import tokenize
from ..base import Backend, Changes, Generation, KeywordStats, SqlReader, SqlWriter, StaleSnapshot
from . import database as db
from . import idsets
from . import migrations
from . import vectors as vec
from . import keywords as kw
from .keywords import KeywordIndex

DB_NAME = "kb.sqlite"
LOCK_NAME = "write.lock"
INDEX_KINDS = ("auto", "flat", "hnsw")
# What opening for a shared read says when it cannot write beside the database: a read-only
# folder, or a full disk ("disk I/O error" is SQLITE_IOERR_SHMSIZE: the -shm file cannot grow).
ANNOUNCE_KEYWORD_BUILD = 20_000  # passages: from here a whole keyword build takes long enough to say so
READ_FALLBACK_ERRORS = ("readonly", "unable to open", "disk I/O error", "database or disk is full")


class LocalBackend(Backend):
    def __init__(self, root: Path | str, index: str = "auto", hnsw_threshold: int = 50_000):
        self.root = Path(root).expanduser()
        self.location = str(self.root)
        self.db_path = self.root / DB_NAME
        self.index_setting = index
        self.hnsw_threshold = hnsw_threshold

    # ---- reading -----------------------------------------------------------------------
    def exists(self) -> bool:
        """A database file with something in it (an empty file is what a crash at creation leaves)."""
        try:
            return self.db_path.stat().st_size > 0
        except OSError:
            return False

    def _missing(self) -> EmptyKnowledgeBase:
        return EmptyKnowledgeBase(
            f"No knowledge base at {self.root}. Run `kb ingest corpus/` (or set KB_DIR / --kb to the right folder).")

    @contextmanager
    def read(self):
        """A read transaction: every query inside sees one committed state.

        On a read-only folder or disk the database opens immutable: writers checkpoint their
        log into the database file when they finish, so that file holds the last commit.
        """
        if not self.exists():
            raise self._missing()
        with self._database_errors():
            conn = self._open_for_reading()
            try:
                conn.execute("BEGIN")
                if migrations.version(conn) < migrations.LATEST:
                    conn.execute("COMMIT")
                    self._upgrade()
                    conn.execute("BEGIN")
                yield conn
                conn.execute("COMMIT")
            finally:
                conn.close()

    def _open_for_reading(self) -> sqlite3.Connection:
        """A shared read, else immutable: a read-only folder, or a full disk where SQLite cannot
        create or size the log's shared-memory file (`-shm`), still answers from the last commit."""
        if os.access(self.root, os.W_OK) and (not self._wal_path.exists() or os.access(self._wal_path, os.W_OK)):
            conn = None
            try:
                conn = db.connect(self.db_path)
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
                return conn
            except sqlite3.OperationalError as exc:
                if conn is not None:
                    conn.close()
                if not any(s in str(exc) for s in READ_FALLBACK_ERRORS):
                    raise
        return db.connect(self.db_path, readonly=True)

    @property
    def _wal_path(self) -> Path:
        return self.db_path.with_name(DB_NAME + "-wal")

    def _upgrade(self) -> None:
        """An older knowledge base is brought up to date under the write lock before reading it."""
        if not os.access(self.root, os.W_OK):
            raise KBError(f"The knowledge base at {self.root} was made by an older version of this tool and its "
                          "folder is read-only; run `kb ingest` once with write access to upgrade it.")
        with self.writer(wait=60):
            pass

    @contextmanager
    def _database_errors(self):
        """SQLite's and the file system's failures, as one line saying what to do."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise storage_error(exc, self.root) from exc

    def current_generation(self) -> int:
        if not self.exists():
            return 0
        with self.read() as conn:
            return int(db.meta(conn).get("generation", 0))

    def recorded_model(self) -> str | None:
        if not self.exists():
            return None
        with self.read() as conn:
            return db.meta(conn).get("model") or None

    def vectors_path(self, generation: int) -> Path:
        return self.root / f"vectors-{generation:06d}.faiss"

    def keywords_path(self, generation: int) -> Path:
        return self.root / f"keywords-{generation:06d}"

    def documents(self):
        with self.read() as conn:
            return db.documents(conn, "ORDER BY name, path")

    def passage_counts(self) -> dict[int, int]:
        with self.read() as conn:
            return dict(conn.execute("SELECT document_id, COUNT(*) FROM passages GROUP BY document_id"))

    def problems(self) -> list[dict]:
        if not self.exists():
            return []
        with self.read() as conn:
            return db.problems(conn)

    def facets(self) -> dict[str, list]:
        with self.read() as conn:
            return db.facets(conn)

    def status(self) -> Status:
        if not self.exists():
            raise self._missing()
        with self.read() as conn:
            meta = db.meta(conn)
            counts = db.counts(conn)
            problems = db.problems(conn)
        gen = int(meta.get("generation", 0))
        vector_files = [f for f in vec.files(self.vectors_path(gen)) if f.exists()] if gen else []
        return Status(
            location=str(self.root), backend="local", documents=counts["documents"], passages=counts["passages"],
            model=meta.get("model"), dimension=int(meta["dim"]) if meta.get("dim") else None,
            index=meta.get("index_kind"), generation=gen, updated_at=meta.get("updated_at"),
            schema=int(meta.get("schema", 0)),
            bytes=sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file()),
            vector_bytes=sum(f.stat().st_size for f in vector_files), problems=problems)

    def reader(self, attempts: int = 5) -> "LocalReader":
        """Load the current generation's indexes (memory-mapped: they open fast and share
        pages between processes; files never change in place, so a map stays valid)."""
        for _ in range(attempts):
            with self.read() as conn:
                meta = db.meta(conn)
                count = db.counts(conn)["passages"]
            number = int(meta.get("generation", 0))
            if number == 0 or count == 0:
                raise EmptyKnowledgeBase(
                    f"The knowledge base at {self.root} has no passages yet. Run `kb ingest corpus/` to add documents.")
            try:
                index = vec.read(self.vectors_path(number), mmap=True)
                keywords = KeywordIndex.load(self.keywords_path(number), mmap=True)
            except (FileNotFoundError, RuntimeError, OSError, ValueError) as exc:
                if self.current_generation() != number:
                    continue  # a writer committed meanwhile: load the new one
                raise CorruptKnowledgeBase(
                    f"The knowledge base at {self.root} is missing or has a damaged index file for generation "
                    f"{number} ({type(exc).__name__}). Run `kb ingest --rebuild` to repair it from the database."
                ) from exc
            if index.ntotal != count or len(keywords) != count:
                raise CorruptKnowledgeBase(
                    f"The knowledge base at {self.root} is inconsistent: the database has {count} passages, the vector "
                    f"index {index.ntotal}, the keyword index {len(keywords)}. Run `kb ingest --rebuild` to repair it.")
            generation = Generation(number, meta["model"], int(meta["dim"]), meta.get("index_kind", "flat"), count)
            return LocalReader(self, generation, index, keywords)
        raise Busy(f"The knowledge base at {self.root} kept changing while loading; try again.")

    # ---- writing -----------------------------------------------------------------------
    @contextmanager
    def writer(self, wait: float = 600.0, on_wait=None):
        from filelock import FileLock, Timeout

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.root / LOCK_NAME))
            lock.acquire(timeout=0)
        except Timeout:  # (a TimeoutError, so an OSError: caught first)
            if on_wait:
                on_wait(f"Another ingest is writing to {self.root}; waiting for it to finish…")
            try:
                lock.acquire(timeout=wait)
            except Timeout:
                raise Busy(f"Another ingest is still writing to {self.root} after {wait:.0f} s; try again later.") from None
        except OSError as exc:
            raise storage_error(exc, self.root) from exc
        try:
            with self._database_errors():
                writer = LocalWriter(self, notify=on_wait)
            try:
                yield writer
            finally:
                writer.close()
        finally:
            lock.release()


class LocalReader(SqlReader):
    db = db

    def __init__(self, backend: LocalBackend, generation: Generation, vectors, keywords: KeywordIndex):
        self.backend = backend
        self.generation = generation
        self.vectors = vectors  # faiss IndexIDMap2
        self.keywords = keywords
        self._allowed: dict[Filters, np.ndarray] = {}
        self._keyword_scores: tuple[tuple, np.ndarray] | None = None
        self._lock = threading.Lock()

    @contextmanager
    def _read(self):
        """A read transaction on this reader's generation: StaleSnapshot if the database moved on."""
        with self.backend.read() as conn:
            if int(db.meta(conn).get("generation", 0)) != self.generation.number:
                raise StaleSnapshot("The knowledge base changed during the search; ask again.")
            yield conn

    def allowed(self, filters: Filters) -> np.ndarray | None:
        """Passage ids the filters allow, read from this generation (None: no filter)."""
        if filters.is_empty():
            return None
        with self._lock:
            if filters not in self._allowed:
                with self._read() as conn:
                    self._allowed[filters] = db.allowed_ids(conn, filters)
                if len(self._allowed) > 64:
                    self._allowed.pop(next(iter(self._allowed)))
            return self._allowed[filters]

    def dense(self, vector, k, filters):
        allowed = self.allowed(filters)
        if allowed is not None and not len(allowed):
            return []
        scores, ids = vec.search(self.vectors, vector, k, allowed)
        return list(zip(ids.tolist(), scores.tolist()))

    def _scores(self, question: str, filters: Filters | None) -> np.ndarray:
        """BM25 of every row for the question, zero outside the filters; kept for the last
        question, so fusion's scores() reuses the array keyword() computed (any filters do:
        fused candidates are allowed rows, whose scores no mask changes)."""
        cached = self._keyword_scores
        if cached is not None and cached[0][0] == question and (filters is None or cached[0][1] == filters):
            return cached[1]
        filters = filters or Filters()
        scores = self.keywords.scores(question, self.keywords.mask(self.allowed(filters)))
        self._keyword_scores = ((question, filters), scores)
        return scores

    def keyword(self, question, k, filters):
        allowed = self.allowed(filters)
        if allowed is not None and not len(allowed):
            return []
        scores = self._scores(question, filters)
        if not len(scores):
            return []
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]  # (a tombstoned row scores 0)
        return list(zip(self.keywords.ids[top].tolist(), scores[top].tolist()))

    def scores(self, ids, vector, question):
        if not ids:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        cosine = self.vectors.reconstruct_batch(np.asarray(ids, dtype=np.int64)) @ vector
        bm25 = self._scores(question, None)[self.keywords.rows(ids)] if len(self.keywords) else \
            np.zeros(len(ids), np.float32)
        return cosine, bm25

    def keyword_stats(self, question):
        return KeywordStats(len(self.keywords), self.keywords.document_frequencies(set(tokenize(question))))


class LocalWriter(SqlWriter):
    """Applies Changes as new generations. Only exists while the write lock is held.

    `base` is the (ids, vectors) of the current generation, kept in memory between the
    commits of one ingest so each commit does not re-read the index it just wrote.
    """

    db = db

    def __init__(self, backend: LocalBackend, notify=None):
        self.backend = backend
        self.notify = notify  # told of slow one-off work (converting an older keyword index)
        self.conn = db.connect(backend.db_path)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        migrations.upgrade(self.conn, backend.location)
        self.meta = db.meta(self.conn)
        self._base: tuple[np.ndarray, np.ndarray] | None = None
        self._index = None  # the faiss index the base came from, reused to grow an HNSW graph
        self._current = None  # the current generation's vectors (memory-mapped), to layer the next on
        self.vector_ids = np.zeros(0, np.int64)
        self._keywords: KeywordIndex | None = None  # the current generation's, to add segments to
        self._damaged = False
        self.check()

    def check(self, rebuild: bool = False) -> None:
        """Check the current generation's files against the database, cheaply (memory-mapped).

        Anything missing, unreadable or out of step sets `damaged`: the next commit then
        writes a fresh generation, and passages without a usable vector are embedded again
        from their stored text (`passages_without_vectors`). The vectors themselves are
        read only when a commit needs them (`base`).
        """
        self._base = None
        self._index = None
        self._current = None
        self.vector_ids = np.zeros(0, np.int64)
        self._keywords = None
        self._damaged = False
        if not self.generation:
            return
        stored = db.passage_ids(self.conn)
        try:
            keywords = KeywordIndex.load(self.backend.keywords_path(self.generation), mmap=True)
            keywords_ok = np.array_equal(keywords.live_ids(), stored)
        except (OSError, ValueError, KeyError):
            keywords_ok = False
        if keywords_ok and not rebuild and isinstance(keywords, KeywordIndex):
            self._keywords = keywords  # (an earlier version's bm25s index is rebuilt by the next commit)
        try:
            index = vec.read(self.backend.vectors_path(self.generation), mmap=True)
            ids = vec.ids_of(index) if index.d == self.dimension else None
        except (RuntimeError, OSError):
            ids = None
        if ids is not None and not rebuild:
            self.vector_ids = ids
            self._current = index
        self._damaged = rebuild or not keywords_ok or ids is None or \
            not np.array_equal(np.sort(ids, kind="stable"), stored)

    @property
    def base(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) to build the next generation from: read on first use, then kept
        in memory across the commits of one ingest."""
        if self._base is None:
            if len(self.vector_ids):
                self._index = vec.read(self.backend.vectors_path(self.generation))
                self._base = vec.contents(self._index)
            else:
                self._base = (np.zeros(0, np.int64), np.zeros((0, self.dimension or 0), np.float32))
        return self._base

    def passages_without_vectors(self, skip_paths):
        have = set(self.vector_ids.tolist())
        return [(pid, text) for pid, text, path in db.passage_texts(self.conn)
                if pid not in have and path not in skip_paths]

    def commit(self, changes: Changes, *, model: str, dimension: int | None) -> int:
        """Vectors come from the base (for passages kept), the updates, and
        `changes.repaired_vectors`; a passage left without one aborts the commit."""
        conn = self.conn
        now = db.now_iso()
        conn.execute("BEGIN IMMEDIATE")
        try:
            db.record_problems(conn, changes.cleared_problems, changes.problems, now)
            db.touch(conn, changes.touched)
            if not changes.needs_generation() and not self._damaged:
                conn.execute("COMMIT")
                return self.generation
            db.delete_documents(conn, set(changes.removed_paths) | {u.document.path for u in changes.updates})
            db.update_metadata(conn, changes.metadata)
            new_ids, new_vectors = self._insert(changes, now)
            stored = db.passage_ids(conn)  # what the next generation must hold, read once
            generation = self.generation + 1
            for stale in vec.generation_files(self.backend.vectors_path(generation)):
                stale.unlink(missing_ok=True)  # what a commit that crashed before naming it left
            layered = self._layered(changes, stored, new_ids, new_vectors, dimension)
            if layered is not None:
                index, all_ids = layered
                all_vecs, dim, kind = None, index.d, vec.kind_of(index)
                vec.write_layered(index, self.backend.vectors_path(generation))
            else:
                all_ids, all_vecs, dim, only_added = self._next_vectors(changes, stored, new_ids, new_vectors,
                                                                        dimension)
                kind = vec.choose_kind(len(all_ids), self.backend.index_setting, self.backend.hnsw_threshold)
                grown = self._index.base if isinstance(self._index, vec.Layered) and not len(self._index.deleted) \
                    else self._index
                if kind == "hnsw" and grown is not None and vec.kind_of(grown) == "hnsw" and only_added:
                    # Only additions: grow the existing graph instead of building it again.
                    index = grown
                    added = ~np.isin(all_ids, vec.ids_of(grown))
                    index.add_with_ids(all_vecs[added], all_ids[added])
                else:
                    index = vec.build(all_ids, all_vecs, dim, kind)
                vec.write(index, self.backend.vectors_path(generation))
            keywords = self._write_keywords(generation, all_ids)
            new_meta = {"generation": str(generation), "model": model, "dim": str(dim), "index_kind": kind,
                        "updated_at": now}
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", new_meta.items())
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:  # a COMMIT that failed (disk full) has already rolled back
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            self._index = self._current = None  # they may hold additions that were just rolled back
            self._remove_old_generations(keep={self.generation, self.generation - 1})  # half-written files
            if isinstance(exc, (OSError, sqlite3.DatabaseError, RuntimeError)) and not isinstance(exc, KBError):
                raise storage_error(exc, self.backend.root, removed_partial=True) from exc
            raise
        self.meta.update(new_meta)
        if all_vecs is None:  # layered: the whole (ids, vectors) are read again if a rewrite needs them
            self._base, self._index = None, None
        else:
            self._base, self._index = (all_ids, all_vecs), index
        self._current = index
        self.vector_ids = all_ids
        self._keywords = keywords
        self._damaged = False
        self._remove_old_generations(keep={generation, generation - 1})
        return generation

    def _insert(self, changes: Changes, now: str) -> tuple[np.ndarray, np.ndarray]:
        next_id = db.next_passage_id(self.conn)
        ids, vecs = [], []
        for update in changes.updates:
            ids += db.insert_document(self.conn, update.document, update.passages, next_id, now)
            next_id += len(update.passages)
            vecs.append(update.vectors)
        dim = next((v.shape[1] for v in vecs if v.ndim == 2 and v.size), 0)
        stacked = np.concatenate([v.reshape(-1, dim) for v in vecs]) if ids else np.zeros((0, dim), np.float32)
        return np.asarray(ids, dtype=np.int64), stacked.astype(np.float32)

    def _layered(self, changes: Changes, stored: np.ndarray, new_ids, new_vectors,
                 dimension) -> tuple[vec.Layered, np.ndarray] | None:
        """The next generation as the current one's base plus a delta and tombstones (and its
        passage ids), or None
        where a whole index is due: a repair, a change of kind or dimension, or the delta or
        tombstones past vec.REWRITE_SHARE of the base."""
        current = self._current
        if current is None or self._damaged or changes.repaired_vectors or not len(self.vector_ids):
            return None
        if dimension and dimension != current.d:
            return None
        if vec.choose_kind(len(stored), self.backend.index_setting, self.backend.hnsw_threshold) != \
                vec.kind_of(current):
            return None
        if isinstance(current, vec.Layered):
            base, base_generation = current.base, current.base_generation
            delta_ids, delta_vectors, deleted = current.delta_ids, current.delta_vectors, current.deleted
        else:
            base, base_generation = current, self.generation
            delta_ids, delta_vectors = np.zeros(0, np.int64), np.zeros((0, current.d), np.float32)
            deleted = np.zeros(0, np.int64)
        removed = idsets.difference(self.vector_ids, stored)
        kept = ~np.isin(delta_ids, removed)
        deleted = idsets.union(deleted, removed[~np.isin(removed, delta_ids)])
        delta_ids = np.concatenate([delta_ids[kept], new_ids]).astype(np.int64)
        delta_vectors = np.concatenate([delta_vectors[kept], new_vectors.reshape(-1, current.d)])
        if max(len(delta_ids), len(deleted)) > vec.REWRITE_SHARE * base.ntotal:
            return None
        live = np.sort(np.concatenate([idsets.difference(self.vector_ids, removed), new_ids]), kind="stable")
        _check_vectors_match(stored, live)
        return vec.Layered(base, base_generation, delta_ids, delta_vectors, deleted), live

    def _next_vectors(self, changes: Changes, stored: np.ndarray, new_ids, new_vectors, dimension):
        """(ids, vectors, dim, only additions) of the next generation, checked against the
        database's passage ids (`stored`)."""
        base_ids, base_vecs = self.base
        keep = np.isin(base_ids, stored)
        rep_ids = np.fromiter(changes.repaired_vectors, dtype=np.int64, count=len(changes.repaired_vectors))
        rep_vecs = [changes.repaired_vectors[int(i)] for i in rep_ids]
        dim = dimension or self.dimension or next((len(v) for v in rep_vecs), 0)
        all_ids = np.concatenate([base_ids[keep], new_ids, rep_ids]).astype(np.int64)
        all_vecs = np.concatenate([
            base_vecs[keep] if base_vecs.size else np.zeros((0, dim), np.float32),
            new_vectors.reshape(-1, dim),
            np.asarray(rep_vecs, dtype=np.float32).reshape(-1, dim),
        ]).astype(np.float32)
        order = np.argsort(all_ids, kind="stable")
        all_ids, all_vecs = all_ids[order], all_vecs[order]
        _check_vectors_match(stored, all_ids)
        return all_ids, all_vecs, dim, bool(keep.all())

    def _write_keywords(self, generation: int, stored: np.ndarray) -> KeywordIndex:
        """The next generation's keyword index: the previous one plus a segment of the new
        passages and tombstones for the ones gone; whole, from the stored texts, after a
        repair or over an earlier version's bm25s index."""
        previous = self._keywords
        if previous is not None and len(previous.ids) and idsets.difference(stored, previous.live_ids()).min(
                initial=np.iinfo(np.int64).max) <= previous.ids[-1]:
            previous = None  # new ids inside the old range (never made by this writer): build whole
        if previous is None and self.generation and self.notify and len(stored) >= ANNOUNCE_KEYWORD_BUILD:
            self.notify(f"Building the keyword index of {len(stored):,} passages in its incremental form "
                        "(once; about 20 s per 100,000 passages on idle cores)…")

        def texts(ids: np.ndarray):
            return db.passage_texts_of(self.conn, ids)

        folder = kw.write_generation(self.backend.root, generation, previous, stored, texts)
        return KeywordIndex.load(folder, mmap=True)

    def _remove_old_generations(self, keep: set[int]) -> None:
        """Files of generations not in `keep`, except the whole vector files that theirs layer on."""
        bases = set()
        for g in keep:
            try:
                bases.add(vec.base_generation(self.backend.vectors_path(g)))
            except (OSError, ValueError, KeyError):
                pass  # (a half-written manifest of a failed commit: its generation's files go)
        for path in self.backend.root.iterdir():
            stem = path.name.split(".")[0]
            if not stem.startswith(("vectors-", "keywords-")):
                continue
            try:
                gen = int(stem.split("-")[1])
            except (IndexError, ValueError):
                continue
            if path.name.endswith(".tmp") or not (gen in keep or stem.startswith("vectors-") and gen in bases
                                                  and path.suffix == ".faiss" and ".delta" not in path.name):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        kw.remove_unused_segments(self.backend.root, [self.backend.keywords_path(g) for g in keep])

    def close(self) -> None:
        """Fold the write-ahead log into the database file, so a reader that can only open the
        folder read-only (immutable) still sees the last commit."""
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass  # a checkpoint is an optimisation for readers; the commit is already durable
        self.conn.close()


FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def storage_error(exc: BaseException, root: Path, removed_partial: bool = False) -> KBError:
    """One line for what went wrong with the files or the database, and what to do.
    `removed_partial`: a failed commit, whose half-written index files were removed."""
    text = str(exc)
    if getattr(exc, "errno", None) in FULL or "No space left" in text or "disk is full" in text \
            or "File too large" in text or _nearly_full(root):
        removed = " (the half-written index files were removed)" if removed_partial else ""
        return KBError(f"The disk holding {root} is full; nothing was changed{removed}. Free some space and run the "
                       "ingest again.")
    if getattr(exc, "errno", None) in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in text \
            or "read-only" in text.lower():
        return KBError(f"The knowledge base folder {root} is read-only here: questions and `kb status` work, but "
                       "`kb ingest` needs write access to it.")
    if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
        return CorruptKnowledgeBase(
            f"{root / DB_NAME} is not a usable knowledge-base database ({text}). Move the folder aside and run "
            "`kb ingest` on your documents to build it again.")
    return KBError(f"The knowledge base at {root} could not be read or written ({type(exc).__name__}: "
                   f"{text.splitlines()[0][:160] if text else 'no detail'}). Check the disk and the folder, then "
                   "try again.")


def _nearly_full(root: Path) -> bool:
    """SQLite reports a full disk under a write-ahead log as a plain I/O error: look."""
    try:
        return shutil.disk_usage(root).free < 1024 * 1024
    except OSError:
        return False


def _check_vectors_match(stored: np.ndarray, ids: np.ndarray) -> None:
    """The next generation's vectors must be for exactly the passages the database holds."""
    if not np.array_equal(stored, ids):
        raise CorruptKnowledgeBase(
            f"Internal error: vectors for {len(np.setxor1d(stored, ids))} passages do not match the "
            "database; nothing was changed. Run `kb ingest --rebuild`.")
