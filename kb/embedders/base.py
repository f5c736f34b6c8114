"""The embedder seam: what ingestion and search need from an embedding runtime.

Vectors are float32 and L2-normalised, so an inner-product index ranks by cosine. `name`
identifies the model (stable across spellings of it); `runtime` says how it is computed
("torch", "onnx", "onnx-int8"). A knowledge base records both, and refuses queries from an
embedder whose vectors are not comparable with the ones it stores (`compatible`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import numpy as np

Progress = Callable[[int], None]  # told how many more texts were encoded


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
