"""Optional reranking with a cross-encoder from a local folder or a hub name.

No cross-encoder ships inside a PyPI package that we know of, so none is on by default;
set `reranker` (KB_RERANKER or --reranker) to a sentence-transformers CrossEncoder.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .errors import ModelUnavailable


class Reranker:
    def __init__(self, setting: str, device: str = "cpu", batch_size: int = 32):
        self.setting = setting
        self.device = device
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def model(self):
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self):
        local = Path(self.setting).expanduser()
        if local.exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import CrossEncoder

            return CrossEncoder(str(local) if local.exists() else self.setting, device=self.device)
        except Exception as exc:
            raise ModelUnavailable(
                f"Could not load reranker {self.setting!r}: {str(exc).splitlines()[0][:200]}. "
                "Point KB_RERANKER at a local cross-encoder folder, or unset it."
            ) from exc

    def scores(self, question: str, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        pairs = [(question, t) for t in texts]
        out = self.model().predict(pairs, batch_size=self.batch_size, show_progress_bar=False,
                                   convert_to_numpy=True)
        out = np.asarray(out, dtype=np.float32)
        return out if out.ndim == 1 else out[:, -1]
