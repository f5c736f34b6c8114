"""File-system helpers shared by the seams that write files whole (indexes, model exports)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync(path: Path | str) -> None:
    """Flush a file's (or a folder's entries') writes to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomically(target: Path | str, text: str, mode: int | None = None) -> None:
    """Write `text` to `target` whole or not at all (temp file beside it, fsync, rename): a
    reader never sees half a file. `mode`: the file's permissions (a temp file's are 0600)."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
