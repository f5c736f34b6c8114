"""Run an ingest: plan, extract, split, embed, and hand each batch to the store as one commit.

Nothing here prints: progress goes to a callback, the outcome comes back as an IngestReport.
The model is loaded only if some passage needs embedding.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import stat
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from kb.backends import Changes, DocumentUpdate, open_backend
from kb.config import Settings
from kb.embedders import Embedder, for_settings
from kb import states, web_copies
from kb.errors import ExtractionError, ModelMismatch
from kb.models import Document, Passage
from kb.tokens import index_text

from . import discover, formats, limits, metadata, web
from .formats import ocr
from .split import split_pages
from .types import Extracted

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class IngestReport:
    kb_dir: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)  # {"path", "reason"}
    warnings: list[dict] = field(default_factory=list)  # {"path", "warning"}
    repaired_index: bool = False  # the index files were missing or out of step, and were rebuilt
    repaired_passages: int = 0
    new_passages: int = 0
    passages: int = 0  # in the knowledge base afterwards
    documents: int = 0
    generation: int = 0
    model_loaded: bool = False
    seconds: float = 0.0

    @property
    def ingested_anything(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.unchanged or self.repaired_passages
                    or self.repaired_index)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed and not self.ingested_anything else 0

    def to_dict(self) -> dict:
        return asdict(self)


def ingest(paths: list[Path | str], settings: Settings, *, rebuild: bool = False,
           progress: Progress | None = None, on_wait: Callable[[str], None] | None = None,
           embedder: Embedder | None = None, quota=None) -> IngestReport:
    """Bring the knowledge base in step with `paths`, under the write lock.

    A path given as a string starting with http:// or https:// is a web address: it is
    fetched (conditionally, when stored before) and kept under that address. `quota`
    (ingest.library.UploadQuota, from the app): each fetched page is reserved against it,
    or refused with its reason.
    """
    started = time.perf_counter()
    embedder = embedder or for_settings(settings, shared=False)
    backend = open_backend(settings)
    with backend.writer(wait=settings.lock_wait_s, on_wait=on_wait) as writer:
        run = _Run(writer, backend.location, settings, embedder, progress or (lambda stage, done, total: None), quota)
        run.plan([Path(p) for p in paths if not web.is_address(p)], rebuild)
        run.plan_addresses([p for p in paths if web.is_address(p)])
        run.read_embed_commit()
    run.report.seconds = round(time.perf_counter() - started, 3)
    return run.report


@dataclass
class _Pending:
    """A file (or fetched page) read and split, waiting to be embedded and committed."""

    found: discover.Found | web.Fetched
    extracted: Extracted
    passages: list
    texts: list[str]  # what gets embedded for each passage


class _Run:
    """One ingest: its plan, the batch waiting to be committed, and the report."""

    def __init__(self, writer, location: str, settings: Settings, embedder: Embedder, progress: Progress,
                 quota=None):
        self.writer, self.settings, self.embedder, self.progress = writer, settings, embedder, progress
        self.report = IngestReport(kb_dir=location)
        self.changes = Changes()
        self.pending: list[_Pending] = []
        self.repairs: list[tuple[int, str]] = []  # stored passages to embed again
        self.embedded = 0
        self.last_commit = time.perf_counter()
        self.files: list[discover.Found] = []
        self.jobs: list[web.Job] = []
        self.quota = quota  # ingest.library.UploadQuota: fetched pages count against it

    def plan(self, paths: list[Path], rebuild: bool) -> None:
        writer, report = self.writer, self.report
        stored_model = writer.model
        if stored_model and stored_model != self.embedder.identity and not rebuild:
            raise ModelMismatch(
                f"This knowledge base was built with {stored_model}, but the model setting is {self.embedder.identity}. "
                "Run `kb ingest --rebuild` to re-embed everything with the new model, or set KB_MODEL back.")
        self.progress("scan", 0, 0)
        self.stored = writer.documents_by_path()
        plan = discover.plan(paths, self.stored)
        self.files = plan.new + plan.changed
        report.failed += [{"path": p, "reason": r} for p, r in plan.failed]
        report.unchanged = [d.name for d in plan.unchanged] + [d.name for _, d in plan.touched]
        report.removed = [d.name for d in plan.removed]
        self.changes = Changes(removed_paths=[d.path for d in plan.removed],
                               touched=[replace(d, size=f.size, mtime_ns=f.mtime_ns) for f, d in plan.touched],
                               problems=dict(plan.failed),
                               cleared_problems=_stale_problems(writer.problem_paths(), plan))
        _sidecar_updates(plan.unchanged + [d for _, d in plan.touched], self.changes, report)
        # Stored passages the vector index lacks (a damaged index, or --rebuild) are embedded
        # again from their stored text; their source files are not read.
        writer.check(rebuild=rebuild)
        report.repaired_index = writer.damaged and not rebuild
        replaced = {str(f.path) for f in plan.changed} | set(self.changes.removed_paths)
        self.repairs = writer.passages_without_vectors(replaced)
        self.known_hashes = {d.sha256: d.name for d in self.stored.values() if d.path not in replaced}

    def plan_addresses(self, addresses: list[str]) -> None:
        """Every address is fetched; one stored before is asked for only if it changed."""
        for raw in addresses:
            try:
                url = web.normalise(raw)
            except web.AddressError as exc:
                self.report.failed.append({"path": raw.strip(), "reason": str(exc)})
                continue
            if any(job.url == url for job in self.jobs):
                continue
            stored = self.stored.get(url)
            self.jobs.append(web.Job(url, web.Validators.from_meta(stored.extracted_meta) if stored else
                                     web.Validators(), stored.sha256 if stored else None))

    def read_embed_commit(self) -> None:
        """Read every new or changed file and fetch every address, committing at least every
        `checkpoint_s` seconds."""
        total = len(self.files) + len(self.jobs)
        for i, (source, result) in enumerate(_extract_all(self.files, self.jobs, self.settings)):
            self.progress("extract", i, total)
            if isinstance(source, web.Job):
                self._add_page(source, result)
            else:
                self._add(source, result)
            if time.perf_counter() - self.last_commit > self.settings.checkpoint_s:
                self._commit()
        self.progress("extract", total, total)
        self._commit()
        if self.jobs or any(web_copies.is_web(d) for d in self.stored.values()):
            web_copies.prune(self.settings.kb_dir, {d.sha256 for d in self.writer.documents_by_path().values()
                                                    if web_copies.is_web(d)})
        counts = self.writer.counts()
        self.report.passages, self.report.documents = counts["passages"], counts["documents"]
        self.report.generation = self.writer.generation

    def _add_page(self, job: web.Job, result: web.Fetched | web.Unchanged | str) -> None:
        """A fetched address: read like a file when it changed; a failure keeps what is stored."""
        stored = self.stored.get(job.url)
        if isinstance(result, str):
            kept = f"; the copy fetched {stored.accessed or 'earlier'} is kept" if stored else ""
            self._fail(job.url, result + kept)
        elif isinstance(result, web.Unchanged):
            self.report.unchanged.append(stored.name)
            self.changes.cleared_problems.append(job.url)
            if result.validators != web.Validators.from_meta(stored.extracted_meta):
                meta = json.loads(stored.extracted_meta or "{}")
                self.changes.metadata.append(replace(stored, extracted_meta=json.dumps(
                    {**meta, "http": result.validators.to_dict()})))
        else:
            refused = self.quota.reserve_page(result) if self.quota is not None else None
            if refused:
                self._fail(job.url, refused)
                return
            for note in result.notes:
                self.report.warnings.append({"path": job.url, "warning": note})
            self._add(result, result.extracted)

    def _add(self, found: discover.Found | web.Fetched, result: Extracted | str,
             passages: list[Passage] | None = None) -> None:
        """`passages`: already split (by a Ray task); otherwise split here."""
        key = found.key
        if isinstance(result, str):
            self._fail(key, result)
        elif found.sha256 in self.known_hashes:
            self.report.failed.append({"path": key, "reason": f"same content as {self.known_hashes[found.sha256]}, "
                                                             "already in the knowledge base; skipped"})
        else:
            try:
                passages = split_into_passages(result, self.settings.max_document_passages) if passages is None \
                    else passages
            except ExtractionError as exc:
                self._fail(key, str(exc))
                return
            if not passages:
                self._fail(key, "no passages: the file has no text to index")
                return
            self.known_hashes[found.sha256] = found.name
            self.pending.append(_Pending(found, result, passages, [index_text(p.text, p.section, p.context) for p in passages]))

    def _fail(self, path: str, reason: str) -> None:
        self.report.failed.append({"path": path, "reason": reason})
        self.changes.problems[path] = reason

    def _commit(self) -> None:
        """Embed what is pending (and any repairs) in one length-sorted batch, then commit."""
        report, changes = self.report, self.changes
        vectors = self._embed([t for p in self.pending for t in p.texts] + [t for _, t in self.repairs])
        at = 0
        for p in self.pending:
            doc = _document(p.found, p.extracted, report)
            if isinstance(p.found, web.Fetched):
                web_copies.keep_copy(self.settings.kb_dir, doc.sha256, doc.kind, p.found.data)
            changes.updates.append(DocumentUpdate(doc, p.passages, vectors[at:at + len(p.passages)]))
            at += len(p.passages)
            (report.updated if p.found.key in self.stored else report.added).append(doc.name)
            report.new_passages += len(p.passages)
            changes.cleared_problems.append(p.found.key)
        changes.repaired_vectors = {pid: v for (pid, _), v in zip(self.repairs, vectors[at:])}
        report.repaired_passages += len(self.repairs)
        self.progress("write", 0, 1)
        report.generation = self.writer.commit(
            changes, model=self.embedder.identity, dimension=vectors.shape[1] if vectors.size else self.writer.dimension)
        self.progress("write", 1, 1)
        self.changes, self.pending, self.repairs = Changes(), [], []
        self.last_commit = time.perf_counter()

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.writer.dimension or 0), np.float32)
        self.report.model_loaded = True
        total = self.embedded + len(texts)
        self.progress("embed", self.embedded, total)

        def advance(n: int) -> None:
            self.embedded += n
            self.progress("embed", self.embedded, total)

        return self.embedder.encode_passages(texts, progress=advance)


def split_into_passages(extracted: Extracted, max_passages: int | None = None) -> list[Passage]:
    """A file's passages, each tagged with the US states it names; ExtractionError over
    `max_passages` (KB_MAX_DOCUMENT_PASSAGES), before anything is embedded."""
    passages = split_pages(extracted.pages)
    limit = limits.active().max_passages if max_passages is None else max_passages
    if len(passages) > limit:
        raise limits.too_many_passages(len(passages), limit)
    return [replace(p, states=states.in_text(p.text)) for p in passages]


def _stale_problems(problem_paths: list[str], plan: discover.Plan) -> list[str]:
    """Problems recorded earlier under the paths scanned now: this run's findings replace them."""
    return [p for p in problem_paths if any(Path(p).is_relative_to(folder) for folder in plan.folders)]


