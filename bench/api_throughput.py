"""`kb serve` throughput: POST /ask through a real server process (httpx clients on keep-alive
connections) beside in-process `Searcher.ask` on the same knowledge base, at 1 and 8 concurrent
clients, in one run.

    python bench/api_throughput.py                       # the shipped corpus and 100k passages
    python bench/api_throughput.py --sizes corpus --seconds 10

Knowledge bases: `corpus/` ingested by `kb ingest` (ONNX int8, as a new knowledge base is), asked
the 32 dev questions; 100k synthetic passages from bench/backends.py's builder (real SciFact
embeddings mixed, fp32; cached in bench/out/backends/), asked the SciFact test queries. Both paths
use the embedder `kb ask` resolves (runtime auto). The server runs with the rate limit off
(KB_API_RATE_PER_MINUTE=0); the clients run in this process, on the same cores as the server.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import CORPUS, KB_CLI, QUESTIONS, ROOT, load_note, p50_p95_ms, questions, table

import httpx

from kb.app_support import shared_searcher
from kb.config import load_settings


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update(KB_CONFIG=str(home / "no-config.toml"), HF_HUB_OFFLINE="1", KB_API_RATE_PER_MINUTE="0",
               KB_SENTENCE_FOCUS=os.environ.get("KB_SENTENCE_FOCUS", "true"))
    return env


def corpus_kb(home: Path) -> Path:
    kb = home / "corpus-kb"
    done = subprocess.run([KB_CLI, "ingest", str(CORPUS), "--kb", str(kb)], env=clean_env(home), capture_output=True,
                          text=True)
    if done.returncode != 0:
        sys.exit(f"kb ingest failed: {done.stderr}")
    return kb


def synthetic_kb(n: int) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    from backends import embedder, synthetic_local

    backend, seconds = synthetic_local(n, embedder())
    print(f"(synthetic {n:,}-passage knowledge base: {backend.location}"
          + (f", built in {seconds:.0f} s)" if seconds == seconds else ", cached)"), file=sys.stderr)
    return Path(backend.location)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(kb: Path, home: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([KB_CLI, "serve", "--kb", str(kb), "--port", str(port)], env=clean_env(home),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"kb serve exited: {proc.stderr.read().decode()}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    sys.exit("kb serve did not start in 300 s")


def run_clients(ask_one, qs: list[str], clients: int, seconds: float) -> tuple[float, list[float]]:
    """`clients` threads asking random questions for `seconds`: (requests per second, latencies)."""
    stop = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]

    def client(i: int) -> None:
        rng = random.Random(i)
        session = ask_one()
        while time.perf_counter() < stop:
            t = time.perf_counter()
            session(rng.choice(qs))
            latencies[i].append(time.perf_counter() - t)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    flat = [x for per in latencies for x in per]
    return len(flat) / elapsed, flat


def in_process(searcher, k: int):
    def make():
        return lambda q: searcher.ask(q, k=k)
    return make


def over_http(url: str, k: int):
    def make():
        client = httpx.Client(timeout=120)  # one keep-alive connection per client thread

        def ask(q: str) -> None:
            response = client.post(url + "/ask", json={"question": q, "k": k})
            if response.status_code != 200:
                raise RuntimeError(f"POST /ask answered {response.status_code}: {response.text}")
        return ask
    return make


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["corpus", "100k"], help="corpus and/or N passages (100k)")
    ap.add_argument("--clients", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--no-focus", action="store_true", help="sentence focus off (KB_SENTENCE_FOCUS=false) in both "
                    "paths: what is left when the first passages' sentence windows need no encoding")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="kb-bench-api-"))
    os.environ.update(KB_CONFIG=str(home / "no-config.toml"), HF_HUB_OFFLINE="1",
                      KB_SENTENCE_FOCUS="false" if args.no_focus else "true")
    dev = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    rows = []
    print(f"({load_note()} before)", file=sys.stderr)
    for size in args.sizes:
        if size == "corpus":
            kb, qs, label = corpus_kb(home), dev, "corpus/"
        else:
            n = int(float(size.lower().rstrip("k")) * 1000)
            kb, qs, label = synthetic_kb(n), questions(), f"{n:,} synthetic"
        searcher = shared_searcher(load_settings(kb_dir=kb))
        passages = searcher.reader().generation.passages
        for q in qs[:5]:
            searcher.ask(q, k=args.k)  # model, index and caches warm
        proc, url = start_server(kb, home)
        try:
            for q in qs[:5]:
                httpx.post(url + "/ask", json={"question": q, "k": args.k}, timeout=120)
            for clients in args.clients:
                for path, make in (("in-process Searcher.ask", in_process(searcher, args.k)),
                                   ("HTTP POST /ask", over_http(url, args.k))):
                    rate, latencies = run_clients(make, qs, clients, args.seconds)
                    rows.append([label, f"{passages:,}", path, clients, f"{rate:.1f}", p50_p95_ms(latencies),
                                 len(latencies)])
                    print(f"  {label} {path} x{clients}: {rate:.1f}/s", file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(table(["knowledge base", "passages", "path", "clients", "requests/s", "p50 / p95 ms", "requests"], rows))
    print(f"\n{load_note()} after; {os.cpu_count()} cores shared by the server, the clients and the in-process "
          f"searcher; k = {args.k}, {args.seconds:.0f} s per row; sentence focus {'off' if args.no_focus else 'on'}.")


if __name__ == "__main__":
    main()
