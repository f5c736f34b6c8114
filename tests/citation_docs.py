"""Documents and hits shaped like the knowledge base's, for the citation and export tests."""
from __future__ import annotations

import json
from pathlib import Path

from kb.citations import citation
from kb.models import Answer, Document, Hit, Passage

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def document(i: int, title: str, publisher: str | None = None, year: int | None = None, doc_type: str | None = None,
             kind: str = "pdf", url: str | None = None, accessed: str | None = None, name: str | None = None) -> Document:
    name = name or f"doc-{i}." + {"pdf": "pdf", "html": "html"}.get(kind, "txt")
    return Document(i, f"/corpus/{name}", name, f"{i:064x}", 1000, 0, title, publisher, year, doc_type,
                    12 if kind == "pdf" else None, kind=kind, url=url, accessed=accessed)


def hit(doc: Document, text: str = "Consultation is funded through Medicaid and state general funds.",
        page: int | None = None, label: str | None = None, section: str | None = None, score: float = 0.8,
        highlights: list[tuple[int, int]] | None = None) -> Hit:
    passage = Passage(doc.id * 100 + (page or 0), doc.id, 0, page, section, 0, len(text), text, page_label=label)
    return Hit(passage, doc, score, citation(doc, passage), highlights or [])


DMH = document(1, "Infant and Early Childhood Mental Health Consultation: A Policy Brief",
               "Massachusetts Department of Mental Health (DMH)", 2019, "policy brief")
HRSA = document(2, "Home Visiting Program: Early Childhood Mental Health",
                "U.S. Department of Health and Human Services - H.R.S.A.", 2022, "web page", kind="html",
                url="https://mchb.hrsa.gov/programs-impact/programs/home-visiting", accessed="2024-03-05")
BARE = document(3, "IECMH Resources", None, None, "resource list", kind="text", name="iecmh-resources.txt")

ANSWER = Answer("How is IECMH consultation funded?", True, [
    hit(DMH, page=4, label="24", section="Financing"), hit(HRSA), hit(BARE), hit(DMH, page=9, label="29")])


def corpus_documents() -> list[Document]:
    """The shipped corpus's documents, with the metadata its sidecar gives them."""
    sidecar = json.loads((CORPUS / "metadata.json").read_text(encoding="utf-8"))
    return [document(i, meta["title"], meta.get("publisher") or None, meta.get("year"), meta.get("type"),
                     kind="markdown" if name.endswith(".md") else "text", name=name)
            for i, (name, meta) in enumerate(sidecar.items(), 10)]