def _document(found: discover.Found | web.Fetched, extracted: Extracted, report: IngestReport) -> Document:
    own = {"title": extracted.title, "publisher": extracted.publisher or extracted.site_name, "year": extracted.year,
           "url": extracted.url, "states": list(states.in_text(extracted.title or ""))}
    own.update({k: v for k, v in (("published", extracted.published), ("site_name", extracted.site_name)) if v})
    if isinstance(found, web.Fetched):
        own["http"] = found.validators.to_dict()
    for w in extracted.warnings:
        report.warnings.append({"path": found.key, "warning": w})
    doc = Document(None, found.key, found.name, found.sha256, found.size, found.mtime_ns, "", None, None,
                   None, extracted.page_count, kind=extracted.kind, warnings=tuple(extracted.warnings),
                   accessed=extracted.accessed, extracted_meta=json.dumps(own))
    return replace(doc, **_resolved(doc, report))


def _resolved(doc: Document, report: IngestReport) -> dict:
    """The metadata a document should have now: its sidecar entry over what the file says."""
    own = json.loads(doc.extracted_meta or "{}")
    try:
        side = metadata.SidecarEntry() if web_copies.is_web(doc) else metadata.sidecar_for(Path(doc.path))
    except metadata.SidecarError as exc:
        side = metadata.SidecarEntry(problems=[str(exc)])
    for problem in side.problems:
        report.warnings.append({"path": doc.path, "warning": problem})
    named = Path(web.display_name(doc.path)) if web_copies.is_web(doc) else Path(doc.path)
    meta = metadata.resolve(named, own.get("title"), own.get("publisher"), own.get("year"), side.values)
    return {"title": meta["title"], "publisher": meta["publisher"], "year": meta["year"], "doc_type": meta["doc_type"],
            "url": meta["url"] or own.get("url"), "states": tuple(meta["states"] or own.get("states") or ())}


