"""Exports of search results: Markdown, CSV, BibTeX, RIS and CSL-JSON.

Each takes `Sources`: an Answer, Hits, or a collection mixing answers and hits from several
questions. Document text is hostile until proven otherwise: no title can start a spreadsheet
formula, break out of a BibTeX field, add an RIS tag line, or become Markdown links or HTML.
"""
from __future__ import annotations

import csv
import html
import io
import json
import re
from itertools import groupby

from .csl import access_date, csl_item, csl_type
from .house import cited_page, highlighted_cell, quote
from .sources import CitedDocument, Sources, cited_documents, cited_hits
from .styles import HOUSE, format_bibliography, format_citation


def _one_line(text: object) -> str:
    """Whitespace collapsed: no line break (\\n, \\r, U+2028, ...) survives into a field."""
    return " ".join(str(text).split())


# ---- Markdown ---------------------------------------------------------------------------------

def to_markdown(sources: Sources, style: str = HOUSE) -> str:
    """One section per question: each passage's short quote and its citation in `style`;
    with a CSL style, the reference list follows."""
    hits = cited_hits(sources)
    lines: list[str] = []
    for question, group in groupby(hits, key=lambda c: c.question):
        group = list(group)
        lines += [f"## Sources for: {markdown_text(question)}" if question else "## Sources", ""]
        if group[0].answered is False:
            lines += [f"_Note: {markdown_text(group[0].reason or 'the knowledge base has no good answer')}_", ""]
        for i, cited in enumerate(group, 1):
            where = _html_to_markdown(format_citation(cited.hit, style).html, _links(cited.hit.document.url))
            lines += [f"{i}. > {markdown_text(quote(cited.hit))}", "   >", f"   > — {where}", ""]
    if style != HOUSE and hits:
        references = format_bibliography([c.hit for c in hits], style).html
        links = set().union(*(_links(c.hit.document.url) for c in hits))
        lines += ["## References", ""]
        lines += [_html_to_markdown(entry, links) + "\n" for entry in re.findall(r"<p[^>]*>(.*?)</p>", references)]
    return "\n".join(lines).rstrip() + "\n"


