"""ONNX Runtime embedder: sentence-transformers' vectors without torch on the query path.

The .onnx file holds the transformer only (tokens in, token embeddings out); tokenising
(`tokenizers`, the model's own tokenizer.json, truncated at its max_seq_length), mean pooling
over the attention mask and L2 normalisation happen here, as sentence-transformers does them.
The file is built once per model version by kb/embedders/export.py (which needs torch) and
found again by a hash of the model's files, so loading an existing export imports neither
torch nor transformers.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import model_identity, resolve_model_location
from kb.errors import ModelUnavailable, UsageError

from .base import Embedder, Progress

PRECISIONS = ("fp32", "int8")
# In every export's file name: bump a precision's recipe when export.py builds it differently.
# int8 2: static quantisation (fixed activation ranges), so vectors do not depend on batch-mates.
RECIPES = {"fp32": 1, "int8": 2}


@dataclass(frozen=True)
class ModelSpec:
    """What it takes to reproduce sentence-transformers' vectors for one model folder."""
    name: str  # the identity the torch runtime records
    folder: Path  # the sentence-transformers folder
    transformer: Path  # the folder of its Transformer module (config, weights, tokenizer.json)
    module_paths: tuple[str, ...]  # modules.json paths: what the model's vectors depend on
    max_seq_length: int
    lowercase: bool
    dimension: int


def model_spec(setting: str) -> ModelSpec:
    """Read a sentence-transformers folder; refuse, in one line, what this runtime cannot run."""
    folder = Path(resolve_model_location(setting)).expanduser()
    if not folder.is_dir():
        raise ModelUnavailable(
            f"Embedding model folder {str(folder)!r} not found: the ONNX runtime needs a local "
            "sentence-transformers folder (set KB_MODEL or --model to one), or use the torch runtime."
        )
    modules = _read_json(folder / "modules.json", f"{folder} is not a sentence-transformers folder")
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ModelUnavailable(f"The ONNX runtime runs Transformer + Pooling (+ Normalize) models; {folder} has "
                               f"{' + '.join(kinds) or 'no modules'}: use the torch runtime for it.")
    transformer, pooling = folder / modules[0].get("path", ""), folder / modules[1].get("path", "")
    pool = _read_json(pooling / "config.json", f"{pooling} has no pooling config")
    modes = sorted(k for k, v in pool.items() if k.startswith("pooling_mode") and v)
    if modes != ["pooling_mode_mean_tokens"]:
        raise ModelUnavailable(f"The ONNX runtime does mean pooling only; {folder} uses {', '.join(modes) or 'none'}: "
                               "use the torch runtime for it.")
    if not (transformer / "tokenizer.json").is_file():
        raise ModelUnavailable(f"{transformer} has no tokenizer.json (a fast tokenizer), which the ONNX runtime "
                               "needs: use the torch runtime for it.")
    st_config = _read_json(transformer / "sentence_bert_config.json", f"{transformer} has no sentence_bert_config.json")
    if not st_config.get("max_seq_length"):
        raise ModelUnavailable(f"{transformer}/sentence_bert_config.json sets no max_seq_length: use the torch runtime.")
    return ModelSpec(model_identity(setting), folder, transformer, tuple(m.get("path", "") for m in modules),
                     int(st_config["max_seq_length"]), bool(st_config.get("do_lower_case")),
                     int(pool["word_embedding_dimension"]))


def _read_json(path: Path, missing: str) -> dict | list:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelUnavailable(f"{missing} ({path.name} not found).") from None
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"Cannot read {path}: {exc}.") from None


# ---- finding (or building) the export ------------------------------------------------------------

def model_files(spec: ModelSpec) -> list[Path]:
    """The files the vectors depend on: the folder's own files and its modules' folders."""
    roots = {spec.folder} | {spec.folder / p for p in spec.module_paths if p}
    files = {f for root in roots for f in (root.iterdir() if root == spec.folder else root.rglob("*"))
             if f.is_file() and not f.name.startswith(".")}
    return sorted(files)


