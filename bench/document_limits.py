"""Limits per document (KB_MAX_DOCUMENT_CHARS, KB_MAX_DOCUMENT_PASSAGES): how far real documents
sit below them, and what an amplified file costs now.

Table 1: characters of text and passages of every document in ../shared/gov-pdfs/ and corpus/
(the defaults were set against the largest). Table 2: seconds and peak memory (VmHWM of a fresh
process per file, the file's bytes included) to refuse a 0.5 MB gzip page of 147 MB of HTML and a 0.1 MB Word file of 80,000 repeated
paragraphs, through the format registry as an ingest worker reads them.

    python bench/document_limits.py
"""
from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARAGRAPH = ("The infant and early childhood mental health consultation program serves every child care centre "
             "in the state, and each consultant visits each classroom twice a month to support teachers.")


def real_documents() -> list[tuple[str, int, int]]:
    from ingest import formats
    from ingest.pipeline import split_into_passages

    rows = []
    paths = sorted((ROOT.parent / "shared" / "gov-pdfs").glob("*.pdf")) + sorted(
        p for p in (ROOT / "corpus").iterdir() if formats.for_path(p))
    for path in paths:
        extracted = formats.extract(path, path.read_bytes())
        rows.append((path.name, sum(len(p.text) for p in extracted.pages), len(split_into_passages(extracted))))
    return rows


def amplified(folder: Path) -> list[Path]:
    import docx

    made = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Consultation")
    document.save(made)
    word = folder / "repeated.docx"
    with zipfile.ZipFile(made) as source, zipfile.ZipFile(word, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                text = data.decode("utf-8")
                at = text.index("<w:body>") + len("<w:body>")
                data = (text[:at] + f"<w:p><w:r><w:t>{PARAGRAPH}</w:t></w:r></w:p>" * 80_000 + text[at:]).encode()
            out.writestr(info.filename, data)
    page = folder / "big.html.gz"
    page.write_bytes(gzip.compress(b"<html><body>" + f"<p>{PARAGRAPH}</p>\n".encode() * 750_000 + b"</body></html>"))
    return [page, word]


MEASURE = """
import gzip, io, json, re, sys, time, zipfile
from pathlib import Path
from ingest import formats
path = Path(sys.argv[1])
data = path.read_bytes()
name = path.name
if name.endswith(".gz"):
    data, name = gzip.decompress(data), name[:-3]  # what requests hands the reader after Content-Encoding: gzip
unpacked = len(data)
if name.endswith(".docx"):
    unpacked = zipfile.ZipFile(io.BytesIO(data)).getinfo("word/document.xml").file_size
start = time.perf_counter()
try:
    formats.extract(name, data)
    outcome = "read"
except Exception as exc:
    outcome = str(exc)
seconds = time.perf_counter() - start
peak = int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))  # this program's own peak
print(json.dumps({"mb": unpacked / 2**20, "s": seconds, "outcome": outcome, "rss_mb": peak / 1024}))
"""


def main() -> None:
    load = os.getloadavg()[0]
    rows = real_documents()
    print(f"### Real documents against the limits (load {load:.1f})\n")
    print("| document | characters | passages |\n|---|---:|---:|")
    for name, chars, passages in sorted(rows, key=lambda r: -r[1]):
        print(f"| {name} | {chars:,} | {passages:,} |")
    from ingest.limits import DEFAULT_MAX_CHARS, DEFAULT_MAX_PASSAGES

    print(f"| **limit** | {DEFAULT_MAX_CHARS:,} | {DEFAULT_MAX_PASSAGES:,} |\n")
    folder = ROOT / "bench" / "out" / "document-limits"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"### Amplified files, refused (fresh process each; load {os.getloadavg()[0]:.1f})\n")
    print("| file | on disk | unpacked | seconds to refuse | peak RSS | reason |\n|---|---:|---:|---:|---:|---|")
    for path in amplified(folder):
        done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, cwd=ROOT)
        result = json.loads(done.stdout)
        print(f"| {path.name} | {path.stat().st_size / 2**20:.2f} MB | {result['mb']:.0f} MB | {result['s']:.2f} | "
              f"{result['rss_mb']:.0f} MB | {result['outcome'][:70]}… |")
        path.unlink()


if __name__ == "__main__":
    main()
