"""`kb ingest --ray` on a real local Ray cluster (2 CPUs): the same knowledge base as the plain
pipeline, written through the backend's writer, and resumable after a crash."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from conftest import CORPUS, kb_cli
from ingest import ray_ingest
from ingest.pipeline import ingest
from kb.backends import open_backend
from kb.config import load_settings
from kb.models import Filters


def test_kb_ingest_ray_starts_a_one_machine_cluster(tmp_path):
    """First in this module: the command starts (and stops) its own cluster before the fixture's."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    out = kb_cli("ingest", "--ray", corpus, "--kb", tmp_path / "kb", "--json", env={"HF_HUB_OFFLINE": "1"},
                 timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert len(report["added"]) == 5 and report["passages"] > 20 and report["model_loaded"]
    again = json.loads(kb_cli("ingest", corpus, "--kb", tmp_path / "kb", "--json", env={"HF_HUB_OFFLINE": "1"}).stdout)
    assert len(again["unchanged"]) == 5 and again["generation"] == report["generation"]


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=ray_ingest.runtime_env())
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def sources(tmp_path):
    folder = tmp_path / "sources"
    shutil.copytree(CORPUS, folder)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    (folder / "empty.txt").write_text("   \n")
    return folder


def contents(backend) -> dict:
    docs = {d.id: d for d in backend.documents()}
    reader = backend.reader()
    out = {}
    for doc in docs.values():
        out[doc.name] = (doc.title, doc.publisher, doc.year, doc.doc_type, doc.states,
                         [(p.text, p.page, p.section, p.states) for p in reader.document_passages(doc.id)])
    return out


def test_ray_ingest_builds_what_the_plain_pipeline_builds(ray_cluster, sources, tmp_path, postgres_url, embedder):
    plain_settings = load_settings(kb_dir=tmp_path / "plain")
    plain = ingest([sources], plain_settings, embedder=embedder)
    settings = load_settings(kb_dir=tmp_path / "unused", backend="postgres", database_url=postgres_url)
    report = ray_ingest.ingest_on_ray([sources], settings)
    assert sorted(report.added) == sorted(plain.added) and report.passages == plain.passages
    assert sorted((f["path"], f["reason"]) for f in report.failed) == \
        sorted((f["path"], f["reason"]) for f in plain.failed)
    assert {f["path"].rsplit("/", 1)[1] for f in report.failed} == {"broken.pdf", "empty.txt"}
    local, pg = open_backend(plain_settings), open_backend(settings)
    assert contents(local) == contents(pg)
    assert sorted(p["path"] for p in pg.problems()) == sorted(p["path"] for p in local.problems())
    # The vectors are the model's (at the precision the run recorded: the default runtime's):
    # the nearest passage to each passage's own text is itself.
    from kb.embedders import for_settings

    same_runtime = for_settings(settings, shared=False)
    assert pg.recorded_model() == same_runtime.identity
    reader = pg.reader()
    for doc in pg.documents():
        for p in reader.document_passages(doc.id)[:2]:
            from kb.tokens import index_text

            best = reader.dense(same_runtime.encode_passages([index_text(p.text, p.section, p.context)])[0], 1,
                                Filters())
            # int8 quantises activations per batch (dynamic quantisation), so a passage's vector
            # moves slightly with its batch-mates: the actors batched it with others.
            tolerance = 5e-3 if same_runtime.precision == "int8" else 1e-4
            assert best[0][0] == p.id and best[0][1] == pytest.approx(1.0, abs=tolerance)


def test_ray_ingest_resumes_after_a_crash(ray_cluster, sources, tmp_path, monkeypatch):
    settings = replace(load_settings(kb_dir=tmp_path / "kb"), checkpoint_s=0.0)  # a commit per file
    committed: list[str] = []
    real_commit = ray_ingest._RayRun._commit

    def crash_after_two_documents(run):
        names = [p.found.path.name for p in run.pending]
        if names and len(committed) >= 2:
            raise KeyboardInterrupt("the machine went down")
        real_commit(run)
        committed.extend(names)

    monkeypatch.setattr(ray_ingest._RayRun, "_commit", crash_after_two_documents)
    with pytest.raises(KeyboardInterrupt):
        ray_ingest.ingest_on_ray([sources], settings)
    monkeypatch.undo()
    backend = open_backend(settings)
    kept = {d.name for d in backend.documents()}
    assert kept == set(committed) and len(kept) == 2
    report = ray_ingest.ingest_on_ray([sources], settings)
    assert set(report.unchanged) == kept and not set(report.added) & kept
    assert len(report.added) == 3 and report.passages == backend.reader().generation.passages
