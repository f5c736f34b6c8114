"""Embedding runtimes behind one interface (base.Embedder), chosen by the `runtime` setting."""
from __future__ import annotations

import functools
from pathlib import Path

from ..config import NEW_KB_RUNTIME, RUNTIMES, Settings
from ..errors import ModelUnavailable, UsageError
from .base import Embedder, model_identity

__all__ = ["Embedder", "make_embedder", "shared_embedder", "model_identity"]


def make_embedder(model: str, runtime: str = "torch", device: str = "cpu", kb_dir=None) -> Embedder:
    if runtime == "torch":
        from .pytorch import TorchEmbedder

        return TorchEmbedder(model, device)
    if runtime in ("onnx", "onnx-int8"):
        from .onnx import OnnxEmbedder, machine_cache

        cache = Path(kb_dir) / "onnx" if kb_dir is not None else machine_cache()  # kept with the knowledge base
        return OnnxEmbedder(model, "int8" if runtime == "onnx-int8" else "fp32", cache_dir=cache)
    raise UsageError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}.")


@functools.lru_cache(maxsize=4)
def shared_embedder(model: str, runtime: str = "torch", device: str = "cpu", kb_dir=None) -> Embedder:
    """One embedder per configuration in this process, for searching and ingesting alike."""
    return make_embedder(model, runtime, device, kb_dir)


def resolve_runtime(settings: Settings, recorded: str | None = None) -> str:
    """`auto`: ONNX Runtime (no torch on the query path), at the precision the knowledge base
    was built with (`recorded`, read from the backend when not given); a new one gets
    NEW_KB_RUNTIME. fp32 vectors are the same from torch and ONNX (cosine >= 0.9999), so a
    knowledge base built with torch is searched with ONNX fp32. Models ONNX cannot run
    (not a local mean-pooling sentence-transformers folder), and a GPU, use torch."""
    if settings.runtime != "auto":
        return settings.runtime
    if recorded is None:
        from ..backends import open_backend

        try:
            recorded = open_backend(settings).recorded_model()
        except Exception:  # an unreadable knowledge base is reported by whoever opens it next
            recorded = None
    if recorded and recorded.endswith("@int8"):
        return "onnx-int8"  # only ONNX makes these vectors; an unsupported model fails with its reason
    if settings.device == "cuda":
        return "torch"
    from .onnx import model_spec

    try:
        model_spec(settings.model)
    except ModelUnavailable:
        return "torch"
    return "onnx" if recorded else NEW_KB_RUNTIME


def for_settings(settings: Settings, shared: bool = True) -> Embedder:
    make = shared_embedder if shared else make_embedder
    runtime = resolve_runtime(settings)
    kb_dir = None if runtime == "torch" else str(settings.kb_dir)  # torch keeps nothing with the KB
    return make(settings.model, runtime, settings.device, kb_dir)
