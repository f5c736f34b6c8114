"""Questions → cited passages: dense and keyword retrieval, fused, optionally reranked,
with filters applied inside both searches, abstention, and answer highlights.

A Searcher holds one reader (one published generation of the backend) and reloads it when
the knowledge base moves on, so a long-running app sees new documents without restarting.
It sees only (passage id, score) lists and kb.models dataclasses, whatever the backend.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from . import abstain, answer as answers, citations, highlight
from .backends.base import Backend, IndexReader, Ranked, StaleSnapshot
from .embedders import Embedder
from .focus import SentenceFocus, window_spans
from .errors import ModelMismatch, UsageError
from .models import Answer, BestAnswer, Filters, Hit
from .rerank import Reranker

DEPTH = 50  # candidates taken from each retriever before fusing
RRF_K = 60
TIE_ROOM = 50  # results read past the depth, so a tie across the cut is kept whole
BLEND_DENSE_WEIGHT = 0.5
FUSION = "blend"  # min-max blend; RRF measured lower on SciFact train (bench/quality.py)
RERANK_DEPTH = 30
CHECK_DEPTH = 5  # passages the abstention test reads
HIGHLIGHT_SHORTLIST = 3  # sentences per passage also scored by meaning
METHODS = ("fused", "dense", "keyword")
# A footnote's fused score counts for this much: notes and references support the body text,
# and a short note dense in the question's words otherwise outranks the paragraph that answers.
FOOTNOTE_WEIGHT = 0.85
# A table row whose label the question does not name counts for this much: a row is indexed
# with its table's caption and column names, so every row of a table matches a question about
# the table's subject, and they crowd out the prose that answers it.
UNNAMED_ROW_WEIGHT = 0.85
# A row the question names counts for up to twice as much, by how much of the question (idf-
# weighted) its asked cell's description holds past a floor: title, section, caption, group,
# label and the asked column's name (kb/tables.py `row_coverage`). A row has few words of its
# own, and prose that mentions its subject otherwise outranks the row that answers. Below the
# floor nothing changes: a prose question names a row in passing ("older", "disability"), and its
# named rows held a median 0.29 of the gov questions against 0.65 for the rows that answer the
# tables questions (tuning parts).
ROW_MATCH_BOOST = 1.0
ROW_MATCH_FLOOR = 0.5
ROW_DEPTH = 30  # fused candidates fetched and weighed, so a row ranked low by its bare figures can rise


_pool = None
_pool_lock = threading.Lock()


def _background():
    """Threads for a reader's keyword search, run beside the embedding and dense search when the
    reader's work happens elsewhere (a database server), not on this process's cores."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(8, thread_name_prefix="kb-keyword")
        return _pool


