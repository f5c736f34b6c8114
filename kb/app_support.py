"""Helpers for the Streamlit app (app.py) that are plain Python and testable without it:
escaping document text for display, highlighted passages, the shared searcher (loaded when
the server starts), the corpus folder setting, filters and facets, the best answer and the
by-state view, exports, history and collections, an ingested source file handed to the
browser, ingest progress, and the rows of the library table.

Nothing here imports Streamlit.
"""
from __future__ import annotations

import functools
import hashlib
import html
import ipaddress
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from . import citations as cite
from . import states as us_states
from . import web_copies
from .backends import Backend
from .errors import KBError
from .models import Answer, Document, Filters, Hit, Passage

SOURCES_SUBDIR = "sources"  # under the app's static/ folder, where versions before 27.3 published originals


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


@functools.lru_cache(maxsize=4)
def shared_searcher(settings):
    """One Searcher per knowledge base and process; it reloads its index itself when the
    generation moves on. The app and its server-start preload share it."""
    from .backends import open_backend
    from .embedders import for_settings
    from .search import Searcher

    reranker = shared_reranker(settings.reranker, settings.device) if settings.reranker else None
    return Searcher(open_backend(settings), for_settings(settings), reranker, focus=settings.sentence_focus)


@functools.lru_cache(maxsize=4)
def preload(settings) -> threading.Thread:
    """Load the model and the index in the background now (server start), so the first
    browser finds them ready; once per process and settings. Failures are left for the
    first question to report."""
    def work():
        searcher = shared_searcher(settings)
        try:
            searcher.embedder.load()
            searcher.embedder.encode_query("warm up")
        except Exception:  # reported by the first search that needs the model
            pass
        try:
            searcher.reader()
        except Exception:  # no knowledge base yet, or a damaged one: the page says so
            pass

    thread = threading.Thread(target=work, name="kb-preload", daemon=True)
    thread.start()
    return thread


def is_loopback(address: str | None) -> bool:
    """Whether a server bound to `address` is reachable from this machine only."""
    if not address:
        return False  # Streamlit's default when unset: every interface
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


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


_KEPT_TAGS = {"<i>", "</i>", "<b>", "</b>", "<em>", "</em>", "<strong>", "</strong>", "<sup>", "</sup>",
              "<sub>", "</sub>"}


def citation_html(fragment: str) -> str:
    """A citation rendered by kb.citations (escaped text plus the style's own <i>/<b> tags)
    made inert for st.markdown as well: its text gets escape_html, so a title holding
    Markdown (`**`, `[x](y)`, `$`) shows as itself; only the style's simple tags survive."""
    out = []
    for piece in re.split(r"(<[^>]*>)", fragment):
        if piece.startswith("<"):
            out.append(piece if piece in _KEPT_TAGS else "")
        else:
            out.append(escape_html(html.unescape(piece)))
    return "".join(out)


def highlighted_html(text: str, spans: list[tuple[int, int]], mentions: list[tuple[int, int]] = ()) -> str:
    """The passage, escaped, with the [start, end) spans wrapped in <mark> and the `mentions`
    (a state's name, in the by-state view) in <b class="kb-state-mention">."""
    cuts = {0, len(text)}
    for start, end in list(spans or []) + list(mentions or []):
        cuts |= {max(0, min(start, len(text))), max(0, min(end, len(text)))}
    out = []
    points = sorted(cuts)
    for start, end in zip(points, points[1:]):
        piece = escape_html(text[start:end])
        if any(s <= start and end <= e for s, e in mentions or ()):
            piece = f'<b class="kb-state-mention">{piece}</b>'
        if any(s <= start and end <= e for s, e in spans or ()):
            piece = f"<mark>{piece}</mark>"
        out.append(piece)
    return "".join(out).replace("</mark><mark>", "")


