"""Embedding runtimes behind one interface (base.Embedder), chosen by the `runtime` setting."""
from __future__ import annotations

import functools
from pathlib import Path

from ..config import RUNTIMES, Settings
from ..errors import UsageError
from .base import Embedder, model_identity

__all__ = ["Embedder", "make_embedder", "shared_embedder", "model_identity"]


def make_embedder(model: str, runtime: str = "torch", device: str = "cpu", kb_dir=None) -> Embedder:
    if runtime == "torch":
        from .pytorch import TorchEmbedder

        return TorchEmbedder(model, device)
    if runtime in ("onnx", "onnx-int8"):
        from .onnx import OnnxEmbedder

        if kb_dir is None:
            raise UsageError("The ONNX runtimes keep their model export in the knowledge-base folder: give one.")
        return OnnxEmbedder(model, "int8" if runtime == "onnx-int8" else "fp32", cache_dir=Path(kb_dir) / "onnx")
    raise UsageError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}.")


@functools.lru_cache(maxsize=4)
def shared_embedder(model: str, runtime: str = "torch", device: str = "cpu", kb_dir=None) -> Embedder:
    """One embedder per configuration in this process, for searching and ingesting alike."""
    return make_embedder(model, runtime, device, kb_dir)


def for_settings(settings: Settings, shared: bool = True) -> Embedder:
    make = shared_embedder if shared else make_embedder
    kb_dir = None if settings.runtime == "torch" else str(settings.kb_dir)  # torch keeps nothing with the KB
    return make(settings.model, settings.runtime, settings.device, kb_dir)
