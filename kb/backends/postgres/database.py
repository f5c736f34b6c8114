"""The SQL of the PostgreSQL backend: rows <-> dataclasses, filters -> SQL, and the
statements a commit runs. Functions take an open connection; transactions are the caller's."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...models import Document, Filters, Passage
from ..local.database import now_iso, table_row  # one clock format and one table-row form for both backends

__all__ = ["now_iso"]

DOC_COLUMNS = ("id, path, name, sha256, size, mtime_ns, title, publisher, year, doc_type, pages, ingested_at, kind, "
               "warnings, url, accessed, states, extracted_meta")
# Qualified, so a join with documents can use them too; passage() reads them by position.
_PASSAGE_COLUMNS = (
    ["passages." + c for c in ("id", "document_id", "ordinal", "page", "section", "start", '"end"', "text",
                               "page_label", "ocr", "context")]
    + ["(SELECT string_agg(state, ',') FROM passage_states WHERE passage_id = passages.id)"]
    + ["passages." + c for c in ("end_page", "end_page_label", "footnote", "table_row")])
PASSAGE_COLUMNS = ", ".join(_PASSAGE_COLUMNS)
PASSAGE_WIDTH = len(_PASSAGE_COLUMNS)


def document(row) -> Document:
    return Document(*row[:13], warnings=tuple(json.loads(row[13] or "[]")), url=row[14], accessed=row[15],
                    states=tuple(json.loads(row[16] or "[]")), extracted_meta=row[17])


def passage(row) -> Passage:
    states = tuple(sorted(row[11].split(","))) if row[11] else ()
    return Passage(*row[:8], page_label=row[8], ocr=bool(row[9]), context=row[10], states=states,
                   end_page=row[12], end_page_label=row[13], footnote=bool(row[14]), table=table_row(row[15]))


def meta(conn) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM kb_meta").fetchall())


def documents(conn, where: str = "", params=()) -> list[Document]:
    return [document(r) for r in conn.execute(f"SELECT {DOC_COLUMNS} FROM documents {where}", params)]


def passages_by_id(conn, ids: list[int]) -> tuple[dict[int, Passage], dict[int, Document]]:
    """The passages and their documents in one statement (a question's few: the repeated
    document columns cost less than a second round trip)."""
    doc_columns = ", ".join("d." + c.strip() for c in DOC_COLUMNS.split(","))
    rows = conn.execute(f"SELECT {PASSAGE_COLUMNS}, {doc_columns} FROM passages JOIN documents d "
                        "ON d.id = passages.document_id WHERE passages.id = ANY(%s)", (ids,)).fetchall()
    n = PASSAGE_WIDTH
    return {row[0]: passage(row[:n]) for row in rows}, {row[n]: document(row[n:]) for row in rows}


def footnotes(conn, ids: list[int]) -> set[int]:
    return {row[0] for row in conn.execute("SELECT id FROM passages WHERE footnote AND id = ANY(%s)", (ids,))}


def neighbours(conn, passage_id: int, before: int, after: int) -> list[Passage]:
    row = conn.execute("SELECT document_id, ordinal FROM passages WHERE id = %s", (passage_id,)).fetchone()
    if row is None:
        return []
    rows = conn.execute(f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE document_id = %s AND ordinal BETWEEN %s "
                        "AND %s ORDER BY ordinal", (row[0], row[1] - before, row[1] + after))
    return [passage(r) for r in rows]


def document_passages(conn, document_id: int) -> list[Passage]:
    rows = conn.execute(f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE document_id = %s ORDER BY ordinal",
                        (document_id,))
    return [passage(r) for r in rows]


def allowed_ids(conn, filters: Filters) -> np.ndarray:
    """Passage ids matching the filters, sorted (the same rules as the local backend's)."""
    where, params = [], []
    if filters.documents:
        where.append("(d.name = ANY(%s) OR d.path = ANY(%s))")
        params += [list(filters.documents)] * 2
    if filters.doc_types:
        where.append("lower(d.doc_type) = ANY(%s)")
        params.append([t.lower() for t in filters.doc_types])
    if filters.publishers:
        where.append("lower(d.publisher) = ANY(%s)")
        params.append([p.lower() for p in filters.publishers])
    if filters.year_min is not None:
        where.append("d.year >= %s")
        params.append(filters.year_min)
    if filters.year_max is not None:
        where.append("d.year <= %s")
        params.append(filters.year_max)
    clauses = []
    if where:
        clauses.append("document_id IN (SELECT d.id FROM documents d WHERE " + " AND ".join(where) + ")")
    if filters.states:
        clauses.append("id IN (SELECT passage_id FROM passage_states WHERE state = ANY(%s))")
        params.append([s.upper() for s in filters.states])
    sql = "SELECT id FROM passages" + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY id"
    return np.fromiter((r[0] for r in conn.execute(sql, params)), dtype=np.int64)


def facets(conn) -> dict[str, list]:
    def column(sql):
        return [r[0] for r in conn.execute(sql)]

    return {
        "documents": column("SELECT name FROM documents ORDER BY name COLLATE \"C\""),
        "doc_types": column("SELECT DISTINCT doc_type COLLATE \"C\" FROM documents WHERE doc_type IS NOT NULL "
                            "AND doc_type != '' ORDER BY 1"),
        "publishers": column("SELECT DISTINCT publisher COLLATE \"C\" FROM documents WHERE publisher IS NOT NULL "
                             "AND publisher != '' ORDER BY 1"),
        "years": column("SELECT DISTINCT year FROM documents WHERE year IS NOT NULL ORDER BY year"),
        "states": column("SELECT DISTINCT state COLLATE \"C\" FROM passage_states ORDER BY 1"),
    }


def problems(conn) -> list[dict]:
    rows = conn.execute("SELECT path, name, reason, seen_at FROM problems ORDER BY name COLLATE \"C\"")
    return [dict(zip(("path", "name", "reason", "seen_at"), r)) for r in rows]


def counts(conn) -> dict[str, int]:
    return {"documents": conn.execute("SELECT count(*) FROM documents").fetchone()[0],
            "passages": conn.execute("SELECT count(*) FROM passages").fetchone()[0]}


# ---- writing ---------------------------------------------------------------------------------

def set_meta(conn, values: dict[str, str]) -> None:
    conn.cursor().executemany("INSERT INTO kb_meta (key, value) VALUES (%s, %s) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", list(values.items()))


def record_problems(conn, cleared: list[str], found: dict[str, str], now: str) -> None:
    if cleared:
        conn.execute("DELETE FROM problems WHERE path = ANY(%s)", (list(cleared),))
    conn.cursor().executemany(
        "INSERT INTO problems (path, name, reason, seen_at) VALUES (%s, %s, %s, %s) ON CONFLICT (path) DO UPDATE "
        "SET name = excluded.name, reason = excluded.reason, seen_at = excluded.seen_at",
        [(path, Path(path).name, reason, now) for path, reason in found.items()])


def touch(conn, docs: list[Document]) -> None:
    conn.cursor().executemany("UPDATE documents SET mtime_ns = %s, size = %s WHERE path = %s",
                              [(d.mtime_ns, d.size, d.path) for d in docs])


def update_metadata(conn, docs: list[Document]) -> None:
    """New title/publisher/year/type/URL/states for stored documents; passages keep their vectors.
    The states a document is about are tagged on each of its passages, beside those they name."""
    for doc in docs:
        row = conn.execute("UPDATE documents SET title = %s, publisher = %s, year = %s, doc_type = %s, url = %s, "
                           "states = %s, extracted_meta = %s WHERE path = %s RETURNING id",
                           (doc.title, doc.publisher, doc.year, doc.doc_type, doc.url, json.dumps(list(doc.states)),
                            doc.extracted_meta, doc.path)).fetchone()
        if row is None:
            continue
        conn.execute("DELETE FROM passage_states WHERE NOT named AND passage_id IN "
                     "(SELECT id FROM passages WHERE document_id = %s)", (row[0],))
        conn.execute("INSERT INTO passage_states (state, passage_id, named) SELECT s, p.id, false "
                     "FROM passages p, unnest(%s::text[]) s WHERE p.document_id = %s ON CONFLICT DO NOTHING",
                     (list(doc.states), row[0]))


def insert_document(conn, d: Document, now: str) -> int:
    return conn.execute(
        "INSERT INTO documents (path, name, sha256, size, mtime_ns, title, publisher, year, doc_type, pages, kind, "
        "warnings, ingested_at, url, accessed, states, extracted_meta) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (d.path, d.name, d.sha256, d.size, d.mtime_ns, d.title, d.publisher, d.year, d.doc_type, d.pages, d.kind,
         json.dumps(list(d.warnings)), d.ingested_at or now, d.url, d.accessed, json.dumps(list(d.states)),
         d.extracted_meta)).fetchone()[0]


def reserve_passage_ids(conn, n: int) -> list[int]:
    return [r[0] for r in conn.execute("SELECT nextval('passage_ids') FROM generate_series(1, %s)", (n,))]


def advance_passage_ids(conn) -> None:
    """Kept ids (a migration) must never be handed out again."""
    conn.execute("SELECT setval('passage_ids', GREATEST((SELECT COALESCE(MAX(id), 0) FROM passages), "
                 "(SELECT last_value FROM passage_ids)))")


def copy_rows(conn, sql: str, rows, types: list[str] | None = None) -> None:
    """COPY for bulk rows (binary when the column types are given)."""
    with conn.cursor().copy(sql) as copy:
        if types:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def passage_texts(conn, where: str = "", params=()) -> list[tuple[int, str, str | None, str | None, str]]:
    """(id, text, section, context, document path) of passages, by id."""
    return conn.execute("SELECT p.id, p.text, p.section, p.context, d.path FROM passages p "
                        f"JOIN documents d ON d.id = p.document_id {where} ORDER BY p.id", params).fetchall()
