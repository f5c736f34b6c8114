"""Time to render citations and reference lists per style, and each export.

    python bench/citation_render.py [--repeats 5]

Documents are the shipped corpus's (corpus/metadata.json) plus a PDF report cited at a printed
page and a web page, each cited once or twice. Medians of `--repeats` runs after a warm-up.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

from benchlib import ROOT, load_note, table

from kb.citations import (STYLES, citation, format_bibliography, format_citation, to_bibtex, to_csl_json, to_csv,
                          to_markdown, to_ris)
from kb.models import Answer, Document, Hit, Passage


def hit(doc: Document, page=None, label=None) -> Hit:
    text = "Consultation is funded through a mix of Medicaid and state general funds."
    passage = Passage(doc.id * 100 + (page or 0), doc.id, 0, page, None, 0, len(text), text, page_label=label)
    return Hit(passage, doc, 0.8, citation(doc, passage))


def documents() -> list[Document]:
    sidecar = json.loads((ROOT / "corpus" / "metadata.json").read_text(encoding="utf-8"))
    docs = [Document(i, f"/corpus/{name}", name, f"{i:064x}", 1000, 0, m["title"], m.get("publisher") or None,
                     m.get("year"), m.get("type"), None, kind="text") for i, (name, m) in enumerate(sidecar.items(), 1)]
    docs.append(Document(20, "/corpus/dmh.pdf", "dmh.pdf", "0" * 64, 1000, 0, "Infant and Early Childhood Mental "
                         "Health Consultation: A Policy Brief", "Massachusetts Department of Mental Health (DMH)",
                         2019, "policy brief", 30, kind="pdf"))
    docs.append(Document(21, "/corpus/hv.html", "hv.html", "1" * 64, 1000, 0, "Home Visiting Program",
                         "U.S. Department of Health and Human Services - H.R.S.A.", 2022, "web page", None,
                         kind="html", url="https://mchb.hrsa.gov/programs-impact/programs/home-visiting",
                         accessed="2024-03-05"))
    return docs


def median_ms(run, repeats: int) -> str:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return f"{statistics.median(times) * 1000:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    docs = documents()
    hits = [hit(d) for d in docs[:-2]] + [hit(docs[-2], 4, "24"), hit(docs[-1])] + [hit(d, 2, "2") for d in docs[:-1]]
    answer = Answer("How is IECMH consultation funded?", True, hits)
    rows = [[STYLES[s], median_ms(lambda: format_citation(hits[-9], s), args.repeats),
             median_ms(lambda: format_bibliography(answer, s), args.repeats)] for s in STYLES]
    print(f"## Rendering ({load_note()})\n")
    print(table(["style", "one in-text citation, ms", f"reference list of {len(docs)} documents, ms"], rows))
    exports = {"Markdown (house)": to_markdown, "Markdown (APA)": lambda a: to_markdown(a, "apa"), "CSV": to_csv,
               "BibTeX": to_bibtex, "RIS": to_ris, "CSL-JSON": to_csl_json}
    print(f"\n## Exports of {len(hits)} passages from {len(docs)} documents\n")
    print(table(["export", "ms"], [[name, median_ms(lambda: make(answer), args.repeats)] for name, make in exports.items()]))


if __name__ == "__main__":
    main()
