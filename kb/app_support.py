"""Helpers for the Streamlit app (app.py) that are plain Python and testable without it:
escaping document text for display, highlighted passages, the shared model, the corpus
folder setting, publishing an ingested source file for the browser, ingest progress, and
the rows of the library table.

Nothing here imports Streamlit.
"""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .backends import Backend
from .errors import KBError
from .models import Document, Filters, Hit, Passage

SOURCES_SUBDIR = "sources"  # under the app's static/ folder, served at app/static/sources/
STATIC_URL = "app/static"  # relative, so it also works under server.baseUrlPath


class SourceUnavailable(KBError):
    """The original file of an ingested document cannot be served (gone, or changed)."""


# ---- settings and shared resources ---------------------------------------------------------

def corpus_dir(app_dir: Path | str, settings) -> Path:
    """The folder the app ingests and saves uploads into: the corpus_dir setting ($KB_CORPUS),
    else corpus/ beside app.py."""
    return settings.corpus_dir or Path(app_dir).absolute() / "corpus"


@functools.lru_cache(maxsize=2)
def shared_reranker(setting: str, device: str):
    from .rerank import Reranker

    return Reranker(setting, device)


# ---- escaping: document text can never become HTML or Markdown -------------------------------

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}  # as html.escape
# Every other ASCII punctuation character becomes a numeric character reference. Markdown
# (CommonMark, GFM, Streamlit's extensions: math `$`, colour directives `:red[...]`,
# tables `|`, autolinks `https://`) never treats a character reference as syntax.
_TABLE = {ord(c): _HTML.get(c, f"&#{ord(c)};") for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"}
_TABLE.update({ord("\n"): " ", ord("\r"): " ", ord("\t"): " "})


def escape_html(text: str | None) -> str:
    """Text made inert for st.markdown(..., unsafe_allow_html=True): it renders as itself."""
    return str(text or "").translate(_TABLE)


_MD_SPECIAL = "\\`*_{}[]()<>#+-.!|~$:=^&\"'"


def escape_markdown(text: str | None) -> str:
    """Text made inert for ordinary st.* calls that render Markdown (st.error, st.caption, …)."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in str(text or "")).replace("\n", " ")


def highlighted_html(text: str, spans: list[tuple[int, int]]) -> str:
    """The passage, escaped, with the [start, end) spans wrapped in <mark>."""
    out, pos = [], 0
    for start, end in sorted(spans or []):
        start, end = max(start, pos), min(end, len(text))
        if end <= start:
            continue
        out += [escape_html(text[pos:start]), "<mark>", escape_html(text[start:end]), "</mark>"]
        pos = end
    out.append(escape_html(text[pos:]))
    return "".join(out)


def meta_parts(document: Document, passage: Passage | None = None) -> list[str]:
    """Publisher, year, type, page and section as short plain-text labels."""
    parts = [document.publisher or "Publisher unknown", str(document.year) if document.year else "n.d."]
    if document.doc_type:
        parts.append(document.doc_type)
    if passage is not None:
        if passage.page is not None:
            parts.append(f"p. {passage.page}")
        if passage.section and passage.section.strip().rstrip(".") != document.title.strip().rstrip("."):
            parts.append(f"§ {passage.section}")
    return parts


def card_html(hit: Hit, rank: int) -> str:
    """Title, metadata line and highlighted passage of one result, all document text escaped."""
    doc, passage = hit.document, hit.passage
    meta = " · ".join(escape_html(p) for p in meta_parts(doc, passage))
    return (
        f'<div class="kb-card">'
        f'<div class="kb-title"><span class="kb-rank">{rank}.</span> <strong>{escape_html(doc.title)}</strong></div>'
        f'<div class="kb-meta">{meta}</div>'
        f'<div class="kb-passage">{highlighted_html(passage.text, hit.highlights)}</div>'
        f"</div>"
    )


def context_html(passages: list[Passage], current: Hit) -> str:
    """Neighbouring passages around a hit: the hit highlighted, the others muted."""
    blocks = []
    for p in passages:
        if p.id == current.passage.id:
            blocks.append(f'<div class="kb-ctx kb-ctx-current">{highlighted_html(p.text, current.highlights)}</div>')
        else:
            where = f"{escape_html(p.section)} — " if p.section and p.section != current.passage.section else ""
            blocks.append(f'<div class="kb-ctx"><em>{where}</em>{escape_html(p.text)}</div>')
    return "".join(blocks)


CARD_CSS = """
<style>
.kb-title {font-size: 1.05rem; margin-bottom: .1rem;}
.kb-rank {color: #888;}
.kb-meta {color: #666; font-size: .85rem; margin-bottom: .5rem;}
.kb-passage, .kb-ctx {line-height: 1.55;}
.kb-passage mark, .kb-ctx mark {background: #fff1a8; color: inherit; padding: 0 .1em; border-radius: 2px;}
.kb-ctx {color: #777; font-size: .92rem; border-left: 3px solid #ddd; padding-left: .6rem; margin: .4rem 0;}
.kb-ctx-current {color: inherit; border-left-color: #f0c400;}
</style>
"""


# ---- filters -----------------------------------------------------------------------------------

def build_filters(documents=(), doc_types=(), publishers=(), years: tuple[int, int] | None = None,
                  year_bounds: tuple[int, int] | None = None) -> Filters:
    """Filters from the pickers; a year range equal to the full range means no year filter
    (a year filter leaves out documents without a year)."""
    year_min = year_max = None
    if years and year_bounds and tuple(years) != tuple(year_bounds):
        year_min, year_max = int(years[0]), int(years[1])
    return Filters(tuple(documents), tuple(doc_types), tuple(publishers), year_min, year_max)


# ---- ingest progress ---------------------------------------------------------------------------

STAGES = {  # stage -> (start fraction, span, label)
    "scan": (0.0, 0.05, "Looking for files"),
    "extract": (0.05, 0.35, "Reading files"),
    "embed": (0.40, 0.50, "Embedding passages"),
    "write": (0.90, 0.10, "Writing the index"),
}


def progress_state(stage: str, done: int, total: int) -> tuple[float, str] | None:
    """(fraction 0..1, label) for the ingest progress callback, or None for unknown stages."""
    if stage not in STAGES:
        return None
    start, span, label = STAGES[stage]
    share = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
    text = f"{label} ({done} of {total})" if total > 1 else f"{label}…"
    return min(start + span * share, 1.0), text


# ---- the original documents, served to the browser -------------------------------------------

@dataclass
class SourceLink:
    url: str  # relative URL under the app's static route, with #page=N for PDFs
    label: str
    as_text: bool  # served as plain text (HTML, Markdown, text), not in its own format


def source_file_name(document: Document, paged: bool) -> str:
    """Content-addressed name in static/sources/: paged documents (PDFs) keep .pdf (the
    browser's viewer opens them at #page=N); every other kind is served as .txt, i.e.
    text/plain with nosniff, so an HTML document never runs as a page of the app's origin."""
    return f"{document.sha256}.pdf" if paged else f"{document.sha256}.txt"


def publish_source(document: Document, static_dir: Path | str, paged: bool) -> Path:
    """Copy an ingested document's file into static/sources/ under its sha256, once.

    Only a file whose content still has the sha256 recorded at ingestion is published, so
    what is served is exactly what was ingested; the destination name comes from the hash,
    never from the document's path or name.
    """
    if not document.sha256 or len(document.sha256) != 64 or not all(c in "0123456789abcdef" for c in document.sha256):
        raise SourceUnavailable(f"{document.name} has no recorded content hash; re-ingest it to open the source.")
    folder = Path(static_dir) / SOURCES_SUBDIR
    target = folder / source_file_name(document, paged)
    if target.is_file():
        return target
    source = Path(document.path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".publish-", dir=folder)
        try:
            digest = hashlib.sha256()
            with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    digest.update(chunk)
                    dst.write(chunk)
            if digest.hexdigest() != document.sha256:
                raise SourceUnavailable(
                    f"{document.name} changed since it was ingested; re-ingest it (Library page) to open the source.")
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, target)
        finally:
            Path(tmp_name).unlink(missing_ok=True)
    except FileNotFoundError:
        raise SourceUnavailable(f"The source file of {document.name} is no longer at {document.path}.") from None
    except OSError as exc:
        raise SourceUnavailable(f"The source file of {document.name} cannot be read ({exc.strerror or exc}).") from None
    return target


def source_link(document: Document, passage: Passage | None, static_dir: Path | str, paged: bool,
                highlights: list[tuple[int, int]] | None = None) -> SourceLink:
    """Publish the source if needed and return its URL: at the cited page for PDFs; for text,
    with a text fragment that scrolls to the highlighted sentence where the browser can."""
    path = publish_source(document, static_dir, paged)
    url = f"{STATIC_URL}/{SOURCES_SUBDIR}/{quote(path.name)}"
    as_text = not path.name.endswith(".pdf")
    if not as_text and passage is not None and passage.page is not None:
        url += f"#page={int(passage.page)}"
        label = f"Open source (p. {passage.page})"
    elif as_text and passage is not None:
        start, end = (highlights or [(0, len(passage.text))])[0]
        url += _text_fragment(passage.text[start:end])
        label = "Open source (text)"
    else:
        label = "Open source"
    return SourceLink(url, label, as_text)


def _text_fragment(text: str, words: int = 6) -> str:
    """A `#:~:text=` fragment that scrolls (Chromium) to the passage's opening words."""
    opening = " ".join(text.split()[:words])
    # In a text directive "-", "," and "&" are syntax: percent-encode them as well.
    return f"#:~:text={quote(opening, safe='').replace('-', '%2D')}" if opening else ""


# ---- the library -------------------------------------------------------------------------------

def known_hashes(backend: Backend) -> dict[str, str]:
    """sha256 -> file name of every ingested document (empty when there is no knowledge base)."""
    if not backend.exists():
        return {}
    return {d.sha256: d.name for d in backend.documents()}


def library_rows(backend: Backend) -> tuple[list[dict], list[dict]]:
    """(one row per document, one row per ingestion problem) for the library tables."""
    if not backend.exists():
        return [], []
    stats = backend.passage_counts()
    rows = []
    for d in backend.documents():
        rows.append({
            "Title": d.title,
            "Passages": stats.get(d.id, 0),
            "Year": str(d.year) if d.year else "",
            "Publisher": d.publisher or "",
            "Type": d.doc_type or "",
            "File": d.name,
            "Format": d.kind or "",
            "Pages": str(d.pages) if d.pages else "",
            "Ingested": _when(d.ingested_at),
            "Problems": "; ".join(d.warnings) if d.warnings else ("no passages" if not stats.get(d.id) else ""),
            "Path": d.path,
        })
    problems = [{"File": p["name"], "Problem": p["reason"], "Seen": _when(p["seen_at"]),
                 "Path": p["path"]} for p in backend.problems()]
    return rows, problems


def _when(iso: str | None) -> str:
    """A stored UTC timestamp as people read it: '2026-11-23 15:02:11 UTC'."""
    return (iso or "").replace("T", " ").replace("+00:00", " UTC")


def remove_stale_sources(static_dir: Path | str, keep: set[str]) -> int:
    """Delete published copies whose hash is no longer in the knowledge base; returns how many."""
    folder = Path(static_dir) / SOURCES_SUBDIR
    removed = 0
    if folder.is_dir():
        for f in folder.iterdir():
            if f.is_file() and not f.name.startswith(".") and f.name.split(".")[0] not in keep:
                f.unlink(missing_ok=True)
                removed += 1
    return removed