def _sidecar_updates(docs: list[Document], changes: Changes, report: IngestReport) -> None:
    """Apply sidecar edits to unchanged files without re-reading them."""
    for doc in docs:
        if doc.extracted_meta is None:  # stored before extracted metadata was kept: only the sidecar can win
            doc = replace(doc, extracted_meta=json.dumps({"title": doc.title, "publisher": doc.publisher,
                                                          "year": doc.year, "url": doc.url, "states": doc.states}))
        wanted = _resolved(doc, report)
        if any(getattr(doc, k) != v for k, v in wanted.items()):
            changes.metadata.append(replace(doc, **wanted))


# ---- extraction, in worker processes under time and memory limits ---------------------------

WORKER_MEMORY_BYTES = 4 * 1024**3


def _extract_all(files: list[discover.Found], jobs: list[web.Job], settings: Settings):
    """Yield (found, Extracted or reason) for the files, then (job, Fetched, Unchanged or
    reason) for the addresses, in order; fills in found.sha256 from the bytes read.

    Every file is read, and every address fetched and read, in a worker process: a
    pathological file costs at most the time limit, and a parser that crashes or runs out of
    memory takes only its worker down.
    """
    limit = settings.max_file_mb * 1024 * 1024
    pool = _pool() if jobs or any(f.size <= limit for f in files) else None
    document = limits.DocumentLimits.of(settings)
    futures = {f.path: pool.schedule(_extract_in_worker, args=(str(f.path), str(f.real or f.path), f.inode, limit,
                                                               _ocr_budget(settings), document),
                                     timeout=settings.extract_timeout_s)
               for f in files if f.size <= limit}
    fetches = [pool.schedule(_fetch_in_worker, args=(job, settings.fetch_timeout_s, limit, _ocr_budget(settings),
                                                      settings.fetch_allow_private, document),
                             timeout=settings.fetch_timeout_s + settings.extract_timeout_s) for job in jobs]
    try:
        for f in files:
            if f.path not in futures:
                yield f, (f"file is {f.size / 2**20:.0f} MB, over the {settings.max_file_mb} MB limit "
                          "(KB_MAX_FILE_MB); skipped")
            else:
                outcome = _result(futures[f.path], settings)
                if isinstance(outcome, tuple):
                    f.sha256, outcome = outcome
                yield f, outcome
        for job, future in zip(jobs, fetches):
            yield job, _result(future, settings)
    finally:
        for future in [*futures.values(), *fetches]:
            future.cancel()