class Searcher:
    def __init__(self, backend: Backend, embedder: Embedder, reranker: Reranker | None = None,
                 fusion: str = FUSION, dense_highlights: bool = False, focus: SentenceFocus | None | bool = True):
        self.backend = backend
        self.embedder = embedder
        self.reranker = reranker
        self.fusion = fusion
        # fused candidates re-scored by their best sentence (kb/focus.py); False: fusion alone
        self.focus = SentenceFocus(embedder) if focus is True else (focus or None)
        self.dense_highlights = dense_highlights
        # the best answer reads the first passages' window vectors: the focus's cache, or its own
        self._windows = self.focus or SentenceFocus(embedder)
        self._reader: IndexReader | None = None
        self._lock = threading.Lock()

    def reader(self) -> IndexReader:
        """The loaded generation, reloaded first if the knowledge base has a newer one."""
        with self._lock:
            number = self.backend.current_generation()
            if self._reader is None or self._reader.generation.number != number:
                reader = self.backend.reader()
                if reader.generation.model != self.embedder.identity:
                    raise ModelMismatch(
                        f"The knowledge base was built with {reader.generation.model}, but the model setting is "
                        f"{self.embedder.identity}. Use the same model, or re-embed with `kb ingest --rebuild`.")
                self._reader = reader
            return self._reader

    def ask(self, question: str, k: int = 5, filters: Filters | None = None, method: str = "fused",
            rerank: bool = True) -> Answer:
        question = " ".join((question or "").split())
        if not question:
            raise UsageError("The question is empty: type a question.")
        if k < 1:
            raise UsageError("k must be at least 1.")
        if method not in METHODS:
            raise UsageError(f"Unknown method {method!r}: use fused, dense or keyword.")
        started = time.perf_counter()
        reader = self._reader or self.reader()
        for _ in range(5):
            try:
                # The session checks that the reader is still the current generation (no
                # separate check per question) and answers the whole question from it.
                with reader.session():
                    answer = self._ask(reader, question, k, filters or Filters(), method, rerank)
            except StaleSnapshot:
                reader = self.reader()  # a commit landed: load the new generation and search it
                continue
            answer.seconds = time.perf_counter() - started
            return answer
        raise StaleSnapshot("The knowledge base kept changing during the search; ask again.")

    # ---- the pipeline ------------------------------------------------------------------
    def retrieve(self, reader: IndexReader, question: str, depth: int, filters: Filters, method: str,
                 rerank: bool = True) -> tuple[Ranked, np.ndarray, str]:
        """Ranked (passage id, score) candidates, the query vector, and the stages run."""
        candidates, qvec, stages, _ = self._retrieve(reader, question, depth, filters, method, rerank)
        if self._focusing(stages, candidates):
            passages, _ = reader.fetch([pid for pid, _ in candidates[:self.focus.depth]])
            return self._focused(candidates, passages, qvec), qvec, stages + "+focus"
        return candidates, qvec, stages

    def _retrieve(self, reader: IndexReader, question: str, depth: int, filters: Filters, method: str,
                  rerank: bool) -> tuple[Ranked, np.ndarray, str, dict[int, float]]:
        """retrieve(), plus the cosines fusion read (passage id -> cosine), which the answer reuses."""
        depth = max(DEPTH, depth)
        keyword = None
        if method in ("keyword", "fused") and reader.concurrent_retrieval:
            keyword = _background().submit(reader.keyword, question, depth + TIE_ROOM, filters)  # while we embed
        qvec = self.embedder.encode_query(question)
        ranked: dict[str, Ranked] = {}
        if method in ("dense", "fused"):
            ranked["dense"] = _cut_after_ties(reader.dense(qvec, depth + TIE_ROOM, filters), depth)
        if method in ("keyword", "fused"):
            found = keyword.result() if keyword else reader.keyword(question, depth + TIE_ROOM, filters)
            ranked["keyword"] = _cut_after_ties(found, depth)
        cosines: dict[int, float] = {}
        if method == "fused":
            candidates, cosines = self._fuse(reader, qvec, question, ranked)
        else:
            candidates = ranked[method]
        if rerank and self.reranker is not None and candidates:
            return self._rerank(reader, question, candidates), qvec, method + "+rerank", cosines
        return candidates, qvec, method, cosines

    def _focusing(self, stages: str, candidates: Ranked) -> bool:
        return stages == "fused" and self.focus is not None and bool(candidates)

    def _focused(self, candidates: Ranked, passages: dict, qvec: np.ndarray) -> Ranked:
        """The sentence focus over the first candidates (kb/focus.py); pure CPU, no reads."""
        head = candidates[:self.focus.depth]
        return self.focus.rescore(head, passages, qvec) + candidates[len(head):]

    def _ask(self, reader: IndexReader, question: str, k: int, filters: Filters, method: str, rerank: bool) -> Answer:
        candidates, qvec, stages, known = self._retrieve(reader, question, k, filters, method, rerank)
        if not candidates:
            reason = ("No document matches the filters." if not filters.is_empty()
                      else "The knowledge base has no passage to offer for this question.")
            return Answer(question, False, [], reason=reason, method=stages)
        wanted = max(k, CHECK_DEPTH, self.focus.depth if self.focus else 0)
        while wanted < len(candidates) and candidates[wanted][1] == candidates[wanted - 1][1]:
            wanted += 1  # a tie across the cut is ordered with the rest (below)
        ids = [pid for pid, _ in candidates[:max(wanted, ROW_DEPTH) if stages == "fused" else wanted]]
        passages, documents = reader.fetch(ids)
        missing = [pid for pid in ids if pid not in known]  # fusion read the cosines of its candidates
        if missing:
            known = known | dict(zip(missing, reader.scores(missing, qvec, question)[0].tolist()))
        stats = reader.keyword_stats(question)
        if stages == "fused":
            candidates = _weigh_rows(question, candidates, passages, len(ids), stats.idf(), documents)
        ids = [pid for pid, _ in candidates[:wanted]]
        cosines = {pid: known[pid] for pid in ids}
        if self._focusing(stages, candidates):
            # After every read: the encoding takes a while, and a commit landing during it then
            # costs nothing (the reads before it all saw one generation). It re-orders only the
            # first few, all among the passages fetched.
            candidates, stages = self._focused(candidates, passages, qvec), stages + "+focus"
        candidates = _ties_in_document_order(candidates, wanted, passages, documents)
        ids = [pid for pid, _ in candidates[:wanted]]
        check = [passages[i] for i in ids[:CHECK_DEPTH] if i in passages]
        shown = [passages[pid] for pid, _ in candidates[:k] if pid in passages]
        verdict = abstain.judge(question, max(cosines.values(), default=0.0), check, documents, stats.idf(),
                                stats.absent(), shown)
        hits = []
        for pid, score in candidates[:k]:
            p = passages.get(pid)
            if p is None:
                continue
            d = documents[p.document_id]
            hits.append(Hit(p, d, float(score), citations.citation(d, p), scores={"cosine": cosines.get(pid, 0.0)}))
        self._highlight(question, qvec, hits, stats.idf())
        answered, reason, best = verdict.answered, verdict.reason, None
        if answered:
            pool = self.answer_candidates(question, qvec, hits, stats.idf())
            lacking = answers.lacks_asked_kind(question, pool)
            if lacking:
                answered, reason = False, answers.LACKING_REASON[lacking]
            else:
                best = self._best_answer(question, hits, pool)
        return Answer(question, answered, hits, reason=reason, method=stages, best=best)

    def answer_candidates(self, question: str, qvec: np.ndarray, hits: list[Hit], idf: dict[str, float]
                          ) -> list[answers.Candidate]:
        """The sentences and pairs of the first hits that compete to be the best answer."""
        head = hits[:answers.DEPTH]
        if not head:
            return []
        cosines = self._windows.window_cosines([h.passage for h in head], qvec)
        return answers.candidates(question, head, cosines, [window_spans(h.passage) for h in head], idf)

    @staticmethod
    def _best_answer(question: str, hits: list[Hit], pool: list[answers.Candidate]) -> BestAnswer | None:
        """The best candidate; its passage's highlight becomes that sentence, so the card shows it.
        From a table row, the answer is the cell the question asks for (kb/tables.py)."""
        if not pool:
            return None
        chosen = max(pool, key=lambda c: c.score())
        hit = hits[chosen.rank - 1]
        if hit.passage.table is not None:
            from .tables import pick_cell

            cell = pick_cell(question, hit.passage)
            if cell is not None:
                hit.highlights = [cell.span]
                return BestAnswer(hit, chosen.rank, [cell.span], column=cell.column)
        if hit.passage.table is None or not hit.highlights:  # a table row's highlight is its asked cell already
            hit.highlights = list(chosen.spans)  # with its list, if it introduces one (kb/answer.py)
        return BestAnswer(hit, chosen.rank, list(hit.highlights))

    def _fuse(self, reader: IndexReader, qvec: np.ndarray, question: str, ranked: dict[str, Ranked]
              ) -> tuple[Ranked, dict[int, float]]:
        """The fused ranking, and the candidates' cosines when the blend read them."""
        if self.fusion == "rrf":
            fused: dict[int, float] = {}
            for results in ranked.values():
                for rank, (pid, _) in enumerate(results):
                    fused[pid] = fused.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1)
            return sorted(fused.items(), key=lambda kv: -kv[1]), {}
        # Blend: every candidate gets both scores exactly, whichever list it came from; each
        # score is min-max scaled over the candidates, then mixed.
        ids = list(dict.fromkeys([pid for results in ranked.values() for pid, _ in results]))
        if not ids:
            return [], {}
        cosine, bm25, notes = reader.fusion_inputs(ids, qvec, question)
        blended = BLEND_DENSE_WEIGHT * _minmax(cosine) + (1 - BLEND_DENSE_WEIGHT) * _minmax(bm25)
        weights = np.array([FOOTNOTE_WEIGHT if pid in notes else 1.0 for pid in ids])
        return (sorted(zip(ids, (blended * weights).tolist()), key=lambda kv: -kv[1]),
                dict(zip(ids, np.asarray(cosine).tolist())))

    def _rerank(self, reader: IndexReader, question: str, candidates: Ranked) -> Ranked:
        head = candidates[:RERANK_DEPTH]
        passages, _ = reader.fetch([pid for pid, _ in head])
        texts = [passages[pid].text if pid in passages else "" for pid, _ in head]
        scores = self.reranker.scores(question, texts)
        reranked = sorted(zip([pid for pid, _ in head], scores.tolist()), key=lambda kv: -kv[1])
        return reranked + candidates[RERANK_DEPTH:]

    def _highlight(self, question: str, qvec: np.ndarray, hits: list[Hit], idf: dict[str, float]) -> None:
        """Score sentences by the question's (idf-weighted) terms they contain. Optionally the
        few best of each passage are also scored by meaning; on the dev questions that found
        the evidence less often (25 vs 27 of 32) and costs an encode, so it is off."""
        spans = [highlight.sentence_spans(h.passage.text, h.passage.section, h.passage.footnote) for h in hits]
        scores = [highlight.lexical_scores(question, [h.passage.text[s:e] for s, e in sp], idf)
                  for h, sp in zip(hits, spans)]
        if self.dense_highlights:
            shortlist = [(i, j) for i, sc in enumerate(scores) for j in np.argsort(-sc)[:HIGHLIGHT_SHORTLIST]]
            if shortlist:
                texts = [hits[i].passage.text[slice(*spans[i][j])] for i, j in shortlist]
                for (i, j), sim in zip(shortlist, self.embedder.encode_passages(texts) @ qvec):
                    scores[i][j] += sim + 1.0  # shortlisted sentences rank above the rest
        for h, sp, sc in zip(hits, spans, scores):
            h.highlights = highlight.table_cell(question, h.passage) or highlight.pick(sc, sp, h.passage.text)

    def neighbours(self, passage_id: int, before: int = 1, after: int = 1):
        return self.reader().neighbours(passage_id, before, after)


