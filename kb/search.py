"""Questions → cited passages: dense and keyword retrieval, fused, optionally reranked,
with filters applied inside both searches, abstention, and answer highlights.

A Searcher holds one loaded generation of the knowledge base and reloads it when the
database moves on, so a long-running app sees new documents without restarting.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from . import abstain, cite, highlight
from . import vectors as vec
from .embed import Embedder
from .errors import ModelMismatch, UsageError
from .models import Answer, Filters, Hit
from .rerank import Reranker
from .store import Snapshot, StaleSnapshot, Store

DEPTH = 50  # candidates taken from each retriever before fusing
RRF_K = 60
BLEND_DENSE_WEIGHT = 0.5
FUSION = "blend"  # min-max blend; RRF measured lower on SciFact train (bench/quality.py)
RERANK_DEPTH = 30
CHECK_DEPTH = 5  # passages the abstention test reads
HIGHLIGHT_SHORTLIST = 3  # sentences per passage also scored by meaning


class Searcher:
    def __init__(self, store: Store, embedder: Embedder, reranker: Reranker | None = None,
                 fusion: str = FUSION, dense_highlights: bool = False):
        self.store = store
        self.embedder = embedder
        self.reranker = reranker
        self.fusion = fusion
        self.dense_highlights = dense_highlights
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        """The loaded generation, reloaded first if the database has a newer one."""
        with self._lock:
            generation = self.store.generation()
            if self._snapshot is None or self._snapshot.generation != generation:
                # Memory-mapped: opens faster and shares pages between processes; files are
                # never changed in place (new generations get new names), so a map stays valid.
                snapshot = self.store.load_snapshot(mmap=True)
                if snapshot.model != self.embedder.name:
                    raise ModelMismatch(
                        f"The knowledge base was built with {snapshot.model}, but the model setting is "
                        f"{self.embedder.name}. Use the same model, or re-embed with `kb ingest --rebuild`.")
                self._snapshot = snapshot
            return self._snapshot

    def ask(self, question: str, k: int = 5, filters: Filters | None = None, method: str = "fused",
            rerank: bool = True) -> Answer:
        question = " ".join((question or "").split())
        if not question:
            raise UsageError("The question is empty: type a question.")
        if k < 1:
            raise UsageError("k must be at least 1.")
        if method not in ("fused", "dense", "keyword"):
            raise UsageError(f"Unknown method {method!r}: use fused, dense or keyword.")
        started = time.perf_counter()
        for _ in range(5):
            snapshot = self.snapshot()
            try:
                answer = self._ask(snapshot, question, k, filters or Filters(), method, rerank)
            except StaleSnapshot:
                continue  # a commit landed between search and fetch: search the new generation
            answer.seconds = time.perf_counter() - started
            return answer
        raise StaleSnapshot("The knowledge base kept changing during the search; ask again.")

    # ---- the pipeline ------------------------------------------------------------------
    def retrieve(self, snap: Snapshot, question: str, depth: int, filters: Filters, method: str,
                 rerank: bool = True) -> tuple[list[tuple[int, float]], np.ndarray | None, str]:
        """Ranked (passage id, score) candidates, the query vector, and the stages run."""
        allowed = None
        if not filters.is_empty():
            allowed = self.store.allowed_ids(filters)
            if not len(allowed):
                return [], None, method
        qvec = self.embedder.encode_query(question)
        depth = max(DEPTH, depth)
        ranked: dict[str, list[tuple[int, float]]] = {}
        keyword_scores = None
        if method in ("dense", "fused"):
            scores, ids = vec.search(snap.vectors, qvec, depth, allowed)
            ranked["dense"] = list(zip(ids.tolist(), scores.tolist()))
        if method in ("keyword", "fused"):
            keyword_scores = snap.keywords.scores(question, _mask(snap, allowed))
            ranked["keyword"] = _top(keyword_scores, snap.keywords.ids, depth)
        candidates = self._fuse(snap, qvec, ranked, keyword_scores) if method == "fused" else ranked[method]
        if rerank and self.reranker is not None and candidates:
            return self._rerank(snap, question, candidates), qvec, method + "+rerank"
        return candidates, qvec, method

    def _ask(self, snap: Snapshot, question: str, k: int, filters: Filters, method: str, rerank: bool) -> Answer:
        candidates, qvec, stages = self.retrieve(snap, question, k, filters, method, rerank)
        if qvec is None:
            return Answer(question, False, [], reason="No document matches the filters.", method=stages)
        ids = [pid for pid, _ in candidates[:max(k, CHECK_DEPTH)]]
        passages, documents = self.store.fetch(ids, snap.generation)
        cosines = _cosines(snap, qvec, ids)
        check = [passages[i] for i in ids[:CHECK_DEPTH] if i in passages]
        verdict = abstain.judge(question, max(cosines.values(), default=0.0), check, documents,
                                snap.keywords.idf(question))
        hits = []
        for pid, score in candidates[:k]:
            p = passages.get(pid)
            if p is None:
                continue
            d = documents[p.document_id]
            hits.append(Hit(p, d, float(score), cite.citation(d, p), scores={"cosine": cosines.get(pid, 0.0)}))
        self._highlight(question, qvec, hits, snap)
        return Answer(question, verdict.answered, hits, reason=verdict.reason, method=stages)

    def _fuse(self, snap: Snapshot, qvec: np.ndarray, ranked: dict, keyword_scores) -> list[tuple[int, float]]:
        if self.fusion == "rrf":
            fused: dict[int, float] = {}
            for results in ranked.values():
                for rank, (pid, _) in enumerate(results):
                    fused[pid] = fused.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1)
            return sorted(fused.items(), key=lambda kv: -kv[1])
        # Blend: every candidate gets both scores exactly, whichever list it came from; each
        # score is min-max scaled over the candidates, then mixed.
        ids = list(dict.fromkeys([pid for results in ranked.values() for pid, _ in results]))
        cos = _cosines(snap, qvec, ids)
        dense = _minmax(np.array([cos[pid] for pid in ids]))
        rows = np.searchsorted(snap.keywords.ids, ids)
        keyword = _minmax(keyword_scores[rows]) if keyword_scores is not None and len(keyword_scores) else 0.0
        blended = BLEND_DENSE_WEIGHT * dense + (1 - BLEND_DENSE_WEIGHT) * keyword
        return sorted(zip(ids, blended.tolist()), key=lambda kv: -kv[1])

    def _rerank(self, snap: Snapshot, question: str, candidates):
        head = candidates[:RERANK_DEPTH]
        passages, _ = self.store.fetch([pid for pid, _ in head], snap.generation)
        texts = [passages[pid].text if pid in passages else "" for pid, _ in head]
        scores = self.reranker.scores(question, texts)
        reranked = sorted(zip([pid for pid, _ in head], scores.tolist()), key=lambda kv: -kv[1])
        return reranked + candidates[RERANK_DEPTH:]

    def _highlight(self, question: str, qvec: np.ndarray, hits: list[Hit], snap: Snapshot) -> None:
        """Score sentences by the question's (idf-weighted) terms they contain. Optionally the
        few best of each passage are also scored by meaning; on the dev questions that found
        the evidence less often (25 vs 27 of 32) and costs an encode, so it is off."""
        spans = [highlight.sentence_spans(h.passage.text, h.passage.section) for h in hits]
        idf = snap.keywords.idf(question)
        scores = [highlight.lexical_scores(question, [h.passage.text[s:e] for s, e in sp], idf)
                  for h, sp in zip(hits, spans)]
        if self.dense_highlights:
            shortlist = [(i, j) for i, sc in enumerate(scores) for j in np.argsort(-sc)[:HIGHLIGHT_SHORTLIST]]
            if shortlist:
                texts = [hits[i].passage.text[slice(*spans[i][j])] for i, j in shortlist]
                for (i, j), sim in zip(shortlist, self.embedder.encode(texts) @ qvec):
                    scores[i][j] += sim + 1.0  # shortlisted sentences rank above the rest
        for h, sp, sc in zip(hits, spans, scores):
            h.highlights = highlight.pick(sc, sp, h.passage.text)

    def neighbours(self, passage_id: int, before: int = 1, after: int = 1):
        return self.store.neighbours(passage_id, before, after)


def _mask(snap: Snapshot, allowed: np.ndarray | None) -> np.ndarray | None:
    """1.0 for keyword-index rows whose passage is allowed."""
    if allowed is None:
        return None
    ids = snap.keywords.ids
    mask = np.zeros(len(ids), dtype=np.float32)
    rows = np.searchsorted(ids, allowed)
    inside = rows < len(ids)
    rows, wanted = rows[inside], allowed[inside]
    mask[rows[ids[rows] == wanted]] = 1.0
    return mask


def _minmax(x: np.ndarray) -> np.ndarray:
    span = x.max() - x.min() if len(x) else 0.0
    return (x - x.min()) / span if span > 0 else np.zeros_like(x, dtype=np.float64)


def _top(scores: np.ndarray, ids: np.ndarray, k: int) -> list[tuple[int, float]]:
    if not len(scores):
        return []
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    top = top[scores[top] > 0]
    return list(zip(ids[top].tolist(), scores[top].tolist()))


def _cosines(snap: Snapshot, qvec: np.ndarray, ids: list[int]) -> dict[int, float]:
    if not ids:
        return {}
    vectors = snap.vectors.reconstruct_batch(np.asarray(ids, dtype=np.int64))
    return dict(zip(ids, (vectors @ qvec).tolist()))
