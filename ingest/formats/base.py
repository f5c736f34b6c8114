"""What a format module declares about itself (see ingest/formats/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..types import Extracted


@dataclass(frozen=True)
class Format:
    kind: str  # recorded as Document.kind
    label: str  # what people call it: "PDF", "Word document"
    suffixes: tuple[str, ...]
    media_types: tuple[str, ...]  # MIME types of this format (web pages, uploads)
    accepts: Callable[[bytes], bool]  # does the content really look like this format?
    extract: Callable[[bytes], Extracted]  # raises ExtractionError with the per-file reason
    # How the app shows the original: "pdf" opens the file at the cited page; "text" shows
    # the extracted passages, since the original's markup is not for reading.
    view: str = "text"
