"""Plain data handed from one ingestion stage to the next."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Page:
    """Text of one page (PDF) or of a whole flowing document (text, Markdown, HTML).

    `headings` are (character offset into `text`, heading text), sorted by offset; the
    offset is where the heading line starts, so the splitter knows which heading governs
    every character that follows it.
    """

    number: int | None
    text: str
    headings: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Extracted:
    """What an extractor learned from one file, before splitting."""

    pages: list[Page]
    kind: str  # "pdf", "html", "markdown", "text"
    title: str | None = None
    publisher: str | None = None
    year: int | None = None
    page_count: int | None = None
    warnings: list[str] = field(default_factory=list)