def meta_parts(document: Document, passage: Passage | None = None) -> list[str]:
    """Publisher, year, type, page and section as short plain-text labels."""
    parts = [document.publisher or "Publisher unknown", str(document.year) if document.year else "n.d."]
    if document.doc_type:
        parts.append(document.doc_type)
    if passage is not None:
        page = cite.cited_page(passage)
        if page is not None:  # the printed page, as cited; the PDF page when it differs
            printed = (passage.page_label or "").strip()
            differs = passage.page is not None and printed not in ("", str(passage.page))
            parts.append(cite.page_locator(page) + (f" (PDF p. {passage.page})" if differs else ""))
        if passage.section and passage.section.strip().rstrip(".") != document.title.strip().rstrip("."):
            parts.append(f"§ {passage.section}")
    return parts


def card_html(hit: Hit, rank: int, best: bool = False, state: str | None = None) -> str:
    """Title, metadata line and highlighted passage of one result, all document text escaped;
    `best`: the best answer was taken from this passage, and the card says so; `state` (the
    by-state view): the states the passage names as chips, `state`'s own first, and its
    mentions marked in the text."""
    doc, passage = hit.document, hit.passage
    meta = " · ".join(escape_html(p) for p in meta_parts(doc, passage))
    above = passage.context_label
    badge = '<span class="kb-best-badge">Best answer from this passage</span>' if best else ""
    mentions = us_states.mentions(passage.text, state) if state else []
    return (
        f'<div class="kb-card{" kb-card-best" if best else ""}">'
        f'<div class="kb-title"><span class="kb-rank">{rank}.</span> <strong>{escape_html(doc.title)}</strong>{badge}</div>'
        f'<div class="kb-meta">{meta}</div>'
        + (state_chips_html(passage.states, state) if state is not None else "")
        + (f'<div class="kb-above">{escape_html(above)}</div>' if above else "")
        + (table_html(hit) or
           f'<div class="kb-passage">{highlighted_html(passage.text, hit.highlights, mentions)}</div>')
        + "</div>"
    )


def state_chips_html(codes, current: str | None = None) -> str:
    """The states a passage names, as chips; `current` (the group it is listed under) first and marked."""
    ordered = sorted(codes or (), key=lambda c: (c != current, us_states.name_of(c)))
    chips = "".join(f'<span class="kb-chip{" kb-chip-current" if c == current else ""}" title="{escape_html(c)}">'
                    f"{escape_html(us_states.name_of(c))}</span>" for c in ordered)
    return f'<div class="kb-chips" aria-label="States this passage names">{chips}</div>' if chips else ""


def table_html(hit: Hit) -> str | None:
    """A table row's passage as a small table: its column names over its cells, the asked
    (highlighted) cell marked; None when the passage is not a row with named columns."""
    row = hit.passage.table
    if row is None or not row.headers or len(row.headers) != len(row.cells):
        return None
    from .tables import cell_spans

    spans = cell_spans(hit.passage)
    asked = {spans.index(tuple(h)) for h in hit.highlights if tuple(h) in spans}
    head = "".join(f"<th>{escape_html(h)}</th>" for h in row.headers)
    cells = "".join(f'<td class="kb-cell-asked"><mark>{escape_html(c)}</mark></td>' if i in asked
                    else f"<td>{escape_html(c)}</td>" for i, c in enumerate(row.cells))
    group = f'<div class="kb-table-group">{escape_html(row.group)}</div>' if row.group else ""
    return (f'<div class="kb-passage kb-table">{group}<table><thead><tr>{head}</tr></thead>'
            f"<tbody><tr>{cells}</tr></tbody></table></div>")


def best_answer_html(best: BestAnswer, cited: str) -> str:
    """The best sentence, quoted and marked as extracted, with its citation (already HTML from
    kb.citations: escaped text plus the style's italics)."""
    source = "the top passage" if best.rank == 1 else f"passage {best.rank}"
    return (f'<div class="kb-best"><div class="kb-best-label">Best answer · extracted verbatim from {source}, '
            f'not generated</div><div class="kb-best-text">{escape_html(best.label) + ": " if best.label else ""}'
            f'“{escape_html(best.sentence)}”</div>'
            f'<div class="kb-best-cite">— {cited}</div></div>')


