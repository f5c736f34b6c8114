"""`kb ingest --ray`: the same ingest, with reading and embedding spread over a Ray cluster.

One Ray Data pipeline per run: the files to read flow through `flat_map` tasks (extraction
in a time- and memory-limited worker process, exactly as the plain pipeline does it, then
splitting), and their passages through `map_batches` on an actor pool, one embedding model
per actor (one actor per GPU when the cluster has GPUs, else one per node, each reserving a
single CPU so the read tasks always have one: an actor pool that holds every CPU starves
the tasks feeding it; the model itself runs on every core of its node, as in the plain
pipeline, since reading text leaves them idle most of the time). The driver holds the
backend's write lock, collects each file's vectors as they stream back and commits through
the backend's writer in batches, so a crash loses at most the last batch: the next run finds
the committed files unchanged and skips them.
"""
from __future__ import annotations

import pickle
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from kb.backends import open_backend
from kb.config import Settings
from kb.embedders import Embedder, for_settings, make_embedder
from kb.errors import ExtractionError, KBError
from kb.tokens import index_text

from . import discover, web
from .pipeline import IngestReport, Progress, _extract_all, _Run, split_into_passages

# Passages per embedding call on an actor. They are sorted by length inside the call (the
# embedder's own batches of 64 then hold similar lengths), so a bigger call pads less: on
# bench/backends.py's corpus the tokens computed over the tokens needed are 1.08 at 64,
# 1.05 at 256, 1.01 for the plain pipeline's one sort of the whole commit.
BATCH_SIZE = 256
FILES_PER_TASK = 8  # files read by one Ray task (one task per file cost scheduling for nothing)
MAX_BLOCKS = 2000  # tasks for the reading, at most
COMMIT_PASSAGES = 20_000  # a batch is committed at this size even before checkpoint_s


def ingest_on_ray(paths: list[Path | str], settings: Settings, *, address: str | None = None, rebuild: bool = False,
                  progress: Progress | None = None, on_wait: Callable[[str], None] | None = None,
                  embedder: Embedder | None = None, actors: int | None = None) -> IngestReport:
    """Like ingest.pipeline.ingest; `address` names a running cluster (None: use the Ray already
    initialised in this process, or start a one-machine cluster here)."""
    import ray

    if addresses := [p for p in paths if web.is_address(p)]:
        raise KBError(f"Web addresses are fetched by the plain ingest, not on Ray ({addresses[0]}): "
                      "run `kb ingest ADDRESS` without --ray.")
    started = time.perf_counter()
    embedder = embedder or for_settings(settings, shared=False)  # names the model; loaded only on the actors
    started_here = not ray.is_initialized()
    if started_here:
        _start(address)
    try:
        backend = open_backend(settings)
        with backend.writer(wait=settings.lock_wait_s, on_wait=on_wait) as writer:
            run = _RayRun(writer, backend.location, settings, embedder, progress or (lambda stage, done, total: None),
                          actors)
            run.plan([Path(p) for p in paths], rebuild)
            run.read_embed_commit()
    finally:
        if started_here:
            ray.shutdown()
    run.report.seconds = round(time.perf_counter() - started, 3)
    return run.report


def _start(address: str | None) -> None:
    import ray

    try:
        if address:
            ray.init(address=address, log_to_driver=False, runtime_env=runtime_env())
        else:
            ray.init(include_dashboard=False, log_to_driver=False, runtime_env=runtime_env())
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise KBError(f"Could not reach the Ray cluster at {address or 'this machine'} "
                      f"({str(exc).splitlines()[0][:160]}). Check the address (ray://host:10001 or auto).") from exc


def runtime_env() -> dict:
    """Ship this code (kb/, ingest/) to the workers, so a cluster runs the driver's version
    (Ray takes folders only when the job starts: pass this to ray.init)."""
    import ingest
    import kb

    return {"py_modules": [str(Path(m.__file__).parent) for m in (kb, ingest)]}


def plan_resources(actors: int | None) -> tuple[int, dict]:
    """(actors, per-actor resources): one per GPU, else one per node holding one CPU."""
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus:
        return actors or gpus, {"num_gpus": 1, "num_cpus": 1}
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return actors or max(1, nodes), {"num_cpus": 1}


class EmbedPassages:
    """A Ray Data actor: one embedding model, loaded once, encoding batches of passage texts."""

    def __init__(self, model: str, runtime: str, device: str):
        self.embedder = make_embedder(model, runtime, device)
        self.embedder.load()

    def __call__(self, batch: dict) -> dict:
        texts = [str(t) for t in batch["text"]]
        real = [i for i, t in enumerate(texts) if t]
        vectors = np.zeros((len(texts), self.embedder.dimension), np.float32)
        if real:
            vectors[real] = self.embedder.encode_passages([texts[i] for i in real])
        batch["vector"] = vectors
        return batch


