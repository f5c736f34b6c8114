"""Worker processes end with the process that started them.

A reader worker (OCR runs Tesseract for minutes) or an ingest started from the app keeps
running when its parent is killed with SIGKILL: nothing tells it. `exit_with_parent` starts a
thread that notices the parent is gone (the worker is handed to another parent: its parent id
changes) and ends the worker, together with what it started (Tesseract), within a second.

Chosen over prctl(PR_SET_PDEATHSIG): that signal follows the parent *thread* that started the
worker, and pebble starts replacement workers from its own threads, which end with the pool;
over pebble's own checks: its workers notice a dead parent only between tasks.
"""
from __future__ import annotations

import os
import signal
import threading
import time

CHECK_EVERY_S = 0.5


def exit_with_parent(own_group: bool = True, every_s: float = CHECK_EVERY_S) -> None:
    """From now on, this process ends within `every_s` of its parent's end. With `own_group`
    it first leads a process group of its own, so its children (Tesseract) end with it and a
    Ctrl-C at the terminal reaches only the parent, which stops its workers itself."""
    parent = os.getppid()
    if own_group:
        try:
            os.setpgid(0, 0)
        except OSError:
            own_group = False

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        if own_group and os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)  # this process and every child it started
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
