"""Copy a local knowledge base into another backend without re-embedding: documents,
passages (same ids), the states they name, their stored vectors and the recorded problems,
in one commit on the target, so the copy is all there or not at all."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from ..errors import EmptyKnowledgeBase, UsageError
from .base import Backend, Changes, DocumentUpdate
from .local import LocalBackend
from .local import database as local_db
from .local import vectors as local_vectors


@dataclass
class CopyReport:
    source: str
    target: str
    documents: int
    passages: int
    model: str
    generation: int
    seconds: float

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def copy_knowledge_base(source: LocalBackend, target: Backend, wait: float = 600.0) -> CopyReport:
    started = time.perf_counter()
    if not source.exists():
        raise EmptyKnowledgeBase(f"No knowledge base at {source.location} to copy (set --kb or KB_DIR).")
    with source.read() as conn:
        meta = local_db.meta(conn)
        documents = local_db.documents(conn, "ORDER BY id")
        rows = conn.execute(f"SELECT {local_db.PASSAGE_COLUMNS} FROM passages ORDER BY document_id, ordinal").fetchall()
        named: dict[int, list[str]] = {}
        for pid, state in conn.execute("SELECT passage_id, state FROM passage_states WHERE named = 1"):
            named.setdefault(pid, []).append(state)
        problems = {p["path"]: p["reason"] for p in local_db.problems(conn)}
    generation = int(meta.get("generation", 0))
    if not generation:
        raise EmptyKnowledgeBase(f"The knowledge base at {source.location} has nothing committed to copy.")
    ids, vectors = local_vectors.contents(local_vectors.read(source.vectors_path(generation)))
    row_of = {int(pid): i for i, pid in enumerate(ids)}
    by_document: dict[int, list] = {}
    for row in rows:
        p = local_db.passage(row)
        by_document.setdefault(p.document_id, []).append(replace(p, states=tuple(sorted(named.get(p.id, ())))))
    updates = []
    for doc in documents:
        passages = by_document.get(doc.id, [])
        missing = [p.id for p in passages if p.id not in row_of]
        if missing:
            raise UsageError(f"The local knowledge base lacks vectors for {len(missing)} passages; run `kb ingest "
                             "--rebuild` on it first, then migrate.")
        rows_ = np.array([row_of[p.id] for p in passages], dtype=np.int64)
        updates.append(DocumentUpdate(replace(doc, id=None), passages,
                                      vectors[rows_] if len(rows_) else np.zeros((0, vectors.shape[1]), np.float32)))
    with target.writer(wait=wait) as writer:
        held = writer.counts()
        if held["documents"] or held["passages"]:
            raise UsageError(f"{target.location} already holds a knowledge base ({held['documents']} documents); "
                             "migrate into an empty database.")
        number = writer.commit(Changes(updates=updates, problems=problems), model=meta["model"],
                               dimension=int(meta["dim"]))
    return CopyReport(source.location, target.location, len(documents), len(rows), meta["model"], number,
                      round(time.perf_counter() - started, 3))
