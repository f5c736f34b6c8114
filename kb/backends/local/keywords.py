"""Keyword index of the local backend: BM25 over the library's tokens, by bm25s.

bm25s scores every passage of a query at once (a sparse matrix product), which is what
makes it fast; the index is rebuilt whole on each commit because bm25s has no update.
Searching reads bm25s's saved arrays directly (`SavedScores`, the same sums bm25s makes),
so a question never imports bm25s and scipy: ~0.25 s of a one-question `kb ask`.
"""
from __future__ import annotations

from pathlib import Path

import json

import numpy as np

from ...tokens import tokenize

K1, B = 1.2, 0.75


class KeywordIndex:
    """BM25 scores for every passage, addressed by passage id."""

    def __init__(self, bm25, ids: np.ndarray):
        self.bm25 = bm25
        self.ids = ids  # row -> passage id, ascending

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids, texts) -> "KeywordIndex":
        import bm25s

        bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
        tokens = [tokenize(t) for t in texts]
        if tokens:
            bm25.index(tokens, show_progress=False)
        return cls(bm25, np.asarray(ids, dtype=np.int64))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if len(self.ids):
            self.bm25.save(str(folder), show_progress=False)
        np.save(folder / "ids.npy", self.ids)

    @classmethod
    def load(cls, folder: Path, mmap: bool = False) -> "KeywordIndex":
        ids = np.load(folder / "ids.npy")
        return cls(SavedScores(folder, mmap) if len(ids) else None, ids)

    def scores(self, query: str, mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every row (0 where no query term occurs); `mask` is 1 for allowed rows."""
        if not len(self.ids):
            return np.zeros(0, dtype=np.float32)
        token_ids = self.bm25.get_tokens_ids(tokenize(query))
        if not token_ids:
            return np.zeros(len(self.ids), dtype=np.float32)
        return self.bm25.get_scores_from_ids(token_ids, weight_mask=mask)

    def document_frequencies(self, tokens: set[str]) -> dict[str, int]:
        """How many passages hold each token (0 for tokens the corpus never uses)."""
        if not len(self.ids):
            return {t: 0 for t in tokens}
        indptr = self.bm25.scores["indptr"]
        out = {}
        for token in tokens:
            tid = self.bm25.vocab_dict.get(token)
            out[token] = int(indptr[tid + 1] - indptr[tid]) if tid is not None else 0
        return out

    def rows(self, ids) -> np.ndarray:
        """Row of each passage id (ids must be in the index)."""
        return np.searchsorted(self.ids, np.asarray(ids, dtype=np.int64))

    def mask(self, allowed: np.ndarray | None) -> np.ndarray | None:
        """1.0 for rows whose passage is allowed."""
        if allowed is None:
            return None
        mask = np.zeros(len(self.ids), dtype=np.float32)
        rows = np.searchsorted(self.ids, allowed)
        inside = rows < len(self.ids)
        rows, wanted = rows[inside], allowed[inside]
        mask[rows[self.ids[rows] == wanted]] = 1.0
        return mask


class SavedScores:
    """A saved bm25s index, for scoring only: the vocabulary and the precomputed per-term
    passage scores (CSC arrays: term -> passages, score). Answers what bm25s.BM25 answers for
    the "lucene" method (no non-occurrence term), with the same float32 sums."""

    def __init__(self, folder: Path, mmap: bool = False):
        params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
        if params.get("method") != "lucene":
            raise ValueError(f"keyword index in {folder} uses BM25 method {params.get('method')!r}, not lucene")
        self.vocab_dict: dict[str, int] = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        mode = "r" if mmap else None
        self.scores = {name: np.load(folder / f"{name}.csc.index.npy", mmap_mode=mode)
                       for name in ("data", "indices", "indptr")}
        self.num_docs = int(params["num_docs"])
        self.dtype = np.dtype(params.get("dtype", "float32"))

    def get_tokens_ids(self, tokens: list[str]) -> list[int]:
        """Known tokens' ids; bm25s's vocabulary may also hold "" past the last column."""
        columns = len(self.scores["indptr"]) - 1
        return [i for i in (self.vocab_dict.get(t) for t in tokens) if i is not None and i < columns]

    def get_scores_from_ids(self, token_ids: list[int], weight_mask: np.ndarray | None = None) -> np.ndarray:
        data, indices, indptr = self.scores["data"], self.scores["indices"], self.scores["indptr"]
        scores = np.zeros(self.num_docs, dtype=self.dtype)
        for tid in token_ids:  # a repeated query term counts again, as in bm25s
            start, end = int(indptr[tid]), int(indptr[tid + 1])
            np.add.at(scores, indices[start:end], data[start:end])
        if weight_mask is not None:
            scores *= weight_mask
        return scores
