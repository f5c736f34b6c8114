"""Index backends, chosen by the `backend` setting. Each lives in its own package and passes
the contract suite in tests/test_backend_contract.py."""
from __future__ import annotations

from ..config import BACKENDS, Settings
from ..errors import UsageError
from .base import Backend, Changes, DocumentUpdate, IndexReader, IndexWriter, KeywordStats, StaleSnapshot

__all__ = ["Backend", "Changes", "DocumentUpdate", "IndexReader", "IndexWriter", "KeywordStats", "StaleSnapshot",
           "open_backend", "BACKENDS"]


def open_backend(settings: Settings) -> Backend:
    if settings.backend == "local":
        from .local import LocalBackend

        return LocalBackend(settings.kb_dir, settings.index, settings.hnsw_threshold)
    if settings.backend == "postgres":
        from .postgres import PostgresBackend

        return PostgresBackend(settings.database_url, settings.database_read_url, settings.index,
                               settings.hnsw_threshold)
    raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, not {settings.backend!r}.")
