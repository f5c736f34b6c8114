"""BM25 in PostgreSQL over the library's tokens, numerically the local backend's (bm25s,
method "lucene"): idf = ln(1 + (N - df + 0.5) / (df + 0.5)), term weight
tf / (tf + k1 (1 - b + b dl / avgdl)), summed over the question's tokens (repeats count).

The writer stores raw counts (postings: term, passage, tf, passage length) and keeps each
term's df and the corpus totals; scores are computed at query time, so a commit touches only
the postings of the passages it adds or removes, never the whole index.
"""
from __future__ import annotations

from collections import Counter

from ...tokens import idf, index_text, tokenize
from .connection import Int8Array
from ..local.keywords import B, K1


def _term(p: str) -> str:
    """One term's BM25 in posting `p` (below the term's weight q.weight: tf / (tf + ...) < 1).
    float8 constants: a bare 0.75 is numeric, and numeric arithmetic on every posting made the
    sum three times slower (the result is the same: dl is an integer)."""
    return f"q.weight * {p}.tf / ({p}.tf + {K1}::float8 * ({1 - B}::float8 + {B}::float8 * {p}.dl / %(avgdl)s))"


SCORE = f"sum({_term('p')})"
# Pruning (top): terms in at least this share of the passages are "common"; the commonest are
# left out of the first pass while their weights sum to at most PRUNE_BOUND, and the first
# pass's best PRUNE_HEAD passages get the common terms' scores by key. Measured at 100k
# passages (200 questions, k 50): 49 -> 30 ms p50 unfiltered, 15 -> 12 with the publisher
# filter; 1 in 7 (1 in 6 filtered) of the pruned tries fell back to the full sum. A bound of 4
# pruned more per question but fell back more often; a head of 200 fell back too often.
PRUNE_DF = 0.1
PRUNE_BOUND = 3.0
PRUNE_HEAD = 400


def passage_tokens(text: str, section: str | None, context: str | None) -> Counter:
    return Counter(tokenize(index_text(text, section, context)))


