"""What a Zotero import of our BibTeX, RIS and CSL-JSON exports yields, field by field.

    python bench/zotero_import.py --zotero DIR [--self-test]

Runs Zotero's own import translators under Node through bench/zotero_import.mjs (read it for
what the stand-in sandbox does). DIR holds Zotero's code, which this repository never contains:

    DIR/translators/{BibTeX.js,RIS.js,CSL JSON.js}   from github.com/zotero/translators
    DIR/utilities/                                   a checkout of github.com/zotero/utilities,
                                                     with `npm install jsdom@19` in DIR
    DIR/schema/schema.json                           github.com/zotero/zotero-schema, at the
                                                     commit zotero/utilities pins

Three documents shaped like ours: a PDF report by an organisation with parentheses in its name,
cited at printed page 24 (PDF page 4) and 29; a web page with URL and access date whose
publisher has a hyphen, an ampersand and initials; a text file with neither year nor publisher.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from benchlib import ROOT, table

from kb.citations import citation, to_bibtex, to_csl_json, to_ris
from kb.models import Answer, Document, Hit, Passage

RUNNER = ROOT / "bench" / "zotero_import.mjs"


def document(i: int, name: str, title: str, publisher, year, doc_type, kind, url=None, accessed=None) -> Document:
    return Document(i, f"/corpus/{name}", name, f"{i:064x}", 1000, 0, title, publisher, year, doc_type,
                    10 if kind == "pdf" else None, kind=kind, url=url, accessed=accessed)


def hit(doc: Document, page=None, label=None) -> Hit:
    text = "Consultation is funded through a mix of Medicaid and state general funds."
    passage = Passage(doc.id, doc.id, 0, page, None, 0, len(text), text, page_label=label)
    return Hit(passage, doc, 0.8, citation(doc, passage))


DOCUMENTS = [
    document(1, "dmh-iecmh-consultation.pdf", "Infant and Early Childhood Mental Health Consultation: A Policy Brief",
             "Massachusetts Department of Mental Health (DMH)", 2019, "policy brief", "pdf"),
    document(2, "hrsa-home-visiting.html", "Home Visiting Program: Early Childhood Mental Health",
             "U.S. Department of Health & Human Services - H.R.S.A.", 2022, "web page", "html",
             url="https://mchb.hrsa.gov/programs-impact/programs/home-visiting", accessed="2024-03-05"),
    document(3, "iecmh-resources.txt", "IECMH Resources", None, None, "resource list", "text"),
]
ANSWER = Answer("How is IECMH consultation funded?", True,
                [hit(DOCUMENTS[0], 4, "24"), hit(DOCUMENTS[1]), hit(DOCUMENTS[2]), hit(DOCUMENTS[0], 9, "29")])
# Titles that must come back exactly: LaTeX/BibTeX specials, braces, a tag, a newline, two dollars.
HOSTILE_TITLES = ["Wages_and benefits: 50% & #1", "Plans {for} states", "Costs rose from $5 to $10 million",
                  "Path C:\\data\\iecmh", "Tilde ~ and caret ^", "Lone } brace", "A <b>bold</b> claim",
                  "Line\nbreak", "Children’s “mental health” — é ü ñ"]
EXPORTS = {"BibTeX": ("sources.bib", to_bibtex), "RIS": ("sources.ris", to_ris), "CSL-JSON": ("sources.json", to_csl_json)}


def run(zotero: Path, *args: str) -> dict:
    done = subprocess.run(["node", str(RUNNER), "--zotero", str(zotero), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip() or f"node exited {done.returncode}")
    return json.loads(done.stdout)


FIELD_NOTES = {"itemID": "itemID (key at import; Zotero does not save it)",
               "notes": "notes (child notes)", "extra": "extra (Extra field)"}


def cell(value) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict) and "creatorType" in value[0]:
        value = "; ".join(f"{c['creatorType']}: " + (c["lastName"] + (" [one field]" if c.get("fieldMode") == 1 else
                                                                 f", {c.get('firstName', '')}"))
                          for c in value)
    elif isinstance(value, list):
        value = "; ".join(v.get("note", v.get("tag", "")) if isinstance(v, dict) else str(v) for v in value)
    return str(value).replace("|", "\\|").replace("\n", " ⏎ ") if value not in (None, "") else "—"


def hostile_table(zotero: Path) -> str:
    docs = [document(20 + i, f"t{i}.pdf", t, "Office of Early Learning", 2021, "report", "pdf")
            for i, t in enumerate(HOSTILE_TITLES)]
    answer = Answer("q", True, [hit(d, 1, "1") for d in docs])
    imported = import_all(zotero, answer)
    rows = []
    for i, title in enumerate(HOSTILE_TITLES):
        want = " ".join(title.split())
        rows.append([cell(title)] + [("same" if imported[label][i]["title"] == want else cell(imported[label][i]["title"]))
                                     for label in EXPORTS])
    return table(["our title", *(f"Zotero title from {label}" for label in EXPORTS)], rows)


def import_all(zotero: Path, answer: Answer) -> dict[str, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for label, (name, export) in EXPORTS.items():
            (Path(tmp) / name).write_text(export(answer), encoding="utf-8")
            files[label] = str(Path(tmp) / name)
        imported = run(zotero, *files.values())
    return {label: imported[Path(path).name] for label, path in files.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zotero", type=Path, required=True, help="folder with Zotero's translators, utilities, schema")
    ap.add_argument("--self-test", action="store_true", help="first run the translators' own import tests")
    args = ap.parse_args()
    if args.self_test:
        print("## The stand-in sandbox on the translators' own import test cases\n")
        results = run(args.zotero, "--self-test")
        print(table(["translator", "passed", "failed", "fields that differ in the failures"],
                    [[t, r["passed"], r["failed"], cell(sorted({d.split(":")[0] for f in r["failures"] for d in f["differ"]}))]
                     for t, r in results.items()]) + "\n")
    by_format = import_all(args.zotero, ANSWER)
    for i, doc in enumerate(DOCUMENTS):
        items = {label: by_format[label][i] for label in EXPORTS}
        fields = ["itemType", "title", "creators"]
        fields += sorted({f for item in items.values() for f in item if f not in fields + ["seeAlso", "attachments"]})
        print(f"## {doc.name}: {doc.title}\n")
        print(table(["Zotero field", *EXPORTS], [[FIELD_NOTES.get(f, f), *(cell(items[label].get(f)) for label in EXPORTS)]
                                                 for f in fields]))
        print()
    print("## Hostile titles\n")
    print(hostile_table(args.zotero))


if __name__ == "__main__":
    main()
