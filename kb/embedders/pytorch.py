"""The PyTorch runtime: sentence-transformers, loaded lazily, once, and only when needed."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ..config import DEFAULT_MODEL
from ..errors import ModelUnavailable
from .base import Embedder, Progress, model_identity, resolve_model_location


class TorchEmbedder(Embedder):
    """A SentenceTransformer; normalised float32 vectors for an inner-product index."""

    runtime = "torch"

    def __init__(self, setting: str = DEFAULT_MODEL, device: str = "cpu", batch_size: int = 64):
        self.setting = setting
        self.name = model_identity(setting)
        self.device = device
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        self._loaded_model()

    def _loaded_model(self):
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    @property
    def dimension(self) -> int:
        model = self._loaded_model()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def _load(self):
        location = resolve_model_location(self.setting)
        local = Path(location).expanduser().exists()
        if local:
            # Nothing to fetch: keep transformers from trying the hub for extra files.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()

        torch.set_num_threads(os.cpu_count() or 1)
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ModelUnavailable("device is set to cuda but no CUDA GPU is available; use --device cpu.")
        try:
            return SentenceTransformer(str(Path(location).expanduser()) if local else location, device=self.device)
        except Exception as exc:  # many causes, one remedy
            where = "the folder" if local else "the model hub (is it reachable?)"
            raise ModelUnavailable(
                f"Could not load embedding model {self.setting!r} from {where}: {str(exc).splitlines()[0][:200]}. "
                "Set KB_MODEL (or --model) to a local sentence-transformers folder."
            ) from exc

    def encode_passages(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        """Texts are sorted by length across the whole call (similar lengths share a batch, so
        little padding is computed) and encoded in chunks so `progress(n)` can report."""
        model = self._loaded_model()
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        chunk = self.batch_size  # progress moves per batch; the global sort already groups lengths
        for start in range(0, len(order), chunk):
            rows = order[start:start + chunk]
            out[rows] = model.encode([texts[i] for i in rows], batch_size=self.batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
            if progress:
                progress(len(rows))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """One short text, without encode()'s batching overhead (about half the latency)."""
        import torch

        model = self._loaded_model()
        prepare = getattr(model, "preprocess", None) or model.tokenize
        with torch.inference_mode():
            features = prepare([text])
            features = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in features.items()}
            vector = model(features)["sentence_embedding"][0].float().cpu().numpy()
        return (vector / max(np.linalg.norm(vector), 1e-12)).astype(np.float32)
