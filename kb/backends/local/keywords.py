"""Keyword index of the local backend: BM25 over the library's tokens, in immutable segments.

A segment holds term frequencies, not scores: its postings (term -> rows, tf) and each row's
length never change once written, and BM25 is computed at question time from the current
generation's statistics (N, each term's df, the mean length), so adding a document writes one
small segment and removing one writes a tombstone; no segment is rebuilt when the statistics
move. Scores equal a whole rebuild's, term for term (same float32 arithmetic per passage).

On disk: `keyword-segments/<name>/` (ids, lengths, vocabulary, CSC postings), and per generation
`keywords-<gen>/` with `manifest.json` (the segments, oldest first) and `deleted.npy` (the
tombstoned passage ids). Small segments are merged as they pile up (log-structured: eight
alike in size become one), and a segment with many tombstones is rewritten without them.

A knowledge base written by earlier versions holds a bm25s index in `keywords-<gen>/`
(`SavedScores`): still read as it is; the next commit rebuilds it into a segment once.
"""
from __future__ import annotations

import json
import os
import shutil
import weakref
from collections import Counter
from pathlib import Path

import numpy as np

from ...files import fsync
from ...tokens import tokenize
from . import idsets

K1, B = 1.2, 0.75
SEGMENTS = "keyword-segments"
MANIFEST = "manifest.json"
FORMAT = 1
FANOUT = 8  # this many segments of one size class are merged into one
SMALLEST = 100  # rows; segments below this are all of the lowest size class
REMEMBERED_TERMS = 4096  # document frequencies kept per loaded generation (scores() counts them anyway)
PURGE_SHARE = 0.3  # a segment with this share of its rows deleted is rewritten without them