def context_html(passages: list[Passage], current: Hit) -> str:
    """The passages just before and after a hit (the card already shows the hit itself),
    each labelled with where it sits."""
    ids = [p.id for p in passages]
    here = ids.index(current.passage.id) if current.passage.id in ids else len(passages)
    blocks = []
    for i, p in enumerate(passages):
        if p.id == current.passage.id:
            continue
        where = "Before" if i < here else "After"
        if p.section and p.section != current.passage.section:
            where += f" · {escape_html(p.section)}"
        blocks.append(f'<div class="kb-ctx"><div class="kb-ctx-where">{where}</div>{escape_html(p.text)}</div>')
    if not blocks:
        return '<div class="kb-ctx"><em>This passage is the whole document.</em></div>'
    return "".join(blocks)


CARD_CSS = """
<style>
.kb-title {font-size: 1.05rem; margin-bottom: .1rem;}
.kb-rank {color: #666;}
.kb-meta {color: #666; font-size: .85rem; margin-bottom: .5rem;}
.kb-passage, .kb-ctx {line-height: 1.55;}
.kb-above {color: #666; font-size: .88rem; font-style: italic; margin-bottom: .3rem;}
.kb-passage mark, .kb-ctx mark {background: #fff1a8; color: inherit; padding: 0 .1em; border-radius: 2px;}
.kb-ctx {color: #666; font-size: .92rem; border-left: 3px solid #ddd; padding-left: .6rem; margin: .4rem 0;}
.kb-ctx-where {font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; color: #666;}
.kb-best {border-left: 4px solid #f0c400; padding: .4rem .8rem; margin: .2rem 0 .8rem; background: #fffbea;}
.kb-best-label {font-size: .75rem; text-transform: uppercase; letter-spacing: .05em; color: #8a6d00;}
.kb-best-text {font-size: 1.1rem; line-height: 1.5; margin: .2rem 0;}
.kb-best-cite {color: #555; font-size: .9rem;}
.kb-best-badge {margin-left: .5rem; font-size: .75rem; padding: .05rem .4rem; border-radius: .6rem; background: #fff3b0; color: #5c4a00; white-space: nowrap;}
.kb-card-best {border-left: 4px solid #f0c400; padding-left: .5rem;}
.kb-table {overflow-x: auto;}
.kb-table table {border-collapse: collapse; font-size: .85rem;}
.kb-table th, .kb-table td {border: 1px solid #ddd; padding: .15rem .4rem; text-align: right;}
.kb-table th {background: #f6f6f6; font-weight: 600;}
.kb-table th:first-child, .kb-table td:first-child {text-align: left;}
.kb-table mark {background: #fff1a8; color: inherit; padding: 0 .1em; border-radius: 2px;}
.kb-table-group {font-size: .8rem; color: #666;}
.kb-ref {color: #444; font-size: .9rem; margin: .15rem 0 .3rem; padding-left: 1.5rem; text-indent: -1.5rem;}
.kb-ref-label, .kb-cite-label {font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; color: #666;
                               margin-right: .4rem; text-indent: 0;}
.kb-chips {margin: 0 0 .4rem;}
.kb-chip {display: inline-block; font-size: .78rem; padding: .05rem .5rem; margin: 0 .3rem .2rem 0; border-radius: .7rem;
          background: #eef2f7; color: #1f3a5f; border: 1px solid #c9d4e3;}
.kb-chip-current {background: #1f3a5f; color: #fff; border-color: #1f3a5f;}
.kb-state-mention {text-decoration: underline; text-decoration-color: #1f3a5f; text-decoration-thickness: 2px;
                   text-underline-offset: 2px;}
.kb-also {color: #444; font-size: .9rem; margin: .2rem 0 .6rem;}
.kb-gone {color: #8a1c1c;}
/* full titles in the filter chips, wrapped instead of cut */
[data-baseweb="tag"] {max-width: none !important; height: auto !important;}
[data-baseweb="tag"] span {max-width: none !important; white-space: normal !important; overflow: visible !important;
                           text-overflow: clip !important;}
/* the source viewer stays in view beside the answers; below 1000 px it goes above them, full
   width, and the sidebar narrows, so an 800 px window keeps room for the text */
@media (min-width: 1001px) {
  div[data-testid="stColumn"]:has(.kb-viewer-head) {
    position: sticky; top: 3.5rem; align-self: flex-start;}
  /* with the viewer open, the page's wide side margins go to the viewer */
  div[data-testid="stMainBlockContainer"]:has(.kb-viewer-head) {padding-left: 2rem; padding-right: 2rem;}
}
@media (max-width: 1000px) {
  section[data-testid="stSidebar"] {width: 13rem !important; min-width: 13rem !important;}
  div[data-testid="stHorizontalBlock"]:has(.kb-viewer-head) {flex-wrap: wrap;}
  div[data-testid="stHorizontalBlock"]:has(.kb-viewer-head) > div[data-testid="stColumn"] {
    flex: 1 1 100% !important; width: 100% !important; min-width: 100% !important;}
  div[data-testid="stColumn"]:has(.kb-viewer-head) {order: -1;}
}
</style>
"""


