"""Heavy ingests from the app run outside the server process (issue 27, item 4): the Library
calls `ingest_in_child`, which reads, embeds and commits in a child process, reports progress
back to the caller's thread, and turns a child that dies (out of memory, a crashed reader) into
one line while the caller carries on and the knowledge base stays as it was."""
from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from ingest import library
from kb.backends.local import LocalBackend
from kb.errors import KBError


def write_corpus(folder: Path, topics: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for topic in topics:
        (folder / f"{topic}.txt").write_text(
            f"{topic.title()} Guidance\n\nThe {topic} program pays for infant mental health consultation in child care "
            f"settings. Each {topic} consultant visits every classroom twice a month.\n", encoding="utf-8")
    return folder


def test_an_ingest_runs_in_a_child_and_reports_progress_to_the_caller(tmp_path, settings):
    corpus = write_corpus(tmp_path / "corpus", ["okapi", "tapir"])
    seen = []

    def progress(stage: str, done: int, total: int) -> None:
        seen.append((stage, os.getpid(), [p.name for p in multiprocessing.active_children()]))

    report = library.ingest_in_child([corpus], settings, progress=progress)
    assert sorted(report.added) == ["okapi.txt", "tapir.txt"] and report.passages == 2
    stages = {stage for stage, _, _ in seen}
    assert {"scan", "extract", "embed", "write"} <= stages
    assert {pid for _, pid, _ in seen} == {os.getpid()}  # called here, in the caller's process
    assert all("kb-ingest" in children for _, _, children in seen)  # while the child did the work
    assert not [p for p in multiprocessing.active_children() if p.name == "kb-ingest"]
    assert LocalBackend(settings.kb_dir).current_generation() == 1


def test_a_child_that_dies_is_one_line_and_the_caller_and_the_knowledge_base_carry_on(tmp_path, settings,
                                                                                      run_ingest):
    corpus = write_corpus(tmp_path / "corpus", ["okapi"])
    run_ingest(corpus)
    write_corpus(corpus, ["tapir", "heron"])

    def kill_the_child_while_it_embeds(stage: str, done: int, total: int) -> None:
        if stage == "embed":
            for child in multiprocessing.active_children():
                if child.name == "kb-ingest":
                    os.kill(child.pid, signal.SIGKILL)  # as the kernel does to a process out of memory

    with pytest.raises(KBError) as stopped:
        library.ingest_in_child([corpus], settings, progress=kill_the_child_while_it_embeds)
    message = str(stopped.value)
    assert message.startswith("The ingest stopped unexpectedly (its process ended with code -9")
    assert "\n" not in message
    assert LocalBackend(settings.kb_dir).current_generation() == 1  # the previous generation answers
    report = run_ingest(corpus)  # and the next ingest goes through
    assert sorted(report.added) == ["heron.txt", "tapir.txt"] and report.documents == 3


def test_a_kb_error_in_the_child_is_raised_in_the_caller(tmp_path, settings):
    Path(settings.kb_dir).mkdir(parents=True)
    (Path(settings.kb_dir) / "kb.sqlite").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(KBError, match="is not a usable knowledge-base database") as refused:
        library.ingest_in_child([write_corpus(tmp_path / "corpus", ["okapi"])], settings)
    assert "\n" not in str(refused.value)


def test_a_caller_that_stops_waiting_stops_the_child(tmp_path, settings):
    """Streamlit stops a script whose page was left by raising inside the next call it makes:
    here, the progress callback. The child is stopped with it, as an in-process ingest was."""
    corpus = write_corpus(tmp_path / "corpus", ["okapi", "tapir"])

    def page_left(stage: str, done: int, total: int) -> None:
        if stage == "embed":
            raise RuntimeError("the page was left")

    with pytest.raises(RuntimeError, match="page was left"):
        library.ingest_in_child([corpus], settings, progress=page_left)
    assert not [p for p in multiprocessing.active_children() if p.name == "kb-ingest"]
    assert LocalBackend(settings.kb_dir).current_generation() == 0
