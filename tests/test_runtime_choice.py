"""The query path as a user runs it: `auto` picks ONNX at the knowledge base's precision, a
question imports neither torch nor bm25s/scipy, and an earlier version's saved bm25s index
scores exactly as bm25s does."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from conftest import CORPUS, ROOT, kb_cli

from kb.backends.local.keywords import KeywordIndex, LegacyKeywordIndex, SavedScores, build_legacy
from kb.config import load_settings
from kb.embedders import resolve_runtime
from kb.tokens import tokenize


def test_saved_scores_equal_bm25s(tmp_path):
    import bm25s

    texts = [p.strip() for f in sorted(CORPUS.glob("*.txt")) for p in f.read_text(encoding="utf-8").split("\n\n")
             if p.strip()]
    build_legacy(tmp_path, range(100, 100 + len(texts)), texts)
    saved, reference = SavedScores(tmp_path), bm25s.BM25.load(str(tmp_path), show_progress=False)
    mask = (np.arange(len(texts)) % 3 == 0).astype(np.float32)
    for question in ["What is reflective supervision?", "Medicaid financing financing of IECMH consultation",
                     "DC:0-5 crosswalk", "U.S. states home visiting", "zebra"]:
        tokens = tokenize(question)
        ours, theirs = saved.get_tokens_ids(tokens), reference.get_tokens_ids(tokens)
        assert ours == theirs
        assert np.array_equal(saved.get_scores_from_ids(ours), reference.get_scores_from_ids(theirs))
        assert np.array_equal(saved.get_scores_from_ids(ours, mask), reference.get_scores_from_ids(theirs, mask))
    loaded = KeywordIndex.load(tmp_path, mmap=True)
    assert isinstance(loaded, LegacyKeywordIndex)
    assert loaded.scores("reflective supervision").argmax() == reference.get_scores(
        tokenize("reflective supervision")).argmax()


def test_auto_runtime_follows_the_knowledge_base(tmp_path):
    settings = load_settings(kb_dir=tmp_path / "kb")
    assert resolve_runtime(settings) == "onnx-int8"  # new: the measured default
    assert resolve_runtime(settings, "sentence-transformers/all-MiniLM-L6-v2") == "onnx"  # built fp32 (torch)
    assert resolve_runtime(settings, "sentence-transformers/all-MiniLM-L6-v2@int8") == "onnx-int8"
    assert resolve_runtime(load_settings(kb_dir=tmp_path, runtime="torch")) == "torch"
    assert resolve_runtime(load_settings(kb_dir=tmp_path, model=str(tmp_path / "no-such-model"))) == "torch"


def test_a_question_imports_no_torch_and_no_scipy(tmp_path, run_ingest, kb_dir):
    """A knowledge base built with torch (fp32) is searched by `kb ask` with ONNX fp32: same
    vectors, so the same answer, and a process that never imports the heavy libraries."""
    run_ingest(CORPUS)
    question = "What is reflective supervision?"
    torch_answer = json.loads(kb_cli("ask", question, "--kb", kb_dir, "--json", "--runtime", "torch",
                                     env={"HF_HUB_OFFLINE": "1"}).stdout)
    script = ("import sys, json\nfrom cli import main\n"
              "try:\n    main(['ask', sys.argv[1], '--kb', sys.argv[2], '--json'])\nexcept SystemExit:\n    pass\n"
              "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'bm25s', 'scipy')"
              " if m in sys.modules)\n"
              "print(json.dumps(heavy))\n")
    out = subprocess.run([sys.executable, "-c", script, question, str(kb_dir)], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    answer_line, heavy_line = out.stdout.strip().splitlines()[-2:]
    assert json.loads(heavy_line) == []
    onnx_answer = json.loads(answer_line)
    assert [p["passage_id"] for p in onnx_answer["passages"]] == [p["passage_id"] for p in torch_answer["passages"]]
