"""Named collections of passages and the recent questions, kept with the knowledge base.

An analyst gathers quotes over a morning: what she collects must survive a reload, a new tab
and a server restart. Each user's workbench is one JSON file in `<kb_dir>/workbench/` (the
user is the login's e-mail or subject when a login is configured, else "local"); every change
is read-modify-write under an exclusive file lock and written by rename, so two tabs never
lose each other's changes and a crash never leaves half a file.

A collected passage is stored with everything its citation needs (document, passage, the
highlighted sentences, the question it answered), so exports work from the file alone. When
the knowledge base is read again, each passage is looked up by id: if it is still there with
the same text it takes the document's current metadata (a Library edit shows in the next
export). Ids change when a document is read again (re-ingest, a changed reader), so a passage
whose id no longer holds its text is looked for by its document's path and its text, and takes
its new id; only one found nowhere is marked gone — shown as such, left out of exports, never
an error.

No Streamlit here.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .files import write_text_atomically
from .models import Answer, Document, Hit, Passage, TableRow

FOLDER = "workbench"
LOCAL_USER = "local"
DEFAULT_NAME = "Collection"
RECENT_LIMIT = 10
VERSION = 1


@dataclass
class Item:
    question: str
    answered: bool | None
    reason: str | None
    hit: Hit
    gone: bool = False  # no longer in the knowledge base (removed, or re-read with other text)

    @property
    def passage_id(self) -> int | None:
        return self.hit.passage.id


@dataclass
class Workbench:
    collections: dict[str, list[Item]] = field(default_factory=lambda: {DEFAULT_NAME: []})
    active: str = DEFAULT_NAME
    recent: list[str] = field(default_factory=list)

    def items(self, name: str | None = None) -> list[Item]:
        return self.collections.setdefault(name or self.active, [])

    def collected_ids(self, name: str | None = None) -> set[int]:
        return {i.passage_id for i in self.items(name) if not i.gone}


class CollectionError(ValueError):
    pass


# ---- changes (pure: a Workbench in, the same Workbench changed) -------------------------------------

def collect(bench: Workbench, answer: Answer, hit: Hit, on: bool = True, name: str | None = None) -> Workbench:
    """Add (or remove) a passage to a collection, with the question it answered."""
    items = bench.items(name)
    items[:] = [i for i in items if i.passage_id != hit.passage.id]
    if on:
        items.append(Item(answer.question, answer.answered, answer.reason, hit))
    return bench


def remove(bench: Workbench, passage_id: int, name: str | None = None) -> Workbench:
    items = bench.items(name)
    items[:] = [i for i in items if i.passage_id != passage_id]
    return bench


def clear(bench: Workbench, name: str | None = None) -> Workbench:
    bench.items(name).clear()
    return bench


def create(bench: Workbench, name: str) -> Workbench:
    """A new, empty collection, made the active one."""
    name = _checked_name(name)
    if name in bench.collections:
        raise CollectionError(f"A collection named “{name}” already exists; pick another name.")
    bench.collections[name] = []
    bench.active = name
    return bench


def rename(bench: Workbench, old: str, new: str) -> Workbench:
    new = _checked_name(new)
    if old not in bench.collections:
        raise CollectionError(f"There is no collection named “{old}”.")
    if new != old and new in bench.collections:
        raise CollectionError(f"A collection named “{new}” already exists; pick another name.")
    bench.collections = {(new if k == old else k): v for k, v in bench.collections.items()}
    if bench.active == old:
        bench.active = new
    return bench


def delete(bench: Workbench, name: str) -> Workbench:
    """Delete a collection; the last one is emptied instead (there is always one)."""
    if len(bench.collections) <= 1:
        return clear(bench, name)
    bench.collections.pop(name, None)
    if bench.active not in bench.collections:
        bench.active = next(iter(bench.collections))
    return bench


def activate(bench: Workbench, name: str) -> Workbench:
    if name in bench.collections:
        bench.active = name
    return bench


def remember(bench: Workbench, question: str) -> Workbench:
    """Recent questions, newest first, each once."""
    question = " ".join((question or "").split())
    if question:
        bench.recent = ([question] + [q for q in bench.recent if q != question])[:RECENT_LIMIT]
    return bench


def _checked_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise CollectionError("A collection needs a name.")
    if len(name) > 80:
        raise CollectionError("A collection name can be at most 80 characters.")
    return name


# ---- reading against the knowledge base --------------------------------------------------------------

def refresh(bench: Workbench, fetch, find=None) -> Workbench:
    """Mark each collected passage present (with its document's current metadata) or gone.
    `fetch(ids) -> (passages by id, documents by id)` is the index reader's fetch; `find(path,
    text) -> (passage, document) | None` (see `passage_finder`) re-finds a passage whose id no
    longer holds it, e.g. after its document was read again under new ids."""
    from .citations import citation

    ids = sorted({i.passage_id for items in bench.collections.values() for i in items if i.passage_id is not None})
    passages, documents = fetch(ids) if ids else ({}, {})
    for items in bench.collections.values():
        for item in items:
            now = passages.get(item.passage_id)
            doc = documents.get(now.document_id) if now is not None else None
            if now is None or doc is None or now.text != item.hit.passage.text or doc.path != item.hit.document.path:
                found = find(item.hit.document.path, item.hit.passage.text) if find is not None else None
                if found is None:
                    item.gone = True
                    continue
                now, doc = found
            item.gone = False
            item.hit = dataclasses.replace(item.hit, passage=now, document=doc, citation=citation(doc, now))
    return bench


def passage_finder(reader):
    """`find(path, text)` for `refresh`: the passage of the document at `path` whose text is
    `text` (the first, when the text repeats), each document's passages read once."""
    by_path: dict[str, Document] | None = None
    read: dict[int, list[Passage]] = {}

    def find(path: str, text: str) -> tuple[Passage, Document] | None:
        nonlocal by_path
        if by_path is None:
            by_path = {d.path: d for d in reader.backend.documents()}
        doc = by_path.get(path)
        if doc is None:
            return None
        if doc.id not in read:
            read[doc.id] = reader.document_passages(doc.id)
        same = [p for p in read[doc.id] if p.text == text]
        return (same[0], doc) if same else None
    return find


def load_checked(store: "WorkbenchStore", reader) -> Workbench:
    """The saved workbench refreshed against `reader` (an index reader); passages found again
    under new ids are saved with them, so removing or exporting them goes on working."""
    bench = store.load()
    if not any(bench.collections.values()):
        return bench
    saved_ids = _ids(bench)
    find = passage_finder(reader)
    refresh(bench, reader.fetch, find)
    if _ids(bench) != saved_ids:
        with contextlib.suppress(OSError):  # a read-only folder: shown as found, saved with the next change
            bench = store.update(lambda b: refresh(b, reader.fetch, find))
    return bench


def _ids(bench: Workbench) -> list[int | None]:
    return [i.passage_id for items in bench.collections.values() for i in items]


def sources(items: list[Item]) -> list[Answer]:
    """The passages still in the knowledge base as one Answer per question (in the order first
    collected), each holding only its collected hits: what the exports take."""
    grouped: dict[str, Answer] = {}
    for item in items:
        if item.gone:
            continue
        if item.question not in grouped:
            grouped[item.question] = Answer(item.question, item.answered, [], item.reason)
        grouped[item.question].hits.append(item.hit)
    return list(grouped.values())


# ---- the file -----------------------------------------------------------------------------------------

class WorkbenchStore:
    """One user's workbench file in the knowledge-base folder."""

    def __init__(self, kb_dir: Path | str, user: str | None = None) -> None:
        self.user = user or LOCAL_USER
        digest = hashlib.sha256(self.user.encode()).hexdigest()[:16]  # never a path from a user name
        self.folder = Path(kb_dir) / FOLDER
        self.path = self.folder / f"{digest}.json"
        self._lock_path = self.folder / f"{digest}.lock"

    def load(self) -> Workbench:
        """The saved workbench (an empty one when none was saved or the file is unreadable)."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # none saved yet, or unreadable
            return Workbench()
        return from_json(raw)

    def update(self, change) -> Workbench:
        """Apply `change(workbench)` to the saved workbench under the lock and save it; returns it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            bench = self.load()
            change(bench)
            self._write(bench)
        return bench

    def _locked(self):
        from filelock import FileLock

        return FileLock(str(self._lock_path))

    def _write(self, bench: Workbench) -> None:
        write_text_atomically(self.path, json.dumps(to_json(bench, self.user), ensure_ascii=False))


def to_json(bench: Workbench, user: str = LOCAL_USER) -> dict:
    return {"version": VERSION, "user": user, "active": bench.active, "recent": bench.recent,
            "collections": [{"name": name, "items": [_item_json(i) for i in items]}
                            for name, items in bench.collections.items()]}


def from_json(raw: dict) -> Workbench:
    collections: dict[str, list[Item]] = {}
    for entry in raw.get("collections") or []:
        items = []
        for item in entry.get("items") or []:
            with contextlib.suppress(TypeError, KeyError, ValueError):
                items.append(_item_from_json(item))
        collections[str(entry.get("name") or DEFAULT_NAME)] = items
    if not collections:
        collections = {DEFAULT_NAME: []}
    active = raw.get("active") if raw.get("active") in collections else next(iter(collections))
    recent = [str(q) for q in raw.get("recent") or [] if isinstance(q, str)][:RECENT_LIMIT]
    return Workbench(collections, active, recent)


def _item_json(item: Item) -> dict:
    hit = item.hit
    passage = dataclasses.asdict(hit.passage)
    passage["table"] = hit.passage.table.to_dict() if hit.passage.table is not None else None
    return {"question": item.question, "answered": item.answered, "reason": item.reason,
            "document": dataclasses.asdict(hit.document), "passage": passage, "score": hit.score,
            "citation": hit.citation, "highlights": [list(h) for h in hit.highlights]}


def _item_from_json(raw: dict) -> Item:
    doc = dict(raw["document"])
    doc["warnings"] = tuple(doc.get("warnings") or ())
    doc["states"] = tuple(doc.get("states") or ())
    passage = dict(raw["passage"])
    passage["states"] = tuple(passage.get("states") or ())
    passage["table"] = TableRow.from_dict(passage["table"]) if passage.get("table") else None
    known_doc = {f.name for f in dataclasses.fields(Document)}
    known_passage = {f.name for f in dataclasses.fields(Passage)}
    hit = Hit(Passage(**{k: v for k, v in passage.items() if k in known_passage}),
              Document(**{k: v for k, v in doc.items() if k in known_doc}),
              float(raw.get("score") or 0.0), str(raw.get("citation") or ""),
              [tuple(h) for h in raw.get("highlights") or []])
    return Item(str(raw.get("question") or ""), raw.get("answered"), raw.get("reason"), hit)
