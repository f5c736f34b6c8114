"""Numbered schema migrations of the local database: an older knowledge base is upgraded in
place, in one transaction per step, by whichever writer opens it first.

Add a step by appending to MIGRATIONS; never edit a step that has shipped.
"""
from __future__ import annotations

import sqlite3

from ...errors import KBError

V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    title TEXT NOT NULL,
    publisher TEXT,
    year INTEGER,
    doc_type TEXT,
    pages INTEGER,
    kind TEXT,
    warnings TEXT NOT NULL DEFAULT '[]',
    ingested_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    page INTEGER,
    section TEXT,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    UNIQUE (document_id, ordinal)
);
CREATE TABLE IF NOT EXISTS problems (
    path TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
"""

V2 = """
ALTER TABLE documents ADD COLUMN url TEXT;
ALTER TABLE documents ADD COLUMN accessed TEXT;
ALTER TABLE documents ADD COLUMN states TEXT NOT NULL DEFAULT '[]';
ALTER TABLE documents ADD COLUMN extracted_meta TEXT;
ALTER TABLE passages ADD COLUMN page_label TEXT;
ALTER TABLE passages ADD COLUMN ocr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE passages ADD COLUMN context TEXT;
CREATE TABLE passage_states (
    state TEXT NOT NULL,
    passage_id INTEGER NOT NULL REFERENCES passages(id) ON DELETE CASCADE,
    named INTEGER NOT NULL DEFAULT 0,  -- 1 when the passage names the state, 0 when only its document is about it
    PRIMARY KEY (state, passage_id)
) WITHOUT ROWID;
CREATE INDEX passage_states_by_passage ON passage_states (passage_id);
"""

V3 = """
ALTER TABLE passages ADD COLUMN end_page INTEGER;
ALTER TABLE passages ADD COLUMN end_page_label TEXT;
ALTER TABLE passages ADD COLUMN footnote INTEGER NOT NULL DEFAULT 0;
"""

V4 = """
ALTER TABLE passages ADD COLUMN table_row TEXT;
"""

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "documents, passages, problems", V1),
    (2, "printed page labels, OCR flag, table/list context, US states, URL and access date", V2),
    (3, "the page a passage ends on when its last sentence runs over a page break; footnotes", V3),
    (4, "a table row's caption, column names and cells", V4),
]
LATEST = MIGRATIONS[-1][0]


def version(conn: sqlite3.Connection) -> int:
    """Schema version of an open database (0: empty)."""
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if row is None:  # a database made before versions were recorded is version 1
        has_docs = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'documents'").fetchone()
        return 1 if has_docs else 0
    try:
        return int(row[0])
    except ValueError:
        raise KBError(f"The knowledge base has an unknown schema version {row[0]!r}; ingest into a new folder.") from None


def upgrade(conn: sqlite3.Connection, location: str) -> list[int]:
    """Run the steps newer than the database's version; returns the steps run."""
    current = version(conn)
    if current > LATEST:
        raise KBError(f"The knowledge base at {location} was made by a newer version of this tool (schema "
                      f"{current}, this one knows {LATEST}); upgrade the tool to use it.")
    ran = []
    for number, _, script in MIGRATIONS:
        if number <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)", (str(number),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        ran.append(number)
    return ran


def _statements(script: str) -> list[str]:
    """One statement at a time (executescript would commit on its own, outside our transaction)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete statement in a migration: {current!r}")
    return out