def _ocr_budget(settings: Settings) -> float:
    """OCR stops with a reason a little before the worker would be stopped without one."""
    return settings.extract_timeout_s * 0.9


_POOL = None


def _pool():
    """One pool of two workers per process, kept between ingests (starting one costs ~1 s)."""
    global _POOL
    from pebble import ProcessPool

    if _POOL is None or not _POOL.active:
        _POOL = ProcessPool(max_workers=2, context=multiprocessing.get_context("spawn"), initializer=_start_worker)
        import atexit

        atexit.register(_stop_pool, _POOL)
    return _POOL


def _stop_pool(pool) -> None:
    pool.stop()
    pool.join(timeout=5)


def _result(future, settings: Settings):
    """What the worker returned, or the reason it failed."""
    from concurrent.futures import TimeoutError as FutureTimeout

    from pebble import ProcessExpired

    try:
        return future.result()
    except ExtractionError as exc:
        return str(exc)
    except FutureTimeout:
        return (f"extraction took longer than {settings.extract_timeout_s:g} s and was stopped "
                "(a pathological file?); raise KB_EXTRACT_TIMEOUT_S to allow more")
    except MemoryError:
        return "ran out of memory while extracting (a pathological file?)"
    except ProcessExpired as exc:
        return f"the reader crashed on this file (exit code {exc.exitcode})"
    except Exception as exc:  # a bug, but one file must not sink the batch
        return f"unexpected error while reading ({type(exc).__name__}: {exc})"


def _extract_in_worker(path: str, real: str, inode: tuple[int, int] | None, limit: int, ocr_s: float,
                       document: limits.DocumentLimits = limits.DocumentLimits()):
    data = read_bytes(Path(real), inode, limit)
    with ocr.time_limit(ocr_s), limits.applied(document):
        return hashlib.sha256(data).hexdigest(), formats.extract(Path(path), data)


def _fetch_in_worker(job: web.Job, fetch_s: float, limit: int, ocr_s: float, allow_private: bool = False,
                     document: limits.DocumentLimits = limits.DocumentLimits()):
    with ocr.time_limit(ocr_s), limits.applied(document):
        return web.fetch_and_read(job, fetch_s, limit, allow_private)


def read_bytes(path: Path, inode: tuple[int, int] | None = None, limit: int | None = None) -> bytes:
    """The file's bytes, if it is still the regular file discovery checked (a link swapped
    since then is refused) and not over `limit` bytes however its size was reported."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or (inode is not None and (st.st_dev, st.st_ino) != tuple(inode)):
                raise ExtractionError("the file was replaced while it was being read; ingest again")
            data = f.read() if limit is None else f.read(limit + 1)
    except PermissionError:
        raise ExtractionError("permission denied: the file cannot be read by this user") from None
    except IsADirectoryError:
        raise ExtractionError("is a directory, not a file") from None
    except OSError as exc:
        raise ExtractionError(f"cannot be read ({exc.strerror or exc})") from None
    if limit is not None and len(data) > limit:
        raise ExtractionError(f"file is over the {limit // 2**20} MB limit (KB_MAX_FILE_MB); skipped")
    return data


def _start_worker() -> None:
    """A reader worker: bounded memory, and gone (with its Tesseract) when its parent is."""
    from .lifetime import exit_with_parent

    _limit_memory()
    exit_with_parent()


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    except (ImportError, ValueError, OSError):
        pass
