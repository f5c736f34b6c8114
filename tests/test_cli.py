"""The `kb` command as a user runs it: real subprocesses, real model, JSON contract."""
from __future__ import annotations

import json

import pytest
from conftest import CORPUS, SEEDS, kb_cli, make_pdf

from kb.text import collapse


@pytest.fixture(scope="module")
def corpus_kb(tmp_path_factory):
    kb = tmp_path_factory.mktemp("cli") / "kb"
    result = kb_cli("ingest", CORPUS, "--kb", kb, "--json")
    assert result.returncode == 0, result.stderr
    return kb


def test_ingest_json_summary(corpus_kb, tmp_path):
    result = kb_cli("ingest", CORPUS, "--kb", corpus_kb, "--json")
    summary = json.loads(result.stdout)
    assert result.returncode == 0
    assert set(summary) >= {"added", "updated", "removed", "unchanged", "failed", "passages", "seconds"}
    assert len(summary["unchanged"]) == 5 and summary["added"] == [] and summary["passages"] > 20
    assert "Embedding" not in result.stderr  # no progress bar when not on a terminal


def test_ingest_human_summary_lists_failures(tmp_path):
    bad = tmp_path / "bad.pdf"
    bad.write_text("<html><body>not a pdf</body></html>")
    good = tmp_path / "good.txt"
    good.write_text("Title Here\n\nAn infant mental health consultation program.\n")
    result = kb_cli("ingest", bad, good, "--kb", tmp_path / "kb")
    assert result.returncode == 0, result.stderr
    assert "added          1" in result.stdout
    assert "bad.pdf: not a PDF: the content looks like an HTML page" in result.stdout


def test_ingest_nothing_ingested_exits_nonzero(tmp_path):
    result = kb_cli("ingest", tmp_path / "nope", "--kb", tmp_path / "kb")
    assert result.returncode == 1
    assert "no such file or folder" in result.stdout


def test_ask_batch_json_contract(corpus_kb, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in [
        {"id": "a", "question": "What is reflective supervision?"},
        {"id": 7, "question": "Which grant paid for the Massachusetts guidebook for early childhood educators?"},
        {"id": "c", "question": "How do I renew a passport?"},
    ]) + "\n")
    result = kb_cli("ask", "--questions", questions, "--kb", corpus_kb, "-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(l) for l in result.stdout.splitlines()]
    assert [l["id"] for l in lines] == ["a", 7, "c"]
    sources = {p.name: collapse(p.read_text(encoding="utf-8")) for p in CORPUS.glob("*.txt")}
    for line in lines:
        assert set(line) >= {"id", "question", "answered", "passages"}
        assert isinstance(line["answered"], bool) and len(line["passages"]) == 3
        for p in line["passages"]:
            assert set(p) >= {"document", "page", "section", "text", "score", "citation", "highlights"}
            assert p["page"] is None  # no PDFs in the corpus
            assert isinstance(p["score"], float) and p["citation"].endswith(".")
            if p["document"] in sources:  # text files: the passage is a verbatim slice
                assert p["text"] in sources[p["document"]]
            for start, end in p["highlights"]:
                assert 0 <= start < end <= len(p["text"])
    assert "Reflective supervision is a framework" in lines[0]["passages"][0]["text"]
    assert any("Race to the Top" in p["text"] for p in lines[1]["passages"])
    assert lines[0]["answered"] and lines[1]["answered"] and not lines[2]["answered"]


def test_ask_human_output_and_pdf_page_in_citation(tmp_path):
    pdf = make_pdf(tmp_path / "plan.pdf", [[("p", "Introduction to the plan.")],
                                          [("h", "Funding"), ("p", "The Title V block grant funds maternal "
                                                                   "and child health home visiting services.")]],
                   title="State Home Visiting Plan", author="Department of Health")
    kb = tmp_path / "kb"
    assert kb_cli("ingest", pdf, "--kb", kb).returncode == 0
    result = kb_cli("ask", "Which block grant funds home visiting?", "--kb", kb, "-k", "1", "--json")
    out = json.loads(result.stdout)
    p = out["passages"][0]
    assert p["page"] == 2 and p["section"] == "Funding" and p["document"] == "plan.pdf"
    assert p["citation"] == ("Department of Health, “State Home Visiting Plan” (n.d.), p. 2, "
                             "section “Funding”.") or p["citation"].startswith("Department of Health, “State Home")
    human = kb_cli("ask", "Which block grant funds home visiting?", "--kb", kb, "-k", "1")
    assert "Cite: Department of Health" in human.stdout and "p. 2" in human.stdout


def test_ask_on_missing_kb_says_what_to_do(tmp_path):
    result = kb_cli("ask", "anything", "--kb", tmp_path / "none")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: No knowledge base at")
    assert "kb ingest" in result.stderr and "Traceback" not in result.stderr


def test_ask_with_other_model_is_refused(corpus_kb, tmp_path):
    result = kb_cli("ask", "What is MYCHILD?", "--kb", corpus_kb, "--model", tmp_path / "other-model")
    assert result.returncode == 1 and "kb ingest --rebuild" in result.stderr


def test_usage_errors_exit_2(corpus_kb, tmp_path):
    assert kb_cli("ask", "--kb", corpus_kb).returncode == 2
    assert kb_cli("ask", "x", "--kb", corpus_kb, "--filter", "colour=blue").returncode == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = kb_cli("ask", "--questions", bad, "--kb", corpus_kb)
    assert result.returncode == 2 and "Line 1" in result.stderr


def test_status(corpus_kb):
    result = kb_cli("status", "--kb", corpus_kb, "--json")
    info = json.loads(result.stdout)
    assert info["documents"] == 5 and info["passages"] > 20
    # built by `kb ingest` with the default runtime (auto): int8 vectors, and the KB says so
    assert info["model"] == "sentence-transformers/all-MiniLM-L6-v2@int8" and info["dimension"] == 384
    assert info["index"] == "flat" and info["bytes"] > info["vector_bytes"] > 0
    human = kb_cli("status", "--kb", corpus_kb).stdout
    assert "documents   5" in human


def test_default_kb_dir_from_environment(tmp_path):
    env = {"KB_DIR": str(tmp_path / "envkb")}
    assert kb_cli("ingest", SEEDS / "002_25eca6605ff169cf.txt", env=env).returncode == 0
    result = kb_cli("ask", "Who is the contact at ZERO TO THREE?", "--json", "-k", "5", env=env)
    assert any("Lindsay Usry" in p["text"] for p in json.loads(result.stdout)["passages"])
    assert (tmp_path / "envkb" / "kb.sqlite").exists()


def test_filters_in_the_search(corpus_kb):
    result = kb_cli("ask", "workforce training", "--kb", corpus_kb, "-k", "4", "--json",
                    "--filter", "type=state web page")
    passages = json.loads(result.stdout)["passages"]
    assert len(passages) == 4 and {p["document"] for p in passages} == {"massachusetts-iecmh-resources-and-services.txt"}
    result = kb_cli("ask", "workforce training", "--kb", corpus_kb, "--json", "--filter", "year=1990-1999")
    out = json.loads(result.stdout)
    assert out["passages"] == [] and out["answered"] is False
    result = kb_cli("ask", "workforce", "--kb", corpus_kb, "--json", "--filter", "year=2020")
    assert {p["year"] for p in json.loads(result.stdout)["passages"]} == {2020}
