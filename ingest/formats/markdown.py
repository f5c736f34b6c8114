"""Markdown: rendered to HTML and read as a page, so quotes come out as a reader sees them
(no ** or \\$), and footnotes ([^1]) are read as notes, apart from the sentence that cites them."""
from __future__ import annotations

from ..sniff import decode_text, looks_like_text
from ..types import Extracted
from .base import Format
from .html import html_to_pages


def extract_markdown(data: bytes) -> Extracted:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.footnote import footnote_plugin

    markdown, warnings = decode_text(data)
    html = MarkdownIt("commonmark", {"html": True}).enable("table").use(footnote_plugin).render(markdown)
    result = html_to_pages(f"<html><body>{html}</body></html>")
    result.kind = "markdown"
    result.warnings = warnings + result.warnings
    return result


FORMAT = Format(kind="markdown", label="Markdown file", suffixes=(".md", ".markdown"),
                media_types=("text/markdown", "text/x-markdown"), accepts=looks_like_text, extract=extract_markdown)