# ---- filters -----------------------------------------------------------------------------------

def build_filters(documents=(), doc_types=(), publishers=(), years: tuple[int, int] | None = None,
                  year_bounds: tuple[int, int] | None = None, states=()) -> Filters:
    """Filters from the pickers; a year range equal to the full range means no year filter
    (a year filter leaves out documents without a year)."""
    year_min = year_max = None
    if years and year_bounds and tuple(years) != tuple(year_bounds):
        year_min, year_max = int(years[0]), int(years[1])
    return Filters(tuple(documents), tuple(doc_types), tuple(publishers), year_min, year_max,
                   tuple(sorted({us_states.code_of(s) or s for s in states})))


def state_label(code: str) -> str:
    """'MA' -> 'Massachusetts (MA)', as the state filter lists it."""
    return f"{us_states.name_of(code)} ({code})"


def year_note(documents: list[Document]) -> str:
    """What the year filter cannot show: how many documents have a year at all."""
    dated = [d.year for d in documents if d.year]
    years = sorted(set(dated))
    if not years:
        return "No document has a year: the year filter is not offered."
    span = str(years[0]) if len(years) == 1 else f"{years[0]}–{years[-1]}"
    verb = "has" if len(dated) == 1 else "have"
    return f"{len(dated)} of {len(documents)} documents {verb} a year ({span})."


def document_titles(documents: list[Document]) -> dict[str, list[str]]:
    """Full title -> paths, for the document filter; a title two files share gets its file
    name added, so each choice is one recognisable document."""
    by_title: dict[str, list[Document]] = {}
    for d in documents:
        by_title.setdefault(d.title, []).append(d)
    out: dict[str, list[str]] = {}
    for title, docs in by_title.items():
        if len(docs) == 1:
            out[title] = [docs[0].path]
        else:
            for d in docs:
                out.setdefault(f"{title} ({d.name})", []).append(d.path)
    return out


# ---- the best answer, the by-state view ----------------------------------------------------------

@dataclass
class BestAnswer:
    sentence: str  # verbatim from the passage ranked `rank`
    hit: Hit
    rank: int = 1
    label: str | None = None  # a table cell's row and column, said outside the quotation marks


def best_answer(answer: Answer) -> BestAnswer | None:
    """The search's best answer (kb/answer.py: extractive, words from the source, never
    generated); None when the question is not answered or no sentence answers."""
    if not answer.answered or answer.best is None or not answer.best.text:
        return None
    return BestAnswer(answer.best.text, answer.best.hit, answer.best.rank, answer.best.label)


NO_STATE = "No state named"


@dataclass
class StateGroup:
    label: str  # "Louisiana (LA)", or NO_STATE
    code: str | None
    hits: list[Hit]  # the passages shown in full under this state (each passage under one state only)
    also: list[tuple[Hit, str]]  # passages that name this state too, shown under another: (hit, that label)


