"""The index-backend seam: what ingestion writes through and what search reads from.

A backend keeps documents, passages, their vectors and a keyword index, and publishes them in
generations: a reader holds one generation and answers every call from it; a writer (one at a
time) turns `Changes` into the next generation in one commit. Fusion, abstention, highlights,
reranking and citations sit above this line and see only (passage id, score) lists and the
dataclasses of kb.models, never an engine's objects.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import KBError
from ..models import Document, Filters, Passage, Status
from ..tokens import idf

Ranked = list[tuple[int, float]]  # (passage id, score), best first


class StaleSnapshot(KBError):
    """The knowledge base moved to a newer generation than the reader holds: reload and retry."""


@dataclass(frozen=True)
class KeywordStats:
    """Corpus statistics of the question's tokens, for weighting them (highlights, abstention)."""

    passages: int
    df: dict[str, int]  # token -> passages holding it

    def idf(self) -> dict[str, float]:
        return {t: idf(n, self.passages) for t, n in self.df.items()}

    def absent(self) -> list[str]:
        """Tokens that occur nowhere in the corpus."""
        return [t for t, n in self.df.items() if n == 0]


@dataclass
class DocumentUpdate:
    """A new or changed file: its document row and freshly embedded passages."""

    document: Document
    passages: list[Passage]
    vectors: np.ndarray


@dataclass
class Changes:
    """Everything one commit does; applied all or nothing."""

    updates: list[DocumentUpdate] = field(default_factory=list)
    removed_paths: list[str] = field(default_factory=list)
    metadata: list[Document] = field(default_factory=list)  # same content, new title/publisher/...
    touched: list[Document] = field(default_factory=list)  # same content, new mtime: no new generation
    problems: dict[str, str] = field(default_factory=dict)  # path -> reason
    cleared_problems: list[str] = field(default_factory=list)
    repaired_vectors: dict[int, np.ndarray] = field(default_factory=dict)  # passage id -> vector

    def needs_generation(self) -> bool:
        return bool(self.updates or self.removed_paths or self.metadata or self.repaired_vectors)


@dataclass(frozen=True)
class Generation:
    number: int
    model: str  # embedder identity the vectors were made with
    dimension: int
    index_kind: str
    passages: int


class IndexReader(ABC):
    """One published generation. Every method answers from it; `fetch` raises StaleSnapshot
    when the knowledge base has moved on, so a search never mixes two states. A question's
    calls run inside `session()`, which checks the generation once for all of them."""

    generation: Generation
    # True when the reader's work runs elsewhere (a database server): the searcher then runs
    # keyword search on a thread while it embeds the question, instead of one after the other.
    concurrent_retrieval: bool = False

    @abstractmethod
    def session(self) -> AbstractContextManager[None]:
        """One question's calls on this thread: StaleSnapshot on entry when the knowledge base
        has moved on (so the Searcher needs no check of its own), and within it every call
        answers from that one generation. A database reader holds one connection and one
        transaction for it instead of checking out and re-checking the generation per call."""

    @abstractmethod
    def dense(self, vector: np.ndarray, k: int, filters: Filters) -> Ranked:
        """Top k passages by inner product with `vector`, among those the filters allow."""

    @abstractmethod
    def keyword(self, question: str, k: int, filters: Filters) -> Ranked:
        """Top k passages by BM25 over kb.tokens.tokenize, scores > 0 only."""

    @abstractmethod
    def scores(self, ids: list[int], vector: np.ndarray, question: str) -> tuple[np.ndarray, np.ndarray]:
        """(cosine, BM25) of the given passages: fusion needs both signals for every candidate."""

    def fusion_inputs(self, ids: list[int], vector: np.ndarray, question: str
                      ) -> tuple[np.ndarray, np.ndarray, set[int]]:
        """(cosine, BM25, footnote ids) of fusion's candidates; a database reader reads all
        three in one statement instead of three."""
        cosine, bm25 = self.scores(ids, vector, question)
        return cosine, bm25, self.footnotes(ids)

    @abstractmethod
    def keyword_stats(self, question: str) -> KeywordStats: ...

    @abstractmethod
    def fetch(self, ids: list[int]) -> tuple[dict[int, Passage], dict[int, Document]]:
        """Passages by id and their documents."""

    @abstractmethod
    def footnotes(self, ids: list[int]) -> set[int]:
        """Which of the passages are footnotes: fusion weighs them down without fetching them."""

    @abstractmethod
    def neighbours(self, passage_id: int, before: int = 1, after: int = 1) -> list[Passage]:
        """The passage with up to `before`/`after` passages around it in its document."""

    @abstractmethod
    def document_passages(self, document_id: int) -> list[Passage]:
        """Every passage of one document in reading order (the source viewer shows them)."""


class IndexWriter(ABC):
    """Exists while the backend's single-writer lock is held."""

    @property
    @abstractmethod
    def generation(self) -> int: ...

    @property
    @abstractmethod
    def model(self) -> str | None:
        """Embedder identity of the stored vectors (None before the first commit)."""

    @property
    @abstractmethod
    def dimension(self) -> int | None: ...

    @property
    @abstractmethod
    def damaged(self) -> bool:
        """Set by check(): the current generation's indexes must be rebuilt on the next commit."""

    @abstractmethod
    def documents_by_path(self) -> dict[str, Document]: ...

    @abstractmethod
    def problem_paths(self) -> list[str]: ...

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """{"documents": n, "passages": n}."""

    @abstractmethod
    def check(self, rebuild: bool = False) -> None:
        """Compare the published indexes with the stored passages; with `rebuild`, drop every vector."""

    @abstractmethod
    def passages_without_vectors(self, skip_paths: set[str]) -> list[tuple[int, str]]:
        """(id, text to embed) of stored passages that lack a usable vector, outside `skip_paths`."""

    @abstractmethod
    def commit(self, changes: Changes, *, model: str, dimension: int | None) -> int:
        """Apply `changes` and publish the next generation, all or nothing; returns the generation now current."""


class SqlReader(IndexReader):
    """Reads both SQL-backed readers answer alike from the backend's `db` module: `_read()`
    is the reader's snapshot-checked connection, `backend.read()` a plain one."""

    db: object  # the backend's database module

    @contextmanager
    def session(self):
        """Checks the generation on entry; each call still reads on its own (a local read is
        an SQLite file open, not a round trip)."""
        if self.backend.current_generation() != self.generation.number:
            raise StaleSnapshot("The knowledge base changed since this reader was loaded; ask again.")
        yield

    def fetch(self, ids: list[int]) -> tuple[dict[int, Passage], dict[int, Document]]:
        with self._read() as conn:
            return self.db.passages_by_id(conn, [int(i) for i in ids])

    def footnotes(self, ids: list[int]) -> set[int]:
        with self._read() as conn:
            return self.db.footnotes(conn, [int(i) for i in ids])

    def neighbours(self, passage_id: int, before: int = 1, after: int = 1) -> list[Passage]:
        with self.backend.read() as conn:
            return self.db.neighbours(conn, passage_id, before, after)

    def document_passages(self, document_id: int) -> list[Passage]:
        with self.backend.read() as conn:
            return self.db.document_passages(conn, document_id)


class SqlWriter(IndexWriter):
    """The bookkeeping both SQL-backed writers share: the `meta` rows read when the lock was
    taken, a connection `conn`, and the backend's `db` module (documents, counts)."""

    meta: dict[str, str]
    conn: object
    db: object  # the backend's database module
    _damaged: bool = False

    @property
    def generation(self) -> int:
        return int(self.meta.get("generation", 0))

    @property
    def model(self) -> str | None:
        return self.meta.get("model")

    @property
    def dimension(self) -> int | None:
        return int(self.meta["dim"]) if self.meta.get("dim") else None

    @property
    def damaged(self) -> bool:
        return self._damaged

    def documents_by_path(self) -> dict[str, Document]:
        return {d.path: d for d in self.db.documents(self.conn)}

    def problem_paths(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT path FROM problems")]

    def counts(self) -> dict[str, int]:
        return self.db.counts(self.conn)


class Backend(ABC):
    """One knowledge base."""

    location: str  # shown in messages: a folder, or a database address without its password

    @abstractmethod
    def exists(self) -> bool: ...

    @abstractmethod
    def current_generation(self) -> int:
        """The published generation number (0: nothing yet); cheap, called before every search."""

    @abstractmethod
    def recorded_model(self) -> str | None:
        """The embedder identity the stored vectors were made with (None: nothing stored yet)."""

    @abstractmethod
    def reader(self) -> IndexReader:
        """The current generation, loaded for searching (EmptyKnowledgeBase when there is none)."""

    @abstractmethod
    def writer(self, wait: float = 600.0, on_wait: Callable[[str], None] | None = None
               ) -> AbstractContextManager[IndexWriter]:
        """Hold the single-writer lock; `on_wait(message)` is told when another writer holds it."""

    @abstractmethod
    def documents(self) -> list[Document]: ...

    @abstractmethod
    def passage_counts(self) -> dict[int, int]:
        """document id -> passages."""

    @abstractmethod
    def problems(self) -> list[dict]:
        """Files that could not be ingested the last time: {"path", "name", "reason", "seen_at"}."""

    @abstractmethod
    def facets(self) -> dict[str, list]:
        """Values the filters can take: documents, doc_types, publishers, years, states."""

    @abstractmethod
    def status(self) -> Status: ...
