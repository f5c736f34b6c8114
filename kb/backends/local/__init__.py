"""FAISS + bm25s + SQLite in one folder: the backend for one machine."""
from .backend import LocalBackend

__all__ = ["LocalBackend"]
