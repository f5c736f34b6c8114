"""The plain house style: `Publisher, “Title” (Year), p. N, section “…”.`

Kept as code rather than a CSL file: search fills `Hit.citation` with it for every hit, and
the section heading it names is not a CSL variable the official styles know.
"""
from __future__ import annotations

from ..models import Document, Hit, Passage
from ..text import collapse

QUOTE_WORDS = 45  # a quote without a highlighted sentence: the passage's opening sentences up to this
MAX_QUOTE_WORDS = 150  # only a sentence longer than this is cut (at a word, marked …)


def cited_page(passage: Passage) -> str | None:
    """The page to cite: the printed label when the page has one, else the PDF page number;
    a range ("62–63") when the passage's last sentence runs over a page break."""
    first = _page(passage.page_label, passage.page)
    last = _page(passage.end_page_label, passage.end_page)
    if first is not None and last is not None and last != first:
        return f"{first}–{last}"
    return first


def page_locator(page: str) -> str:
    """"p. 24", or "pp. 62–63" for a range."""
    return f"{'pp.' if '–' in page else 'p.'} {page}"


def _page(label: str | None, number: int | None) -> str | None:
    if label and label.strip():
        return label.strip()
    return str(number) if number is not None else None


def source_label(doc: Document) -> str:
    """Publisher, “Title” (Year) — with what is unknown left out, and n.d. for no year."""
    title = f"“{collapse(doc.title).rstrip('.')}”"
    year = f"({doc.year})" if doc.year else "(n.d.)"
    return f"{collapse(doc.publisher)}, {title} {year}" if doc.publisher else f"{title} {year}"


def locator(doc: Document, passage: Passage) -> str:
    parts = [passage.table.label] if passage.table is not None and passage.table.label else []  # "Table 1, p. 62"
    page = cited_page(passage)
    if page is not None:
        parts.append(page_locator(page))
    section = collapse(passage.section or "")
    if section and section.rstrip(".") != collapse(doc.title).rstrip("."):
        parts.append(f"section “{section}”")
    return ", ".join(parts)


def citation(doc: Document, passage: Passage) -> str:
    where = locator(doc, passage)
    return f"{source_label(doc)}{', ' + where if where else ''}."


def reference(doc: Document) -> str:
    """One entry of a house-style reference list: the source, and where a web page was read."""
    parts = [source_label(doc)]
    if doc.url:
        parts.append(collapse(doc.url) + (f" (accessed {doc.accessed[:10]})" if doc.accessed else ""))
    return ", ".join(parts) + "."


def short_quote(hit: Hit) -> str:
    """The highlighted sentence(s) whole, or the passage's opening sentences: never a sentence
    cut mid-phrase. Sentences apart in the passage are joined with " … "; only a sentence
    longer than MAX_QUOTE_WORDS is cut, at a word boundary, and the cut is marked " …" (the
    full passage is in the card, the CSV `passage` column and "Copy passage")."""
    text = hit.passage.text
    spans = sorted((s, e) for s, e in hit.highlights or () if e > s)
    opening = not spans
    if opening:
        spans = _opening_sentences(hit)
    pieces, last_end = [], None
    for start, end in spans:
        piece = text[start:end].strip()
        if not piece:
            continue
        if last_end is not None and pieces:
            gap = text[last_end:start]
            pieces.append(" " if not gap.strip() else " … ")
        pieces.append(_capped(piece))
        last_end = end
    quote = "".join(pieces)
    if opening and text[spans[-1][1]:].strip() and not quote.endswith("…"):
        quote += " …"  # the passage goes on after its opening sentences
    return quote


def _opening_sentences(hit: Hit) -> list[tuple[int, int]]:
    """Whole sentences from the passage's start, up to about QUOTE_WORDS words."""
    from ..text import sentences

    text = hit.passage.text
    chosen, words = [], 0
    for start, end in sentences(text, 0, bullets=True):
        chosen.append((start, end))
        words += len(text[start:end].split())
        if words >= QUOTE_WORDS:
            break
    return chosen or [(0, len(text))]


def _capped(sentence: str) -> str:
    words = sentence.split()
    if len(words) <= MAX_QUOTE_WORDS:
        return sentence
    return " ".join(words[:MAX_QUOTE_WORDS]).rstrip(",;:–-") + " …"


def quote_citation(hit: Hit) -> str:
    """The quote and its citation; a table cell is quoted as printed, with its row and column
    named outside the quotation marks ("“264,140” (Kentucky, Permit; FBI, … Table 1, p. 1).")."""
    where = citation(hit.document, hit.passage).rstrip(".")
    cell = quoted_cell(hit)
    if cell is not None:
        return cell_in_quotes(cell[0], "; ".join(x for x in (cell[1], where) if x)) + "."
    return f"“{short_quote(hit)}” ({where})."


def quote(hit: Hit) -> str:
    """What an export quotes: the asked cell of a table row with its row and column named outside
    the quotation marks ("“264,140” (Kentucky, Permit)"), else the short quote."""
    cell = quoted_cell(hit)
    return cell_in_quotes(*cell) if cell is not None and cell[1] else (cell[0] if cell else short_quote(hit))


def cell_in_quotes(cell: str, where: str) -> str:
    """“264,140” (Kentucky, Permit): a table cell as printed, what locates it outside the marks."""
    return f"“{cell}” ({where})" if where else f"“{cell}”"


def table_locator(passage: Passage) -> str:
    """"Table 1, p. 1": the table a row is from, where the document captions it, and its page."""
    page = cited_page(passage)
    parts = [passage.table.label] if passage.table is not None and passage.table.label else []
    return ", ".join(parts + ([page_locator(page)] if page else []))


def quoted_cell(hit: Hit) -> tuple[str, str] | None:
    """(cell, "row, column") when the highlight is one cell of a table row."""
    cell = highlighted_cell(hit)
    return (cell[0], ", ".join(n for n in cell[1:] if n)) if cell is not None else None


def highlighted_cell(hit: Hit) -> tuple[str, str, str] | None:
    """(cell, row, column) when the highlight is one cell of a table row: the row by its label
    (under its group's, "Women, 45–64"), the column by its name ("" where the table names none)."""
    row = hit.passage.table
    if row is None or len(hit.highlights) != 1:
        return None
    from ..tables import cell_spans

    spans = cell_spans(hit.passage)
    if tuple(hit.highlights[0]) not in spans:
        return None
    i = spans.index(tuple(hit.highlights[0]))
    label = ", ".join(x for x in (row.group, row.cells[0]) if x)
    return row.cells[i], label if i > 0 else (row.group or ""), row.headers[i] if row.headers else ""
