"""The format registry: one module per format in this package, each defining `FORMAT`.

Discovery, extraction, uploads, the app and the CLI help all read this registry; adding a
format means adding one module here (plus its tests). A module without `FORMAT` (a helper
such as pdf_layout) is skipped.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from kb.errors import ExtractionError
from kb.text import blank_controls, collapse

from .. import limits
from ..sniff import looks_like_text, magic
from ..types import Extracted
from .base import Format


def _discover() -> dict[str, Format]:
    """Import the modules that assign `FORMAT` at top level; helpers (pdf_layout and its pypdf,
    pdf_glyphs and fontTools...) load only when a file of their format is read."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        source = Path(__path__[0]) / f"{info.name}.py"
        if source.is_file() and not re.search(r"^FORMAT\s*=", source.read_text(encoding="utf-8"), re.M):
            continue
        fmt = getattr(importlib.import_module(f"{__name__}.{info.name}"), "FORMAT", None)
        if isinstance(fmt, Format):
            found[fmt.kind] = fmt
    return found


FORMATS: dict[str, Format] = _discover()
BY_SUFFIX: dict[str, Format] = {s: f for f in FORMATS.values() for s in f.suffixes}
SUFFIXES: tuple[str, ...] = tuple(sorted(BY_SUFFIX))
SUPPORTED = ", ".join(SUFFIXES)


def for_path(path: Path | str) -> Format | None:
    return BY_SUFFIX.get(Path(path).suffix.lower())


def for_media_type(media_type: str) -> Format | None:
    media_type = media_type.split(";")[0].strip().lower()
    return next((f for f in FORMATS.values() if media_type in f.media_types), None)


def by_kind(kind: str | None) -> Format | None:
    return FORMATS.get(kind or "")


def unsupported(path: Path | str) -> str:
    suffix = Path(path).suffix
    return f"unsupported file type {suffix or '(no extension)'!r}; supported: {SUPPORTED}"


LOOKS_LIKE = {"html": "looks like an HTML page", "pdf": "is a PDF"}  # what `describe` says of each format


def _a(label: str) -> str:
    return f"{'an' if label[:1].lower() in 'aeiou' or label.startswith('HTML') else 'a'} {label}"


def describe(data: bytes) -> str:
    """What the content looks like, for a message about a misnamed file."""
    guess = magic(data)
    if guess == "pdf" or b"%PDF-" in data[:1024]:
        return "is a PDF"
    if guess == "html":
        return "looks like an HTML page"
    if guess is None:
        return "looks like plain text" if looks_like_text(data) else "is binary data, not text"
    return f"looks like a {guess.upper()} file"


def extract(path: Path | str, data: bytes) -> Extracted:
    """Read one file's bytes with the format its name says, after checking the content agrees."""
    fmt = for_path(path)
    if fmt is None:
        raise ExtractionError(unsupported(path))
    return extract_as(fmt, data)


def extract_as(fmt: Format, data: bytes) -> Extracted:
    if not data:
        raise ExtractionError("empty file (0 bytes)")
    if not fmt.accepts(data):
        described = describe(data)
        if described == LOOKS_LIKE.get(fmt.kind):  # the right kind of file, but its bytes are not
            raise ExtractionError(f"damaged {fmt.label}: it starts like one but holds binary data (NUL or control "
                                  "bytes); get a new copy of the file")
        raise ExtractionError(f"not {_a(fmt.label)}: the content {described}; fix the file or its extension")
    result = fmt.extract(data)
    result.kind = fmt.kind
    if sum(len(p.text) for p in result.pages) > limits.active().max_chars:  # a reader that counts nothing (OCR)
        raise limits.too_much_text(limits.active().max_chars)
    _clean(result)
    if not any(p.text.strip() for p in result.pages):
        raise ExtractionError("no text: the file holds only whitespace or markup")
    return result


def _clean(result: Extracted) -> None:
    """No control character survives extraction, whichever decoding step produced it (an HTML
    entity, a PDF string, a Word field): page text keeps its length, so offsets still hold."""
    for page in result.pages:
        page.text = blank_controls(page.text)
        page.headings = [(offset, collapse(blank_controls(h))) for offset, h in page.headings]
    for key in ("title", "publisher", "url", "accessed"):
        value = getattr(result, key)
        if isinstance(value, str):
            setattr(result, key, collapse(blank_controls(value)) or None)
