"""PDF text fidelity: our layout engine against pdfminer.six, pypdfium2 and pypdf's plain text,
on the real government PDFs in ../shared/gov-pdfs.

    python bench/text_fidelity.py [--engines ours pdfminer pdfium pypdf] [--show-words]

Needs Debian `poppler-utils` (pdftotext, the reference) and `wamerican` (/usr/share/dict/words),
and the PyPI packages pdfminer.six and pypdfium2 for those two engines.

(a) Shingle overlap: the share of an engine's 5-word shingles on a page that also occur in
    pdftotext's text of that page (both sides NFKC, lower case, words only), mean over pages
    per file and over all pages. Two references: `pdftotext -layout` sets columns side by
    side, so there a shingle that runs over a line end inside a column cannot match, while
    an engine that interleaves the columns line by line (as the IRS booklet's content stream
    does) matches well; `pdftotext` without -layout reads columns one after the other. The
    references keep what the PDFs' own Unicode maps say, so where those are wrong (the CDC
    MMWR files map "fi" to "i") a repaired word counts as a miss, and they keep footnote
    markers and footnotes where they stand. The figures compare engines; they grade none.
    The row "pages without tables" keeps only the pages where our layout finds no table:
    it reads tables row by row, the references column by column.
(b) Dropped-ligature words: words not in the dictionary that become dictionary words when
    "fi", "fl", "ff", "ffi", "ffl" or "th" is inserted somewhere ("deinition" is caught by
    inserting "f", the part a broken Unicode map that keeps only a ligature's last letter
    loses), plus sentence-initial "he", "his", "hey"... that are "The", "This", "They" with
    "Th" dropped. Target: zero.
Seconds per page are measured in the same run, one engine after the other.
"""
from __future__ import annotations

import argparse
import functools
import logging
import re
import statistics
import subprocess
import time
import unicodedata
from collections import Counter
from pathlib import Path

from benchlib import ROOT, load_note, table

GOV = ROOT.parent / "shared" / "gov-pdfs"
DICTIONARY = Path("/usr/share/dict/words")
WORD = re.compile(r"[^\W_]+")
LIGATURES = ("fi", "fl", "ff", "ffi", "ffl", "th", "f")  # "f": what "fi"/"ff"/"ffi" lose to a last-letter map
SENTENCE_START = re.compile(r"(?:^|[.!?][\"”’)]?\s+|\n\s*\n)([a-z]+)\b")
SHINGLE = 5
PUNCTUATION = "\"'“”‘’()[]{}<>.,;:!?*/\u2013\u2014"
TH_WORDS = {"he", "his", "hey", "hese", "hose", "here", "hus", "hen", "hat", "heir", "hird", "hrough"}


# ---- engines: path -> list of page texts --------------------------------------------------------

def ours(path: Path) -> list[str]:
    from pypdf import PdfReader

    from ingest.formats.pdf_layout import lay_out_pages

    return [page.text for page in lay_out_pages(PdfReader(path))]


def pypdf_plain(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(path).pages]


def pdfminer(path: Path) -> list[str]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextContainer

    return ["".join(box.get_text() for box in page if isinstance(box, LTTextContainer))
            for page in extract_pages(str(path), laparams=LAParams())]


def pdfium(path: Path) -> list[str]:
    import pypdfium2

    document = pypdfium2.PdfDocument(str(path))
    try:
        return [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()


ENGINES = {"ours": ours, "pdfminer": pdfminer, "pdfium": pdfium, "pypdf": pypdf_plain}


def reference(path: Path, pages: int, layout: bool) -> list[str]:
    """pdftotext's text of each page: `-layout` (columns side by side, as poppler places
    them) or its default reading order (columns one after the other)."""
    flags = ["-layout"] if layout else []
    return [subprocess.run(["pdftotext", *flags, "-q", "-f", str(n), "-l", str(n), str(path), "-"],
                           capture_output=True, text=True, check=True).stdout for n in range(1, pages + 1)]


# ---- measures -------------------------------------------------------------------------------------

def words(text: str) -> list[str]:
    return WORD.findall(unicodedata.normalize("NFKC", text).lower())


def shingles(text: str) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i:i + SHINGLE]) for i in range(len(w) - SHINGLE + 1)}


def overlap(page: str, ref: str) -> float | None:
    ours_ = shingles(page)
    return len(ours_ & shingles(ref)) / len(ours_) if ours_ else None


def load_dictionary() -> set[str]:
    return {w.strip().lower() for w in DICTIONARY.read_text(encoding="utf-8", errors="replace").splitlines()}