def model_digest(spec: ModelSpec, cache_dir: Path) -> str:
    """sha256 over the model's files. Hashing ~90 MB costs ~0.15 s per process, so the digest is
    remembered in cache_dir beside each file's size, mtime and inode, and reused while those hold."""
    files = model_files(spec)
    stats = [[str(f.relative_to(spec.folder)), st.st_size, st.st_mtime_ns, st.st_ino] for f, st in
             ((f, f.stat()) for f in files)]
    memo_path = cache_dir / "digests.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    known = memo.get(str(spec.folder))
    if known and known.get("stat") == stats:
        return known["digest"]
    h = hashlib.sha256()
    for f, (rel, *_rest) in zip(files, stats):
        h.update(rel.encode() + b"\0")
        with open(f, "rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())
    digest = h.hexdigest()
    memo[str(spec.folder)] = {"stat": stats, "digest": digest}
    try:
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix="digests.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(memo, f)
        os.replace(tmp, memo_path)
    except OSError:  # a read-only cache still serves its exports; the digest is recomputed next time
        pass
    return digest


def export_path(spec: ModelSpec, precision: str, cache_dir: Path) -> Path:
    """Named for the model, the content of its files, the recipe and the precision."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.name).strip("_")[-60:]
    return cache_dir / f"{slug}-{model_digest(spec, cache_dir)[:16]}-r{RECIPES[precision]}-{precision}.onnx"


def ensure_exported(model_setting: str, precision: str, cache_dir: Path) -> Path:
    """The .onnx file for this model and precision, built on first use (torch is imported only
    then). Idempotent; concurrent callers wait on a lock; the file appears whole or not at all."""
    if precision not in PRECISIONS:
        raise UsageError(f"Unknown ONNX precision {precision!r}: use one of {', '.join(PRECISIONS)}.")
    spec = model_spec(model_setting)
    cache_dir = Path(cache_dir).expanduser()
    shared = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        target = export_path(spec, precision, cache_dir)
        if target.is_file():
            return target
        from filelock import FileLock

        shared = machine_cache() / target.name
        with FileLock(str(target) + ".lock"):
            if not target.is_file() and not _copy(shared, target):  # another process may have made it meanwhile
                if shared.is_file():
                    return shared  # no room or no write access beside the knowledge base: the machine's copy serves
                from .export import build

                source = _fp32_source(model_setting, cache_dir) if precision == "int8" else None
                build(spec, precision, target, fp32_source=source)
                if shared != target:  # built straight into the machine cache: nothing to copy
                    _copy(target, shared)
    except OSError as exc:
        if shared is not None and shared.is_file():
            return shared
        raise ModelUnavailable(f"Cannot write the ONNX export into {cache_dir} ({exc.strerror or exc}): free space "
                               "there, or use the torch runtime (KB_RUNTIME=torch).") from None
    return target


def _fp32_source(model_setting: str, cache_dir: Path) -> Path:
    """The fp32 export int8 is quantised from: in the machine cache, so a knowledge base
    embedded int8 keeps only its own file (~74 MiB, not 160)."""
    if cache_dir != machine_cache():
        try:
            return ensure_exported(model_setting, "fp32", machine_cache())
        except ModelUnavailable:  # no writable machine cache: build it beside the int8 file
            pass
    return ensure_exported(model_setting, "fp32", cache_dir)


def machine_cache() -> Path:
    """Exports are also kept once per machine (the name holds the model's content hash and the
    recipe), so a second knowledge base copies one instead of importing torch to build it."""
    from platformdirs import user_cache_dir

    from ..config import APP_NAME

    return Path(user_cache_dir(APP_NAME)) / "onnx"


def _copy(source: Path, target: Path) -> bool:
    """Copy whole or not at all; False when there is nothing to copy or it cannot be written."""
    if not source.is_file():
        return False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)  # exports are never written in place: sharing the file is safe
            return True
        except OSError:
            pass
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".copy-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError:
        return False
    return True


# ---- running it -----------------------------------------------------------------------------------

def cpu_count() -> int:
    """The cores this process may use (affinity), which intra-op threads should match."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def open_session(path: Path):
    """An ONNX Runtime CPU session, one intra-op thread per core."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelUnavailable("The ONNX runtime needs the onnxruntime package: run `pip install onnxruntime`, "
                               "or use the torch runtime.") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_count()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: the shape-inference warnings are noise
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # corrupt or truncated file, or built by an incompatible exporter
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(f"The ONNX model file {path} cannot be loaded ({first}); delete it and it will be "
                               "rebuilt on next use.") from exc


def open_tokenizer(spec: ModelSpec):
    """The model's fast tokenizer, truncating where sentence-transformers does, and its padding id.
    It never pads: batches are padded here, each to its longest member."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(spec.transformer / "tokenizer.json"))
    pad = int(tokenizer.padding["pad_id"]) if tokenizer.padding else 0
    tokenizer.enable_truncation(spec.max_seq_length)
    tokenizer.no_padding()
    return tokenizer, pad


# The best answer encodes ~30 sentence windows of 10-80 tokens per question; padded to the longest
# in one batch of 32 they took 470-500 ms, cut at this band 240-280 (medians, two runs of
# bench/answer_windows.py on 2 cores). Whole passages, mostly at the 256-token cut, still fill
# batches of 32.
LENGTH_BAND = 0.8


def token_batches(tokenizer, pad: int, texts: list[str], lowercase: bool, size: int):
    """(rows, inputs) per batch, rows indexing `texts`. Texts are tokenised once and ordered
    longest first, so similar lengths share a batch; a batch also ends where the next text is
    shorter than `LENGTH_BAND` of its first, so at most a fifth of what it computes is padding."""
    encodings = tokenizer.encode_batch([t.lower() for t in texts] if lowercase else texts)
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
    order = np.argsort(-lengths, kind="stable")
    start = 0
    while start < len(order):
        end = min(start + size, len(order))
        end = start + 1 + int(np.searchsorted(-lengths[order[start + 1:end]], -LENGTH_BAND * lengths[order[start]],
                                              side="right"))
        rows = order[start:end]
        start = end
        width = max(int(lengths[rows[0]]), 1)
        ids = np.full((len(rows), width), pad, dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, i in enumerate(rows):
            n = lengths[i]
            ids[j, :n], types[j, :n], mask[j, :n] = encodings[i].ids, encodings[i].type_ids, 1
        yield rows, {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def mean_pool(token_embeddings: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the unmasked tokens, L2-normalised: sentence-transformers' Pooling + Normalize."""
    m = mask.astype(np.float32)
    summed = np.einsum("bsd,bs->bd", token_embeddings.astype(np.float32, copy=False), m)
    vectors = summed / np.maximum(m.sum(axis=1, keepdims=True), 1e-9)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def run_batches(session, tokenizer, pad: int, spec: ModelSpec, texts: list[str], batch_size: int,
                progress: Progress | None = None) -> np.ndarray:
    """Vectors for `texts` in the order given."""
    out = np.empty((len(texts), spec.dimension), dtype=np.float32)
    if not texts:
        return out
    wanted = {i.name for i in session.get_inputs()}
    for rows, inputs in token_batches(tokenizer, pad, texts, spec.lowercase, batch_size):
        hidden = session.run(None, {k: v for k, v in inputs.items() if k in wanted})[0]
        out[rows] = mean_pool(hidden, inputs["attention_mask"])
        if progress:
            progress(len(rows))
    return out


class OnnxEmbedder(Embedder):
    """sentence-transformers' vectors, computed by ONNX Runtime; loaded lazily, once, thread-safely."""

    def __init__(self, model_setting: str, precision: str = "fp32", *, cache_dir: Path, batch_size: int = 32):
        if precision not in PRECISIONS:
            raise UsageError(f"Unknown ONNX precision {precision!r}: use one of {', '.join(PRECISIONS)}.")
        self.setting = model_setting
        self.name = model_identity(model_setting)
        self.runtime = "onnx" if precision == "fp32" else f"onnx-{precision}"
        self.cache_dir = Path(cache_dir)
        self.batch_size = batch_size
        self._precision = precision
        self._spec: ModelSpec | None = None
        self._session = None
        self._tokenizer = None
        self._pad = 0
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._session is not None

    @property
    def dimension(self) -> int:
        if self._spec is None:  # read from the model's config: no need to load it
            self._spec = model_spec(self.setting)
        return self._spec.dimension

    def load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            spec = model_spec(self.setting)
            path = ensure_exported(self.setting, self._precision, self.cache_dir)
            tokenizer, pad = open_tokenizer(spec)
            session = open_session(path)
            self._spec, self._tokenizer, self._pad = spec, tokenizer, pad
            self._session = session  # last: `loaded` turns true only when everything is in place

    def encode_passages(self, texts: list[str], progress: Progress | None = None) -> np.ndarray:
        self.load()
        return run_batches(self._session, self._tokenizer, self._pad, self._spec, list(texts), self.batch_size, progress)

    def encode_query(self, text: str) -> np.ndarray:
        self.load()
        return run_batches(self._session, self._tokenizer, self._pad, self._spec, [text], 1)[0]