def _weigh_rows(question: str, candidates: Ranked, passages: dict, depth: int,
                idf: dict[str, float] | None = None, documents: dict | None = None) -> Ranked:
    """The first `depth` candidates (those fetched) re-ordered with the table rows the question
    does not name weighed down (kb/tables.py `names_row`), and those it names weighed up by how
    much of the question their asked cell's description holds (`row_coverage`)."""
    if not any(p.table is not None for p in passages.values()):
        return candidates
    from .tables import names_row, row_coverage

    def weight(pid: int) -> float:
        p = passages.get(pid)
        if p is None or p.table is None:
            return 1.0
        if not names_row(question, p):
            return UNNAMED_ROW_WEIGHT
        document = (documents or {}).get(p.document_id)
        if not idf:
            return 1.0
        coverage = row_coverage(question, p, idf, document.title if document else None)
        return 1.0 + ROW_MATCH_BOOST * max(0.0, coverage - ROW_MATCH_FLOOR) / (1.0 - ROW_MATCH_FLOOR)

    head = [(pid, score * weight(pid)) for pid, score in candidates[:depth]]
    return sorted(head, key=lambda kv: -kv[1]) + candidates[depth:]


def _minmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    span = x.max() - x.min() if len(x) else 0.0
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def _ties_in_document_order(candidates: Ranked, n: int, passages: dict, documents: dict) -> Ranked:
    """Equal scores (one text in two documents) ordered by document and place, not by passage
    id: ids follow the order documents were ingested in, so a library grown in steps would
    otherwise show the other copy first (bench/build_order.py)."""
    def place(pid: int) -> tuple[str, int]:
        p = passages.get(pid)
        return (documents[p.document_id].path, p.ordinal) if p is not None else ("", pid)

    return sorted(candidates[:n], key=lambda c: (-c[1], place(c[0]))) + candidates[n:]


def _cut_after_ties(ranked: Ranked, depth: int) -> Ranked:
    """The first `depth` results and every one tied with the last of them: which of several
    equal scores (short table rows often tie in BM25) made the cut was decided by passage ids,
    which follow ingest order, so fusion's candidates moved with how the library was built."""
    if len(ranked) <= depth:
        return ranked
    last = ranked[depth - 1][1]
    return ranked[:depth] + [r for r in ranked[depth:] if r[1] >= last]
