"""Citations and exports of search results.

- `citation`, `quote_citation`: the plain house style (search fills `Hit.citation` with it).
- `STYLES`, `format_citation`, `format_bibliography`: the style the user picks, as text + HTML.
- `to_markdown`, `to_csv`, `to_bibtex`, `to_ris`, `to_csl_json`: exports of an Answer, of Hits,
  or of a collection mixing answers and hits from several questions.
"""
from .csl import csl_item, csl_type
from .exports import CSV_COLUMNS, to_bibtex, to_csl_json, to_csv, to_markdown, to_ris
from .house import (QUOTE_WORDS, cited_page, citation, locator, page_locator, quote_citation, short_quote,
                    source_label)
from .sources import CitedDocument, CitedHit, Sources, cited_documents, cited_hits
from .styles import HOUSE, STYLES, Formatted, UnknownStyle, format_bibliography, format_citation

__all__ = [
    "CSV_COLUMNS", "HOUSE", "QUOTE_WORDS", "STYLES", "CitedDocument", "CitedHit", "Formatted", "Sources", "UnknownStyle",
    "cited_documents", "cited_hits", "cited_page", "citation", "csl_item", "csl_type", "format_bibliography",
    "format_citation", "locator", "page_locator", "quote_citation", "short_quote", "source_label", "to_bibtex", "to_csl_json",
    "to_csv", "to_markdown", "to_ris",
]
