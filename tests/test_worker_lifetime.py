"""A reader worker does not outlive its parent (issue 27, item 8): `kb ingest` killed with
SIGKILL while its worker runs Tesseract on a scanned PDF leaves no worker and no Tesseract
behind. The old worker went on reading the scan for ~90 s."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT
from scans import ScanPage, scanned_pdf

PARAGRAPH = ("Reflective supervision is offered monthly to every consultant employed by the program, and each "
             "consultant visits every classroom twice a month to support the teachers and the families.")


def processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command name) of every process now."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        out[int(entry.name)] = (int(ppid), state, name)
    return out


def descendants(root: int) -> dict[int, str]:
    table = processes()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, name) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = name
                frontier.append(pid)
    return found


def alive(pids) -> list[int]:
    table = processes()
    return [pid for pid in pids if pid in table and table[pid][1] != "Z"]


def wait_for(condition, limit_s: float, every_s: float = 0.2):
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    return condition()


def test_killing_the_ingest_during_ocr_ends_its_worker_and_tesseract(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    scanned_pdf(corpus / "scan.pdf", [ScanPage(f"Part {i}", [PARAGRAPH] * 6, str(i)) for i in range(1, 9)])
    ingest = subprocess.Popen([sys.executable, "-m", "cli", "ingest", str(corpus), "--kb", str(tmp_path / "kb")],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "KB_EXTRACT_TIMEOUT_S": "600"})
    try:
        def while_reading():
            found = descendants(ingest.pid)
            return found if "tesseract" in found.values() else None

        left_behind = wait_for(while_reading, 180, every_s=0.05)
        assert left_behind, "Tesseract never started"
        assert len(left_behind) >= 2  # a worker and its Tesseract (and the pool's other worker)
    finally:
        ingest.send_signal(signal.SIGKILL)
        ingest.wait()
    gone = wait_for(lambda: not alive(left_behind), 15)
    assert gone, f"still running after their parent was killed: {[left_behind[p] for p in alive(left_behind)]}"
