"""What the app's Library does to documents, as plain functions: edit a document's metadata
(saved to the sidecar, applied without re-embedding), delete a document, re-ingest one,
remove a rejected file, and keep uploads within the corpus folder's quota.

Each refuses with a UsageError (one line, what to do) when the settings say read-only, and
touches files only inside the corpus folder it is given: a document ingested from elsewhere
(by `kb ingest /some/folder`) leaves the knowledge base, but its file stays where it is.
"""
from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from kb.backends import Changes, open_backend
from kb import web_copies
from kb.config import Settings
from kb.errors import UsageError
from kb.files import write_text_atomically
from kb.models import Document

from . import metadata, web
from .pipeline import IngestReport, ingest
from .uploads import UploadRejected, UploadResult, _shown, check_size, save_upload

EDITABLE = ("title", "publisher", "year", "type", "url", "states")  # sidecar keys the Library edits
LOCK_NAME = ".metadata.json.lock"  # hidden: discovery never reads it


@dataclass
class Removal:
    path: str
    file_deleted: bool  # the file was inside the corpus folder and is gone
    message: str


def check_writable(settings: Settings) -> None:
    if settings.read_only:
        raise UsageError("The library is read-only here (KB_READ_ONLY): documents cannot be added, edited or removed.")


def find_document(settings: Settings, path: str) -> Document:
    for doc in open_backend(settings).documents():
        if doc.path == str(path):
            return doc
    raise UsageError(f"{Path(path).name} is not in the knowledge base (any more); refresh the page.")


# ---- metadata --------------------------------------------------------------------------------

def edit_metadata(settings: Settings, path: str, values: dict, *, embedder=None,
                  progress: Callable | None = None) -> IngestReport:
    """Save `values` (any of EDITABLE; empty means "fall back to what the file says") in the
    sidecar beside the document, then apply it: an unchanged file gets a metadata-only
    update, so nothing is embedded again (report.model_loaded stays False)."""
    check_writable(settings)
    doc = find_document(settings, path)
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise UsageError(f"Cannot edit {', '.join(sorted(unknown))}; editable fields: {', '.join(EDITABLE)}.")
    given = {k: v for k, v in values.items() if v not in (None, "", [], ())}
    checked = metadata.check_entry({k: list(v) if k == "states" else v for k, v in given.items()})
    if checked.problems:
        raise UsageError(checked.problems[0].replace("metadata.json: ", "").replace("; ignored", "."))
    if web.is_address(doc.path):
        return _edit_web_document(settings, doc, {k: checked.values.get(k) for k in values})
    source = Path(doc.path)
    if not source.is_file():
        raise UsageError(f"{doc.name} is no longer at {source}; re-scan the corpus folder before editing it.")
    update_sidecar(source, {k: checked.values.get(k) for k in values})
    return ingest([source], settings, embedder=embedder, progress=progress)


def _edit_web_document(settings: Settings, doc: Document, values: dict) -> IngestReport:
    """A web page has no folder to hold a sidecar: the edit goes into the stored document
    (an empty field falls back to what the page said). A later fetch of a changed page
    reads its metadata afresh."""
    said = json.loads(doc.extracted_meta or "{}")
    fields = {"title": "title", "publisher": "publisher", "year": "year", "type": "doc_type", "url": "url",
              "states": "states"}
    changed = {}
    for key, value in values.items():
        value = value if value not in (None, "", [], ()) else said.get(key)
        if key == "title":
            value = value or doc.name
        if key == "states":
            value = tuple(value or ())
        if key == "url":
            value = value or doc.path
        changed[fields[key]] = value
    updated = replace(doc, **changed)
    _commit(settings, Changes(metadata=[updated]))
    return IngestReport(kb_dir=str(settings.kb_dir), unchanged=[doc.name])


def update_sidecar(source: Path, fields: dict) -> None:
    """Set (or, for None, remove) fields of `source`'s entry in its folder's metadata.json,
    keeping every other key and entry."""
    def change(entry: dict) -> dict:
        entry.pop("state", None)  # "states" is the one key written
        for key, value in fields.items():
            if value is None:
                entry.pop(key, None)
            else:
                entry[key] = list(value) if key == "states" else value
        return entry

    _edit_sidecar(source, change)


