"""How much one document may become: characters of text and passages (KB_MAX_DOCUMENT_CHARS,
KB_MAX_DOCUMENT_PASSAGES).

A small file can unpack into a great deal of text (a gzip-compressed page of 150 MB of HTML, a
Word file of 80,000 repeated paragraphs), and each passage costs memory and embedding time under
the write lock. The readers count text as they produce it (`TextBudget`) and stop at the limit
with a one-line reason naming the setting, so a document over it costs a moment, not an hour,
and the rest of the batch goes in. The limits are far above real documents: the largest of the
gov PDFs (the IRS 1040-NR instructions) is 296,394 characters and 375 passages
(bench/document_limits.py).

The pipeline sets the limits for its worker processes (`applied`); the readers ask `active()`.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from kb.errors import ExtractionError

DEFAULT_MAX_CHARS = 5_000_000  # ~800,000 words: a 1,500-page report
DEFAULT_MAX_PASSAGES = 20_000  # ~3 minutes of embedding on 2 cores


@dataclass(frozen=True)
class DocumentLimits:
    max_chars: int = DEFAULT_MAX_CHARS
    max_passages: int = DEFAULT_MAX_PASSAGES

    @classmethod
    def of(cls, settings) -> "DocumentLimits":
        return cls(settings.max_document_chars, settings.max_document_passages)


_active = DocumentLimits()


def active() -> DocumentLimits:
    return _active


@contextmanager
def applied(limits: DocumentLimits):
    """Readers called inside see `limits` (one worker reads one file at a time)."""
    global _active
    before, _active = _active, limits
    try:
        yield limits
    finally:
        _active = before


def too_much_text(limit: int) -> ExtractionError:
    return ExtractionError(f"more than {limit:,} characters of text, over the per-document limit "
                           "(KB_MAX_DOCUMENT_CHARS); split the document or raise the limit")


def too_many_passages(count: int, limit: int) -> ExtractionError:
    return ExtractionError(f"{count:,} passages, over the per-document limit of {limit:,} (KB_MAX_DOCUMENT_PASSAGES); "
                           "split the document or raise the limit")


class TextBudget:
    """Characters of one document counted as a reader produces them; over the limit, the
    reader stops with `too_much_text`."""

    def __init__(self, limit: int | None = None):
        self.limit = active().max_chars if limit is None else limit
        self.used = 0

    def spend(self, chars: int) -> None:
        self.used += chars
        if self.used > self.limit:
            raise too_much_text(self.limit)


def check_text(text: str) -> str:
    """A text produced whole (a decoded .txt file): refused when over the limit."""
    if len(text) > active().max_chars:
        raise too_much_text(active().max_chars)
    return text

