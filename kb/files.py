"""File-system helpers shared by the seams that write files whole (indexes, model exports)."""
from __future__ import annotations

import os
from pathlib import Path


def fsync(path: Path | str) -> None:
    """Flush a file's (or a folder's entries') writes to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