class Segment:
    """One immutable segment: rows (passage ids ascending), their lengths, postings by term."""

    def __init__(self, folder: Path, mmap: bool = True):
        mode = "r" if mmap else None
        self.folder = folder
        self.name = folder.name
        self.ids = np.load(folder / "ids.npy", mmap_mode=mode)
        self.lengths = np.load(folder / "lengths.npy", mmap_mode=mode)
        self.indptr = np.load(folder / "indptr.npy", mmap_mode=mode)
        self.rows = np.load(folder / "rows.npy", mmap_mode=mode)
        self.tf = np.load(folder / "tf.npy", mmap_mode=mode)
        self._vocab: dict[str, int] | None = None

    @property
    def vocab(self) -> dict[str, int]:
        if self._vocab is None:
            self._vocab = json.loads((self.folder / "vocab.json").read_text(encoding="utf-8"))
        return self._vocab

    def __len__(self) -> int:
        return len(self.ids)

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        tid = self.vocab.get(term)
        if tid is None:
            return None
        start, end = int(self.indptr[tid]), int(self.indptr[tid + 1])
        return self.rows[start:end], self.tf[start:end]

    def triples(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """(terms, term index, row, tf) of every posting: what a merge re-sorts."""
        terms = [None] * len(self.vocab)
        for term, tid in self.vocab.items():
            terms[tid] = term
        term_of = np.repeat(np.arange(len(terms), dtype=np.int64), np.diff(self.indptr))
        return terms, term_of, np.asarray(self.rows, dtype=np.int64), np.asarray(self.tf)


_OPEN: "weakref.WeakValueDictionary[tuple, Segment]" = weakref.WeakValueDictionary()


def open_segment(folder: Path, mmap: bool = True) -> Segment:
    """A segment some loaded generation already holds is shared, vocabulary parsed: a server
    reloading after a commit reads only the new segments. (Keyed by the files' identity too,
    so a name written again after a crashed attempt is read again.)"""
    ids = (folder / "ids.npy").stat()
    key = (str(folder), mmap, ids.st_ino, ids.st_mtime_ns)
    segment = _OPEN.get(key)
    if segment is None:
        segment = Segment(folder, mmap)
        _OPEN[key] = segment
    return segment


def write_segment(folder: Path, ids: np.ndarray, lengths: np.ndarray, terms: list[str], term_of: np.ndarray,
                  rows: np.ndarray, tf: np.ndarray) -> None:
    """Write postings given as (term index, row, tf) triples, in any order; files fsynced,
    the folder renamed into place last."""
    order = np.lexsort((rows, term_of))
    used, term_of = idsets.runs(term_of[order])  # terms with postings left
    vocab = {terms[int(t)]: i for i, t in enumerate(used)}
    indptr = np.zeros(len(used) + 1, dtype=np.int64)
    np.cumsum(np.bincount(term_of, minlength=len(used)), out=indptr[1:])
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)  # left by a crashed attempt at this name
    tmp.mkdir(parents=True)
    np.save(tmp / "ids.npy", np.asarray(ids, dtype=np.int64))
    np.save(tmp / "lengths.npy", np.asarray(lengths, dtype=np.int32))
    np.save(tmp / "indptr.npy", indptr)
    np.save(tmp / "rows.npy", rows[order].astype(np.int32))
    np.save(tmp / "tf.npy", tf[order].astype(np.float32))
    (tmp / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    for f in tmp.iterdir():
        fsync(f)
    fsync(tmp)
    os.replace(tmp, folder)
    fsync(folder.parent)


def segment_from_texts(folder: Path, ids, texts) -> None:
    """Tokenize and write one segment (ids ascending)."""
    vocab: dict[str, int] = {}
    term_of, rows, tf, lengths = [], [], [], []
    for row, text in enumerate(texts):
        tokens = tokenize(text)
        lengths.append(len(tokens))
        for term, n in Counter(tokens).items():
            term_of.append(vocab.setdefault(term, len(vocab)))
            rows.append(row)
            tf.append(n)
    terms = list(vocab)
    write_segment(folder, np.asarray(ids, dtype=np.int64), np.asarray(lengths), terms,
                  np.asarray(term_of, dtype=np.int64), np.asarray(rows, dtype=np.int64), np.asarray(tf, np.float32))


def merge_segments(folder: Path, segments: list[Segment], deleted: np.ndarray) -> None:
    """One segment holding the live rows of `segments` (consecutive, so ids stay ascending)."""
    vocab: dict[str, int] = {}
    ids, lengths, term_of, rows, tf = [], [], [], [], []
    offset = 0
    for seg in segments:
        live = ~np.isin(seg.ids, deleted)
        new_row = np.cumsum(live) - 1 + offset
        terms, t_of, r, f = seg.triples()
        remap = np.fromiter((vocab.setdefault(t, len(vocab)) for t in terms), dtype=np.int64, count=len(terms))
        keep = live[r]
        term_of.append(remap[t_of[keep]])
        rows.append(new_row[r[keep]])
        tf.append(f[keep])
        ids.append(np.asarray(seg.ids)[live])
        lengths.append(np.asarray(seg.lengths)[live])
        offset += int(live.sum())
    write_segment(folder, np.concatenate(ids), np.concatenate(lengths), list(vocab), np.concatenate(term_of),
                  np.concatenate(rows), np.concatenate(tf))


class KeywordIndex:
    """BM25 scores for every row of a generation's segments, addressed by passage id.

    Rows run through the segments in order (ids ascending); a tombstoned row stays a row
    and scores 0. `ids` maps row -> passage id; `len()` counts live passages.
    """

    def __init__(self, segments: list[Segment], deleted: np.ndarray):
        self.segments = segments
        self.deleted = np.asarray(deleted, dtype=np.int64)
        self.offsets = np.cumsum([0] + [len(s) for s in segments])
        self.ids = np.concatenate([np.asarray(s.ids) for s in segments]) if segments else np.zeros(0, np.int64)
        self.alive = ~np.isin(self.ids, self.deleted) if len(self.deleted) else np.ones(len(self.ids), bool)
        self.count = int(self.alive.sum())
        lengths = np.concatenate([np.asarray(s.lengths) for s in segments]).astype(np.float64) if segments \
            else np.zeros(0, np.float64)
        mean = float(lengths[self.alive].mean()) if self.count else 1.0
        # BM25's length part of each row, k1 * (1 - b + b * dl / avgdl), in float64 as bm25s computes it
        self.norm = (K1 * ((1 - B) + B * lengths / mean)).astype(np.float32)
        self._dead_in = [bool((~self.alive[a:b]).any()) for a, b in zip(self.offsets[:-1], self.offsets[1:])]
        # term -> live passages holding it, as scores() counted them: a question's statistics
        # (document_frequencies) then read no postings again. Fixed per generation.
        self._df: dict[str, int] = {}

    def __len__(self) -> int:
        return self.count

    def live_ids(self) -> np.ndarray:
        return self.ids[self.alive]

    @classmethod
    def load(cls, folder: Path, mmap: bool = False) -> "KeywordIndex | LegacyKeywordIndex":
        manifest = folder / MANIFEST
        if not manifest.exists() and (folder / "params.index.json").exists():
            return LegacyKeywordIndex.load(folder, mmap)
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"keyword index {folder} has format {data.get('format')!r}, not {FORMAT}")
        segments = [open_segment(folder.parent / SEGMENTS / name, mmap) for name in data["segments"]]
        return cls(segments, np.load(folder / "deleted.npy"))

    def _postings(self, term: str):
        """(global rows, tf) of a term's live postings, segment by segment."""
        for seg, offset, dead in zip(self.segments, self.offsets, self._dead_in):
            found = seg.postings(term)
            if found is None:
                continue
            rows, tf = found
            if offset:
                rows = rows + np.int32(offset) if offset < 2**31 - len(seg) else rows.astype(np.int64) + offset
            if dead:
                keep = self.alive[rows]
                rows, tf = rows[keep], tf[keep]
            yield rows, tf

    def scores(self, query: str, mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 (lucene idf, as bm25s) of every row; 0 where no query term occurs; `mask` is
        1 for allowed rows. A repeated query term counts again, as in bm25s."""
        scores = np.zeros(len(self.ids), dtype=np.float32)
        found = {}
        for term in tokenize(query):
            if term not in found:
                found[term] = list(self._postings(term))
            parts = found[term]
            df = self._remember(term, sum(len(rows) for rows, _ in parts))
            if not df:
                continue
            idf = np.float32(np.log(1 + (self.count - df + 0.5) / (df + 0.5)))
            for rows, tf in parts:  # idf * tf / (tf + norm), in one buffer
                part = self.norm[rows]
                part += tf
                np.divide(tf, part, out=part)
                part *= idf
                scores[rows] += part
        if mask is not None:
            scores *= mask
        return scores

    def document_frequencies(self, tokens: set[str]) -> dict[str, int]:
        """How many live passages hold each token (0 for tokens the corpus never uses); the
        terms scores() has just summed are not read again."""
        out = {}
        for t in tokens:
            df = self._df.get(t)
            out[t] = df if df is not None else self._remember(t, sum(len(rows) for rows, _ in self._postings(t)))
        return out

    def _remember(self, term: str, df: int) -> int:
        if len(self._df) >= REMEMBERED_TERMS:
            self._df.clear()
        self._df[term] = df
        return df

    def rows(self, ids) -> np.ndarray:
        """Row of each passage id (ids must be in the index)."""
        return np.searchsorted(self.ids, np.asarray(ids, dtype=np.int64))

    def mask(self, allowed: np.ndarray | None) -> np.ndarray | None:
        """1.0 for rows whose passage is allowed."""
        return row_mask(self.ids, allowed)


def row_mask(ids: np.ndarray, allowed: np.ndarray | None) -> np.ndarray | None:
    if allowed is None:
        return None
    mask = np.zeros(len(ids), dtype=np.float32)
    rows = np.searchsorted(ids, allowed)
    inside = rows < len(ids)
    rows, wanted = rows[inside], allowed[inside]
    mask[rows[ids[rows] == wanted]] = 1.0
    return mask


# ---- writing a generation ------------------------------------------------------------------

def segment_size_class(rows: int) -> int:
    return int(np.log(max(rows, SMALLEST) / SMALLEST) / np.log(FANOUT))


def write_generation(root: Path, generation: int, previous: "KeywordIndex | None", stored_ids: np.ndarray,
                     new_texts) -> Path:
    """Write generation `generation`'s keyword index beside `previous` and return its folder.

    `stored_ids` are the passage ids the generation holds (ascending); `new_texts` gives
    (id, text to index) for ids `previous` lacks. With a `previous`, only the new passages
    are tokenized (one new segment), the ones gone become tombstones, and small segments are
    merged; without one (a first build, a repair, a bm25s index), one segment of everything.
    """
    folder = root / f"keywords-{generation:06d}"
    segments_dir = root / SEGMENTS
    segments_dir.mkdir(exist_ok=True)
    serial = iter(range(10**6))

    def new_name() -> Path:
        return segments_dir / f"{generation:06d}-{next(serial)}"

    if previous is None:
        pairs = list(new_texts(stored_ids))
        names = []
        if pairs:
            path = new_name()
            segment_from_texts(path, [p for p, _ in pairs], [t for _, t in pairs])
            names.append(path.name)
        deleted = np.zeros(0, np.int64)
    else:
        live = previous.live_ids()
        added = idsets.difference(stored_ids, live)
        gone = idsets.difference(live, stored_ids)
        if len(added) and len(previous.ids) and added[0] <= previous.ids[-1]:
            raise ValueError("new passage ids are not past the index's last id")
        segments = list(previous.segments)
        if len(added):
            pairs = list(new_texts(added))
            path = new_name()
            segment_from_texts(path, [p for p, _ in pairs], [t for _, t in pairs])
            segments.append(Segment(path))
        deleted = idsets.union(previous.deleted, gone)
        segments, deleted = _merge(segments, deleted, new_name)
        names = [s.name for s in segments]
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)  # left by a crashed attempt at this generation
    tmp.mkdir()
    np.save(tmp / "deleted.npy", deleted)
    (tmp / MANIFEST).write_text(json.dumps({"format": FORMAT, "segments": names}), encoding="utf-8")
    for f in tmp.iterdir():
        fsync(f)
    fsync(tmp)
    os.replace(tmp, folder)
    fsync(root)
    return folder


def _merge(segments: list[Segment], deleted: np.ndarray, new_name) -> tuple[list[Segment], np.ndarray]:
    """Log-structured merging: the newest run of FANOUT segments of one size class becomes
    one (so a passage is rewritten about log_FANOUT(N) times in its life), and a segment
    with PURGE_SHARE of its rows deleted is rewritten without them. Only tombstones that
    still name a row are kept."""
    def dead_share(seg: Segment) -> float:
        return float(np.isin(seg.ids, deleted).mean()) if len(seg) and len(deleted) else 0.0

    segments = [s for s in segments if dead_share(s) < 1.0]  # wholly deleted: dropped
    changed = True
    while changed:
        changed = False
        classes = [segment_size_class(int(len(s) - np.isin(s.ids, deleted).sum())) for s in segments]
        run = 1
        while run < len(segments) and classes[-run - 1] == classes[-1]:
            run += 1
        if run >= FANOUT:
            path = new_name()
            merge_segments(path, segments[-run:], deleted)
            segments = segments[:-run] + [Segment(path)]
            changed = True
            continue
        for i, seg in enumerate(segments):
            if dead_share(seg) >= PURGE_SHARE:
                path = new_name()
                merge_segments(path, [seg], deleted)
                segments[i] = Segment(path)
                changed = True
                break
    if len(deleted) and segments:
        ids = np.concatenate([np.asarray(s.ids) for s in segments])
        deleted = deleted[np.isin(deleted, ids)]
    elif not segments:
        deleted = np.zeros(0, np.int64)
    return segments, deleted


def remove_unused_segments(root: Path, generations: list[Path]) -> None:
    """Segments no kept generation names (merged away, or left by a crashed commit)."""
    segments_dir = root / SEGMENTS
    if not segments_dir.is_dir():
        return
    used = set()
    for folder in generations:
        try:
            used.update(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["segments"])
        except (OSError, ValueError, KeyError):
            continue
    for path in segments_dir.iterdir():
        if path.name not in used:
            shutil.rmtree(path, ignore_errors=True)


# ---- the bm25s index of earlier versions ---------------------------------------------------

class LegacyKeywordIndex:
    """A bm25s index written by an earlier version, read as it is until the next commit
    rebuilds it into a segment."""

    legacy = True

    def __init__(self, bm25, ids: np.ndarray):
        self.bm25 = bm25
        self.ids = ids  # row -> passage id, ascending

    def __len__(self) -> int:
        return len(self.ids)

    def live_ids(self) -> np.ndarray:
        return self.ids

    @classmethod
    def load(cls, folder: Path, mmap: bool = False) -> "LegacyKeywordIndex":
        ids = np.load(folder / "ids.npy")
        return cls(SavedScores(folder, mmap) if len(ids) else None, ids)

    def scores(self, query: str, mask: np.ndarray | None = None) -> np.ndarray:
        if not len(self.ids):
            return np.zeros(0, dtype=np.float32)
        token_ids = self.bm25.get_tokens_ids(tokenize(query))
        if not token_ids:
            return np.zeros(len(self.ids), dtype=np.float32)
        return self.bm25.get_scores_from_ids(token_ids, weight_mask=mask)

    def document_frequencies(self, tokens: set[str]) -> dict[str, int]:
        if not len(self.ids):
            return {t: 0 for t in tokens}
        indptr = self.bm25.scores["indptr"]
        out = {}
        for token in tokens:
            tid = self.bm25.vocab_dict.get(token)
            out[token] = int(indptr[tid + 1] - indptr[tid]) if tid is not None else 0
        return out

    def rows(self, ids) -> np.ndarray:
        return np.searchsorted(self.ids, np.asarray(ids, dtype=np.int64))

    def mask(self, allowed: np.ndarray | None) -> np.ndarray | None:
        return row_mask(self.ids, allowed)


class SavedScores:
    """A saved bm25s index, for scoring only: the vocabulary and the precomputed per-term
    passage scores (CSC arrays: term -> passages, score). Answers what bm25s.BM25 answers for
    the "lucene" method (no non-occurrence term), with the same float32 sums."""

    def __init__(self, folder: Path, mmap: bool = False):
        params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
        if params.get("method") != "lucene":
            raise ValueError(f"keyword index in {folder} uses BM25 method {params.get('method')!r}, not lucene")
        self.vocab_dict: dict[str, int] = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        mode = "r" if mmap else None
        self.scores = {name: np.load(folder / f"{name}.csc.index.npy", mmap_mode=mode)
                       for name in ("data", "indices", "indptr")}
        self.num_docs = int(params["num_docs"])
        self.dtype = np.dtype(params.get("dtype", "float32"))

    def get_tokens_ids(self, tokens: list[str]) -> list[int]:
        """Known tokens' ids; bm25s's vocabulary may also hold "" past the last column."""
        columns = len(self.scores["indptr"]) - 1
        return [i for i in (self.vocab_dict.get(t) for t in tokens) if i is not None and i < columns]

    def get_scores_from_ids(self, token_ids: list[int], weight_mask: np.ndarray | None = None) -> np.ndarray:
        data, indices, indptr = self.scores["data"], self.scores["indices"], self.scores["indptr"]
        scores = np.zeros(self.num_docs, dtype=self.dtype)
        for tid in token_ids:  # a repeated query term counts again, as in bm25s
            start, end = int(indptr[tid]), int(indptr[tid + 1])
            np.add.at(scores, indices[start:end], data[start:end])
        if weight_mask is not None:
            scores *= weight_mask
        return scores


def build_legacy(folder: Path, ids, texts) -> None:
    """A bm25s index as earlier versions wrote it (for tests and benches of the migration)."""
    import bm25s

    bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
    tokens = [tokenize(t) for t in texts]
    folder.mkdir(parents=True, exist_ok=True)
    if tokens:
        bm25.index(tokens, show_progress=False)
        bm25.save(str(folder), show_progress=False)
    np.save(folder / "ids.npy", np.asarray(ids, dtype=np.int64))
