"""Scanned copies of the government PDFs: OCR word error rate, retrieval and citation metadata.

Scans are made from real text-layer PDFs (../shared/gov-pdfs/) the way tests/scans.py makes
them: each page rendered at a scanner's resolution in grey, turned by up to ±1°, blurred,
speckled and JPEG-compressed, then wrapped in a PDF that holds only the pictures. The product
reads them (`ingest.formats.extract`, which OCRs every page without a text layer), with the
page images cleaned before Tesseract (KB_OCR_CLEAN=1, the default) and without (0, as
before), and, with --ocrmypdf, after OCRmyPDF wrote a text layer into the scan.

    python bench/scan_ocr.py wer [--dpi 150 200] [--pages 2] [--ocrmypdf] [--docs NAME ...]
    python bench/scan_ocr.py retrieval [--dpi 200] [--skip irs_i1040nr_2007_instructions.pdf] [--no-before]
                                      [--per-question]
    python bench/scan_ocr.py metadata [--dpi 200] [--pages 3]   # KB_OCR_CLEAN=0: before
    ... --before-code DIR    # 'before' read by an earlier commit's code: git archive COMMIT | tar -x -C DIR

Word error rate on body text: the original's text layer, as the product reads it, less its
tables, cut into paragraphs of 12 words or more; each paragraph is found in the OCR text of
the same page (the stretch between its first and last matching words, so the order columns
are read in does not count) and WER = word edit distance / words in the paragraph (rapidfuzz),
summed over the paragraphs. Words are compared as printed (case kept), after Unicode NFKC
(ligatures), straight quotes and dashes as spaces; punctuation at a word's ends is dropped.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import GOV_PDFS, ROOT, load_note, table  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from scans import images_to_pdf, scan, word_error_rate  # noqa: E402

TILT = 1.0  # degrees either way
SEED = 7


def scanned_copy(data: bytes, dpi: int, pages: list[int] | None = None, seed: int = SEED) -> bytes:
    return images_to_pdf(scan(data, dpi, seed=seed, rough=True, tilt=TILT, pages=pages), dpi)


BEFORE_CODE: Path | None = None  # --before-code: a checkout of the code before the change


def read(name: str, data: bytes, clean: bool):
    """The product's extraction of a file, OCR cleaning on or off (in a child process, so the
    switch is read at import as in production). Without cleaning, and with --before-code, it
    is the earlier code's extraction (`git archive COMMIT | tar -x -C DIR`)."""
    code = BEFORE_CODE if (BEFORE_CODE and not clean) else ROOT
    script = ("import pickle,sys; from ingest.formats import extract\n"
              "r = extract(sys.argv[1], sys.stdin.buffer.read())\n"
              "sys.stdout.buffer.write(pickle.dumps(r))")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, name], input=data, capture_output=True, cwd=code,
                          env={**os.environ, "KB_OCR_CLEAN": "1" if clean else "0", "PYTHONPATH": str(code)})
    if done.returncode:
        raise RuntimeError(done.stderr.decode()[-400:])
    import pickle

    return pickle.loads(done.stdout), time.perf_counter() - started


