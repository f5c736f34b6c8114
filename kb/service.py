"""What every face answers (the CLI, the HTTP API, the MCP server), as JSON-ready dicts: one
place that turns requests (filters as `key=value` or JSON, passage ids, a citation style, an
export format) into library calls, so no face holds logic the others lack.

The answer object is `Answer.to_dict()`, the shape `kb ask --json` prints; a citation style
adds each passage's citation in that style and the reference list beside it.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from . import citations as cite
from .backends import Backend
from .backends.base import StaleSnapshot
from .errors import KBError, UsageError
from .models import Answer, Document, Filters, Hit, Passage

FILTER_KEYS = ("document", "type", "publisher", "year", "state")


class NotFound(KBError):
    """A passage or document id the knowledge base does not hold (any more)."""


# ---- filters --------------------------------------------------------------------------------

def parse_filters(values: Iterable[str]) -> Filters:
    """`key=value` strings (the CLI's --filter): document, type, publisher, year (2020, 2018-2022,
    2018-, -2022), state (a name or a two-letter code; repeatable, or comma-separated)."""
    from .states import code_of

    docs, types, pubs, states = [], [], [], []
    year_min = year_max = None
    for raw in values:
        key, sep, value = str(raw).partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value:
            raise UsageError(f"Filter {raw!r} must look like key=value (keys: document, type, publisher, year, state).")
        if key in ("document", "doc"):
            docs.append(value)
        elif key == "type":
            types.append(value)
        elif key == "publisher":
            pubs.append(value)
        elif key == "year":
            low, dash, high = value.partition("-")
            try:
                year_min = int(low) if low else None
                year_max = (int(high) if high else None) if dash else year_min
            except ValueError:
                raise UsageError(f"Year filter {value!r} must be YEAR, FROM-TO, FROM- or -TO.") from None
        elif key in ("state", "states"):
            for name in [value] if code_of(value) else value.split(","):  # "Washington, D.C." is one
                code = code_of(name)
                if code is None:
                    raise UsageError(f"State filter {name.strip()!r} is not a US state, territory or D.C.: use a name "
                                     "(Massachusetts) or a two-letter code (MA).")
                states.append(code)
        else:
            raise UsageError(f"Unknown filter key {key!r}: use document, type, publisher, year or state.")
    return Filters(tuple(docs), tuple(types), tuple(pubs), year_min, year_max, tuple(sorted(set(states))))


def filters_from_json(value) -> Filters:
    """Filters as JSON clients send them: {"state": ["MA", "Rhode Island"], "year": "2018-2022",
    "publisher": "…", "type": "…", "document": "…"}; each value a string, a number or a list of them."""
    if value is None:
        return Filters()
    if not isinstance(value, dict):
        raise UsageError('filters must be an object such as {"state": "MA", "year": "2018-2022"}.')
    pairs = []
    for key, given in value.items():
        for item in given if isinstance(given, list) else [given]:
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                raise UsageError(f"Filter {key!r} takes a string, a number or a list of them, not {item!r}.")
            pairs.append(f"{key}={item}")
    return parse_filters(pairs)


# ---- answers --------------------------------------------------------------------------------

def checked_style(style: str | None) -> str | None:
    if style is not None and style not in cite.STYLES:
        raise UsageError(f"No citation style {style!r}; choose one of: {', '.join(cite.STYLES)}.")
    return style


def answer_json(answer: Answer, style: str | None = None, qid=None) -> dict:
    """`kb ask --json`'s object; with a style, each passage (and the best answer) also carries
    its citation in that style, and `references` lists the documents cited, as the style says."""
    out = answer.to_dict(qid)
    if checked_style(style) is None:
        return out
    out["style"] = style
    for shaped, hit in zip(out["passages"], answer.hits):
        shaped["styled_citation"] = _styled(hit, style)
    if answer.best is not None and out["best_answer"] is not None:
        from .app_support import best_answer, best_answer_formatted

        chosen = best_answer(answer)
        if chosen is not None:
            quoted = best_answer_formatted(chosen, style)
            out["best_answer"]["styled_quote_citation"] = {"text": quoted.text, "html": quoted.html}
    out["references"] = _references(answer.hits, style)
    return out


def _styled(hit: Hit, style: str) -> dict:
    formatted = cite.format_citation(hit, style)
    return {"text": formatted.text, "html": formatted.html}


def _references(hits: list[Hit], style: str) -> dict:
    if not hits:
        return {"text": "", "html": ""}
    formatted = cite.format_bibliography(hits, style)
    return {"text": formatted.text, "html": formatted.html}


# ---- passages by id ---------------------------------------------------------------------------

def _from_one_generation(searcher, read):
    """`read(reader)` inside one reader session, loading the newer generation when a commit
    lands in between (as Searcher.ask does), so ids and texts come from one state."""
    reader = searcher.reader()
    for _ in range(5):
        try:
            with reader.session():
                return read(reader)
        except StaleSnapshot:
            reader = searcher.reader()
    raise StaleSnapshot("The knowledge base kept changing during the request; try again.")


def passage_hits(searcher, ids: Iterable[int]) -> list[Hit]:
    """The passages with these ids, in the order given (each once), as Hits with their house
    citation, ready for exports and citations; NotFound names any id not held."""
    wanted = list(dict.fromkeys(_passage_id(i) for i in ids))
    if not wanted:
        raise UsageError("Give at least one passage id (the passage_id of a search result).")
    passages, documents = _from_one_generation(searcher, lambda reader: reader.fetch(wanted))
    missing = [i for i in wanted if i not in passages]
    if missing:
        raise NotFound(f"No passage with id {', '.join(map(str, missing))} in the knowledge base (it may have been "
                       "re-ingested since): search again for current ids.")
    return [_hit(passages[i], documents[passages[i].document_id]) for i in wanted]


def _passage_id(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"A passage id is a whole number (a search result's passage_id), not {value!r}.")
    return value


def _hit(passage: Passage, document: Document) -> Hit:
    return Hit(passage, document, 0.0, cite.citation(document, passage))


def passage_json(searcher, passage_id: int, before: int = 1, after: int = 1, style: str | None = None) -> dict:
    """One passage as a search result shows it, with up to `before`/`after` passages around it
    in its document (text, page, section) for context."""
    if not 0 <= before <= 20 or not 0 <= after <= 20:
        raise UsageError("before and after must be between 0 and 20 passages.")
    hit = passage_hits(searcher, [passage_id])[0]
    around = searcher.reader().neighbours(hit.passage.id, before, after)
    out = hit.to_dict()
    out["score"] = None  # not a search result: no score
    out["before"] = [_neighbour(p) for p in around if p.ordinal < hit.passage.ordinal]
    out["after"] = [_neighbour(p) for p in around if p.ordinal > hit.passage.ordinal]
    if checked_style(style) is not None:
        out["styled_citation"] = _styled(hit, style)
    return out


def _neighbour(p: Passage) -> dict:
    return {"passage_id": p.id, "text": p.text, "page": p.page, "page_label": p.page_label, "section": p.section,
            "footnote": p.footnote}


# ---- documents ----------------------------------------------------------------------------------

def documents_json(backend: Backend) -> list[dict]:
    """Each document's metadata as citations will show it, with its id and passage count."""
    counts = backend.passage_counts()
    return [{"id": d.id, **d.to_dict(), "passages": counts.get(d.id, 0)} for d in backend.documents()]


