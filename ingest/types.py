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
    label: str | None = None  # printed page number ("24", "iv") when known; `number` is the PDF index
    # Table spans in `text`: (start, end, header_end). Rows are lines, cells are tab-separated;
    # [start, header_end) is the header row(s), repeated when the splitter cuts the table.
    tables: list[tuple[int, int, int]] = field(default_factory=list)
    # Column names of a table, by the table's start offset, where the reader knows them from the
    # cells' positions (PDF tables read by pdfplumber): one per column, multi-level headers joined
    table_columns: dict[int, list[str]] = field(default_factory=dict)
    footnotes: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of footnote blocks
    # (offset, marker) where the body text cites a footnote ("threshold¹³ would": the offset
    # of the space after "threshold"); the marker itself is not in `text`
    footnote_refs: list[tuple[int, str]] = field(default_factory=list)
    ocr: bool = False  # text recognised from the page image


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
    url: str | None = None  # where it is published (a web page's address)
    accessed: str | None = None  # ISO date the page was retrieved
    published: str | None = None  # ISO date the source says it was published, when it says
    site_name: str | None = None  # the web site's own name ("Mass.gov")
