"""Walk the given paths and sort every file into new, changed, unchanged or gone.

Unchanged is decided by size and modification time first and by content hash only when
those differ, so re-running over a large unchanged folder reads no file contents.
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from kb.models import Document

from . import formats
from .metadata import SIDECAR_NAME


@dataclass
class Found:
    path: Path  # absolute, as named or found (the document's identity)
    size: int
    mtime_ns: int
    sha256: str | None = None
    real: Path | None = None  # where the bytes are (links resolved), checked to lie inside a named root
    inode: tuple[int, int] | None = None  # (device, inode) when checked: what the reader must find there

    @property
    def key(self) -> str:
        """The document's identity in the knowledge base."""
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Plan:
    new: list[Found] = field(default_factory=list)
    changed: list[Found] = field(default_factory=list)
    unchanged: list[Document] = field(default_factory=list)
    touched: list[tuple[Found, Document]] = field(default_factory=list)  # same content, new mtime
    removed: list[Document] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    folders: list[Path] = field(default_factory=list)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


PSEUDO_FILESYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))


def walk(paths: list[Path]) -> tuple[list[Found], list[tuple[str, str]], list[Path], list[Path]]:
    """(files found, failures, folders walked, named paths that do not exist).

    Only regular files whose real location lies inside a path the user named are read: a
    link (or linked folder) pointing elsewhere, a device and a /proc-style file are each
    reported and skipped, so a shared folder or an unpacked archive cannot pull the
    server's own files into the knowledge base.
    """
    found: dict[Path, Found] = {}
    failed: list[tuple[str, str]] = []
    folders: list[Path] = []
    missing: list[Path] = []
    for given in paths:
        path = Path(os.path.abspath(Path(given).expanduser()))
        if path.is_symlink() and not path.exists():
            failed.append((_shown(path), "broken symbolic link"))
        elif not path.exists():
            missing.append(path)
        elif path.is_dir():
            folders.append(path)
            _walk_folder(path, found, failed)
        else:
            _add_file(path, path.resolve(), found, failed)
    return list(found.values()), failed, folders, missing


def _walk_folder(root: Path, found: dict, failed: list) -> None:
    real_root = root.resolve()
    seen_dirs: set[tuple[int, int]] = set()

    def on_error(err: OSError) -> None:
        failed.append((_shown(err.filename or root), f"folder cannot be read ({err.strerror or err})"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=on_error):
        here = Path(dirpath)
        if not _inside(here.resolve(), real_root):
            failed.append((_shown(here), "symbolic link to a folder outside the folder being ingested; skipped"))
            dirnames[:] = []
            continue
        try:
            st = os.stat(dirpath)
        except OSError as exc:
            failed.append((_shown(here), f"folder cannot be read ({exc.strerror})"))
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:
            failed.append((_shown(here), "symbolic link loop: this folder was already visited; skipped"))
            dirnames[:] = []
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name == SIDECAR_NAME:
                continue
            _add_file(here / name, real_root, found, failed)


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _shown(path) -> str:
    """A path as text that can be stored and printed, whatever bytes its name holds."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _add_file(path: Path, real_root: Path, found: dict, failed: list) -> None:
    shown = _shown(path)
    if shown != str(path):
        failed.append((shown, "the file name is not valid UTF-8; rename the file to ingest it"))
        return
    if formats.for_path(path) is None:
        failed.append((shown, formats.unsupported(path)))
        return
    try:
        real = path.resolve(strict=True)
        st = real.stat()
    except (OSError, RuntimeError) as exc:
        reason = "broken symbolic link" if path.is_symlink() else f"cannot be read ({getattr(exc, 'strerror', exc)})"
        failed.append((shown, reason))
        return
    if not _inside(real, real_root):
        failed.append((shown, "symbolic link to a file outside the folder being ingested; skipped"))
        return
    if any(_inside(real, pseudo) for pseudo in PSEUDO_FILESYSTEMS) or not stat.S_ISREG(st.st_mode):
        failed.append((shown, "not a regular file (a device, pipe or system file); skipped"))
        return
    found[path] = Found(path, st.st_size, st.st_mtime_ns, real=real, inode=(st.st_dev, st.st_ino))


def plan(paths: list[Path], stored: dict[str, Document]) -> Plan:
    files, failed, folders, missing = walk(paths)
    result = Plan(failed=failed, folders=folders)
    seen = set()
    for f in files:
        key = str(f.path)
        seen.add(key)
        doc = stored.get(key)
        if doc is None:
            result.new.append(f)
            continue
        if doc.size == f.size and doc.mtime_ns == f.mtime_ns:
            result.unchanged.append(doc)
            continue
        try:
            f.sha256 = sha256_of(f.path)
        except OSError as exc:
            result.failed.append((key, f"cannot be read ({exc.strerror})"))
            seen.discard(key)  # keep what is stored; do not treat as gone
            seen.add(key)
            continue
        if f.sha256 == doc.sha256:
            result.touched.append((f, doc))
        else:
            result.changed.append(f)
    failed_paths = {p for p, _ in result.failed}
    for key, doc in stored.items():
        if key in seen or key in failed_paths:
            continue
        doc_path = Path(key)
        if any(doc_path.is_relative_to(folder) for folder in folders) or doc_path in missing:
            result.removed.append(doc)
    removed = {Path(d.path) for d in result.removed}
    for path in missing:
        if path not in removed:
            result.failed.append((str(path), "no such file or folder"))
    return result


def corpus_files(folder: Path) -> list[Path]:
    """Files in a folder that an ingest would read (for the app's first-run screen)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and formats.for_path(p) and p.name != SIDECAR_NAME
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))
