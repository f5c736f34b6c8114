"""Ready-to-paste citations and exports (Markdown, CSV, BibTeX) of a set of results."""
from __future__ import annotations

import csv
import io
import re

from .models import Answer, Document, Hit, Passage

QUOTE_WORDS = 45


def source_label(doc: Document) -> str:
    """Publisher, “Title” (Year) — with what is unknown left out, and n.d. for no year."""
    title = f"“{doc.title.rstrip('.')}”"
    year = f"({doc.year})" if doc.year else "(n.d.)"
    return f"{doc.publisher}, {title} {year}" if doc.publisher else f"{title} {year}"


def locator(doc: Document, passage: Passage) -> str:
    parts = []
    if passage.page is not None:
        parts.append(f"p. {passage.page}")
    if passage.section and passage.section.strip().rstrip(".") != doc.title.strip().rstrip("."):
        parts.append(f"section “{passage.section}”")
    return ", ".join(parts)


def citation(doc: Document, passage: Passage) -> str:
    where = locator(doc, passage)
    return f"{source_label(doc)}{', ' + where if where else ''}."


def short_quote(hit: Hit) -> str:
    """The highlighted sentence(s), or the passage's opening, trimmed to about QUOTE_WORDS words."""
    text = hit.passage.text
    if hit.highlights:
        text = " … ".join(text[s:e] for s, e in hit.highlights)
    words = text.split()
    return " ".join(words[:QUOTE_WORDS]) + (" …" if len(words) > QUOTE_WORDS else "")


def quote_citation(hit: Hit) -> str:
    return f"“{short_quote(hit)}” ({citation(hit.document, hit.passage).rstrip('.')})."


# ---- exports --------------------------------------------------------------------------------

def to_markdown(answer: Answer) -> str:
    lines = [f"## Sources for: {answer.question}", ""]
    if not answer.answered:
        lines += [f"_Note: {answer.reason}_", ""]
    for i, hit in enumerate(answer.hits, 1):
        lines += [f"{i}. > {short_quote(hit)}", f"   >", f"   > — {citation(hit.document, hit.passage)}", ""]
    return "\n".join(lines).rstrip() + "\n"


CSV_COLUMNS = ["rank", "question", "quote", "passage", "title", "publisher", "year", "page", "section",
               "document", "citation", "score"]


def to_csv(answer: Answer) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for i, hit in enumerate(answer.hits, 1):
        d, p = hit.document, hit.passage
        writer.writerow([i, answer.question, short_quote(hit), p.text, d.title, d.publisher or "", d.year or "",
                         p.page if p.page is not None else "", p.section or "", d.name,
                         citation(d, p), f"{hit.score:.4f}"])
    return out.getvalue()


def to_bibtex(answer: Answer) -> str:
    """One @misc entry per document; the pages cited are listed in `note`."""
    entries: dict[int, tuple[Document, list[int]]] = {}
    for hit in answer.hits:
        doc, pages = entries.setdefault(hit.document.id, (hit.document, []))
        if hit.passage.page is not None and hit.passage.page not in pages:
            pages.append(hit.passage.page)
    keys: set[str] = set()
    blocks = []
    for doc, pages in entries.values():
        key = _bibkey(doc, keys)
        fields = [("title", f"{{{_bibtex_escape(doc.title)}}}")]
        if doc.publisher:
            fields += [("author", f"{{{_bibtex_escape(doc.publisher)}}}"),
                       ("publisher", f"{{{_bibtex_escape(doc.publisher)}}}")]
        fields.append(("year", f"{{{doc.year}}}" if doc.year else "{n.d.}"))
        if pages:
            label = "p." if len(pages) == 1 else "pp."
            fields.append(("note", f"{{Cited {label} {', '.join(str(p) for p in sorted(pages))}}}"))
        fields.append(("howpublished", f"{{{_bibtex_escape(doc.name)}}}"))
        body = ",\n".join(f"  {name} = {value}" for name, value in fields)
        blocks.append(f"@misc{{{key},\n{body}\n}}")
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _bibkey(doc: Document, used: set[str]) -> str:
    who = re.sub(r"[^A-Za-z0-9]", "", (doc.publisher or doc.title).split()[0] if (doc.publisher or doc.title) else "doc")
    word = next((w for w in re.findall(r"[A-Za-z]{4,}", doc.title)), "doc")
    base = f"{who.lower()}{doc.year or 'nd'}{word.lower()}"
    key, n = base, 1
    while key in used:
        n += 1
        key = f"{base}{n}"
    used.add(key)
    return key


BIBTEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$",
                  "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _bibtex_escape(text: str) -> str:
    return "".join(BIBTEX_SPECIAL.get(ch, ch) for ch in text)