def by_state(hits: list[Hit]) -> list[StateGroup]:
    """The answering passages by the US state they name, most passages first, those naming no
    state last. A passage is shown once, under the first of its states in that order; the
    other states it names list it as "also", so no passage is read twice."""
    named: dict[str, list[Hit]] = {}
    for hit in hits:
        for code in hit.passage.states or ():
            named.setdefault(code, []).append(hit)
    ordered = sorted(named, key=lambda c: (-len(named[c]), us_states.name_of(c)))
    home: dict[int, str] = {}
    for code in ordered:
        for hit in named[code]:
            home.setdefault(id(hit), code)
    groups = [StateGroup(state_label(code), code, [h for h in named[code] if home[id(h)] == code],
                         [(h, state_label(home[id(h)])) for h in named[code] if home[id(h)] != code])
              for code in ordered]
    unnamed = [h for h in hits if not h.passage.states]
    return groups + ([StateGroup(NO_STATE, None, unnamed, [])] if unnamed else [])


# ---- exports, history, collections ---------------------------------------------------------------

@dataclass(frozen=True)
class Export:
    label: str
    extension: str
    mime: str
    styled: bool  # follows the chosen citation style


EXPORTS = (Export("BibTeX", "bib", "application/x-bibtex", False), Export("RIS", "ris", "application/x-research-info-systems", False),
           Export("CSL-JSON", "json", "application/vnd.citationstyles.csl+json", False),
           Export("Markdown", "md", "text/markdown", True), Export("CSV", "csv", "text/csv", True))
_MAKERS = {"bib": cite.to_bibtex, "ris": cite.to_ris, "json": cite.to_csl_json, "md": cite.to_markdown,
           "csv": cite.to_csv}


def export_text(sources, export: Export, style: str = cite.HOUSE) -> str:
    """The file for an Answer, Hits, or a collection (a list of Answers), in one format."""
    make = _MAKERS[export.extension]
    return make(sources, style) if export.styled else make(sources)


def quote_with_citation(hit: Hit, style: str = cite.HOUSE) -> cite.Formatted:
    """The quote (whole sentences, kb.citations.short_quote; a table row's asked cell, with its
    row and column named) and the passage's citation in `style`, as text and HTML."""
    cell = cite.house.quoted_cell(hit)
    if cell is not None:
        return _quoted(cell[0], hit, style, cell[1] or None)
    return _quoted(cite.short_quote(hit), hit, style)


def reference_entry(hit: Hit, style: str = cite.HOUSE) -> cite.Formatted:
    """The passage's document as one entry of a reference list in `style` (the form a memo's
    reference list needs; the in-text form is cite.format_citation)."""
    return cite.format_bibliography([hit], style)


def with_reference(quoted: cite.Formatted, hit: Hit, style: str = cite.HOUSE) -> cite.Formatted:
    """A quote and its in-text citation, then the reference-list entry on a line of its own."""
    entry = reference_entry(hit, style)
    return cite.Formatted(f"{quoted.text}\n\n{entry.text}", f"<p>{quoted.html}</p>{entry.html}")


def best_answer_formatted(best: BestAnswer, style: str = cite.HOUSE) -> cite.Formatted:
    """The best sentence in quotes and its citation in `style`, as text and HTML; a table cell
    with its row and column named outside the quotation marks."""
    return _quoted(best.sentence, best.hit, style, best.label)


def _quoted(quote_text: str, hit: Hit, style: str, label: str | None = None) -> cite.Formatted:
    """For the clipboard (never the page): HTML is the style's own, the quote escaped; `label`
    (a table cell's row and column) goes after the quote, outside the quotation marks."""
    formatted = cite.format_citation(hit, style)
    if style == cite.HOUSE:  # house style puts the source in parentheses after the quote
        text = f"“{quote_text}” ({label + '; ' if label else ''}{formatted.text.rstrip('.')})."
        return cite.Formatted(text, html.escape(text, quote=False))
    named = f" ({label})" if label else ""
    return cite.Formatted(f"“{quote_text}”{named} {formatted.text}",
                          f"“{html.escape(quote_text, quote=False)}”{html.escape(named, quote=False)} {formatted.html}")


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe slug of a question, for download names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "results"


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
    url: str  # the original's media URL, with #page=N for PDFs or a text fragment
    label: str
    as_text: bool  # served as plain text (HTML, Markdown, text), not in its own format


