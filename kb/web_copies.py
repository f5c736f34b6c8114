"""Where the bytes of a web document are kept: `<kb_dir>/web/<sha256>.<format kind>`.

A document ingested from an address has that address as its `path`; what was fetched is kept
in the knowledge-base folder under its content hash, so "Open source" and a later re-read
need no network. Ingestion writes these copies (ingest/pipeline.py); front ends read them.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from .models import Document

FOLDER = "web"


def is_web(document: Document) -> bool:
    return bool(re.match(r"https?://", document.path or "", re.I))


def copy_path(kb_dir: Path | str, sha256: str, kind: str | None) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
        raise ValueError("not a sha256 hex digest")
    return Path(kb_dir) / FOLDER / f"{sha256}.{kind or 'bin'}"  # named by the format's kind


def source_path(document: Document, kb_dir: Path | str) -> Path:
    """The file holding a document's bytes: the kept copy for a web document, else its path."""
    return copy_path(kb_dir, document.sha256, document.kind) if is_web(document) else Path(document.path)


def keep_copy(kb_dir: Path | str, sha256: str, kind: str | None, data: bytes) -> Path:
    """Write a fetched document's bytes once (temporary file, then rename)."""
    target = copy_path(kb_dir, sha256, kind)
    if target.is_file() and target.stat().st_size == len(data):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def prune(kb_dir: Path | str, keep: set[str]) -> int:
    """Delete kept copies no document refers to any more (`keep`: their sha256s); returns how many."""
    folder = Path(kb_dir) / FOLDER
    removed = 0
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_file() and not path.name.startswith(".") and path.stem not in keep:
                path.unlink(missing_ok=True)
                removed += 1
    return removed