def forget_sidecar_entry(source: Path) -> None:
    """Remove `source`'s whole entry (its file is gone), when there is a sidecar."""
    if (source.parent / metadata.SIDECAR_NAME).exists():
        _edit_sidecar(source, lambda entry: {})


def _edit_sidecar(source: Path, change: Callable[[dict], dict]) -> None:
    """Read-modify-write of one entry, atomically and under a lock, so two edits never lose one."""
    from filelock import FileLock

    sidecar = source.parent / metadata.SIDECAR_NAME
    try:
        with FileLock(str(source.parent / LOCK_NAME), timeout=30):
            data = _read_sidecar(sidecar)
            entry = change(dict(data.get(source.name) or {}))
            if entry:
                data[source.name] = entry
            else:
                data.pop(source.name, None)
            write_text_atomically(sidecar, json.dumps(data, ensure_ascii=False, indent=2) + "\n", mode=0o644)
    except OSError as exc:
        raise UsageError(f"Could not save {sidecar} ({exc.strerror or exc}); check that the folder is writable.") \
            from None
    metadata._load.cache_clear()  # the next read sees this write even within one clock tick


def _read_sidecar(sidecar: Path) -> dict:
    if not sidecar.exists():
        return {}
    try:
        return metadata.read_sidecar(sidecar)
    except metadata.SidecarError as exc:
        reason = str(exc).split(";")[0]  # what is wrong; the fix is by hand
        raise UsageError(f"{reason}; fix it by hand before editing metadata here.") from None


# ---- delete, re-ingest, rejected files -------------------------------------------------------

def inside(path: Path | str, folder: Path | str) -> bool:
    """Whether `path` (links resolved) lies inside `folder`: the only files the app may delete."""
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, RuntimeError):
        return False


def _delete_file(path: Path, corpus_dir: Path) -> bool:
    if not inside(path, corpus_dir) or path.is_symlink() or not path.is_file():
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise UsageError(f"Could not delete {path.name} ({exc.strerror or exc}); check the corpus folder's "
                         "permissions.") from None
    return True


def _commit(settings: Settings, changes: Changes) -> None:
    backend = open_backend(settings)
    with backend.writer(wait=settings.lock_wait_s) as writer:
        writer.commit(changes, model=writer.model or "", dimension=writer.dimension)


def delete_document(settings: Settings, path: str, corpus_dir: Path | str) -> Removal:
    """Remove a document's passages from the knowledge base and, when its file lies in the
    corpus folder, the file and its sidecar entry too (so a re-scan does not bring it back)."""
    check_writable(settings)
    doc = find_document(settings, path)
    if web.is_address(doc.path):
        _commit(settings, Changes(removed_paths=[doc.path], cleared_problems=[doc.path]))
        return Removal(doc.path, False, f"{doc.name} left the knowledge base (ingesting {doc.path} again would "
                                        "add it back).")
    source = Path(doc.path)
    deleted = _delete_file(source, Path(corpus_dir))
    if deleted:
        forget_sidecar_entry(source)
    _commit(settings, Changes(removed_paths=[doc.path], cleared_problems=[doc.path]))
    if deleted:
        return Removal(doc.path, True, f"{doc.name} was deleted from the corpus folder and the knowledge base.")
    return Removal(doc.path, False, f"{doc.name} left the knowledge base; its file is outside the corpus folder and "
                                    f"was kept (an ingest of {source.parent} would add it again).")


def reingest_document(settings: Settings, path: str, *, embedder=None,
                      progress: Callable | None = None) -> IngestReport:
    """Read, split and embed one document again (after a reader improved, say): its passages
    are removed first, so the file is new to the ingest that follows."""
    check_writable(settings)
    source = path if web.is_address(path) else Path(path)  # an address is fetched again
    if isinstance(source, Path) and not source.is_file():
        raise UsageError(f"{source.name} is no longer at {source}; re-scan the corpus folder instead.")
    if any(d.path == str(source) for d in open_backend(settings).documents()):
        _commit(settings, Changes(removed_paths=[str(source)]))
    return ingest([source], settings, embedder=embedder, progress=progress)