def _text_fragment(text: str, words: int = 6) -> str:
    """A `#:~:text=` fragment that scrolls (Chromium) to the passage's opening words."""
    opening = " ".join(text.split()[:words])
    # In a text directive "-", "," and "&" are syntax: percent-encode them as well.
    return f"#:~:text={quote(opening, safe='').replace('-', '%2D')}" if opening else ""


# ---- the original documents, handed to a signed-in session ------------------------------------

@dataclass(frozen=True)
class SourceFile:
    data: bytes  # exactly the bytes ingested (sha256 checked)
    mime: str  # application/pdf, else text/plain: an HTML document is shown as its text, never run
    file_name: str
    as_text: bool


def source_file(document: Document, paged: bool, kb_dir: Path | str | None = None) -> SourceFile:
    """An ingested document's original, for the app to hand to the browser through the
    session (Streamlit's media files: they exist only for a session that shows them, and go
    with it or with the document). Only bytes whose sha256 is the one recorded at ingestion
    are returned, so what is served is exactly what was ingested."""
    path = verified_source_path(document, kb_dir)
    data = _read_verified(str(path), document.sha256, *_stat(path), name=document.name)
    name = document.name if paged else Path(document.name).stem + ".txt"
    return SourceFile(data, "application/pdf" if paged else "text/plain", name, not paged)


def verified_source_path(document: Document, kb_dir: Path | str | None = None) -> Path:
    """The file holding a document's bytes (the kept copy for a web page), checked against the
    sha256 recorded at ingestion."""
    if not re.fullmatch(r"[0-9a-f]{64}", document.sha256 or ""):
        raise SourceUnavailable(f"{document.name} has no recorded content hash; re-ingest it to open the source.")
    path = web_copies.source_path(document, kb_dir) if kb_dir is not None else Path(document.path)
    _read_verified(str(path), document.sha256, *_stat(path), name=document.name)
    return path


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SourceUnavailable(f"The source file is no longer at {path}.") from None
    except OSError as exc:
        raise SourceUnavailable(f"The source file at {path} cannot be read ({exc.strerror or exc}).") from None
    return st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=8)
def _read_verified(path: str, sha256: str, mtime_ns: int, size: int, name: str = "") -> bytes:
    """The file's bytes when they hash to `sha256` (cached while the file's mtime and size stay)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SourceUnavailable(f"The source file at {path} cannot be read ({exc.strerror or exc}).") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SourceUnavailable(f"{name or Path(path).name} changed since it was ingested; re-ingest it "
                                "(Library page) to open the source.")
    return data


def document_hashes_check(settings):
    """sha256 -> whether the knowledge base holds a document with it, read again only when its
    generation moves on (any ingest or deletion, from any process)."""
    from .backends import open_backend

    backend = open_backend(settings)
    seen: dict = {"generation": None, "hashes": set()}
    lock = threading.Lock()

    def still_held(sha256: str) -> bool:
        with lock:
            generation = backend.current_generation() if backend.exists() else None
            if generation != seen["generation"]:
                seen["hashes"] = set(known_hashes(backend))
                seen["generation"] = generation
            return sha256 in seen["hashes"]
    return still_held


def link_to_source(url: str, passage: Passage | None, as_text: bool,
                   highlights: list[tuple[int, int]] | None = None) -> SourceLink:
    """The link to a served original: a PDF at the cited page; text with a fragment that
    scrolls (Chromium) to the highlighted sentence's opening words."""
    if not as_text and passage is not None and passage.page is not None:
        return SourceLink(f"{url}#page={int(passage.page)}", f"Open original (p. {passage.page})", False)
    if as_text and passage is not None:
        start, end = (highlights or [(0, len(passage.text))])[0]
        return SourceLink(url + _text_fragment(passage.text[start:end]), "Open original (text)", True)
    return SourceLink(url, "Open original", as_text)


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
        rows.append({  # what a citation says first (title, publisher, year), then the file
            "Title": d.title,
            "Publisher": d.publisher or "",
            "Year": str(d.year) if d.year else "",
            "Type": d.doc_type or "",
            "File": d.name,
            "Passages": stats.get(d.id, 0),
            "Format": d.kind or "",
            "Pages": str(d.pages) if d.pages else "",
            "Ingested": _when(d.ingested_at),
            "Problems": "; ".join(d.warnings) if d.warnings else ("no passages" if not stats.get(d.id) else ""),
            "Path": d.path,
        })
    problems = [{"File": p["name"], "Problem": p["reason"], "Seen": _when(p["seen_at"]),
                 "Path": p["path"]} for p in backend.problems()]
    return rows, problems


