"""Raw markup in the passages of text files, read as plain text (the reader before content
sniffing) and as the text reader reads them now (Markdown or HTML content read as such).

The files are the seed documents in ../shared/seeds/ (text copied from web pages, read in
place), plus bench/docs' and corpus/'s own .txt files, which must stay plain. A passage
carries raw markup when it holds <sup>, </sup>, <https://...>, a "---" line, **, "\\$",
"](" or a "#" heading mark.

    python bench/text_markup.py
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.benchlib import table  # noqa: E402
from ingest.formats import extract  # noqa: E402
from ingest.formats.text import text_headings  # noqa: E402
from ingest.sniff import decode_text, markup_of  # noqa: E402
from ingest.split import split_pages  # noqa: E402
from ingest.types import Page  # noqa: E402

SEEDS = ROOT.parent / "shared" / "seeds"
RAW = re.compile(r"</?sup>|<https?://|^\s*---\s*$|\*\*|\\\$|\]\(|(?:^|\s)#{1,6}\s", re.M)


def plain_passages(data: bytes):
    text, _ = decode_text(data)
    return split_pages([Page(None, text, text_headings(text))])


def main() -> None:
    files = sorted(SEEDS.glob("*.txt")) + sorted((ROOT / "bench" / "docs").glob("*.txt")) + \
        sorted((ROOT / "corpus").glob("*.txt"))
    rows = []
    for path in files:
        data = path.read_bytes()
        before = plain_passages(data)
        after = split_pages(extract(path, data).pages)
        rows.append([f"{path.parent.name}/{path.name}", markup_of(decode_text(data)[0]) or "plain",
                     f"{sum(bool(RAW.search(p.text)) for p in before)} / {len(before)}",
                     f"{sum(bool(RAW.search(p.text)) for p in after)} / {len(after)}",
                     sum(p.footnote for p in after)])
    print("## Passages with raw markup (with / all), text files read as plain text and as read now\n")
    print(table(["file", "read as", "before: raw / passages", "after: raw / passages", "after: footnote passages"],
                rows))


if __name__ == "__main__":
    main()
