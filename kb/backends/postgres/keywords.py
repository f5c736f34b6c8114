"""BM25 in PostgreSQL over the library's tokens, in immutable segments as the local backend
keeps them, scored on the client by the local backend's own code (kb/backends/local/keywords.py
KeywordIndex), so the two backends' scores are the same float32 numbers.

A segment (keyword_segments) holds its passages' ids and lengths; its postings
(keyword_postings) are one row per (term, segment): the term's rows in the segment and their
term frequencies, packed arrays in bytea (big-endian int4 and float4, what int4send and
float4send write, so a migration can pack them in SQL). A question reads the rows of its
terms, a few MB at a million passages, and numpy sums them; the database sums nothing. A commit
writes one new segment for the passages it adds and tombstones (keyword_deleted) the ones it
removes; small segments merge FANOUT at a time and a segment PURGE_SHARE deleted is rewritten,
by the local backend's rules. Each term's df and the corpus totals stay in `terms` and kb_meta,
so idf and the mean length are the generation's. Readers see one generation: every table here
changes only inside the writer's commit transaction, and a question reads in one snapshot.
(Measured against the postings table this replaces: bench/pg_keywords.py.)
"""
from __future__ import annotations

import copy
import secrets
import threading
import weakref
from collections import Counter

import numpy as np

from ...tokens import index_text, tokenize
from ..local.keywords import FANOUT, PURGE_SHARE, KeywordIndex, segment_size_class
from .connection import Int8Array

__all__ = ["FANOUT", "PURGE_SHARE"]


def passage_tokens(text: str, section: str | None, context: str | None) -> Counter:
    return Counter(tokenize(index_text(text, section, context)))


class Allowed:
    """The passages a filter allows, as sorted ids and as a bitmap (bit i set: passage i
    allowed). The dense search tests the bitmap with get_bit (a big id array sent as a
    constant costs the planner ~10 ms to estimate) or takes `array`, their binary int8[],
    made once; the keyword search masks its rows (`rows_mask`, made once per index)."""

    def __init__(self, ids):
        self.ids = [int(i) for i in ids]
        self.array = Int8Array(self.ids)
        self.size = (max(self.ids) + 8) // 8 * 8 if self.ids else 8
        bits = bytearray(self.size // 8)
        for i in self.ids:
            bits[i >> 3] |= 1 << (i & 7)  # get_bit numbers the bits of a byte from the lowest
        self.bits = bytes(bits)
        self._masks: "weakref.WeakKeyDictionary[SegmentIndex, np.ndarray]" = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    def sql(self, column: str) -> str:
        return f"({column} < %(nbits)s AND get_bit(%(bits)s::bytea, {column}) = 1)"

    def params(self) -> dict:
        return {"bits": self.bits, "nbits": self.size}

    def rows_mask(self, index: "SegmentIndex") -> np.ndarray:
        """True for the index's rows these passages are."""
        with self._lock:
            mask = self._masks.get(index)
        if mask is None:
            mask = np.zeros(len(index.ids), bool)
            rows = index.rows(np.asarray(self.ids, dtype=np.int64))
            mask[rows[rows >= 0]] = True
            with self._lock:
                self._masks[index] = mask
        return mask


class Question:
    """A question's tokens resolved against one generation: term ids and document frequencies
    (what keyword_stats reports)."""

    def __init__(self, conn, question: str):
        self.text = question
        counts = Counter(tokenize(question))
        rows = conn.execute("SELECT term, id, df FROM terms WHERE term = ANY(%s)", (list(counts),)).fetchall()
        self.df = {t: 0 for t in counts} | {term: df for term, _, df in rows}
        self.terms = {term: tid for term, tid, df in rows if df > 0}  # term -> id, those some passage holds

    def __bool__(self) -> bool:
        return bool(self.terms)


# ---- reading ----------------------------------------------------------------------------------

class StoredSegment:
    """One segment's passage ids and lengths (rows in id order), shared by every loaded
    generation that holds it: a reader loading the next generation reads only new segments."""

    def __init__(self, number: int, nonce: int, ids: np.ndarray, lengths: np.ndarray):
        self.number, self.nonce = number, nonce
        self.ids, self.lengths = ids, lengths

    def __len__(self) -> int:
        return len(self.ids)


# (segment number, nonce) -> StoredSegment; the nonce (random, per segment) tells a segment from
# one of the same number in another database, or in this one after it was dropped and made again.
_LOADED: "weakref.WeakValueDictionary[tuple[int, int], StoredSegment]" = weakref.WeakValueDictionary()


class _Found:
    """A segment with one question's postings (term -> rows, tf), as KeywordIndex reads them."""

    def __init__(self, segment: StoredSegment, postings: dict):
        self.ids, self.lengths = segment.ids, segment.lengths
        self._postings = postings

    def __len__(self) -> int:
        return len(self.ids)

    def postings(self, term: str):
        return self._postings.get(term)


def _array(data: bytes, dtype: str) -> np.ndarray:
    return np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder(">")).astype(dtype)


