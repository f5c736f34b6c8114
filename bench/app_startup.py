"""Seconds from `streamlit run app.py` to the first answer in a headless browser, and per further question.

    python bench/app_startup.py              # 3 runs
    python bench/app_startup.py --runs 5 --kb /some/existing/kb

Ingests /work/main/corpus (corpus/ beside app.py) into a temporary KB first (or uses --kb),
and works out with the library what each question's first card must show (its top
passage, or the not-answered warning). Chromium (/usr/bin/chromium through Playwright) is
started once and kept: a user's browser is already open. Then, per run:
  t0  spawn `streamlit run app.py --server.headless true` (or `python app.py`, --launcher; KB_DIR
      pointing at the KB);
  up  /_stcore/health answers;
  chrome  the page opened at ?q=<first question> shows the question box;
  first answer  then its expected first card;
  further questions  type the question in the box + Enter, until the script has stopped
      running and the first card is the expected one (new cards rendered).
Each run starts a fresh Streamlit process (so a fresh model load) and opens the page in a fresh
browser context (Browser.new_page), on a new port: the browser's cache is cold every time.

--floor also times, before each run, a one-line Streamlit app (`st.write`) started the same way
until its text shows: what Streamlit and Chromium take on this machine before any app code,
the floor under the app's numbers.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

from benchlib import OUT, ROOT, load_note, min_med, table, wait_for_quiet

STREAMLIT = str(Path(sys.executable).with_name("streamlit"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
FIRST = "What is DC:0-5?"
FURTHER = ["How are states building the IECMH workforce?", "What is reflective supervision?",
           "What does Project LAUNCH do?", "How is IECMH consultation financed through Medicaid?",
           "What is the Pyramid Model?", "How do I renew a passport?"]
NOT_ANSWERED = "Not answered"
# The script has finished and the first card (or the not-answered warning) contains the expectation.
DONE_JS = """(e) => {
    if (document.querySelector('[data-testid=stStatusWidgetRunningIcon],[data-testid=stStatusWidgetRunningManIcon],[data-stale=true]')) return false;
    const c = [...document.querySelectorAll('.kb-passage, [data-testid=stAlert]')].map(x => x.innerText);
    return c.length > 0 && c[0].includes(e);
}"""


def expectations(kb: Path, questions: list[str]) -> dict[str, str]:
    """What the first card must contain for each question, from the library itself."""
    from kb.backends import open_backend
    from kb.config import load_settings
    from kb.embedders import for_settings
    from kb.search import Searcher

    s = load_settings(kb_dir=kb)
    searcher = Searcher(open_backend(s), for_settings(s, shared=False))
    out = {}
    for q in questions:
        a = searcher.ask(q, k=5, method=s.method)
        out[q] = " ".join(a.hits[0].passage.text.split()[:6]) if a.answered and a.hits else NOT_ANSWERED
    return out


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(command: list[str], cwd: Path, env: dict, log: Path, timeout_s: float):
    """Spawn a Streamlit server; returns (process, port, t0, seconds until /_stcore/health answers)."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([*command, "--server.headless", "true", "--server.port", str(port)],
                            cwd=cwd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return proc, port, t0, time.perf_counter() - t0
        except Exception:
            if proc.poll() is not None or time.perf_counter() - t0 > timeout_s:
                stop(proc)
                raise RuntimeError(f"streamlit did not come up; see {log}")
            time.sleep(0.05)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


FLOOR_TEXT = "One line of Streamlit"


def floor_run(browser, folder: Path, log: Path, timeout_s: float) -> dict:
    """The one-line app (written into `folder` with this repository's .streamlit/config.toml):
    spawn → its text visible."""
    (folder / ".streamlit").mkdir(parents=True, exist_ok=True)
    (folder / ".streamlit" / "config.toml").write_text((ROOT / ".streamlit" / "config.toml").read_text())
    (folder / "static").mkdir(exist_ok=True)
    (folder / "one_line.py").write_text(f"import streamlit as st\nst.write({FLOOR_TEXT!r})\n")
    proc, port, t0, up = start_server([STREAMLIT, "run", "one_line.py"], folder, dict(os.environ), log, timeout_s)
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        opened = time.perf_counter()
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_text(FLOOR_TEXT).wait_for(timeout=timeout_s * 1000)
        shown = time.perf_counter()
        page.close()
        return {"up": up, "shown": shown - t0, "page": shown - opened}
    finally:
        stop(proc)


