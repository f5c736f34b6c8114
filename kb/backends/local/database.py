"""The SQLite side of the local backend: rows <-> dataclasses, filters -> SQL, and the
statements a commit runs. Functions take an open connection; transactions are the caller's."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ...models import Document, Filters, Passage, TableRow
from ...tokens import index_text

DOC_COLUMNS = ("id, path, name, sha256, size, mtime_ns, title, publisher, year, doc_type, pages, ingested_at, kind, "
               "warnings, url, accessed, states, extracted_meta")
PASSAGE_COLUMNS = ('id, document_id, ordinal, page, section, start, "end", text, page_label, ocr, context, '
                   "(SELECT group_concat(state) FROM passage_states WHERE passage_id = passages.id), "
                   "end_page, end_page_label, footnote, table_row")
PASSAGE_INSERT = 'id, document_id, ordinal, page, section, start, "end", text, page_label, ocr, context, end_page, ' \
                 'end_page_label, footnote, table_row'


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def document(row) -> Document:
    return Document(*row[:13], warnings=tuple(json.loads(row[13] or "[]")), url=row[14], accessed=row[15],
                    states=tuple(json.loads(row[16] or "[]")), extracted_meta=row[17])


def passage(row) -> Passage:
    states = tuple(sorted(row[11].split(","))) if row[11] else ()
    return Passage(*row[:8], page_label=row[8], ocr=bool(row[9]), context=row[10], states=states,
                   end_page=row[12], end_page_label=row[13], footnote=bool(row[14]), table=table_row(row[15]))


def table_row(value: str | None) -> TableRow | None:
    """A passage's table row, stored as JSON (both backends)."""
    return TableRow.from_dict(json.loads(value)) if value else None


def table_json(row: TableRow | None) -> str | None:
    return json.dumps(row.to_dict(), ensure_ascii=False) if row is not None else None


def meta(conn) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta"))


def select_in(conn, sql: str, values: list, chunk: int = 900) -> list:
    rows = []
    for i in range(0, len(values), chunk):
        part = values[i:i + chunk]
        rows += conn.execute(sql.format(",".join("?" * len(part))), part).fetchall()
    return rows


def documents(conn, where: str = "", params=()) -> list[Document]:
    return [document(r) for r in conn.execute(f"SELECT {DOC_COLUMNS} FROM documents {where}", params)]


def passages_by_id(conn, ids: list[int]) -> tuple[dict[int, Passage], dict[int, Document]]:
    rows = select_in(conn, f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE id IN ({{}})", ids)
    found = {row[0]: passage(row) for row in rows}
    doc_ids = sorted({p.document_id for p in found.values()})
    docs = select_in(conn, f"SELECT {DOC_COLUMNS} FROM documents WHERE id IN ({{}})", doc_ids)
    return found, {row[0]: document(row) for row in docs}


def footnotes(conn, ids: list[int]) -> set[int]:
    return {row[0] for row in select_in(conn, "SELECT id FROM passages WHERE footnote = 1 AND id IN ({})", ids)}


def neighbours(conn, passage_id: int, before: int, after: int) -> list[Passage]:
    row = conn.execute("SELECT document_id, ordinal FROM passages WHERE id = ?", (passage_id,)).fetchone()
    if row is None:
        return []
    rows = conn.execute(f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE document_id = ? AND ordinal BETWEEN ? AND ? "
                        "ORDER BY ordinal", (row[0], row[1] - before, row[1] + after))
    return [passage(r) for r in rows]


def document_passages(conn, document_id: int) -> list[Passage]:
    rows = conn.execute(f"SELECT {PASSAGE_COLUMNS} FROM passages WHERE document_id = ? ORDER BY ordinal",
                        (document_id,))
    return [passage(r) for r in rows]


def allowed_ids(conn, filters: Filters) -> np.ndarray:
    """Passage ids matching the filters, sorted."""
    where, params = [], []
    if filters.documents:
        marks = ",".join("?" * len(filters.documents))
        where.append(f"(d.name IN ({marks}) OR d.path IN ({marks}))")
        params += list(filters.documents) * 2
    if filters.doc_types:
        where.append(f"lower(d.doc_type) IN ({','.join('?' * len(filters.doc_types))})")
        params += [t.lower() for t in filters.doc_types]
    if filters.publishers:
        where.append(f"lower(d.publisher) IN ({','.join('?' * len(filters.publishers))})")
        params += [p.lower() for p in filters.publishers]
    if filters.year_min is not None:
        where.append("d.year >= ?")
        params.append(filters.year_min)
    if filters.year_max is not None:
        where.append("d.year <= ?")
        params.append(filters.year_max)
    # Documents first, then their passages through the (document_id, ...) index: a join
    # ordered by passage id scans every passage (10x slower at 1M passages).
    sql = "SELECT id FROM passages"
    clauses = []
    if where:
        clauses.append("document_id IN (SELECT d.id FROM documents d WHERE " + " AND ".join(where) + ")")
    if filters.states:
        clauses.append(f"id IN (SELECT passage_id FROM passage_states WHERE state IN "
                       f"({','.join('?' * len(filters.states))}))")
        params += [s.upper() for s in filters.states]
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return np.sort(np.fromiter((r[0] for r in conn.execute(sql, params)), dtype=np.int64))


def facets(conn) -> dict[str, list]:
    def column(sql):
        return [r[0] for r in conn.execute(sql)]

    return {
        "documents": column("SELECT name FROM documents ORDER BY name"),
        "doc_types": column("SELECT DISTINCT doc_type FROM documents WHERE doc_type IS NOT NULL "
                            "AND doc_type != '' ORDER BY doc_type"),
        "publishers": column("SELECT DISTINCT publisher FROM documents WHERE publisher IS NOT NULL "
                             "AND publisher != '' ORDER BY publisher"),
        "years": column("SELECT DISTINCT year FROM documents WHERE year IS NOT NULL ORDER BY year"),
        "states": column("SELECT DISTINCT state FROM passage_states ORDER BY state"),
    }


def problems(conn) -> list[dict]:
    rows = conn.execute("SELECT path, name, reason, seen_at FROM problems ORDER BY name")
    return [dict(zip(("path", "name", "reason", "seen_at"), r)) for r in rows]


def counts(conn) -> dict[str, int]:
    return {"documents": conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0],
            "passages": conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]}