class SegmentIndex:
    """A generation's keyword index: its segments in order (rows run through them) and its
    tombstones, with the local backend's KeywordIndex (lengths' BM25 norms, live rows) over
    them. Postings are read per question."""

    def __init__(self, segments: list[StoredSegment], deleted: np.ndarray):
        self.segments = segments
        self.index = KeywordIndex(segments, deleted)
        self.ids = self.index.ids
        # Rows by passage id; ids run ascending unless a commit kept older ids (a migration).
        self._sorter = None if np.all(np.diff(self.ids) > 0) else np.argsort(self.ids, kind="stable")

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def load(cls, conn) -> "SegmentIndex":
        listed = conn.execute("SELECT id, nonce FROM keyword_segments ORDER BY first_id, id").fetchall()
        segments = {key: _LOADED.get(key) for key in listed}
        missing = [number for (number, _), seg in segments.items() if seg is None]
        if missing:
            for number, nonce, ids, lengths in conn.execute(
                    "SELECT id, nonce, ids, lengths FROM keyword_segments WHERE id = ANY(%s)", (missing,),
                    binary=True):
                seg = StoredSegment(number, nonce, _array(ids, "int64"), _array(lengths, "int32"))
                segments[number, nonce] = _LOADED[number, nonce] = seg
        deleted = conn.execute("SELECT passage_id FROM keyword_deleted ORDER BY passage_id").fetchall()
        return cls([segments[key] for key in listed], np.array([d for d, in deleted], dtype=np.int64))

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row of each passage id; -1 for ids the index lacks."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self.ids):
            return np.full(len(ids), -1, np.int64)
        at = np.minimum(np.searchsorted(self.ids, ids, sorter=self._sorter), len(self.ids) - 1)
        rows = at if self._sorter is None else self._sorter[at]
        return np.where(self.ids[rows] == ids, rows, -1)

    def postings(self, conn, q: Question) -> list[dict]:
        """Each segment's postings of the question's terms (term -> rows, tf), read in one statement."""
        by_number = {seg.number: i for i, seg in enumerate(self.segments)}
        found = [{} for _ in self.segments]
        term_of = {tid: term for term, tid in q.terms.items()}
        for tid, number, rows, tf in conn.execute(
                "SELECT term_id, segment, rows, tf FROM keyword_postings WHERE term_id = ANY(%s) AND segment = ANY(%s)",
                (list(term_of), list(by_number)), binary=True):
            found[by_number[number]][term_of[tid]] = (_array(rows, "int32"), _array(tf, "float32"))
        return found

    def scores(self, conn, q: Question) -> np.ndarray:
        """BM25 of every row for the question (0 for tombstoned rows), by the local backend's code."""
        if not q:
            return np.zeros(len(self.ids), np.float32)
        view = copy.copy(self.index)
        view.segments = [_Found(seg, found) for seg, found in zip(self.segments, self.postings(conn, q))]
        return view.scores(q.text)

    def top(self, scores: np.ndarray, k: int, allowed: Allowed | None) -> list[tuple[int, float]]:
        """The k best (passage id, score), score > 0, best first, ties by passage id."""
        if k <= 0:
            return []
        candidates = np.flatnonzero(scores > 0)
        if allowed is not None:
            candidates = candidates[allowed.rows_mask(self)[candidates]]
        if len(candidates) > k:
            kth = scores[candidates[np.argpartition(-scores[candidates], k - 1)[k - 1]]]
            candidates = candidates[scores[candidates] >= kth]
        order = candidates[np.lexsort((self.ids[candidates], -scores[candidates]))[:k]]
        return list(zip(self.ids[order].tolist(), scores[order].astype(float).tolist()))

    def scores_of(self, scores: np.ndarray, ids: list[int]) -> np.ndarray:
        rows = self.rows(np.asarray(ids, dtype=np.int64))
        return np.where(rows >= 0, scores[np.maximum(rows, 0)], 0).astype(np.float32)


# ---- writing ----------------------------------------------------------------------------------

def term_ids(conn, terms: set[str]) -> dict[str, int]:
    """Ids of the terms, adding those the vocabulary lacks."""
    terms = sorted(terms)
    conn.execute("INSERT INTO terms (term) SELECT unnest(%s::text[]) ON CONFLICT (term) DO NOTHING", (terms,))
    return dict(conn.execute("SELECT term, id FROM terms WHERE term = ANY(%s)", (terms,)).fetchall())


def add_document_frequencies(conn, counts: Counter) -> None:
    """df += n for each (term id, n); n is negative for removals."""
    if counts:
        ids, ns = zip(*sorted(counts.items()))
        conn.execute("UPDATE terms SET df = df + x.n FROM unnest(%s::int[], %s::int[]) AS x(id, n) "
                     "WHERE terms.id = x.id", (list(ids), list(ns)))


def remove_passages(conn, passage_where: str, params) -> tuple[int, int]:
    """Tombstone the passages selected by `passage_where` and take them off the df counts;
    returns how many passages and tokens they hold."""
    rows = conn.execute(f"SELECT t, count(*) FROM passages, unnest(terms) AS t WHERE {passage_where} GROUP BY t",
                        params).fetchall()
    add_document_frequencies(conn, Counter({t: -n for t, n in rows}))
    conn.execute(f"INSERT INTO keyword_deleted (passage_id) SELECT id FROM passages WHERE {passage_where} "
                 "ON CONFLICT DO NOTHING", params)
    n, tokens = conn.execute(f"SELECT count(*), COALESCE(sum(length), 0) FROM passages WHERE {passage_where}",
                             params).fetchone()
    return n, int(tokens)


def write_segment(conn, ids: np.ndarray, lengths: np.ndarray, term_of: np.ndarray, rows: np.ndarray,
                  tf: np.ndarray) -> int | None:
    """One new segment: passages `ids` (row order) with their `lengths`, and postings given as
    (term id, row, tf) triples in any order. Returns its number (None: no passages)."""
    if not len(ids):
        return None
    number = conn.execute("SELECT nextval('keyword_segment_ids')").fetchone()[0]
    conn.execute("INSERT INTO keyword_segments (id, nonce, first_id, size, ids, lengths) VALUES (%s, %s, %s, %s, %s, %s)",
                 (number, secrets.randbits(62), int(np.min(ids)), len(ids), np.asarray(ids, ">i8").tobytes(),
                  np.asarray(lengths, ">i4").tobytes()))
    order = np.lexsort((rows, term_of))
    term_of, rows, tf = np.asarray(term_of)[order], np.asarray(rows)[order], np.asarray(tf)[order]
    bounds = np.r_[0, np.flatnonzero(np.diff(term_of)) + 1, len(term_of)]
    packed_rows, packed_tf = rows.astype(">i4").tobytes(), tf.astype(">f4").tobytes()
    with conn.cursor().copy("COPY keyword_postings (term_id, segment, rows, tf) FROM STDIN WITH (FORMAT BINARY)") \
            as copy_:
        copy_.set_types(["int4", "int4", "bytea", "bytea"])
        for a, b in zip(bounds[:-1], bounds[1:]):
            copy_.write_row((int(term_of[a]), number, packed_rows[4 * a:4 * b], packed_tf[4 * a:4 * b]))
    return number


def add_segment(conn, tokens: dict[int, Counter], ids: dict[str, int]) -> None:
    """A segment of new passages: `tokens` maps passage id -> term counts, `ids` term -> id."""
    passages = sorted(tokens)
    term_of, rows, tf = [], [], []
    for row, pid in enumerate(passages):
        for term, n in tokens[pid].items():
            term_of.append(ids[term])
            rows.append(row)
            tf.append(n)
    write_segment(conn, np.array(passages, dtype=np.int64), np.array([sum(tokens[p].values()) for p in passages]),
                  np.array(term_of, dtype=np.int64), np.array(rows, dtype=np.int64), np.array(tf, dtype=np.float32))


def _merge(conn, segments: list[StoredSegment], dead: np.ndarray) -> None:
    """The live rows of `segments` (in order) as one new segment; theirs and their tombstones go."""
    numbers = [s.number for s in segments]
    offsets = np.cumsum([0] + [len(s) for s in segments])
    alive = ~np.isin(np.concatenate([s.ids for s in segments]), dead)
    new_row = np.cumsum(alive) - 1
    term_of, rows, tf = [], [], []
    position = {n: i for i, n in enumerate(numbers)}
    for tid, number, r, f in conn.execute("SELECT term_id, segment, rows, tf FROM keyword_postings "
                                          "WHERE segment = ANY(%s)", (numbers,), binary=True):
        r = _array(r, "int32").astype(np.int64) + offsets[position[number]]
        keep = alive[r]
        term_of.append(np.full(int(keep.sum()), tid, np.int64))
        rows.append(new_row[r[keep]])
        tf.append(_array(f, "float32")[keep])
    ids = np.concatenate([s.ids for s in segments])
    lengths = np.concatenate([s.lengths for s in segments])
    conn.execute("DELETE FROM keyword_postings WHERE segment = ANY(%s)", (numbers,))
    conn.execute("DELETE FROM keyword_segments WHERE id = ANY(%s)", (numbers,))
    conn.execute("DELETE FROM keyword_deleted WHERE passage_id = ANY(%s)", (ids[~alive].tolist(),))
    if alive.any():
        write_segment(conn, ids[alive], lengths[alive], np.concatenate(term_of), np.concatenate(rows),
                      np.concatenate(tf))


def maintain(conn) -> None:
    """The local backend's merge rules (kb/backends/local/keywords.py _merge) on this database's
    segments: a wholly deleted segment goes, the newest run of FANOUT segments of one size class
    becomes one, a segment PURGE_SHARE deleted is rewritten without its tombstoned rows."""
    while True:
        index = SegmentIndex.load(conn)
        deleted = index.index.deleted
        dead = [np.isin(s.ids, deleted) if len(deleted) else np.zeros(len(s), bool) for s in index.segments]
        gone = [s for s, d in zip(index.segments, dead) if len(s) and d.all()]
        if gone:
            _merge(conn, gone, deleted)
            continue
        classes = [segment_size_class(int(len(s) - d.sum())) for s, d in zip(index.segments, dead)]
        run = 1
        while run < len(classes) and classes[-run - 1] == classes[-1]:
            run += 1
        if run >= FANOUT:
            _merge(conn, index.segments[-run:], deleted)
            continue
        purge = next((s for s, d in zip(index.segments, dead) if len(s) and d.mean() >= PURGE_SHARE), None)
        if purge is None:
            return
        _merge(conn, [purge], deleted)
