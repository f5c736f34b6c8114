"""Sentence focus: re-score the best fused passages by their best sentence, read by the same
bi-encoder that embedded them.

A passage vector averages 100-250 words; when several passages of one document share the
question's terms, the one that answers is often the one with a single sentence (or two) that
says it, and its average hides that. So each of the first `DEPTH` candidates also gets the
highest cosine between the question and its sentences and pairs of adjacent sentences, and
`WEIGHT` times that cosine adds to its fused score. No second model: the embedder is the one
that made the index. Measured with bench/quality.py on four question sets and SciFact:
min-max scaling the cosine over the candidates (which spreads even tiny differences over 0..1)
and re-ordering the first 10 helped gov at rank 1 but cost dev and gov's top 5; the raw cosine
over the first 3 or 5 helped every set but dev (−1), and cannot push a passage out of the first
five; sentences alone helped less than sentences and pairs. Cost: one encoding of ~50 windows
per question (a passage's worth of tokens twice over), ~0.2 s on 2 cores; repeated passages
come from the cache.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from .embedders import Embedder
from .highlight import sentence_spans
from .models import Passage
from .tokens import index_text

DEPTH = 3  # candidates re-scored (5 measured the same, at 5/3 the cost)
WEIGHT = 0.5  # times the best window's cosine, added to the fused score (a 0..1 blend)
CACHE_PASSAGES = 4096  # window vectors kept, per searcher


def window_spans(passage: Passage) -> list[tuple[tuple[int, int], ...]]:
    """The passage's sentences and each pair of adjacent sentences (a claim and its figures
    often take two), as spans into its text; the whole text when no sentence is found in it."""
    if passage.table is not None:  # a table row is one window, read as it is indexed (kb/tables.py)
        return [((0, len(passage.text)),)]
    spans = [(s, e) for s, e in sentence_spans(passage.text, passage.section, passage.footnote) if passage.text[s:e].strip()]
    if not spans:
        return [((0, len(passage.text)),)]
    if len(spans) == 1:
        return [(spans[0],)]
    return [(span,) for span in spans] + list(zip(spans, spans[1:]))


def windows(passage: Passage) -> list[str]:
    """The texts of `window_spans`, as the bi-encoder reads them."""
    text = passage.text
    if passage.table is not None:  # the row with its cells named by column: the bare figures say nothing
        return [index_text(text, passage.section, passage.context)]
    return [" ".join(text[s:e].strip() for s, e in group) for group in window_spans(passage)]


class SentenceFocus:
    """Best-window cosines for passages, with the window vectors cached by passage id and
    text (one focus may serve several knowledge bases, whose ids overlap)."""

    def __init__(self, embedder: Embedder, weight: float = WEIGHT, depth: int = DEPTH):
        self.embedder = embedder
        self.weight = weight
        self.depth = depth
        self._cache: OrderedDict[tuple[int | None, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def best_cosines(self, passages: list[Passage], qvec: np.ndarray) -> np.ndarray:
        return np.array([float(c.max()) for c in self.window_cosines(passages, qvec)])

    def window_cosines(self, passages: list[Passage], qvec: np.ndarray) -> list[np.ndarray]:
        """Each passage's windows' cosines to the question, in `windows()` order (the best
        answer reads them too, from the same cache)."""
        vectors: dict[int, np.ndarray] = {}
        missing = []
        with self._lock:
            for p in passages:
                hit = self._cache.get(_key(p))
                if hit is not None:
                    self._cache.move_to_end(_key(p))
                    vectors[_key(p)] = hit
                else:
                    missing.append(p)
        if missing:
            texts = [windows(p) for p in missing]
            flat = self.embedder.encode_passages([t for group in texts for t in group])
            at = 0
            with self._lock:
                for p, group in zip(missing, texts):
                    vectors[_key(p)] = flat[at:at + len(group)]
                    at += len(group)
                    self._cache[_key(p)] = vectors[_key(p)]
                while len(self._cache) > CACHE_PASSAGES:
                    self._cache.popitem(last=False)
        return [vectors[_key(p)] @ qvec for p in passages]

    def rescore(self, head: list[tuple[int, float]], passages: dict[int, Passage],
                qvec: np.ndarray) -> list[tuple[int, float]]:
        """`head` (fused, best first) re-ordered by fused + weight x best-window cosine."""
        kept = [(pid, score) for pid, score in head if pid in passages]
        if len(kept) < 2 or self.weight <= 0:
            return head
        best = self.best_cosines([passages[pid] for pid, _ in kept], qvec)
        fused = np.array([score for _, score in kept])
        return sorted(zip([pid for pid, _ in kept], (fused + self.weight * best).tolist()), key=lambda kv: -kv[1])


def _key(passage: Passage) -> tuple[int | None, int]:
    return passage.id, hash((passage.section, passage.text))
