"""A deterministic embedder without a model: hashed word and character-trigram counts.

For tests of everything around the embedder (backends, pipeline, crash safety) where the
meaning of the vectors does not matter but their determinism and shape do. Never a default.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

from .base import Embedder, Progress

WORD = re.compile(r"\w+")


class HashingEmbedder(Embedder):
    runtime = "hashing"

    def __init__(self, dimension: int = 64, name: str = "hashing-test-embedder"):
        self.name = name
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def loaded(self) -> bool:
        return True

    def load(self) -> None:
        pass

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self._dimension, dtype=np.float32)
        words = WORD.findall(text.lower())
        features = words + [w[i:i + 3] for w in words for i in range(max(1, len(w) - 2))]
        for f in features:
            h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little")
            v[h % self._dimension] += 1.0 if (h >> 32) & 1 else -1.0
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    def encode_passages(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        out = np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self._dimension), np.float32)
        if progress and texts:
            progress(len(texts))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self._vector(text)