def ocrmypdf(data: bytes) -> bytes:
    """The scan with a text layer written by OCRmyPDF (deskew, unpaper clean, one core)."""
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.pdf", Path(tmp) / "out.pdf"
        source.write_bytes(data)
        subprocess.run([str(Path(sys.executable).with_name("ocrmypdf")), "-q", "--deskew", "--clean",
                        "--output-type", "pdf", "--optimize", "0", "-j", "1", str(source), str(target)],
                       check=True, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
        return target.read_bytes()


def wer_tables(dpis: list[int], pages_per_doc: int, with_ocrmypdf: bool, only: list[str],
               only_after: bool = False) -> None:
    from ingest.formats import extract

    docs = [p for p in sorted(GOV_PDFS.glob("*.pdf")) if not only or p.name in only]
    for dpi in dpis:
        rows, totals = [], {}
        for path in docs:
            data = path.read_bytes()
            original = extract(path.name, data)
            pages = list(range(min(pages_per_doc, len(original.pages))))
            if path.name.startswith("irs_"):
                pages = [p + 4 for p in pages]  # past the cover's printer's marks, into the instructions
            from rapidfuzz.distance import Levenshtein

            ref_words = word_error_rate([original.pages[i] for i in pages], [original.pages[i] for i in pages])[1]
            scanned = scanned_copy(data, dpi, pages)
            variants = [("before", lambda: read("scan.pdf", scanned, clean=False)),
                        ("after", lambda: read("scan.pdf", scanned, clean=True))][1 if only_after else 0:]
            if with_ocrmypdf:
                def via_ocrmypdf():
                    started = time.perf_counter()
                    layered = ocrmypdf(scanned)
                    result = extract("scan.pdf", layered)
                    return result, time.perf_counter() - started
                variants.append(("OCRmyPDF", via_ocrmypdf))
            row = [path.name, len(pages), ref_words]
            for label, run in variants:
                result, seconds = run()
                got = {p.number - 1: p for p in result.pages}
                errors, _ = word_error_rate([original.pages[i] for i in pages], [got.get(k) for k in range(len(pages))],
                                            Levenshtein.distance)
                total = totals.setdefault(label, [0, 0, 0.0, 0])
                total[0] += errors
                total[1] += ref_words
                total[2] += seconds
                total[3] += len(pages)
                row += [f"{errors / max(ref_words, 1):.2%}", f"{seconds / len(pages):.1f}"]
            rows.append(row)
            print(f"  {dpi} dpi {path.name}: {row[3:]}", file=sys.stderr, flush=True)
        labels = [label for label in totals]
        rows.append(["**all**", sum(r[1] for r in rows), sum(r[2] for r in rows)]
                    + [v for label in labels for v in (f"**{totals[label][0] / max(totals[label][1], 1):.2%}**",
                                                       f"{totals[label][2] / totals[label][3]:.1f}")])
        headers = ["document", "pages", "body words"] + [h for label in labels
                                                         for h in (f"WER {label}", f"s/page {label}")]
        print(f"\n## OCR word error rate on body text, {dpi}-dpi noisy scans (grey, ±{TILT:g}° tilt, blur, speckle, "
              f"JPEG 70); {load_note()}\n")
        print(table(headers, rows))


def retrieval(dpi: int, skip: list[str], with_before: bool = True, per_question: bool = False,
              set_name: str = "gov") -> None:
    from benchlib import QuestionSet, question_set
    from set_quality import set_row, set_table_header

    from benchlib import OUT

    from kb.config import load_settings
    from kb.embedders import make_embedder, resolve_runtime

    # OCR of a 15-page scan on a busy 2-core machine outlasts the 120 s a file may take by default
    os.environ.setdefault("KB_EXTRACT_TIMEOUT_S", "1800")
    gov = question_set(set_name)
    docs = [p for p in gov.docs if p.name not in skip]
    questions = [q for q in gov.questions if not set(q.get("documents") or []) & set(skip)]
    settings = load_settings(kb_dir=OUT / "models")
    embedder = make_embedder(settings.model, resolve_runtime(settings), settings.device, str(OUT / "models"))
    folder = ROOT / "bench" / "out" / f"scans-{dpi}"
    folder.mkdir(parents=True, exist_ok=True)
    for path in docs:
        copy = folder / path.name
        if not copy.exists():
            copy.write_bytes(scanned_copy(path.read_bytes(), dpi))
    rows, outcomes = [], {}
    runs = [("gov originals", docs, True), (f"scans {dpi} dpi, before", None, False),
            (f"scans {dpi} dpi, after", None, True)]
    for name, files, clean in [run for run in runs if with_before or "before" not in run[0]]:
        os.environ["KB_OCR_CLEAN"] = "1" if clean else "0"
        qset = QuestionSet(f"scan{dpi}-{'after' if clean else 'before'}" if files is None else "govsubset",
                           questions, files or [folder / p.name for p in docs], {})
        started = time.perf_counter()
        row, outcomes[name] = set_row(qset, embedder, None, "fused")
        rows.append(row.replace(f"| {qset.name} |", f"| {name} |", 1))
        print(f"  {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    os.environ.pop("KB_OCR_CLEAN", None)
    print(f"\n## {set_name} questions on scanned copies ({dpi} dpi, noisy) and on the originals, fused; "
          f"{len(docs)} PDFs, {len(questions)} questions; {load_note()}\n")
    print(set_table_header())
    print("\n".join(rows))
    if per_question:
        print_differences(outcomes)


def print_differences(outcomes: dict[str, list]) -> None:
    """The questions whose first hit or cited page differs between the originals and a scanned
    copy: rank of the first hit (– none in the top 5), printed page right (✓) or not, and why
    the scan missed (the closest passage text when the evidence was garbled). Held-out questions
    are left out (only their number is said), as set_quality.print_failures leaves them out."""
    names = list(outcomes)
    held = sum(o.held_out for o in outcomes[names[0]])
    if held:
        print(f"\n({held} held-out questions are not listed)")
    by_id = {name: {o.id: o for o in found} for name, found in outcomes.items()}

    def cell(o) -> str:
        rank = str(o.rank) if o.rank and o.rank <= 5 else "–"
        return f"{rank} {'✓' if o.page_ok else '✗' if o.page_ok is False else ''}".strip()

    rows = []
    for o in outcomes[names[0]]:
        if not o.answerable or o.held_out:
            continue
        others = [by_id[name][o.id] for name in names[1:]]
        if all(cell(x) == cell(o) for x in others):
            continue
        last = others[-1] if others else o
        why = "" if last.rank == 1 else f"{last.failure or ''}: {(last.detail or '')[:160]}"
        rows.append([o.id, *(cell(by_id[name][o.id]) for name in names), why.replace("|", "/")])
    print(f"\n## Questions that differ (first hit's rank, – none in 5; printed page ✓/✗), {len(rows)}\n")
    print(table(["question", *names, "why, last copy"], rows))


# What each gov PDF is, by reading it: (title, publisher, year); None where the file does not
# print it (an excerpt that starts mid-report), so an empty field is right and any value wrong.
TRUTH = {
    "campus_attacks_2010_report_excerpt.pdf": (None, None, None),
    "cdc_mmwr_2011_v60_suppl_chd_stroke_deaths.pdf": (
        "Coronary Heart Disease and Stroke Deaths — United States, 2006",
        "Centers for Disease Control and Prevention", 2011),
    "cdc_mmwr_2011_v60_suppl_unhealthy_housing.pdf": (
        "Inadequate and Unhealthy Housing, 2007 and 2009", "Centers for Disease Control and Prevention", 2011),
    "census_disability_2010_report_excerpt.pdf": (None, "U.S. Census Bureau", None),
    "ed_nclb_implementation_report_excerpt.pdf": ("Including All Students in Assessments", None, None),
    "epa_mercury_ecorisk_excerpt.pdf": (None, None, None),
    "faa_amt_general_handbook_sample.pdf": ("AMT General Handbook", "Federal Aviation Administration", 2017),
    "fbi_nics_background_checks_2015-11.pdf": ("NICS Firearm Background Checks November - 2015", None, 2015),
    "fda_pro_guidance_excerpt.pdf": (None, None, None),
    "federal_register_2020-17221.pdf": (
        "Airworthiness Directives; The Boeing Company Airplanes", "Federal Aviation Administration", 2020),
    "irs_i1040nr_2007_instructions.pdf": ("Instructions for Form 1040NR", "Internal Revenue Service", 2007),
    "usco_dmca_summary_1998.pdf": ("The Digital Millennium Copyright Act of 1998", "U.S. Copyright Office", 1998),
}
TITLE_ALIASES = {"2007 Instruction 1040-NR": "Instructions for Form 1040NR",  # the file's own /Title
                 "The Digital Millennium Copyright Act of 1998 U.S. Copyright Office Summary":
                     "The Digital Millennium Copyright Act of 1998"}


def judge(got, want, field: str) -> str:
    if got in (None, ""):
        return "empty" if want is not None else "right"
    if want is None:
        return "wrong"
    if field == "title":
        aliases = {k.casefold(): v for k, v in TITLE_ALIASES.items()}
        got = aliases.get(" ".join(got.split()).casefold(), got)
        return "right" if " ".join(got.split()).casefold() == want.casefold() else "wrong"
    return "right" if got == want else "wrong"


def metadata(dpi: int, pages: int) -> None:
    from pypdf import PdfReader

    rows, counts = [], {}
    for path in sorted(GOV_PDFS.glob("*.pdf")):
        data = path.read_bytes()
        count = len(PdfReader(path).pages)
        copies = [("original", data), (f"scan {dpi} dpi", scanned_copy(data, dpi, list(range(min(pages, count)))))]
        for kind, blob in copies:
            result, _ = read(path.name, blob, clean=os.environ.get("KB_OCR_CLEAN", "1") != "0")
            verdicts = [judge(result.title, TRUTH[path.name][0], "title"),
                        judge(result.publisher, TRUTH[path.name][1], "publisher"),
                        judge(result.year, TRUTH[path.name][2], "year")]
            for field, verdict in zip(("title", "publisher", "year"), verdicts):
                counts.setdefault((kind, field), {"right": 0, "wrong": 0, "empty": 0})[verdict] += 1
            rows.append([path.name, kind, f"{result.title} ({verdicts[0]})", f"{result.publisher} ({verdicts[1]})",
                         f"{result.year} ({verdicts[2]})"])
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    print(f"\n## Citation metadata of the gov PDFs and of scans of their first {pages} pages ({dpi} dpi); "
          f"{load_note()}\n")
    print(table(["document", "copy", "title", "publisher", "year"], rows))
    print()
    print(table(["copy", "field", "right", "wrong", "empty"],
                [[kind, field, c["right"], c["wrong"], c["empty"]] for (kind, field), c in counts.items()]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["wer", "retrieval", "metadata"])
    parser.add_argument("--dpi", type=int, nargs="+", default=None)
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--ocrmypdf", action="store_true", help="add OCRmyPDF (needs ghostscript, unpaper)")
    parser.add_argument("--before-code", type=Path, help="the code before (a `git archive` of it), for 'before'")
    parser.add_argument("--no-before", action="store_true",
                        help="leave out the scans read without cleaning (retrieval), or the 'before' reader (wer)")
    parser.add_argument("--per-question", action="store_true",
                        help="retrieval: list the questions whose first hit or printed page differs between copies")
    parser.add_argument("--docs", nargs="*", default=[], help="wer: only these gov PDF file names")
    parser.add_argument("--skip", nargs="*", default=[], help="gov PDF file names left out (retrieval)")
    parser.add_argument("--set", default="gov", help="retrieval: the question set over the gov PDFs "
                        "(gov, or tables: its cell questions, the same scans and knowledge bases)")
    args = parser.parse_args()
    global BEFORE_CODE
    BEFORE_CODE = args.before_code
    if args.ocrmypdf and not shutil.which("gs"):
        sys.exit("OCRmyPDF needs Ghostscript: apt-get install ghostscript unpaper")
    if args.what == "wer":
        wer_tables(args.dpi or [150, 200], args.pages or 2, args.ocrmypdf, args.docs, args.no_before)
    elif args.what == "retrieval":
        retrieval((args.dpi or [200])[0], args.skip, not args.no_before, args.per_question, args.set)
    else:
        metadata((args.dpi or [200])[0], args.pages or 3)


if __name__ == "__main__":
    main()