def dropped_ligature_words(text: str, dictionary: set[str]) -> list[str]:
    """Words (whitespace-separated, outer punctuation stripped, hyphenated compounds in parts)
    that a dropped ligature explains. Abbreviations (a capital after the first letter) and
    tokens with other characters inside ("agency(ies)") are not words here."""
    text = unicodedata.normalize("NFKC", text)
    found = []
    for token in text.split():
        token = token.strip(PUNCTUATION)
        parts = token.split("-")
        for part in parts:
            if not part.isalpha() or part[1:] != part[1:].lower() or len(part) < (3 if len(parts) == 1 else 4):
                continue
            word = part.lower()
            if word in dictionary:
                continue
            if any(word[:i] + lig + word[i:] in dictionary for lig in LIGATURES for i in range(len(word) + 1)):
                found.append(word)
    for match in SENTENCE_START.finditer(text):  # ". he U.S. Census Bureau": a dropped "Th"
        if match.group(1) in TH_WORDS:
            found.append(f"{match.group(1)} (sentence start)")
    return found


# ---- the run --------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    ap.add_argument("--show-words", action="store_true", help="list the dropped-ligature words found")
    args = ap.parse_args()
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    dictionary = load_dictionary()
    files = sorted(GOV.glob("*.pdf"))
    results = {engine: {path.name: measure(ENGINES[engine], path, dictionary) for path in files}
               for engine in args.engines}
    print(f"\n### PDF text fidelity on {len(files)} gov PDFs ({load_note()})\n")
    for key, what in (("layout", "`pdftotext -layout`"), ("reading", "`pdftotext` (its reading order)")):
        print(f"Shingle overlap with {what}, mean over pages / dropped-ligature words\n")
        rows = []
        for path in files:
            row = [path.name.removesuffix(".pdf"), results[args.engines[0]][path.name]["pages"]]
            for engine in args.engines:
                r = results[engine][path.name]
                scores = [x for x in r[key] if x is not None]
                row.append(f"{statistics.mean(scores) if scores else float('nan'):.3f} / {len(r['dropped'])}")
            rows.append(row)
        total = ["**all pages**", sum(results[args.engines[0]][p.name]["pages"] for p in files)]
        prose = ["**pages without tables**", sum(len(r["prose"]) for r in results[args.engines[0]].values())]
        for engine in args.engines:
            scores = [s for r in results[engine].values() for s in r[key] if s is not None]
            dropped = sum(len(r["dropped"]) for r in results[engine].values())
            total.append(f"**{statistics.mean(scores):.3f} / {dropped}**")
            kept = [r[key][i] for r in results[engine].values() for i in r["prose"] if r[key][i] is not None]
            prose.append(f"{statistics.mean(kept):.3f}")
        rows += [total, prose]
        print(table(["file", "pages", *args.engines], rows) + "\n")
    print("Seconds per page (whole file, one run, engines one after the other)\n")
    rows = []
    for label, names in (("IRS booklet (50 pages)", [f.name for f in files if f.name.startswith("irs_")]),
                         ("all 12 files (112 pages)", [f.name for f in files])):
        row = [label]
        for engine in args.engines:
            seconds = sum(results[engine][n]["seconds"] for n in names)
            pages = sum(results[engine][n]["pages"] for n in names)
            row.append(f"{seconds / pages:.3f}")
        rows.append(row)
    print(table(["pages", *args.engines], rows))
    if args.show_words:
        for engine in args.engines:
            counts = Counter(w for r in results[engine].values() for w in r["dropped"])
            print(f"\n{engine}: {', '.join(f'{w} ({n})' for w, n in counts.most_common(60)) or 'none'}")


def measure(engine, path: Path, dictionary: set[str]) -> dict:
    start = time.perf_counter()
    pages = engine(path)
    seconds = time.perf_counter() - start
    result = {"pages": len(pages), "seconds": seconds,
              "dropped": [w for p in pages for w in dropped_ligature_words(p, dictionary)]}
    for key, layout in (("layout", True), ("reading", False)):
        refs = reference(path, len(pages), layout)
        result[key] = [overlap(p, r) for p, r in zip(pages, refs)]
    result["prose"] = _pages_without_tables(path)
    return result


def _pages_without_tables(path: Path) -> list[int]:
    """Indexes of the pages where our layout finds no table. Engines read tables in
    different orders (row by row, column by column) and the references read them column by
    column, so the overlap on these pages alone compares how prose is read."""
    return [i for i, page in enumerate(_our_pages(path)) if not page.tables]


@functools.lru_cache(maxsize=None)
def _our_pages(path: Path) -> list:
    from pypdf import PdfReader

    from ingest.formats.pdf_layout import lay_out_pages

    return lay_out_pages(PdfReader(path))


if __name__ == "__main__":
    main()
