"""Glued table cells: every cell of every table we extract from the shared government PDFs,
compared with a second reader, poppler's `pdftotext -layout` (which keeps a table row on one
line, its cells apart by spaces).

A figure cell (digits and punctuation, no letters: "1,189", "(160.1–163.1)", "98 452") that is
not a run of whole words on its page as pdftotext reads it (as printed, or with the spaces
around a dash between two figures closed up) is counted as differing: two
figures glued into one ("1,1891,82649"), or one cut apart. Text cells are counted too, apart:
a cell that wraps over lines in print reads in pieces in pdftotext, so a difference there is
not always a defect.

    python bench/table_cells.py            # with the pdfplumber pass (what ingest does) and without
    python bench/table_cells.py --timing   # the seconds reading the 12 PDFs takes, with and without it

Prints a Markdown table: per PDF, table cells read, figure cells and how many differ, text
cells and how many differ; with and without pdfplumber's reading of ruled tables.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import GOV_PDFS  # noqa: E402  (puts the repository on sys.path)

import ingest.formats.pdf as pdf_format  # noqa: E402

FIGURE = re.compile(r"^[^A-Za-z]*\d[^A-Za-z]*$")


def pdftotext_words(path: Path, page: int) -> str:
    out = subprocess.run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(path), "-"],
                         capture_output=True, text=True).stdout
    return " " + " ".join(out.split()) + " "


def dashes(text: str) -> str:
    """Spaces around a dash between two figures are the readers' choice ("56 – 60", "56–60")."""
    return re.sub(r"(?<=\d)\s+([–-])\s+(?=\d)", r"\1", text)


def cells(pages) -> list[tuple[int, str]]:
    """(page number, cell) of every table cell."""
    out = []
    for page in pages:
        for start, end, _ in page.tables:
            for line in page.text[start:end].split("\n"):
                out += [(page.number, " ".join(c.split())) for c in line.split("\t") if c.strip()]
    return out


def measure(path: Path) -> tuple[int, int, int, int, list[str]]:
    extracted = pdf_format.extract_pdf(path.read_bytes())
    found = cells(extracted.pages)
    pages = {n: pdftotext_words(path, n) for n in {n for n, _ in found}}
    figures = [(n, c) for n, c in found if FIGURE.match(c)]
    texts = [(n, c) for n, c in found if not FIGURE.match(c)]
    joined = {n: dashes(t) for n, t in pages.items()}

    def differs(n: int, c: str) -> bool:
        return f" {c} " not in pages[n] and f" {dashes(c)} " not in joined[n]

    bad_figures = [c for n, c in figures if differs(n, c)]
    bad_texts = [c for n, c in texts if differs(n, c)]
    return len(figures), len(bad_figures), len(texts), len(bad_texts), bad_figures


def timing(rounds: int = 2) -> None:
    """Seconds to read the gov PDFs (extract_pdf, this process): the pdfplumber pass on every page
    the layout found a table on, on those less the tax-table pages (what ingest does), and none;
    and whether skipping the tax-table pages changed any page's text."""
    import time

    from ingest.formats import pdf_tables

    keep, keep_rows = pdf_format._ruled_tables, pdf_tables.FIGURE_ROWS
    ways = {"every page with a table": (keep, 10**9), "tax-table pages skipped (ingest)": (keep, keep_rows),
            "no pdfplumber pass": (lambda data, pages: None, keep_rows)}
    seconds: dict[str, list[float]] = {w: [] for w in ways}
    texts: dict[str, list[str]] = {}
    for _ in range(rounds):  # ways alternate, so drift in the machine's load hits all alike
        for way, (reader, rows) in ways.items():
            pdf_format._ruled_tables, pdf_tables.FIGURE_ROWS = reader, rows
            t = time.perf_counter()
            texts[way] = [p.text for path in sorted(GOV_PDFS.glob("*.pdf"))
                          for p in pdf_format.extract_pdf(path.read_bytes()).pages]
            seconds[way].append(time.perf_counter() - t)
    pdf_format._ruled_tables, pdf_tables.FIGURE_ROWS = keep, keep_rows
    print(f"| reading the {len(list(GOV_PDFS.glob('*.pdf')))} gov PDFs | seconds, min / max of {rounds} |\n|---|---|")
    for way, s in seconds.items():
        print(f"| {way} | {min(s):.1f} / {max(s):.1f} |")
    same = texts["every page with a table"] == texts["tax-table pages skipped (ingest)"]
    print(f"\nPage text the same with the tax-table pages skipped: {'yes' if same else 'NO'}")


def main() -> None:
    if "--timing" in sys.argv[1:]:
        return timing()
    if shutil.which("pdftotext") is None:
        sys.exit("pdftotext is needed as the second reader: apt-get install poppler-utils")
    keep = pdf_format._ruled_tables
    rows = []
    for path in sorted(GOV_PDFS.glob("*.pdf")):
        pdf_format._ruled_tables = lambda data, pages: None  # the layout's reading alone
        before = measure(path)
        pdf_format._ruled_tables = keep
        after = measure(path)
        rows.append((path.name, before, after))
    print("| PDF | figure cells (layout) | differing | figure cells (+ pdfplumber) | differing | "
          "text cells | differing (layout / + pdfplumber) | examples that differ (+ pdfplumber) |")
    print("|---|---|---|---|---|---|---|---|")
    totals = [0] * 6
    for name, b, a in rows:
        if not (b[0] or a[0] or b[2] or a[2]):
            continue
        print(f"| {name} | {b[0]} | {b[1]} | {a[0]} | {a[1]} | {a[2]} | {b[3]} / {a[3]} | "
              f"{', '.join(repr(x) for x in a[4][:3])} |")
        for i, v in enumerate((b[0], b[1], a[0], a[1], b[3], a[3])):
            totals[i] += v
    print(f"| all | {totals[0]} | {totals[1]} | {totals[2]} | {totals[3]} | | {totals[4]} / {totals[5]} | |")
    print("\nLayout-only examples that differ:", "; ".join(
        f"{name}: {', '.join(repr(x) for x in b[4][:4])}" for name, b, _ in rows if b[4]))


if __name__ == "__main__":
    main()
