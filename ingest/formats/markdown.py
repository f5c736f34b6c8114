"""Markdown: rendered to HTML and read as a page, so quotes come out as a reader sees them
(no ** or \\$), and footnotes ([^1]) are read as notes, apart from the sentence that cites them."""
from __future__ import annotations

from ..limits import check_text
from ..sniff import decode_text, looks_like_text
from ..types import Extracted
from .base import Format
from .html import html_to_pages


def extract_markdown(data: bytes) -> Extracted:
    markdown, warnings = decode_text(data)
    result = markdown_to_pages(markdown)
    result.warnings = warnings + result.warnings
    return result


def markdown_to_pages(markdown: str, line_breaks: bool = False) -> Extracted:
    """Markdown read as the page it renders to. `line_breaks` keeps each line a block of its
    own, as in text copied from a web page (one paragraph a line, no blank line between)."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.footnote import footnote_plugin

    check_text(markdown)  # before rendering: Markdown's own markup is a few per cent of its characters
    parser = MarkdownIt("commonmark", {"html": True, "breaks": line_breaks}).enable("table").use(footnote_plugin)
    result = html_to_pages(f"<html><body>{parser.render(markdown)}</body></html>")
    result.kind = "markdown"
    return result


FORMAT = Format(kind="markdown", label="Markdown file", suffixes=(".md", ".markdown"),
                media_types=("text/markdown", "text/x-markdown"), accepts=looks_like_text, extract=extract_markdown)