def read_and_split(row: dict, settings: Settings) -> list[dict]:
    """A Ray task: one file -> one row per passage (the first also carries the file's record),
    or a single row saying why the file could not be read."""
    found: discover.Found = pickle.loads(row["found"])
    (_, result), = _extract_all([found], [], settings)
    key = row["key"]
    if isinstance(result, str):
        return [{"key": key, "i": 0, "n": 0, "text": "", "record": pickle.dumps((found, result, []))}]
    try:
        passages = split_into_passages(result, settings.max_document_passages)
    except ExtractionError as exc:
        return [{"key": key, "i": 0, "n": 0, "text": "", "record": pickle.dumps((found, str(exc), []))}]
    record = pickle.dumps((found, replace(result, pages=[]), passages))  # pages are not needed past here
    if not passages:
        return [{"key": key, "i": 0, "n": 0, "text": "", "record": record}]
    return [{"key": key, "i": i, "n": len(passages), "text": index_text(p.text, p.section, p.context),
             "record": record if i == 0 else b""} for i, p in enumerate(passages)]


class _RayRun(_Run):
    """A plain-pipeline run whose reading and embedding happen on the cluster."""

    def __init__(self, writer, location, settings, embedder, progress, actors: int | None):
        super().__init__(writer, location, settings, embedder, progress)
        self.actors = actors
        self.vectors: dict[str, np.ndarray] = {}  # file path -> its passages' vectors, until committed
        self.repair_vectors = np.zeros((0, 0), np.float32)

    def read_embed_commit(self) -> None:
        if self.repairs:
            self.repair_vectors = self._embed_texts([t for _, t in self.repairs])
        done, files = 0, {i: f for i, f in enumerate(self.files)}
        parts: dict[int, dict] = {}
        pending_passages = 0
        for row in self._stream(files):
            part = parts.setdefault(row["key"], {"vectors": {}})
            if row["record"]:
                part["record"] = pickle.loads(row["record"])
            if row["n"]:
                part["vectors"][row["i"]] = row["vector"]
            if "record" not in part or len(part["vectors"]) < row["n"]:
                continue
            found, result, passages = parts.pop(row["key"])["record"]
            before = len(self.pending)
            self._add(found, result, passages)
            if len(self.pending) > before:
                self.vectors[str(found.path)] = np.stack([part["vectors"][i] for i in range(len(passages))])
                pending_passages += len(passages)
            done += 1
            self.progress("extract", done, len(files))
            if pending_passages >= COMMIT_PASSAGES or time.perf_counter() - self.last_commit > self.settings.checkpoint_s:
                self._commit()
                pending_passages = 0
        self._commit()
        counts = self.writer.counts()
        self.report.passages, self.report.documents = counts["passages"], counts["documents"]
        self.report.generation = self.writer.generation

    def _embed(self, texts: list[str]) -> np.ndarray:
        """The vectors the cluster made for what is pending, in _commit's order."""
        parts = [self.vectors.pop(str(p.found.path)) for p in self.pending]
        if self.repairs:
            parts.append(self.repair_vectors)
            self.repair_vectors = np.zeros((0, 0), np.float32)
        parts = [p for p in parts if p.size]
        vectors = np.concatenate(parts) if parts else np.zeros((0, self.writer.dimension or 0), np.float32)
        if len(vectors) != len(texts):
            raise KBError(f"Internal error: the cluster returned {len(vectors)} vectors for {len(texts)} passages; "
                          "nothing was committed.")
        if len(texts):
            self.report.model_loaded = True
        return vectors

    def _stream(self, files: dict[int, discover.Found]):
        """Rows (key, i, n, record, vector) as the cluster finishes them, in any order."""
        import ray.data  # binds `ray` too

        if not files:
            return iter(())
        items = [{"key": i, "found": pickle.dumps(f)} for i, f in files.items()]
        cpus = int(ray.cluster_resources().get("CPU", 1))
        blocks = min(len(items), max(-(-len(items) // FILES_PER_TASK), 2 * cpus), MAX_BLOCKS)  # >= 2 a CPU
        dataset = ray.data.from_items(items, override_num_blocks=blocks)
        dataset = dataset.flat_map(read_and_split, fn_kwargs={"settings": self.settings}, num_cpus=1)
        return self._embedded(dataset).iter_rows()

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        """Stored passages to embed again (repair, --rebuild), through the same actor pool."""
        import ray.data

        dataset = ray.data.from_items([{"key": i, "i": 0, "n": 1, "text": t, "record": b""} for i, t in enumerate(texts)])
        rows = sorted(self._embedded(dataset).iter_rows(), key=lambda r: r["key"])
        return np.stack([r["vector"] for r in rows]).astype(np.float32)

    def _embedded(self, dataset):
        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = False
        actors, resources = plan_resources(self.actors)
        device = "cuda" if resources.get("num_gpus") else self.settings.device
        runtime = self.embedder.runtime  # resolved on the driver: the knowledge base's precision
        if device == "cuda" and runtime == "onnx":
            runtime = "torch"  # the same fp32 vectors, on the GPU
        return dataset.map_batches(EmbedPassages, fn_constructor_kwargs={"model": self.settings.model,
                                                                         "runtime": runtime, "device": device},
                                   compute=ray.data.ActorPoolStrategy(size=actors), batch_size=BATCH_SIZE,
                                   **resources)
