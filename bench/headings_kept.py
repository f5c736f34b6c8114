"""Headings a reader found that no passage holds (in its text, section or context): words a
user could never find or quote. Over the 12 gov PDFs and corpus/ by default.

    python bench/headings_kept.py [FILES...]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import CORPUS, GOV_PDFS  # noqa: E402

from ingest import formats  # noqa: E402
from ingest.split import split_pages  # noqa: E402


def lost_headings(path: Path) -> tuple[int, list[str]]:
    pages = formats.extract(path, path.read_bytes()).pages
    held = " ".join(" ".join(f"{p.text} {p.section or ''} {p.context or ''}" for p in split_pages(pages)).split())
    headings = [" ".join(h.split()) for page in pages for _, h in page.headings]
    return len(headings), [h for h in headings if h not in held]


def main() -> None:
    files = [Path(a) for a in sys.argv[1:]] or sorted(GOV_PDFS.glob("*.pdf")) + sorted(
        p for p in CORPUS.iterdir() if formats.for_path(p) is not None)
    print("| document | headings | in no passage |\n|---|---|---|")
    total = lost = 0
    for f in files:
        n, missing = lost_headings(f)
        total, lost = total + n, lost + len(missing)
        print(f"| {f.name} | {n} | {len(missing)}{': ' + '; '.join(missing)[:120] if missing else ''} |")
    print(f"| all | {total} | {lost} |")


if __name__ == "__main__":
    main()
