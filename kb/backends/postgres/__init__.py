"""PostgreSQL + pgvector: the backend for many analysts on one shared library."""
from .backend import PostgresBackend

__all__ = ["PostgresBackend"]
