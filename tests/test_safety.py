"""Safe to leave running: nothing read outside the corpus, nothing slow forever, nothing unsafe
printed, and every failure of the disk or the database told as one line (issue: office network).

Real files, real processes, real mounts (tmpfs for a full disk, a read-only bind mount) and a
real unprivileged user where root would read anything.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT, kb_cli, searcher_for

from kb.backends.local import LocalBackend

ESC = "\x1b"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def doc_text(topic: str) -> str:
    return (f"{topic.title()} Guidance\n\nThe {topic} program pays for infant mental health consultation in "
            f"child care settings. Each {topic} consultant visits every classroom twice a month.\n")


def reasons_of(report_json: dict) -> dict[str, str]:
    return {Path(f["path"]).name: f["reason"] for f in report_json["failed"]}


def ingest_json(*paths, kb: Path, env=None) -> dict:
    result = kb_cli("ingest", *paths, "--kb", kb, "--json", env=env)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


# ---- 1. nothing outside the corpus ------------------------------------------------------------

def test_links_out_of_the_corpus_and_system_files_are_refused(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "real.txt", doc_text("okapi"))
    outside = write(tmp_path / "private" / "secret.txt", "The password is hunter2.\n")
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    (corpus / "environ.txt").symlink_to("/proc/self/environ")
    (corpus / "secret.txt").symlink_to(outside)
    (corpus / "private-folder").symlink_to(outside.parent, target_is_directory=True)
    hidden = write(corpus / ".drafts" / "target.txt", doc_text("tapir"))  # hidden folders are not walked
    (corpus / "inside.txt").symlink_to(hidden)  # but a link that stays inside the corpus is fine
    os.mkfifo(corpus / "pipe.txt")
    report = ingest_json(corpus, kb=tmp_path / "kb")
    reasons = reasons_of(report)
    assert sorted(report["added"]) == ["inside.txt", "real.txt"]
    for name in ("passwd.txt", "environ.txt", "secret.txt"):
        assert "outside the folder being ingested" in reasons[name]
    assert "outside the folder being ingested" in reasons["private-folder"]
    assert "not a regular file" in reasons["pipe.txt"]
    ask = kb_cli("ask", "hunter2 password root", "--kb", tmp_path / "kb", "--json", "-k", "5")
    texts = " ".join(p["text"] for p in json.loads(ask.stdout)["passages"])
    assert "hunter2" not in texts and "root:" not in texts


def test_a_file_name_that_is_not_utf8_is_reported_and_the_rest_ingested(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "good.txt", doc_text("zebra"))
    bad = os.path.join(os.fsencode(corpus), b"caf\xe9-notes.txt")
    with open(bad, "wb") as f:
        f.write(doc_text("gazelle").encode())
    for _ in range(2):  # and again: a bad name never makes the folder fail for good
        report = ingest_json(corpus, kb=tmp_path / "kb")
        assert "good.txt" in report["added"] + report["unchanged"]
        (failure,) = report["failed"]
        assert "not valid UTF-8" in failure["reason"] and "\\xe9" in failure["path"]


def test_permission_denied_is_a_per_file_reason(tmp_path):
    """Root reads any file whatever its mode, so the ingest runs without the capabilities that
    let it (setpriv drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH): a real EACCES."""
    corpus = tmp_path / "corpus"
    write(corpus / "open.txt", doc_text("heron"))
    write(corpus / "locked.txt", doc_text("ibis")).chmod(0o000)
    command = [sys.executable, "-m", "cli", "ingest", str(corpus), "--kb", str(tmp_path / "kb"), "--json"]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                   "--inh-caps=-dac_override,-dac_read_search", "--"] + command
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    report = json.loads(result.stdout)
    assert report["added"] == ["open.txt"]
    assert "permission denied" in reasons_of(report)["locked.txt"]


# ---- 4. a bad sidecar entry is one file's problem ------------------------------------------------

def test_bad_sidecar_entries_are_warnings_not_a_failed_ingest(tmp_path):
    corpus = tmp_path / "corpus"
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        write(corpus / name, doc_text(name[0] + "lpaca"))
    (corpus / "metadata.json").write_text(
        '{"a.txt": {"title": ["a", "list"], "year": 2019},'
        ' "b.txt": {"year": 1e30, "publisher": "Agency B"},'
        ' "c.txt": {"year": Infinity, "states": ["Atlantis"]},'
        ' "d.txt": {"title": 12345}}')
    result = kb_cli("ingest", corpus, "--kb", tmp_path / "kb", "--json")
    assert result.returncode == 0 and "not valid JSON" in result.stdout  # Infinity is not JSON: whole file ignored
    assert sorted(json.loads(result.stdout)["added"]) == ["a.txt", "b.txt", "c.txt", "d.txt"]
    (corpus / "metadata.json").write_text(
        '{"a.txt": {"title": ["a", "list"], "year": 2019},'
        ' "b.txt": {"year": 1e30, "publisher": "Agency B"},'
        ' "c.txt": {"year": "soon", "states": ["Atlantis"]},'
        ' "d.txt": {"title": 12345}}')
    report = ingest_json(corpus, kb=tmp_path / "kb")
    warnings = {Path(w["path"]).name: w["warning"] for w in report["warnings"]}
    assert "title must be text" in warnings["a.txt"] and "year must be" in warnings["b.txt"]
    assert "states must be" in warnings["c.txt"] or "year must be" in warnings["c.txt"]
    assert "title must be text" in warnings["d.txt"]
    docs = {d.name: d for d in LocalBackend(tmp_path / "kb").documents()}
    assert docs["a.txt"].year == 2019 and docs["b.txt"].publisher == "Agency B" and docs["b.txt"].year is None
    generation = LocalBackend(tmp_path / "kb").current_generation()
    again = ingest_json(corpus, kb=tmp_path / "kb")
    assert len(again["unchanged"]) == 4 and again["generation"] == generation  # nothing republished


def _documents(kb: Path, env: dict) -> dict:
    from kb.backends import open_backend
    from kb.config import load_settings

    settings = load_settings(kb_dir=kb, backend=env.get("KB_BACKEND"), database_url=env.get("KB_DATABASE_URL"))
    return {d.name: d for d in open_backend(settings).documents()}


@pytest.mark.parametrize("backend", ["local", "postgres"])
def test_a_nul_in_a_sidecar_field_is_that_fields_problem(tmp_path, request, backend):
    """PostgreSQL refuses NUL in text: one such field used to abort the whole batch there."""
    env = {"HF_HUB_OFFLINE": "1"}
    if backend == "postgres":
        env.update(KB_BACKEND="postgres", KB_DATABASE_URL=request.getfixturevalue("postgres_url"))
    corpus = tmp_path / "corpus"
    for name in ("a.txt", "b.txt", "c.txt"):
        write(corpus / name, doc_text(name[0] + "rmadillo"))
    (corpus / "metadata.json").write_text(json.dumps({
        "a.txt": {"title": "Budget\u0000Memo", "publisher": "Agency A", "year": 2019},
        "b.txt": {"publisher": "Office of\u0007 Early Learning", "url": "https://example.gov/\u0000x",
                  "type": "brief\ud800", "year": 2020},
        "c.txt": {"title": "Clean Title"}}), encoding="utf-8")
    result = kb_cli("ingest", corpus, "--kb", tmp_path / "kb", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["added"]) == ["a.txt", "b.txt", "c.txt"] and report["failed"] == []
    warnings = {}
    for w in report["warnings"]:
        warnings.setdefault(Path(w["path"]).name, []).append(w["warning"])
    assert warnings["a.txt"] == ["metadata.json: title holds a control character (U+0000); ignored"]
    assert sorted(warnings["b.txt"]) == ["metadata.json: publisher holds a control character (U+0007); ignored",
                                         "metadata.json: type holds half of a UTF-16 surrogate pair, which is not "
                                         "text; ignored",
                                         "metadata.json: url holds a control character (U+0000); ignored"]
    assert "c.txt" not in warnings
    docs = _documents(tmp_path / "kb", env)
    assert (docs["a.txt"].publisher, docs["a.txt"].year, docs["b.txt"].year) == ("Agency A", 2019, 2020)
    assert docs["c.txt"].title == "Clean Title" and "\x00" not in docs["a.txt"].title
    assert docs["b.txt"].publisher is None and docs["b.txt"].url is None and docs["b.txt"].doc_type is None


def test_a_deeply_nested_sidecar_is_one_line_and_the_rest_goes_in(tmp_path):
    corpus = tmp_path / "corpus"
    for name in ("deep/a.txt", "b.txt", "c.txt"):
        write(corpus / name, doc_text(Path(name).name[0] + "xolotl"))
    write(corpus / "metadata.json", json.dumps({"b.txt": {"title": "Bee Title"}}))
    write(corpus / "deep" / "metadata.json", '{"a.txt": ' + "[" * 5000 + "]" * 5000 + "}")
    result = kb_cli("ingest", corpus, "--kb", tmp_path / "kb", "--json", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["added"]) == ["a.txt", "b.txt", "c.txt"] and "Traceback" not in result.stderr
    (warning,) = report["warnings"]
    assert Path(warning["path"]).name == "a.txt" and "\n" not in warning["warning"]
    assert "metadata.json is nested too deeply to read" in warning["warning"]
    assert _documents(tmp_path / "kb", {})["b.txt"].title == "Bee Title"


def test_the_librarys_editor_refuses_a_nul_and_reads_a_nested_sidecar_as_one_line(tmp_path, embedder):
    from ingest import library
    from ingest.pipeline import ingest
    from kb.config import load_settings
    from kb.errors import UsageError

    corpus = tmp_path / "corpus"
    deep, plain = write(corpus / "deep" / "a.txt", doc_text("axolotl")), write(corpus / "b.txt", doc_text("bison"))
    write(corpus / "deep" / "metadata.json", '{"a.txt": ' + "{\"x\": " * 5000 + "1" + "}" * 5000 + "}")
    settings = load_settings(kb_dir=tmp_path / "kb")
    assert sorted(ingest([corpus], settings, embedder=embedder).added) == ["a.txt", "b.txt"]
    with pytest.raises(UsageError, match="nested too deeply") as nested:
        library.edit_metadata(settings, str(deep), {"title": "Axolotl Care"}, embedder=embedder)
    assert "\n" not in str(nested.value)
    with pytest.raises(UsageError, match=r"title holds a control character \(U\+0000\)"):
        library.edit_metadata(settings, str(plain), {"title": "Bison\x00Guidance"}, embedder=embedder)
    assert not (corpus / "metadata.json").exists()  # nothing written


# ---- 6. no terminal escapes reach the terminal --------------------------------------------------

def test_control_sequences_from_documents_never_reach_the_terminal(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "entities.html",
          "<html><head><title>Clear &#27;[2J screen &#x9b;31m title</title></head><body>"
          "<h1>Okapi policy</h1><p>The okapi policy &#27;]52;c;ZXZpbA==&#7; funds infant mental health "
          "consultation in every county of the state, twice a month.</p></body></html>")
    write(corpus / f"name{ESC}[31mred.txt", doc_text("okapi"))
    (corpus / "metadata.json").write_text(json.dumps({"entities.html": {"publisher": f"Agency {ESC}[1m bold"}}))
    kb = tmp_path / "kb"
    outputs = [kb_cli("ingest", corpus, "--kb", kb), kb_cli("status", "--kb", kb), kb_cli("documents", "--kb", kb),
               kb_cli("ask", "okapi policy consultation", "--kb", kb), kb_cli("ask", "okapi", "--kb", kb, "--json"),
               kb_cli("ingest", corpus, "--kb", kb, "--json")]
    for result in outputs:
        assert result.returncode == 0, result.stderr
        for stream in (result.stdout, result.stderr):
            assert ESC not in stream and "\x9b" not in stream and "\x07" not in stream
    answer = json.loads(outputs[4].stdout)
    assert any("okapi policy" in p["text"] for p in answer["passages"])


# ---- 8. failures of the disk and the database, as one line --------------------------------------

@contextmanager
def mounted(kind: str | None, target: Path, *options: str, source: str = "none"):
    target.mkdir(parents=True, exist_ok=True)
    command = ["mount", *(["-t", kind] if kind else []), *options, source, str(target)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, f"cannot mount ({done.stderr.strip()}): this test needs root and mount"
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_a_full_disk_is_one_line_and_loses_nothing(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "first.txt", doc_text("first"))
    with mounted("tmpfs", tmp_path / "small", "-o", "size=4m") as small:
        kb = small / "kb"
        assert kb_cli("ingest", corpus, "--kb", kb).returncode == 0
        before = json.loads(kb_cli("status", "--kb", kb, "--json").stdout)
        free = shutil.disk_usage(small).free
        (small / "filler").write_bytes(b"\0" * (free - 8 * 1024))  # leave 8 kB
        write(corpus / "second.txt", doc_text("second") + "Another sentence about the program. " * 300)
        result = kb_cli("ingest", corpus, "--kb", kb)
        assert result.returncode == 1
        message = result.stderr.strip()
        assert message.startswith("Error: The disk holding") and "full" in message and "\n" not in message
        assert "Traceback" not in result.stderr
        (small / "filler").unlink()
        after = json.loads(kb_cli("status", "--kb", kb, "--json").stdout)
        assert (after["generation"], after["passages"]) == (before["generation"], before["passages"])
        ask = kb_cli("ask", "first program consultation", "--kb", kb, "--json")
        assert ask.returncode == 0 and json.loads(ask.stdout)["passages"]
        assert kb_cli("ingest", corpus, "--kb", kb).returncode == 0  # space again: the ingest goes through
        assert json.loads(kb_cli("status", "--kb", kb, "--json").stdout)["documents"] == 2


def test_a_read_only_knowledge_base_still_answers(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus / "one.txt", doc_text("pelican"))
    kb = tmp_path / "kb"
    assert kb_cli("ingest", corpus, "--kb", kb).returncode == 0
    with mounted(None, tmp_path / "ro", "--bind", source=str(kb)) as ro:
        remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True, text=True)
        assert remount.returncode == 0, remount.stderr
        status = kb_cli("status", "--kb", ro)
        assert status.returncode == 0 and "passages" in status.stdout, status.stderr
        ask = kb_cli("ask", "pelican consultation", "--kb", ro, "--json")
        assert ask.returncode == 0, ask.stderr
        assert "pelican" in json.loads(ask.stdout)["passages"][0]["text"]
        write(corpus / "two.txt", doc_text("stork"))
        ingest = kb_cli("ingest", corpus, "--kb", ro)
        assert ingest.returncode == 1 and "read-only" in ingest.stderr and "Traceback" not in ingest.stderr


@pytest.mark.parametrize("content", [b"", b"this is not a database at all" * 100])
def test_an_empty_or_garbage_database_is_one_line(tmp_path, content):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "kb.sqlite").write_bytes(content)
    for args in (("ask", "anything"), ("status",)):
        result = kb_cli(*args, "--kb", kb)
        assert result.returncode == 1
        assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_removed_write_ahead_log_under_a_running_reader(tmp_path):

    corpus = tmp_path / "corpus"
    write(corpus / "one.txt", doc_text("crane"))
    kb = tmp_path / "kb"
    assert kb_cli("ingest", corpus, "--kb", kb).returncode == 0
    searcher = searcher_for(kb)
    assert searcher.ask("crane consultation", k=1).hits
    for suffix in ("-wal", "-shm"):
        (kb / f"kb.sqlite{suffix}").unlink(missing_ok=True)
    answer = searcher.ask("crane consultation", k=1)  # the checkpointed database holds everything
    assert "crane" in answer.hits[0].passage.text


# ---- crash safety under add / change / delete ---------------------------------------------------

INGEST_WITH_HASHING = """
import sys
from ingest.pipeline import ingest
from kb.config import load_settings
from kb.embedders.hashing import HashingEmbedder
report = ingest([sys.argv[1]], load_settings(kb_dir=sys.argv[2]), embedder=HashingEmbedder())
print(report.generation)
"""


def _ingest_process(corpus: Path, kb: Path) -> subprocess.Popen:
    env = {**os.environ, "KB_CHECKPOINT_S": "0", "PYTHONPATH": str(ROOT)}  # commit after every file
    return subprocess.Popen([sys.executable, "-c", INGEST_WITH_HASHING, str(corpus), str(kb)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _passages(kb: Path) -> list[tuple]:
    with LocalBackend(kb).read() as conn:
        return sorted(conn.execute("SELECT d.name, p.ordinal, p.text FROM passages p "
                                   "JOIN documents d ON d.id = p.document_id").fetchall())


def test_random_kills_during_adds_changes_and_deletes_end_where_a_clean_build_does(tmp_path):
    """Real processes killed with SIGKILL at random moments of ingests that add, change and
    delete files (model-free embedder: this is about storage). After each kill the knowledge
    base opens whole; after a last full ingest it equals a fresh build of the same folder."""
    import random
    import signal
    import time

    rng = random.Random(13)
    corpus, kb = tmp_path / "corpus", tmp_path / "kb"
    names = [f"doc{i:02d}.txt" for i in range(24)]
    for name in names[:8]:
        write(corpus / name, doc_text(name[:-4]) + f"Paragraph {rng.random()}.\n" * 30)
    for round_ in range(6):
        present = sorted(p.name for p in corpus.iterdir())
        for name in rng.sample([n for n in names if n not in present], 3):  # add
            write(corpus / name, doc_text(name[:-4]) + f"New paragraph {rng.random()}.\n" * 30)
        for name in rng.sample(present, 2):  # change
            write(corpus / name, doc_text(name[:-4]) + f"Changed paragraph {rng.random()}.\n" * 25)
        (corpus / rng.choice(present)).unlink()  # delete
        start = LocalBackend(kb).current_generation()
        proc = _ingest_process(corpus, kb)
        deadline = time.monotonic() + 300
        while proc.poll() is None and LocalBackend(kb).current_generation() == start and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader = LocalBackend(kb).reader()  # whole: database and index files agree
        assert reader.vectors.ntotal == reader.generation.passages == len(reader.keywords)
    finish = _ingest_process(corpus, kb)
    assert finish.wait(timeout=300) == 0, finish.stderr.read()
    clean = _ingest_process(corpus, tmp_path / "clean")
    assert clean.wait(timeout=300) == 0, clean.stderr.read()
    assert _passages(kb) == _passages(tmp_path / "clean")
    assert not [p for p in kb.iterdir() if p.name.endswith(".tmp")]


def test_filtered_searches_on_hnsw_take_ids_and_index_from_one_generation(tmp_path):
    """A reader searching with a filter while commits replace passages: every answer comes from
    one generation (before the fix, the allowed ids came from the live database and FAISS
    raised "key not found" for ids the loaded graph lacked)."""
    import threading

    from kb.embedders.hashing import HashingEmbedder
    from kb.models import Filters
    from kb.search import Searcher

    corpus, kb = tmp_path / "corpus", tmp_path / "kb"
    for i in range(6):
        write(corpus / f"doc{i}.txt", doc_text(f"topic{i}") + f"Detail {i}.\n" * 20)
    env = {**os.environ, "KB_INDEX": "hnsw", "PYTHONPATH": str(ROOT)}
    run = [sys.executable, "-c", INGEST_WITH_HASHING, str(corpus), str(kb)]
    assert subprocess.run(run, env=env, cwd=ROOT).returncode == 0
    searcher = Searcher(LocalBackend(kb), HashingEmbedder())
    assert searcher.reader().generation.index_kind == "hnsw"
    problems, answers, stop = [], [0], threading.Event()

    def ask_with_filters():
        while not stop.is_set():
            try:
                answer = searcher.ask("topic consultation detail", k=3,
                                      filters=Filters(documents=("doc1.txt", "doc2.txt", "doc3.txt")))
                assert {h.document.name for h in answer.hits} <= {"doc1.txt", "doc2.txt", "doc3.txt"}
                answers[0] += 1
            except Exception as exc:  # noqa: BLE001 - every failure is a finding
                problems.append(repr(exc))

    reader = threading.Thread(target=ask_with_filters)
    reader.start()
    try:
        for round_ in range(6):  # each commit replaces doc1..3: new passage ids, old ones gone
            for i in (1, 2, 3):
                write(corpus / f"doc{i}.txt", doc_text(f"topic{i}") + f"Round {round_} detail {i}.\n" * 20)
            assert subprocess.run(run, env=env, cwd=ROOT).returncode == 0
    finally:
        stop.set()
        reader.join(timeout=60)
    assert not problems, problems[:3]
    assert answers[0] > 0