class Allowed:
    """The passages a filter allows, as sorted ids and as a bitmap (bit i set: passage i
    allowed). Queries test the bitmap with get_bit: a big id array sent as a constant costs the
    planner ~10 ms to estimate and tempts it to scan the postings by passage id, and psycopg
    takes ~40 ms to send a list of 17,000 ints (`array` is their binary int8[], made once, for
    the readers' connections, which know its type)."""

    def __init__(self, ids):
        self.ids = [int(i) for i in ids]
        self.array = Int8Array(self.ids)
        self.size = (max(self.ids) + 8) // 8 * 8 if self.ids else 8
        bits = bytearray(self.size // 8)
        for i in self.ids:
            bits[i >> 3] |= 1 << (i & 7)  # get_bit numbers the bits of a byte from the lowest
        self.bits = bytes(bits)

    def __len__(self) -> int:
        return len(self.ids)

    def sql(self, column: str) -> str:
        return f"({column} < %(nbits)s AND get_bit(%(bits)s::bytea, {column}) = 1)"

    def params(self) -> dict:
        return {"bits": self.bits, "nbits": self.size}


class Question:
    """A question's tokens resolved against one generation: term ids and idf-weighted counts,
    and the BM25 scores already read for it (`known`: passage id -> score; a score does not
    depend on the filter), so fusion need not sum the keyword search's own results again."""

    def __init__(self, conn, question: str, passages: int):
        counts = Counter(tokenize(question))
        rows = conn.execute("SELECT term, id, df FROM terms WHERE term = ANY(%s)", (list(counts),)).fetchall()
        self.df = {t: 0 for t in counts} | {term: df for term, _, df in rows}
        self.term_ids = [tid for _, tid, df in rows if df > 0]
        self.weights = [counts[term] * idf(df, passages) for term, _, df in rows if df > 0]
        self.known: dict[int, float] = {}
        # top()'s pruning: the commonest terms (lightest first) while their weights sum to at most
        # PRUNE_BOUND, each in at least PRUNE_DF of the passages; `bound` is that sum.
        self.common: set[int] = set()
        self.bound = 0.0
        for weight, df, tid in sorted(zip(self.weights, (df for _, _, df in rows if df > 0), self.term_ids)):
            if df < PRUNE_DF * passages or self.bound + weight > PRUNE_BOUND:
                break
            self.common.add(tid)
            self.bound += weight

    def __bool__(self) -> bool:
        return bool(self.term_ids)


def top(conn, q: Question, avgdl: float, k: int, allowed: Allowed | None) -> list[tuple[int, float]]:
    """The k best passages (score > 0), best first, ties by passage id. Each term's postings
    are read by its index (a lateral join: never a merge join over the whole table), the
    filter tested on each; a question with common terms first tries `_pruned`, which gives the
    same top k with less work or declines."""
    if not q or k <= 0:
        return []
    restrict = "AND " + allowed.sql("x.passage_id") if allowed is not None else ""
    params = {"terms": q.term_ids, "weights": q.weights, "avgdl": avgdl, "k": k,
              **(allowed.params() if allowed is not None else {})}
    if q.common and len(q.common) < len(q.term_ids):
        found = _pruned(conn, q, k, restrict, params)
        if found is not None:
            return found
    rows = conn.execute(
        "SELECT p.passage_id, " + SCORE + " AS score "
        "FROM unnest(%(terms)s::int[], %(weights)s::float8[]) AS q(term_id, weight) CROSS JOIN LATERAL "
        f"(SELECT x.passage_id, x.tf, x.dl FROM postings x WHERE x.term_id = q.term_id {restrict}) p "
        "GROUP BY p.passage_id ORDER BY score DESC, p.passage_id LIMIT %(k)s", params).fetchall()
    return [(pid, float(score)) for pid, score in rows if score > 0]


# The full sum of the rarer terms (each term's postings by its index, the filter tested on
# each) for every passage holding one; the best %(head)s of them completed with the common
# terms' scores by key; their top k, and one more row (id NULL) holding the next-best partial
# sum, the (head + 1)-th, when there is one.
_PRUNED = (
    "WITH q AS (SELECT * FROM unnest(%(terms)s::int[], %(weights)s::float8[], %(common)s::bool[]) "
    "AS q(term_id, weight, common)), "
    "part AS (SELECT p.passage_id, " + SCORE + " AS s FROM q CROSS JOIN LATERAL (SELECT x.passage_id, x.tf, x.dl "
    "FROM postings x WHERE x.term_id = q.term_id {restrict}) p WHERE NOT q.common GROUP BY p.passage_id "
    "ORDER BY s DESC, p.passage_id LIMIT %(head)s + 1), "
    "head AS (SELECT * FROM part ORDER BY s DESC, passage_id LIMIT %(head)s), "
    "done AS (SELECT h.passage_id, h.s + COALESCE(sum(" + _term("c") + "), 0) AS score "
    "FROM head h CROSS JOIN (SELECT * FROM q WHERE q.common) q "
    "LEFT JOIN postings c ON c.term_id = q.term_id AND c.passage_id = h.passage_id GROUP BY h.passage_id, h.s) "
    "(SELECT passage_id, score FROM done ORDER BY score DESC, passage_id LIMIT %(k)s) "
    "UNION ALL (SELECT NULL, min(s) FROM part HAVING count(*) > %(head)s)")


def _pruned(conn, q: Question, k: int, restrict: str, params: dict) -> list[tuple[int, float]] | None:
    """top() without summing the common terms' long postings for every passage (MaxScore's
    bound): a common term adds less than its weight to any passage (tf / (tf + ...) < 1), so a
    passage outside the completed head scores below the next-best partial sum plus `q.bound`
    (or below `q.bound` alone if it holds no rarer term). When the head's k-th score is above
    that, the head's top k is the answer; otherwise None (the caller sums everything)."""
    head = max(PRUNE_HEAD, k)
    rows = conn.execute(_PRUNED.format(restrict=restrict),
                        {**params, "head": head, "common": [t in q.common for t in q.term_ids]}).fetchall()
    found = [(pid, float(score)) for pid, score in rows if pid is not None]
    outside = next((score for pid, score in rows if pid is None), 0.0) + q.bound
    if len(found) == k and found[-1][1] > outside * (1 + 1e-9):  # a margin for the sums' rounding
        return found
    return None


# BM25 of the passages in %(ids)s that hold a question term: (passage_id, score) rows.
_BM25_OF_IDS = ("SELECT p.passage_id, " + SCORE + " AS score FROM postings p "
                "JOIN unnest(%(terms)s::int[], %(weights)s::float8[]) AS q(term_id, weight) ON p.term_id = q.term_id "
                "WHERE p.passage_id = ANY(%(ids)s) GROUP BY p.passage_id")


def scores_of(conn, q: Question, avgdl: float, ids: list[int]) -> dict[int, float]:
    if not q or not ids:
        return {}
    rows = conn.execute(_BM25_OF_IDS, {"terms": q.term_ids, "weights": q.weights, "avgdl": avgdl,
                                       "ids": ids}).fetchall()
    return {pid: float(score) for pid, score in rows}


def fusion_inputs(conn, q: Question, avgdl: float, ids: list[int], vector: str, cosine_ids: list[int],
                  bm25_ids: list[int]) -> list[tuple[int, float | None, float, bool]]:
    """(passage id, cosine, BM25, footnote) of the passages, one statement: the footnote flag of
    each, the cosine of those in `cosine_ids` (by the vectors' key; None for the others) and the
    BM25 of those in `bm25_ids` (the same sum as scores_of; 0 for the others)."""
    return conn.execute(
        "WITH bm AS (" + _BM25_OF_IDS.replace("%(ids)s", "%(bm25_ids)s") + ") "
        "SELECT s.id, -(v.embedding <#> %(q)s::vector), COALESCE(bm.score, 0), s.footnote FROM passages s "
        "LEFT JOIN passage_vectors v ON v.passage_id = s.id AND v.passage_id = ANY(%(cosine_ids)s) "
        "LEFT JOIN bm ON bm.passage_id = s.id WHERE s.id = ANY(%(ids)s)",
        {"terms": q.term_ids, "weights": q.weights, "avgdl": avgdl, "ids": ids, "q": vector,
         "cosine_ids": cosine_ids, "bm25_ids": bm25_ids}).fetchall()


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


def remove_postings(conn, passage_where: str, params) -> None:
    """Drop the postings (and df counts) of the passages selected by `passage_where`."""
    rows = conn.execute(f"SELECT t, count(*) FROM passages, unnest(terms) AS t WHERE {passage_where} GROUP BY t",
                        params).fetchall()
    add_document_frequencies(conn, Counter({t: -n for t, n in rows}))
    conn.execute(f"DELETE FROM postings USING (SELECT id, unnest(terms) AS t FROM passages WHERE {passage_where}) g "
                 "WHERE postings.term_id = g.t AND postings.passage_id = g.id", params)
