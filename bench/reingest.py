"""Re-ingest of an unchanged corpus, as a whole `kb ingest` process.

    python bench/reingest.py                  # 1,000 generated documents, 5 unchanged re-runs
    python bench/reingest.py --docs 1000 --repeats 5

Generates --docs small .txt files (sentences sampled from SciFact abstracts), ingests them
once with `kb ingest DIR --kb KB --json` (timed, model load included), then runs the same
command on the unchanged folder --repeats times. Each run is a fresh process timed from
outside (time.perf_counter around start and reap; peak RSS and CPU from os.wait4). The JSON
report must say nothing changed and `model_loaded: false`; the process also reports which
heavy modules it imported. Goal: the unchanged re-ingest takes < 2 s.
A last row touches every file (new mtime, same bytes), which makes ingest hash them all.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import KB_CLI, OUT, PYTHON, ROOT, load_note, min_med, table, wait_for_quiet, write_text_corpus

# What `kb ingest` imports before it works: the front end, the pipeline and the local backend.
IMPORTS = "cli, ingest.pipeline, kb.backends.local"
HEAVY = ("torch", "sentence_transformers", "transformers", "faiss", "bm25s", "numpy", "pebble")
# Runs the real CLI and, at exit, writes which heavy modules were imported to $KB_BENCH_MODULES.
WRAPPER = (
    "import atexit, json, os, sys\n"
    "def _report():\n"
    "    with open(os.environ['KB_BENCH_MODULES'], 'w') as f:\n"
    f"        json.dump([m for m in {HEAVY!r} if m in sys.modules], f)\n"
    "atexit.register(_report)\n"
    "from cli import main\n"
    "sys.argv[0] = 'kb'\n"
    "main()\n"
)


def run(cmd: list[str], env: dict | None = None) -> tuple[float, float, float, str, str, int]:
    """(wall s, cpu s, peak RSS MiB, stdout, stderr, exit code) of one process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT,
                                env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read().decode(),
                err.read().decode(), proc.returncode)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-load", type=float, help="wait until the 1-min load average is below this")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(dir=OUT, prefix="reingest-") as tmp:
        tmp = Path(tmp)
        corpus = write_text_corpus(tmp / "corpus", args.docs, seed=args.seed, paragraphs=(1, 3), words=(40, 140))
        kb = tmp / "kb"
        cmd = [KB_CLI, "ingest", str(corpus), "--kb", str(kb), "--json"]

        wall, cpu, rss, out, err, rc = run(cmd)
        if rc:
            sys.exit(f"first ingest failed ({rc}): {err[-2000:]}")
        first = json.loads(out)
        wait_for_quiet(args.max_load)
        header_load = load_note()

        # Baselines: a bare interpreter, and importing what `kb ingest` needs before it works.
        bare = [run([PYTHON, "-c", "pass"])[0] for _ in range(args.repeats)]
        imports = [run([PYTHON, "-c", f"import {IMPORTS}"])[0] for _ in range(args.repeats)]

        walls, cpus, rsss, inside, modules = [], [], [], [], None
        for i in range(args.repeats):
            env = {}
            if i == 0:
                env["KB_BENCH_MODULES"] = str(tmp / "modules.json")
                w, c, r, out, err, rc = run([PYTHON, "-c", WRAPPER, *cmd[1:]], env)
            else:
                w, c, r, out, err, rc = run(cmd)
            if rc:
                sys.exit(f"re-ingest failed ({rc}): {err[-2000:]}")
            rep = json.loads(out)
            changed = rep["added"] or rep["updated"] or rep["removed"] or rep["failed"]
            if changed or len(rep["unchanged"]) != args.docs or rep["model_loaded"] or \
                    rep["generation"] != first["generation"]:
                sys.exit(f"unexpected report for an unchanged corpus: { {k: rep[k] for k in ('added', 'updated', 'removed', 'model_loaded', 'generation')} }")
            walls.append(w)
            cpus.append(c)
            rsss.append(r)
            inside.append(rep["seconds"])
            if i == 0:
                modules = json.loads((tmp / "modules.json").read_text())

        # Touched: same bytes, new mtime on every file: each is hashed, none re-embedded.
        touched, touched_inside, touched_loaded = [], [], []
        for _ in range(min(3, args.repeats)):
            now = time.time_ns()
            for f in corpus.iterdir():
                os.utime(f, ns=(now, now))
            w, c, r, out, err, rc = run(cmd)
            rep = json.loads(out)
            touched.append(w)
            touched_inside.append(rep["seconds"])
            touched_loaded.append(rep["model_loaded"])

        print(f"\n### Re-ingest of an unchanged corpus ({args.docs} generated .txt documents, "
              f"{first['passages']} passages; {header_load}; min / median of {args.repeats} processes)\n")
        rows = [
            ["first ingest (`kb ingest`, model load included)", f"{wall:.1f}", f"{first['seconds']:.1f}",
             f"{cpu:.1f}", f"{rss:.0f}", str(first["model_loaded"]).lower()],
            ["unchanged re-ingest (`kb ingest`)", min_med(walls), min_med(inside), min_med(cpus),
             f"{max(rsss):.0f}", "false"],
            ["every file touched (same bytes, new mtime)", min_med(touched), min_med(touched_inside), "",
             "", str(any(touched_loaded)).lower()],
            ["baseline: `python -c pass`", min_med(bare, "{:.3f}"), "", "", "", ""],
            [f"baseline: `python -c 'import {IMPORTS}'`", min_med(imports), "", "", "", ""],
        ]
        print(table(["run", "wall s", "report `seconds`", "CPU s", "peak RSS MiB", "model_loaded"], rows))
        med = statistics.median(walls)
        print(f"\n- goal < 2 s for the unchanged re-ingest: **{'met' if med < 2 else 'MISSED'}** "
              f"(median {med:.2f} s, min {min(walls):.2f} s)")
        print(f"- heavy modules the unchanged re-ingest imported: {', '.join(modules) or 'none'} "
              f"(watched: {', '.join(HEAVY)})")


if __name__ == "__main__":
    main()
