"""Fit and check the best answer's weights (kb/answer.py) on several question sets at once.

For every answerable question of the named sets, the real `Searcher.ask` runs on the set's
knowledge base (bench/set_quality.py builds it), and every sentence and pair that competed to
be the best answer is kept with what its score is made of. A grid over the weights then
counts, per set, the questions whose chosen window holds gold evidence from a gold document
(best@1), beside the current weights. Fit on several sets together; judge on held-out ones
(`--check SET`: printed, never part of the fit).

    python bench/answer_weights.py --set gov --set own --set dev --set answerable --check answers-gov-holdout
"""
from __future__ import annotations

import argparse
import itertools
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import holds, question_set  # noqa: E402
from set_quality import set_store  # noqa: E402

from kb import answer as answers  # noqa: E402
from kb.config import load_settings  # noqa: E402
from kb.embedders import for_settings  # noqa: E402
from kb.search import Searcher  # noqa: E402

GRID = {
    "cosine_weight": [0.0, 0.25, 0.5, 1.0],
    "lexical_weight": [0.0, 0.15, 0.25, 0.35, 0.5, 0.7],
    "kind_weight": [0.0, 0.1, 0.2, 0.3, 0.5],
    "rank_weight": [0.0, 0.5, 1.0, 2.0, 4.0],
    "pair_penalty": [0.0, 0.02, 0.04, 0.08],
}


def pools(name: str, searcher_for) -> list[tuple[list[answers.Candidate], list[bool], bool]]:
    """Per answerable question: the candidates, which hold gold evidence, and whether any
    of the first passages holds it (the ceiling)."""
    qset = question_set(name)
    searcher = searcher_for(qset)
    out = []
    for q in qset.questions:
        answer = searcher.ask(q["question"], k=10)
        gold = qset.gold_documents(q)
        reader = searcher.reader()
        qvec = searcher.embedder.encode_query(answer.question)
        pool = searcher.answer_candidates(answer.question, qvec, answer.hits, reader.keyword_stats(answer.question).idf())
        good = [q["answerable"] and (not gold or answer.hits[c.rank - 1].document.name in gold)
                and holds(c.text, q["evidence"]) for c in pool]
        reachable = q["answerable"] and any(holds(h.passage.text, q["evidence"]) and (not gold or h.document.name in gold)
                                            for h in answer.hits[:answers.DEPTH])
        out.append(Question(q["question"], q["answerable"], answer.answered or answer.reason in
                            answers.LACKING_REASON.values(), pool, good if q["answerable"] else [], reachable))
    return out


@dataclass
class Question:
    text: str
    answerable: bool
    passed_abstention: bool  # answered before the asked-kind test
    pool: list
    good: list
    reachable: bool

    def __iter__(self):  # (pool, good, reachable), as the fit reads it
        return iter((self.pool, self.good, self.reachable))


FEATURES = ("cosine_weight", "lexical_weight", "kind_weight", "rank_weight", "pair_penalty")


def features(c: answers.Candidate) -> list[float]:
    """The terms of Candidate.score, in FEATURES order (signs included), so a score is one dot product."""
    return [c.cosine, c.lexical, float(c.kind), -c.behind, -(c.sentences - 1)]


def best_at_1(data, weights: dict) -> int:
    w = np.array([weights.get(f, getattr(answers, f.upper())) for f in FEATURES])
    wins = 0
    for q in data:
        if q.answerable and q.pool:
            if not hasattr(q, "_matrix"):
                q._matrix = np.array([features(c) for c in q.pool])
            wins += q.good[int(np.argmax(q._matrix @ w))]
    return wins


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", dest="sets", action="append", required=True, help="a set the fit uses (repeatable)")
    ap.add_argument("--check", action="append", default=[], help="a held-out set, only measured (repeatable)")
    ap.add_argument("--cache", help="keep the candidates in this pickle and reuse them (weights only change)")
    ap.add_argument("--show-misses", action="store_true", help="list the fit sets' questions the fitted weights miss")
    args = ap.parse_args()
    cache = Path(args.cache) if args.cache else None
    if cache and cache.is_file():
        data = pickle.loads(cache.read_bytes())
    else:
        settings = load_settings()
        embedder = for_settings(settings, shared=False)
        data = {name: pools(name, lambda qs: Searcher(set_store(qs, embedder), embedder))
                for name in args.sets + args.check}
        if cache:
            cache.write_bytes(pickle.dumps(data))
    current = {k: getattr(answers, k.upper()) for k in GRID}
    fitted = max((dict(zip(GRID, values)) for values in itertools.product(*GRID.values())),
                 key=lambda w: (sum(best_at_1(data[n], w) for n in args.sets), w == current))
    print("| set | questions | evidence in the first 3 passages | best@1, current weights | best@1, fitted |")
    print("|---|---|---|---|---|")
    for name in args.sets + args.check:
        d = data[name]
        label = name + (" (held out)" if name in args.check else "")
        print(f"| {label} | {sum(q.answerable for q in d)} | {sum(r for *_, r in d)} | {best_at_1(d, current)} | {best_at_1(d, fitted)} |")
    print(f"\ncurrent: {current}\nfitted on {', '.join(args.sets)}: {fitted}")
    abstention_table(data, args.sets)
    if args.show_misses:
        for name in args.sets:
            for pool, good, reachable in (q for q in data[name] if q.answerable):
                if not pool or not reachable:
                    continue
                i = max(range(len(pool)), key=lambda j: pool[j].score(**fitted))
                if not good[i]:
                    right = [c for c, g in zip(pool, good) if g]
                    print(f"\n{name}: chose #{pool[i].rank} “{pool[i].text[:150]}” {_parts(pool[i], fitted)}")
                    for c in right[:2]:
                        print(f"   gold #{c.rank} “{c.text[:150]}” {_parts(c, fitted)}")


def abstention_table(data: dict, names: list[str]) -> None:
    """The asked-kind test at several floors: a question asking for a number, a date or states
    is not answered when no candidate holding one scores above the floor (cosine + lexical)."""
    floors = [None, 0.0, 0.3, 0.4, 0.5, 0.6, 0.7]
    print("\n| floor | " + " | ".join(f"{n}: answerable abstained / unanswerable abstained" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for floor in floors:
        cells = []
        for n in names:
            qs = [q for q in data[n] if q.passed_abstention]
            def lacks(q):
                if answers.question_kind(q.text).kind not in answers.REQUIRED_KINDS or not q.pool:
                    return False
                held = [c.cosine + answers.LEXICAL_WEIGHT * c.lexical for c in q.pool if c.kind]
                return not held or (floor is not None and max(held) < floor)
            wrong = sum(lacks(q) for q in qs if q.answerable)
            right = sum(lacks(q) for q in qs if not q.answerable)
            cells.append(f"{wrong}/{sum(q.answerable for q in qs)} / {right}/{sum(not q.answerable for q in qs)}")
        print(f"| {'none held' if floor is None else floor} | " + " | ".join(cells) + " |")


def _parts(c, w) -> str:
    return (f"[cos {c.cosine:.2f} lex {c.lexical:.2f} kind {int(c.kind)} behind {c.behind:.3f} "
            f"n {len(c.spans)} = {c.score(**w):.3f}]")


if __name__ == "__main__":
    main()