def remove_rejected(settings: Settings, path: str, corpus_dir: Path | str) -> Removal:
    """Forget a file that could not be ingested, and delete it when it lies in the corpus
    folder, so it is not reported again."""
    check_writable(settings)
    source = Path(path)
    deleted = _delete_file(source, Path(corpus_dir))
    _commit(settings, Changes(cleared_problems=[str(path)]))
    if deleted:
        return Removal(str(path), True, f"{source.name} was deleted from the corpus folder.")
    return Removal(str(path), False, f"{source.name} is no longer listed; it was not in the corpus folder, so no "
                                     "file was deleted.")


# ---- uploads within the quota ----------------------------------------------------------------

def folder_bytes(folder: Path | str) -> int:
    """Bytes of the regular files under `folder` (links not followed)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if not stat.S_ISLNK(st.st_mode):
                total += st.st_size
    return total


QUOTA_LOCK = "upload-quota.lock"  # in the knowledge-base folder, beside write.lock (the corpus folder stays as uploaded)
QUOTA_LOCK_WAIT_S = 120.0


@dataclass
class UploadQuota:
    """What the app may add: the corpus folder's files plus the web pages kept in the knowledge
    base (`<kb_dir>/web/`) stay within `limit_mb` (KB_UPLOAD_QUOTA_MB). Checking and writing
    happen under one file lock, so sessions adding at the same time cannot pass it together."""

    folder: Path
    kb_dir: Path
    limit_mb: int

    @classmethod
    def of(cls, settings: Settings, folder: Path | str) -> "UploadQuota":
        return cls(Path(folder), Path(settings.kb_dir), settings.upload_quota_mb)

    def locked(self):
        from filelock import FileLock

        self.kb_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.kb_dir / QUOTA_LOCK), timeout=QUOTA_LOCK_WAIT_S)

    def used(self) -> int:
        web_folder = self.kb_dir / web_copies.FOLDER
        return (folder_bytes(self.folder) if self.folder.is_dir() else 0) + \
            (folder_bytes(web_folder) if web_folder.is_dir() else 0)

    def refusal(self, what: str, size: int, used: int) -> str | None:
        limit = self.limit_mb * 1024 * 1024
        if used + size <= limit:
            return None
        return (f"{what}: not saved, the corpus folder and fetched pages would pass their {self.limit_mb} MB quota "
                f"({max(limit - used, 0) / 2**20:.1f} MB left; KB_UPLOAD_QUOTA_MB). Delete documents or ask an "
                "administrator.")

    def reserve_page(self, fetched) -> str | None:
        """A fetched page counts against the quota from the moment it is kept: its copy is
        written under the lock (the commit writes the same bytes again, a no-op), or the reason
        it may not be."""
        with self.locked():
            why = self.refusal(f"the page ({len(fetched.data) / 2**20:.1f} MB)", len(fetched.data), self.used())
            if why is None:
                kind = fetched.extracted.kind if fetched.extracted else None
                web_copies.keep_copy(self.kb_dir, fetched.sha256, kind, fetched.data)
            return why


def save_uploads_within_quota(settings: Settings, folder: Path | str, files: list[tuple[str, bytes]],
                              known: dict[str, str] | None = None) -> UploadResult:
    """Save each upload that keeps the corpus folder (and the fetched pages) within
    `settings.upload_quota_mb`; the others are refused with the space left. The check and the
    writes are one locked step (`UploadQuota`). Per-file limits, names and duplicates as in
    ingest.uploads."""
    check_writable(settings)
    quota = UploadQuota.of(settings, folder)
    known = dict(known or {})
    result = UploadResult()
    with quota.locked():
        used = quota.used()
        for name, data in files:
            try:
                check_size(name, len(data), settings.upload_limit_mb)
                why = quota.refusal(_shown(name), len(data), used)
                if why:
                    raise UploadRejected(name, why)
                saved = save_upload(folder, name, data, settings.upload_limit_mb, known)
            except UploadRejected as exc:
                result.rejected.append(exc)
                continue
            used += len(data)
            known[saved.sha256] = saved.path.name
            result.saved.append(saved)
    return result


def ingest_within_quota(settings: Settings, folder: Path | str, paths: list, **kwargs) -> IngestReport:
    """`ingest` for the app: web addresses among `paths` count against the upload quota
    (`UploadQuota`); `kwargs` go to ingest.pipeline.ingest."""
    return ingest(paths, settings, quota=UploadQuota.of(settings, folder), **kwargs)


# ---- an ingest in a process of its own -------------------------------------------------------

CHILD_POLL_S = 0.1


def ingest_in_child(paths: list, settings: Settings, *, progress: Callable | None = None,
                    on_wait: Callable[[str], None] | None = None,
                    quota_folder: Path | str | None = None) -> IngestReport:
    """`ingest` run in a child process, for a long-running server (the app): a document that
    exhausts memory or crashes a reader ends that process, not the server. Progress and lock
    waits are reported back and called here, in the caller's thread (Streamlit draws only from
    its script thread); the report comes back, or the child's one-line KBError is raised here.
    With `quota_folder`, fetched pages count against the upload quota (`ingest_within_quota`).
    The child ends with its parent (ingest/lifetime.py), and its reader workers with it."""
    import multiprocessing
    import queue

    from kb.errors import KBError

    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    child = context.Process(target=_ingest_child, name="kb-ingest",
                            args=(list(paths), settings, None if quota_folder is None else str(quota_folder), messages))
    child.start()
    answered = False
    try:
        while True:
            try:
                kind, payload = messages.get(timeout=CHILD_POLL_S)
            except queue.Empty:
                if child.is_alive():
                    continue
                try:  # it may have finished just after the last look
                    kind, payload = messages.get(timeout=1.0)
                except queue.Empty:
                    raise KBError(f"The ingest stopped unexpectedly (its process ended with code {child.exitcode}, "
                                  "a document too large for memory?); the knowledge base is as it was before. Run "
                                  "`kb ingest` on the same files to see which one.") from None
            if kind == "progress" and progress is not None:
                progress(*payload)
            elif kind == "wait" and on_wait is not None:
                on_wait(payload)
            elif kind in ("done", "error"):
                answered = True
                if kind == "error":
                    raise payload
                return payload
    finally:
        # Stopped here before the child answered (the page was left, a callback raised): the
        # child is stopped too, as an ingest in this process would have been; its commits are atomic.
        child.join(timeout=30 if answered else 0)
        if child.is_alive():
            child.kill()
            child.join()
        messages.close()


def _ingest_child(paths: list, settings: Settings, quota_folder: str | None, messages) -> None:
    """The child's side: run the ingest, sending progress, lock waits and the outcome back."""
    from kb.errors import KBError

    from .lifetime import exit_with_parent

    exit_with_parent()

    def send(kind: str, payload) -> None:
        messages.put((kind, payload))

    try:
        kwargs = dict(progress=lambda stage, done, total: send("progress", (stage, done, total)),
                      on_wait=lambda message: send("wait", message))
        if quota_folder is None:
            report = ingest(paths, settings, **kwargs)
        else:
            report = ingest_within_quota(settings, quota_folder, paths, **kwargs)
        send("done", report)
    except KBError as exc:
        send("error", KBError(str(exc)) if type(exc).__init__ is not KBError.__init__ else exc)
    except Exception as exc:  # noqa: BLE001 - a bug, told as one line in the app
        send("error", KBError(f"The ingest failed ({type(exc).__name__}: {str(exc)[:160]}); the knowledge base is as "
                              "it was before."))
    finally:
        messages.close()
        messages.join_thread()  # everything sent is out before the process ends