def one_run(browser, kb: Path, expected: dict[str, str], log: Path, timeout_s: float, launcher: bool) -> dict:
    env = {**os.environ, "KB_DIR": str(kb), "KB_CORPUS": str(ROOT / "corpus")}
    start = [sys.executable, "app.py"] if launcher else [STREAMLIT, "run", "app.py"]
    proc, port, t0, up = start_server(start, ROOT, env, log, timeout_s)
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/?q={quote(FIRST)}")
        page.locator("input[aria-label='Question']").wait_for(timeout=timeout_s * 1000)
        chrome = time.perf_counter() - t0
        page.wait_for_function(DONE_JS, arg=expected[FIRST], timeout=timeout_s * 1000, polling=20)
        first = time.perf_counter() - t0
        box = page.locator("input[aria-label='Question']")
        further = []
        for q in FURTHER:
            t = time.perf_counter()
            box.fill(q)
            box.press("Enter")
            page.wait_for_function(DONE_JS, arg=expected[q], timeout=timeout_s * 1000, polling=20)
            further.append(time.perf_counter() - t)
        page.close()
        return {"up": up, "chrome": chrome, "first": first, "further": further}
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kb", type=Path, help="an existing KB (default: ingest corpus/ into a temporary one)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for any one answer")
    ap.add_argument("--max-load", type=float, help="wait until the 1-min load average is below this")
    ap.add_argument("--launcher", action="store_true",
                    help="start with `python app.py` (the launcher) instead of `streamlit run app.py`")
    ap.add_argument("--floor", action="store_true",
                    help="also time a one-line Streamlit app before each run: the floor under the app's numbers")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT, prefix="app-startup-") as tmp:
        kb = args.kb
        if kb is None:
            kb = Path(tmp) / "kb"
            subprocess.run([sys.executable, "-m", "cli", "ingest", str(ROOT / "corpus"), "--kb", str(kb), "--json"],
                           check=True, capture_output=True, cwd=ROOT)
        expected = expectations(kb, [FIRST] + FURTHER)
        order = [FIRST] + FURTHER
        for before, after in zip(order, order[1:]):
            if expected[before] == expected[after]:
                sys.exit(f"{after!r} expects the same first card as {before!r}: its timing could not tell the "
                         "new cards from the old; change the question list")
        runs, floors = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for i in range(args.runs):
                wait_for_quiet(args.max_load)
                if args.floor:
                    floors.append(floor_run(browser, Path(tmp) / "floor", Path(tmp) / f"floor-{i}.log", args.timeout))
                    print(f"(run {i + 1}, one-line app: up {floors[-1]['up']:.1f} s, text {floors[-1]['shown']:.1f} s)",
                          file=sys.stderr)
                runs.append(one_run(browser, kb, expected, Path(tmp) / f"streamlit-{i}.log", args.timeout,
                                    args.launcher))
                print(f"(run {i + 1}: up {runs[-1]['up']:.1f} s, first answer {runs[-1]['first']:.1f} s, further "
                      f"{', '.join(f'{x:.2f}' for x in runs[-1]['further'])} s)", file=sys.stderr)
            browser.close()

    how = "`python app.py`" if args.launcher else "`streamlit run`"
    print(f"\n### App start-up and questions in headless Chromium ({args.runs} runs, each a fresh "
          f"{how}; {load_note()}; min / median)\n")
    further_all = [x for r in runs for x in r["further"]]
    rows = [
        [f"{how} → server answers /_stcore/health", min_med([r["up"] for r in runs])],
        [f"{how} → page chrome (question box) visible", min_med([r["chrome"] for r in runs])],
        [f"{how} → first answer visible (page opened at ?q={FIRST})", min_med([r["first"] for r in runs])],
        ["page open → first answer (first minus server up)", min_med([r["first"] - r["up"] for r in runs])],
        [f"further question: type + Enter → new cards ({len(FURTHER)} questions × {len(runs)} runs)",
         min_med(further_all)],
        ["further question, p95 / max", f"{sorted(further_all)[int(0.95 * (len(further_all) - 1))]:.2f} / "
                                        f"{max(further_all):.2f}"],
    ]
    if floors:
        rows += [
            ["floor: `streamlit run` a one-line app → server answers /_stcore/health", min_med([f["up"] for f in floors])],
            ["floor: `streamlit run` a one-line app → its text visible", min_med([f["shown"] for f in floors])],
            ["floor: page open → the one-line app's text visible", min_med([f["page"] for f in floors])],
        ]
    print(table(["interval", "seconds"], rows))
    print("\n| further question | " + " | ".join(f"run {i + 1} s" for i in range(len(runs))) + " |")
    print("|---|" + "---|" * len(runs))
    for j, q in enumerate(FURTHER):
        print(f"| {q} | " + " | ".join(f"{r['further'][j]:.2f}" for r in runs) + " |")


if __name__ == "__main__":
    main()