LIBRARY_COLUMNS = ("Title", "Publisher", "Year", "Type", "File", "Passages", "Pages", "Format", "Ingested",
                   "Problems")
LIBRARY_TABLE_LIMIT = 1000  # documents; above it the app shows the data grid alone
_NUMERIC = {"Year", "Passages", "Pages", "Ingested"}  # kept on one line
_LONG = {"Title", "Publisher", "File", "Problems"}

LIBRARY_CSS = """
<style>
/* at 1280 px and wider every column fits; a narrower window scrolls the box sideways, never the page */
.kb-lib-box {max-height: 36rem; overflow: auto; margin-bottom: .6rem;}
.kb-lib {width: 100%; border-collapse: collapse; font-size: .85rem; line-height: 1.35;}
.kb-lib th {position: sticky; top: 0; background: #f6f6f6; text-align: left; font-weight: 600; white-space: nowrap;}
.kb-lib th, .kb-lib td {border-bottom: 1px solid #ddd; padding: .3rem .45rem; vertical-align: top;}
/* long text breaks anywhere rather than widening the table; short columns only between words */
.kb-lib td.kb-lib-long {overflow-wrap: anywhere; min-width: 6rem;}
.kb-lib td.kb-lib-n {text-align: right; white-space: nowrap;}
.kb-lib-path {display: block; color: #595959; font-size: .78rem;}
</style>
"""


def library_table_html(rows: list[dict], corpus: Path | str | None = None) -> str:
    """The library as an HTML table whose cells wrap, so every column, whole titles and file
    names included, is readable in the page's width (a data grid cuts them or scrolls
    sideways). Every value is escaped. Under the file name: where it is, when that is not
    the corpus folder itself (its folder inside it, a path outside it, or a web address)."""
    head = "".join(f"<th>{escape_html(name)}</th>" for name in LIBRARY_COLUMNS)
    body = []
    for row in rows:
        cells = []
        for name in LIBRARY_COLUMNS:
            value = str(row.get(name, ""))
            text = escape_html(value.split(" ")[0] if name == "Ingested" else value)  # the day; the grid has the time
            if name == "File" and (where := _where(row.get("Path") or "", corpus)):
                text += f'<span class="kb-lib-path">{escape_html(where)}</span>'
            kind = "kb-lib-n" if name in _NUMERIC else "kb-lib-long" if name in _LONG else ""
            cells.append(f'<td class="{kind}">{text}</td>' if kind else f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="kb-lib-box"><table class="kb-lib"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _where(path: str, corpus: Path | str | None) -> str:
    """'' for a file directly in the corpus folder; its path inside the folder; else the whole path."""
    if corpus is None or "://" in path:
        return path
    try:
        inside = Path(path).relative_to(Path(corpus))
    except ValueError:
        return path
    return "" if len(inside.parts) == 1 else str(inside)


def _when(iso: str | None) -> str:
    """A stored UTC timestamp as people read it: '2026-11-23 15:02:11 UTC'."""
    return (iso or "").replace("T", " ").replace("+00:00", " UTC")


def remove_stale_sources(static_dir: Path | str, keep: set[str]) -> int:
    """Delete copies an earlier version published under static/sources/ whose hash is not in
    `keep` (the app, at start, keeps none: originals now go through the session); returns how many."""
    folder = Path(static_dir) / SOURCES_SUBDIR
    removed = 0
    if folder.is_dir():
        for f in folder.iterdir():
            if f.is_file() and not f.name.startswith(".") and f.name.split(".")[0] not in keep:
                f.unlink(missing_ok=True)
                removed += 1
    return removed