def find_document(backend: Backend, document_id: int) -> Document:
    for d in backend.documents():
        if d.id == document_id:
            return d
    raise NotFound(f"No document with id {document_id} in the knowledge base: list them with GET /documents.")


def document_json(backend: Backend, document_id: int) -> dict:
    d = find_document(backend, document_id)
    return {"id": d.id, **d.to_dict(), "passages": backend.passage_counts().get(d.id, 0),
            "reference": cite.house.reference(d)}


# ---- citations and exports ----------------------------------------------------------------------

def cite_json(hits: list[Hit], style: str = cite.HOUSE) -> dict:
    """For each passage its in-text citation and a quote with its citation; the reference list
    of their documents. Everything in `style`, as text and HTML."""
    from .app_support import quote_with_citation

    style = checked_style(style) or cite.HOUSE
    items = []
    for hit in hits:
        quoted = quote_with_citation(hit, style)
        items.append({"passage_id": hit.passage.id, "document": hit.document.name, "in_text": _styled(hit, style),
                      "quote": {"text": quoted.text, "html": quoted.html}})
    return {"style": style, "citations": items, "references": _references(hits, style)}


@dataclass(frozen=True)
class ExportFormat:
    name: str
    media_type: str
    extension: str
    styled: bool  # follows the citation style


EXPORT_FORMATS = {f.name: f for f in (
    ExportFormat("bibtex", "application/x-bibtex", "bib", False),
    ExportFormat("ris", "application/x-research-info-systems", "ris", False),
    ExportFormat("csl-json", "application/vnd.citationstyles.csl+json", "json", False),
    ExportFormat("csv", "text/csv", "csv", True),
    ExportFormat("markdown", "text/markdown", "md", True),
)}
_MAKERS = {"bibtex": cite.to_bibtex, "ris": cite.to_ris, "csl-json": cite.to_csl_json, "csv": cite.to_csv,
           "markdown": cite.to_markdown}


def export(hits: list[Hit], format_name: str, style: str | None = None) -> tuple[str, ExportFormat]:
    """The export file of these passages in one format (CSV and Markdown in `style`)."""
    fmt = EXPORT_FORMATS.get((format_name or "").lower())
    if fmt is None:
        raise UsageError(f"No export format {format_name!r}; choose one of: {', '.join(EXPORT_FORMATS)}.")
    make = _MAKERS[fmt.name]
    return (make(hits, checked_style(style) or cite.HOUSE) if fmt.styled else make(hits)), fmt