def passage_ids(conn) -> np.ndarray:
    """Every passage id, ascending: one string from SQLite, parsed by numpy (a Python row per id
    took 0.10 s per 100,000 passages, this 0.013 s)."""
    text = conn.execute("SELECT group_concat(id, ' ') FROM passages").fetchone()[0]
    if not text:
        return np.zeros(0, np.int64)
    return np.sort(np.fromstring(text, dtype=np.int64, sep=" "), kind="stable")  # (read in id order already)


# ---- writing ---------------------------------------------------------------------------------

def record_problems(conn, cleared: list[str], found: dict[str, str], now: str) -> None:
    for path in cleared:
        conn.execute("DELETE FROM problems WHERE path = ?", (path,))
    for path, reason in found.items():
        conn.execute("INSERT OR REPLACE INTO problems (path, name, reason, seen_at) VALUES (?, ?, ?, ?)",
                     (path, Path(path).name, reason, now))


def touch(conn, docs: list[Document]) -> None:
    for doc in docs:
        conn.execute("UPDATE documents SET mtime_ns = ?, size = ? WHERE path = ?", (doc.mtime_ns, doc.size, doc.path))


def update_metadata(conn, docs: list[Document]) -> None:
    """New title/publisher/year/type/URL/states for stored documents; passages keep their vectors.
    The states a document is about are tagged on each of its passages, beside those they name."""
    for doc in docs:
        row = conn.execute("SELECT id FROM documents WHERE path = ?", (doc.path,)).fetchone()
        if row is None:
            continue
        conn.execute("UPDATE documents SET title = ?, publisher = ?, year = ?, doc_type = ?, url = ?, states = ?, "
                     "extracted_meta = ? WHERE id = ?", (doc.title, doc.publisher, doc.year, doc.doc_type, doc.url,
                                                         json.dumps(list(doc.states)), doc.extracted_meta, row[0]))
        conn.execute("DELETE FROM passage_states WHERE named = 0 AND passage_id IN "
                     "(SELECT id FROM passages WHERE document_id = ?)", (row[0],))
        conn.executemany("INSERT OR IGNORE INTO passage_states (state, passage_id, named) "
                         "SELECT ?, id, 0 FROM passages WHERE document_id = ?", [(s, row[0]) for s in doc.states])


def delete_documents(conn, paths) -> None:
    for path in paths:
        conn.execute("DELETE FROM documents WHERE path = ?", (path,))


def next_passage_id(conn) -> int:
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'passages'").fetchone()
    return max(row[0] if row else 0, conn.execute("SELECT COALESCE(MAX(id), 0) FROM passages").fetchone()[0]) + 1


def insert_document(conn, d: Document, passages: list[Passage], first_id: int, now: str) -> list[int]:
    """Insert a document and its passages with ids from `first_id`; returns the passage ids."""
    cur = conn.execute(
        "INSERT INTO documents (path, name, sha256, size, mtime_ns, title, publisher, year, doc_type, pages, kind, "
        "warnings, ingested_at, url, accessed, states, extracted_meta) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (d.path, d.name, d.sha256, d.size, d.mtime_ns, d.title, d.publisher, d.year, d.doc_type, d.pages, d.kind,
         json.dumps(list(d.warnings)), now, d.url, d.accessed, json.dumps(list(d.states)), d.extracted_meta))
    ids = list(range(first_id, first_id + len(passages)))
    conn.executemany(f"INSERT INTO passages ({PASSAGE_INSERT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(pid, cur.lastrowid, p.ordinal, p.page, p.section, p.start, p.end, p.text, p.page_label,
                       int(p.ocr), p.context, p.end_page, p.end_page_label, int(p.footnote), table_json(p.table))
                      for pid, p in zip(ids, passages)])
    conn.executemany("INSERT INTO passage_states (state, passage_id, named) VALUES (?, ?, ?)",
                     [(s, pid, int(s in p.states)) for pid, p in zip(ids, passages)
                      for s in sorted(set(p.states) | set(d.states))])
    return ids


def passage_texts(conn) -> list[tuple[int, str, str]]:
    """(id, text to index, document path) of every passage, by id."""
    rows = conn.execute("SELECT p.id, p.text, p.section, p.context, d.path FROM passages p "
                        "JOIN documents d ON d.id = p.document_id ORDER BY p.id")
    return [(pid, index_text(text, section, context), path) for pid, text, section, context, path in rows]


def passage_texts_of(conn, ids) -> list[tuple[int, str]]:
    """(id, text to index) of the given passages, by id."""
    rows = conn.execute("SELECT p.id, p.text, p.section, p.context FROM passages p "
                        "WHERE p.id IN (SELECT value FROM json_each(?)) ORDER BY p.id",
                        (json.dumps([int(i) for i in ids]),))
    return [(pid, index_text(text, section, context)) for pid, text, section, context in rows]


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:  # a read-only folder or disk: nothing can change the file while we read it
        conn = sqlite3.connect(Path(path).absolute().as_uri() + "?mode=ro&immutable=1", uri=True, timeout=30,
                               isolation_level=None)
    else:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn
