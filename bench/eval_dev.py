"""hit@1, hit@5, MRR@10 and answered rate of `kb ask` on the dev questions.

A question is hit at rank r when the r-th passage contains one of its gold evidence
strings (compared as benchlib.normalise does: case, whitespace, quote and dash style and
hyphenation ignored). Runs the real CLI:

    python bench/eval_dev.py [--docs corpus/] [--questions ../shared/eval/questions.jsonl] [--method fused]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import QUESTIONS as DEFAULT_QUESTIONS, ROOT, normalise


def first_hit(passages: list[dict], evidence: list[str]) -> int | None:
    """1-based rank of the first passage holding any evidence string."""
    wanted = [normalise(e) for e in evidence]
    for rank, p in enumerate(passages, 1):
        text = normalise(p["text"])
        if any(w in text for w in wanted):
            return rank
    return None


def metrics(ranks: list[int | None], answered: list[bool]) -> dict:
    n = len(ranks)
    return {
        "questions": n,
        "hit@1": sum(1 for r in ranks if r == 1) / n,
        "hit@5": sum(1 for r in ranks if r and r <= 5) / n,
        "mrr@10": sum(1 / r for r in ranks if r and r <= 10) / n,
        "answered": sum(answered) / n,
    }


def run_cli(questions: Path, kb_dir: Path, method: str, k: int = 10, extra: list[str] | None = None) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "cli", "ask", "--questions", str(questions), "--kb", str(kb_dir), "-k", str(k),
         "--json", "--method", method, *(extra or [])],
        check=True, capture_output=True, text=True, cwd=ROOT)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def ingest(docs: list[Path], kb_dir: Path) -> None:
    subprocess.run([sys.executable, "-m", "cli", "ingest", *map(str, docs), "--kb", str(kb_dir), "--json"],
                   check=True, capture_output=True, text=True, cwd=ROOT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=Path, nargs="+", default=[ROOT / "corpus"])
    ap.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    ap.add_argument("--method", default="fused", choices=["fused", "dense", "keyword"])
    ap.add_argument("--kb", type=Path, help="use this knowledge base instead of ingesting --docs into a temp one")
    ap.add_argument("--show-misses", action="store_true")
    args = ap.parse_args()
    gold = {q["id"]: q for q in map(json.loads, args.questions.read_text().splitlines()) if q}
    with tempfile.TemporaryDirectory() as tmp:
        kb_dir = args.kb or Path(tmp) / "kb"
        if not args.kb:
            ingest(args.docs, kb_dir)
        results = run_cli(args.questions, kb_dir, args.method)
    ranks = [first_hit(r["passages"], gold[r["id"]]["evidence"]) for r in results]
    m = metrics(ranks, [r["answered"] for r in results])
    print(f"| method | questions | hit@1 | hit@5 | MRR@10 | answered |")
    print(f"|---|---|---|---|---|---|")
    print(f"| {args.method} | {m['questions']} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['mrr@10']:.3f} | "
          f"{m['answered']:.3f} |")
    if args.show_misses:
        for r, rank in zip(results, ranks):
            if rank != 1:
                print(f"  {r['id']} rank={rank} answered={r['answered']} {r['question']}")
                if not r["answered"]:
                    print(f"      reason: {r.get('reason')}")


if __name__ == "__main__":
    main()
