"""Keyword search: BM25 (bm25s) over passages, with a tokenizer that keeps policy codes.

Policy text is full of codes ("DC:0-5", "34 CFR §303.321", "HB20-1053"): a code is indexed
both whole ("dc:0-5") and as its parts ("dc", "0", "5"), so the exact code ranks highest
while a differently punctuated spelling still matches on its parts.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

WORD = re.compile(r"\w+", re.UNICODE)
# A run of letters/digits joined by code punctuation, containing at least one digit.
CODE = re.compile(r"(?<![\w§])§?\w+(?:[-:./§–]\w+)+")
K1, B = 1.2, 0.75


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS  # NLTK's English list

    return frozenset(STOPWORDS_EN_PLUS)


def tokenize(text: str) -> list[str]:
    """Lower-cased words minus stopwords, stemmed; plus whole codes that contain a digit."""
    low = text.lower()
    words = [w for w in WORD.findall(low) if w not in stopwords()]
    stemmed = _stemmer().stemWords(words)
    codes = [c.strip(".§").replace("–", "-") for c in CODE.findall(low)]
    return stemmed + [c for c in codes if any(ch.isdigit() for ch in c)]


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
        (folder / "keyword.json").write_text(json.dumps({"k1": K1, "b": B, "passages": len(self.ids)}))

    @classmethod
    def load(cls, folder: Path, mmap: bool = False) -> "KeywordIndex":
        import bm25s

        ids = np.load(folder / "ids.npy")
        bm25 = bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False) if len(ids) else bm25s.BM25()
        return cls(bm25, ids)

    def scores(self, query: str, mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every row (0 where no query term occurs); `mask` is 1 for allowed rows."""
        if not len(self.ids):
            return np.zeros(0, dtype=np.float32)
        token_ids = self.bm25.get_tokens_ids(tokenize(query))
        if not token_ids:
            return np.zeros(len(self.ids), dtype=np.float32)
        return self.bm25.get_scores_from_ids(token_ids, weight_mask=mask)

    def idf(self, query: str) -> dict[str, float]:
        """Inverse document frequency of the query's terms (rare terms weigh more)."""
        if not len(self.ids):
            return {}
        indptr = self.bm25.scores["indptr"]
        n = len(self.ids)
        out = {}
        for token in set(tokenize(query)):
            tid = self.bm25.vocab_dict.get(token)
            df = int(indptr[tid + 1] - indptr[tid]) if tid is not None else 0
            out[token] = float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
        return out