# Links and images need "[" (escaped), so "(", ")" and "!" stay as they are and citations stay
# readable in the raw file.
_MD_ESCAPE = re.compile(r"[\\`*_\[\]<>#|~&]")
_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(:)(?=//)|\b(www)(\.)")


def markdown_text(text: str | None) -> str:
    """Document text made inert in Markdown (CommonMark and GFM) as one line that may start a
    line: no HTML, no links or images, no emphasis, no autolinks; still readable as text."""
    escaped = _markdown_inline(_one_line(text or ""))
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", re.sub(r"^([-+=])", r"\\\1", escaped))


def _markdown_inline(text: str) -> str:
    escaped = _MD_ESCAPE.sub(lambda m: "\\" + m.group(), text)
    return _AUTOLINK.sub(lambda m: "\\:" if m.group(1) else m.group(2) + "\\.", escaped)


_LINKABLE = re.compile(r"https?://[^\s<>\\\x00-\x1f\x7f]+", re.IGNORECASE)


def _links(url: str | None) -> set[str]:
    """A document's own web address, when it can be a Markdown autolink (http(s), no space or <>)."""
    return {url} if url and _LINKABLE.fullmatch(url) else set()


def _html_to_markdown(fragment: str, links: set[str] = frozenset()) -> str:
    """Our rendered HTML (escaped text plus <i>/<b>/... tags we made) as Markdown; the cited
    documents' own addresses (`links`) become autolinks (`<https://…>`, readable and clickable),
    any other text stays inert."""
    out = []
    for piece in re.split(r"(<[^>]+>)", fragment):
        if piece in ("<i>", "</i>"):
            out.append("*")
        elif piece in ("<b>", "</b>"):
            out.append("**")
        elif not piece.startswith("<"):
            out.append(_linked_markdown(html.unescape(piece), links))
    return "".join(out)


def _linked_markdown(text: str, links: set[str]) -> str:
    for url in sorted(links, key=len, reverse=True):
        if url in text:
            return f"<{url}>".join(_linked_markdown(part, links) for part in text.split(url))
    return _markdown_inline(text)


# ---- CSV --------------------------------------------------------------------------------------

CSV_COLUMNS = ["rank", "question", "answered", "quote", "passage", "title", "publisher", "year", "page",
               "page_label", "section", "document", "url", "accessed", "citation", "score", "table", "row", "column"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """OWASP CSV injection: a text cell that a spreadsheet would read as a formula gets a
    leading single quote. Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(sources: Sources, style: str = HOUSE) -> str:
    """UTF-8 CSV with a byte-order mark (so Excel reads it as UTF-8), one row per passage."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    hits = cited_hits(sources)
    for _, group in groupby(hits, key=lambda c: c.question):
        for rank, cited in enumerate(group, 1):
            d, p = cited.hit.document, cited.hit.passage
            answered = "" if cited.answered is None else ("yes" if cited.answered else "no")
            cell = highlighted_cell(cited.hit)  # a table cell: quoted as printed; its table, row and column apart
            table = (p.table.label or p.table.caption or "") if cell and p.table is not None else ""
            row = [rank, cited.question or "", answered, cell[0] if cell else quote(cited.hit), p.text, d.title,
                   d.publisher or "", d.year or "", p.page if p.page is not None else "", cited_page(p) or "",
                   p.section or "", d.name, d.url or "", d.accessed or "", format_citation(cited.hit, style).text,
                   round(cited.hit.score, 4), table, *(cell[1:] if cell else ("", ""))]
            writer.writerow([spreadsheet_safe(v) for v in row])
    return "\ufeff" + out.getvalue()


# ---- BibTeX -----------------------------------------------------------------------------------

BIBTEX_TYPES = {"report": "techreport", "webpage": "online", "book": "book"}  # anything else: misc
# LaTeX's text commands, as Zotero's own BibTeX export writes them.
BIBTEX_SPECIAL = {"\\": r"{\textbackslash}", "~": r"{\textasciitilde}", "^": r"{\textasciicircum}",
                  "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_"}
# BibTeX counts every brace, escaped or not: paired literal braces become \{ \}, a brace without
# a partner gets a phantom one (LaTeX prints nothing for it) so the field always closes.
LONE_BRACE = {"{": r"\{\vphantom{\}}", "}": r"\vphantom{\{}\}"}


def bibtex_text(text: str) -> str:
    text = _one_line(text)
    paired = _paired_braces(text)
    return "".join(("\\" + ch if i in paired else LONE_BRACE[ch]) if ch in "{}" else BIBTEX_SPECIAL.get(ch, ch)
                   for i, ch in enumerate(text))


def _paired_braces(text: str) -> set[int]:
    """Positions of the braces in `text` that close or are closed by another."""
    opened, paired = [], set()
    for i, ch in enumerate(text):
        if ch == "{":
            opened.append(i)
        elif ch == "}" and opened:
            paired |= {opened.pop(), i}
    return paired


def bibtex_url(url: str) -> str:
    """URLs are verbatim in BibTeX: percent-encode only what could unbalance the field."""
    return "".join({"{": "%7B", "}": "%7D", "\\": "%5C", " ": "%20"}.get(ch, ch) for ch in _one_line(url))


def to_bibtex(sources: Sources) -> str:
    """One entry per document. The organisation is double-braced (one name, never split into
    first and last); `year` only when known; the pages cited are in `note`."""
    blocks = [_bibtex_entry(entry) for entry in cited_documents(cited_hits(sources))]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _bibtex_entry(entry: CitedDocument) -> str:
    doc, kind = entry.document, csl_type(entry.document)
    entry_type = BIBTEX_TYPES.get(kind, "misc")
    fields = [("title", f"{{{bibtex_text(doc.title)}}}")]
    if doc.publisher:
        org = bibtex_text(doc.publisher)
        publisher_field = {"techreport": "institution", "online": "organization"}.get(entry_type, "publisher")
        fields += [("author", f"{{{{{org}}}}}"), (publisher_field, f"{{{org}}}")]
    if genre := csl_item(doc, entry.key).get("genre"):
        fields.append(("type", f"{{{bibtex_text(genre)}}}"))
    if doc.year:
        fields.append(("year", f"{{{doc.year}}}"))
    if doc.url:
        fields.append(("url", f"{{{bibtex_url(doc.url)}}}"))
        if accessed := access_date(doc):
            fields.append(("urldate", f"{{{accessed.isoformat()}}}"))
    if entry.note:
        fields.append(("note", f"{{{bibtex_text(entry.note)}}}"))
    body = ",\n".join(f"  {name} = {value}" for name, value in fields)
    return f"@{entry_type}{{{entry.key},\n{body}\n}}"


# ---- RIS --------------------------------------------------------------------------------------

RIS_TYPES = {"report": "RPRT", "webpage": "ELEC", "legislation": "STAT", "bill": "BILL",
             "article-journal": "JOUR", "book": "BOOK"}  # anything else: GEN


def to_ris(sources: Sources) -> str:
    """One record per document; every value on one line, so no text can start a tag."""
    records = []
    for entry in cited_documents(cited_hits(sources)):
        records.append("\n".join(f"{tag}  - {_one_line(value)}" for tag, value in _ris_fields(entry)))
    return "\n".join(r + "\n" for r in records)


def _ris_fields(entry: CitedDocument) -> list[tuple[str, str]]:
    doc = entry.document
    fields = [("TY", RIS_TYPES.get(csl_type(doc), "GEN")), ("ID", entry.key), ("TI", doc.title)]
    if doc.publisher:
        # RIS reads "AU - Last, First": a comma would split the organisation into two names.
        fields += [("AU", doc.publisher)] if "," not in doc.publisher else []
        fields.append(("PB", doc.publisher))
    if genre := csl_item(doc, entry.key).get("genre"):
        fields.append(("M3", genre))
    if doc.year:
        fields.append(("PY", str(doc.year)))
    if doc.url:
        fields.append(("UR", doc.url))
        if accessed := access_date(doc):
            fields.append(("Y2", accessed.strftime("%Y/%m/%d")))
    if entry.note:  # a note, not SP: SP is the item's own page range, and APA would print it
        fields.append(("N1", entry.note))
    fields.append(("ER", ""))
    return [(tag, value) for tag, value in fields if value or tag == "ER"]


# ---- CSL-JSON ---------------------------------------------------------------------------------

def to_csl_json(sources: Sources) -> str:
    """The CSL-JSON items (Zotero, Pandoc, citation.js); the pages cited go in `note`."""
    items = []
    for entry in cited_documents(cited_hits(sources)):
        item = csl_item(entry.document, entry.key)
        if entry.note:
            item["note"] = entry.note
        items.append(item)
    return json.dumps(items, ensure_ascii=False, indent=2) + "\n"

