"""Real `kb serve` and `kb mcp --http` processes for the tests: a knowledge base of a copy of the
shipped corpus, an environment that reads no developer settings, and a server started on a free
loopback port and waited for."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import CORPUS, ROOT, free_port, kb_cli, stop_process


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment without any KB_* setting of the developer's (no config file either)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update(KB_CONFIG=str(home / "no-config.toml"), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def corpus_copy_kb(folder: Path) -> tuple[Path, Path]:
    """(corpus copy, knowledge base) built by the real `kb ingest` (the packaged model)."""
    corpus = folder / "corpus"
    shutil.copytree(CORPUS, corpus)
    kb = folder / "kb"
    result = kb_cli("ingest", corpus, "--kb", kb, "--json", env=clean_env(folder))
    assert result.returncode == 0, result.stderr
    return corpus, kb


class Server:
    """A `kb` server subprocess; `url` is its base address."""

    def __init__(self, args: list, env: dict[str, str], port: int, ready_path: str = "/healthz",
                 headers: dict | None = None):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = Path(env["KB_CONFIG"]).parent / f"server-{port}.log"
        self._log_file = open(self.log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, env=env,
                                     stdout=self._log_file, stderr=subprocess.STDOUT)
        self._wait(ready_path, headers or {})

    def _wait(self, path: str, headers: dict, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited ({self.proc.returncode}): {self.log.read_text()}")
            try:
                if httpx.get(self.url + path, headers=headers, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"the server did not answer in {timeout} s: {self.log.read_text()}")

    def stop(self) -> None:
        stop_process(self.proc)
        self._log_file.close()


def start_api(kb: Path, home: Path, *extra_args, env_extra: dict | None = None, headers: dict | None = None) -> Server:
    port = free_port()
    return Server(["serve", "--kb", kb, "--port", port, *extra_args], clean_env(home, **(env_extra or {})), port,
                  headers=headers)
