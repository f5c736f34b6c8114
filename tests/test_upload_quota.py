"""The upload quota is a locked reservation (issue 27, item 6): eight sessions saving at the
same moment (eight real processes, released together) cannot pass it between them, and web
pages fetched through the app count against it (a real server on 127.0.0.1)."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

from webserver import site  # noqa: F401 - a fixture

from ingest import library
from kb.config import load_settings

SESSIONS = 8


def one_session(kb_dir: str, corpus: str, number: int, start, results) -> None:
    """A session adding four files of 1 MB at once, as the Library's uploader does."""
    settings = load_settings(kb_dir=kb_dir).with_(upload_quota_mb=10)
    files = [(f"session-{number}-part-{part}.txt",
              (f"Session {number} part {part}\n\n".encode() + b"The program pays for consultation. " * 40_000)[:2**20])
             for part in range(4)]
    start.wait()
    result = library.save_uploads_within_quota(settings, corpus, files)
    results.put((number, len(result.saved), [str(r) for r in result.rejected]))


def test_eight_sessions_at_once_cannot_pass_the_quota(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(SESSIONS), context.Queue()
    sessions = [context.Process(target=one_session, args=(str(tmp_path / "kb"), str(corpus), n, start, results))
                for n in range(SESSIONS)]
    for process in sessions:
        process.start()
    outcomes = [results.get(timeout=120) for _ in sessions]
    for process in sessions:
        process.join(30)
    saved = sorted(p.name for p in corpus.iterdir())  # nothing else: the lock lives in the knowledge base
    # 32 files of 1 MB offered, 10 fit in 10 MB; the old check-then-write let about three times that through
    assert len(saved) == 10, saved
    assert sum((corpus / name).stat().st_size for name in saved) <= 10 * 2**20
    refused = [reason for _, count, reasons in outcomes for reason in reasons]
    assert len(refused) == 4 * SESSIONS - 10 and all("10 MB quota" in r and "KB_UPLOAD_QUOTA_MB" in r for r in refused)


def test_fetched_pages_count_against_the_quota(tmp_path, site, settings, embedder):  # noqa: F811
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "existing.txt").write_bytes(b"Existing guidance\n\n" + b"The program pays for consultation. " * 20_000)
    settings = settings.with_(upload_quota_mb=1, fetch_allow_private=True)
    big = b"<html><body><main><h1>Big page</h1>" + b"<p>Consultation in every classroom, twice a month.</p>" * 8_000 \
        + b"</main></body></html>"
    small = b"<html><body><main><h1>Okapi</h1><p>The okapi program pays for consultation.</p></main></body></html>"
    site.put("/big", big)
    site.put("/small", small)
    report = library.ingest_within_quota(settings, corpus, [f"{site.base}/big", f"{site.base}/small"],
                                         embedder=embedder)
    reasons = {f["path"]: f["reason"] for f in report.failed}
    assert set(reasons) == {f"{site.base}/big"}, reasons
    assert "1 MB quota" in reasons[f"{site.base}/big"] and "KB_UPLOAD_QUOTA_MB" in reasons[f"{site.base}/big"]
    assert len(report.added) == 1
    quota = library.UploadQuota.of(settings, corpus)
    kept = sum(p.stat().st_size for p in (Path(settings.kb_dir) / "web").iterdir())
    assert kept == len(small) and quota.used() == (corpus / "existing.txt").stat().st_size + len(small)
    # an upload now sees the page's bytes as used
    left = 1024 * 1024 - quota.used()
    result = library.save_uploads_within_quota(settings, corpus, [("fits-without-the-page.txt", b"x" * (left + 50))])
    assert len(result.rejected) == 1 and "quota" in str(result.rejected[0])
