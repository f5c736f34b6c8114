"""Web pages by address, against a real HTTP server on 127.0.0.1 that the tests start: main
content only, metadata, conditional re-fetch, gone pages kept, redirects, timeouts, robots.txt,
a PDF behind an address, a size cap, and the command line."""
from __future__ import annotations

import json
import time
from datetime import date

import pytest
from conftest import kb_cli, make_pdf
from webserver import CONSULTATION, agency_page, sharepoint_page, site  # noqa: F401 - site is a fixture

from ingest import web
from kb.backends.local import LocalBackend
from kb.errors import UsageError


@pytest.fixture(autouse=True)
def _private_allowed(monkeypatch):
    """The test server is on 127.0.0.1: these tests fetch from it as an intranet would
    (tests/test_fetch_safety.py checks that, by default, such addresses are refused)."""
    monkeypatch.setenv("KB_FETCH_ALLOW_PRIVATE", "1")


def documents(kb_dir):
    return {d.path: d for d in LocalBackend(kb_dir).documents()}


def passage_texts(kb_dir, path):
    with LocalBackend(kb_dir).read() as conn:
        return [r[0] for r in conn.execute("SELECT p.text FROM passages p JOIN documents d ON d.id = p.document_id "
                                           "WHERE d.path = ? ORDER BY p.ordinal", (path,))]


def test_page_by_address_keeps_main_content_and_metadata(site, run_ingest, kb_dir, searcher):
    site.put("/iecmh", agency_page(CONSULTATION), ETag='"v1"')
    url = site.base + "/iecmh"
    report = run_ingest(url + "#top")  # the fragment is not part of the identity
    assert report.added == [url.removeprefix("http://")] and report.failed == []
    doc = documents(kb_dir)[url]
    assert doc.kind == "html" and doc.url == url and doc.accessed == date.today().isoformat()
    assert doc.title == "Infant Mental Health Consultation"  # the site name is not part of it
    assert doc.publisher == "Department of Early Childhood" and doc.year == 2021
    meta = json.loads(doc.extracted_meta)
    assert meta["http"]["etag"] == '"v1"' and meta["published"] == "2021-03-04"
    assert meta["site_name"] == "Department of Early Childhood"
    text = " ".join(passage_texts(kb_dir, url))
    assert "Reflective supervision is offered monthly" in text
    assert "Consultation request form" in text  # a link list inside the content is content
    for boilerplate in ("cookies", "Skip to main content", "Careers", "Privacy policy"):
        assert boilerplate not in text
    assert "Home" not in text.split()  # the breadcrumb trail
    # the fetched bytes are kept with the knowledge base: the source opens without the network
    from kb.web_copies import source_path

    assert source_path(doc, kb_dir).read_bytes() == site.pages["/iecmh"][2]
    answer = searcher.ask("How often is reflective supervision offered to consultants?", k=1)
    hit = answer.hits[0]
    assert hit.document.path == url and hit.passage.section == "Supervision"
    from kb.citations import format_bibliography

    # cited with the address and the date it was read (APA 7 leaves the date out of dated pages)
    assert f"{url} (accessed {date.today().isoformat()})" in format_bibliography(hit).text
    assert url in format_bibliography(hit, "apa").text


NAVIGATION = ("Return to Top", "Print this page", "Email this page", "Share", "Sign In", "On this page",
              "Skip to main content")


def test_a_page_wrapped_in_one_form_is_read(site, run_ingest, kb_dir, searcher):
    """SharePoint and ASP.NET WebForms put the whole body in <form id="aspnetForm">: before,
    the form was dropped as furniture and the page ingested as no text."""
    site.put("/Pages/IECMH.aspx", sharepoint_page(CONSULTATION))
    url = site.base + "/Pages/IECMH.aspx"
    report = run_ingest(url)
    assert report.failed == [] and report.added == [url.removeprefix("http://")]
    doc = documents(kb_dir)[url]
    assert doc.title == "Infant Mental Health Consultation"
    assert doc.publisher == "Department of Early Childhood"  # the site's header, not the person in <meta author>
    assert doc.year == 2015  # "Last Reviewed: November 6, 2015" printed on the page
    passages = passage_texts(kb_dir, url)
    text = " ".join(passages)
    assert "Reflective supervision is offered monthly" in text and "Consultation request form" in text
    for phrase in NAVIGATION + ("Whitfield", "Home visiting", "Privacy policy"):
        assert phrase not in text, phrase
    assert passages[0].startswith("Consultation builds")  # no table of contents ("Supervision") merged in
    hit = searcher.ask("How often is reflective supervision offered to consultants?", k=1).hits[0]
    assert hit.document.path == url and hit.passage.section == "Supervision"
    from kb.citations import format_bibliography

    assert "Department of Early Childhood" in format_bibliography(hit).text and "2015" in format_bibliography(hit).text


def test_a_printed_review_date_comes_before_meta_dates_and_a_person_is_never_the_publisher(site, run_ingest, kb_dir):
    head = ('<meta property="article:modified_time" content="2023-04-05T09:00:00Z">'
            '<meta name="author" content="Dana Whitfield">')
    site.put("/a.aspx", sharepoint_page(CONSULTATION, printed="Page last updated: 02/14/2022", head=head, agency=""))
    site.put("/b.aspx", sharepoint_page(CONSULTATION, printed="", head=head, agency=""))
    run_ingest(site.base + "/a.aspx", site.base + "/b.aspx")
    docs = documents(kb_dir)
    assert docs[site.base + "/a.aspx"].year == 2022
    assert json.loads(docs[site.base + "/a.aspx"].extracted_meta)["published"] == "2022-02-14"
    assert docs[site.base + "/b.aspx"].year == 2023  # nothing printed: the page's modified time
    assert {docs[site.base + p].publisher for p in ("/a.aspx", "/b.aspx")} == {None}  # no agency named anywhere


def test_reingest_asks_conditionally_and_skips_an_unchanged_page(site, run_ingest, kb_dir):
    site.put("/iecmh", agency_page(CONSULTATION), ETag='"v1"')
    url = site.base + "/iecmh"
    run_ingest(url)
    site.requests.clear()
    again = run_ingest(url)
    assert again.unchanged == [url.removeprefix("http://")] and again.added == again.updated == []
    assert again.new_passages == 0 and not again.model_loaded
    page_requests = [headers for path, headers in site.requests if path == "/iecmh"]
    assert page_requests and page_requests[0].get("If-None-Match") == '"v1"'


def test_a_changed_page_is_read_again(site, run_ingest, kb_dir):
    url = site.base + "/iecmh"
    site.put("/iecmh", agency_page(CONSULTATION), ETag='"v1"')
    run_ingest(url)
    site.put("/iecmh", agency_page(CONSULTATION.replace("monthly", "every two weeks")), ETag='"v2"')
    report = run_ingest(url)
    assert report.updated == [url.removeprefix("http://")]
    text = " ".join(passage_texts(kb_dir, url))
    assert "every two weeks" in text and "monthly" not in text
    assert json.loads(documents(kb_dir)[url].extracted_meta)["http"]["etag"] == '"v2"'


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_page_keeps_its_passages_and_is_reported(site, run_ingest, kb_dir, status):
    url = site.base + "/iecmh"
    site.put("/iecmh", agency_page(CONSULTATION))
    run_ingest(url)
    before = passage_texts(kb_dir, url)
    site.put("/iecmh", b"gone", status=status)
    report = run_ingest(url)
    (failure,) = report.failed
    assert failure["path"] == url and f"HTTP {status}" in failure["reason"] and "is kept" in failure["reason"]
    assert passage_texts(kb_dir, url) == before and url in documents(kb_dir)
    assert {p["path"] for p in LocalBackend(kb_dir).problems()} == {url}
    site.put("/iecmh", agency_page(CONSULTATION))
    run_ingest(url)  # back again: the problem is cleared
    assert LocalBackend(kb_dir).problems() == []


def test_redirects_are_followed_and_cited_under_the_final_address(site, run_ingest, kb_dir):
    site.put("/iecmh", agency_page(CONSULTATION))
    site.put("/old-page", b"", status=301, Location="/iecmh")
    site.put("/loop", b"", status=302, Location="/loop")
    report = run_ingest(site.base + "/old-page", site.base + "/loop")
    doc = documents(kb_dir)[site.base + "/old-page"]
    assert doc.url == site.base + "/iecmh"
    assert any("redirected to" in w["warning"] for w in report.warnings)
    (loop,) = report.failed
    assert loop["path"] == site.base + "/loop" and "redirects" in loop["reason"]


def test_slow_server_times_out_without_holding_up_the_batch(site, run_ingest, settings, kb_dir):
    site.put("/iecmh", agency_page(CONSULTATION))
    site.put("/slow", agency_page(CONSULTATION))
    site.delay["/slow"] = 6
    started = time.monotonic()
    report = run_ingest(site.base + "/slow", site.base + "/iecmh", settings=settings.with_(fetch_timeout_s=1.5))
    assert time.monotonic() - started < 60
    assert report.added == [site.base.removeprefix("http://") + "/iecmh"]
    (slow,) = report.failed
    assert "time limit" in slow["reason"] and "KB_FETCH_TIMEOUT_S" in slow["reason"]


def test_robots_txt_is_obeyed(site, run_ingest):
    site.put("/private/letter", agency_page(CONSULTATION))
    report = run_ingest(site.base + "/private/letter")
    (refused,) = report.failed
    assert "robots.txt" in refused["reason"] and report.exit_code == 1
    assert not any(path == "/private/letter" for path, _ in site.requests)


def test_unreachable_robots_txt_means_no_fetch(site, run_ingest):
    site.put("/robots.txt", b"busy", status=503)
    site.put("/iecmh", agency_page(CONSULTATION))
    (refused,) = run_ingest(site.base + "/iecmh").failed
    assert "robots.txt" in refused["reason"] and "503" in refused["reason"]


def test_a_pdf_behind_an_address_is_read_as_a_pdf(site, run_ingest, kb_dir, tmp_path):
    pdf = make_pdf(tmp_path / "letter.pdf", [[("h", "Dear Colleague Letter"), ("p", "States may use Part C funds for "
                   "infant mental health consultation in early intervention programs.")]], title="Dear Colleague")
    site.put("/files/letter", pdf.read_bytes(), **{"Content-Type": "application/pdf"})
    site.put("/download?id=7", pdf.read_bytes(), **{"Content-Type": "application/octet-stream"})
    report = run_ingest(site.base + "/files/letter")
    doc = documents(kb_dir)[site.base + "/files/letter"]
    assert report.failed == [] and doc.kind == "pdf" and doc.pages == 1 and doc.title == "Dear Colleague"
    with LocalBackend(kb_dir).read() as conn:
        assert conn.execute("SELECT page FROM passages").fetchall() == [(1,)]
    # no declared type: the bytes say PDF (and the same content is not stored twice)
    (dup,) = run_ingest(site.base + "/download?id=7").failed
    assert "same content" in dup["reason"]


def test_size_cap_and_unsupported_types(site, run_ingest, settings):
    big = b"<html><body><p>" + b"word " * 300_000 + b"</p></body></html>"  # 1.5 MB
    site.put("/big", big)
    site.put("/big-streamed", big, chunked=True)
    site.put("/logo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, **{"Content-Type": "image/png"})
    report = run_ingest(site.base + "/big", site.base + "/big-streamed", site.base + "/logo.png",
                        settings=settings.with_(max_file_mb=1))
    reasons = {f["path"].rsplit("/", 1)[1]: f["reason"] for f in report.failed}
    assert "over the 1 MB limit" in reasons["big"] and "over the 1 MB limit" in reasons["big-streamed"]
    assert "image/png" in reasons["logo.png"] and "not a format" in reasons["logo.png"]


def test_unresolvable_host_and_bad_addresses_are_one_line_reasons(run_ingest):
    report = run_ingest("https://no-such-host.invalid/page", "ftp://example.org/x", "https://user:pw@example.org/")
    reasons = {f["path"]: f["reason"] for f in report.failed}
    assert "does not resolve" in reasons["https://no-such-host.invalid/"[:-1] + "/page"]
    assert len(report.failed) == 3 and all("\n" not in r for r in reasons.values())


def test_addresses_are_normalised():
    assert web.normalise(" HTTPS://Www.Example.GOV:443/a/b?x=1#frag ") == "https://www.example.gov/a/b?x=1"
    assert web.normalise("http://example.gov") == "http://example.gov/"
    assert web.normalise("http://example.gov:8080/") == "http://example.gov:8080/"
    for bad in ("https://", "https://exa mple.gov/", "file:///etc/passwd", "https://a:b@example.gov/"):
        with pytest.raises(web.AddressError):
            web.normalise(bad)
    assert web.display_name("https://www.mass.gov/info-details/x") == "www.mass.gov/info-details/x"


def test_address_list_file(tmp_path):
    good = tmp_path / "urls.txt"
    good.write_text("# seeds\nhttps://a.gov/one\n\n  https://b.gov/two  \n", encoding="utf-8")
    assert web.read_address_list(good) == ["https://a.gov/one", "https://b.gov/two"]
    bad = tmp_path / "bad.txt"
    bad.write_text("https://a.gov/one\ncorpus/file.txt\n", encoding="utf-8")
    with pytest.raises(UsageError, match="line 2"):
        web.read_address_list(bad)


def test_the_app_box_takes_several_addresses_and_reports_each(site, settings, embedder):
    site.put("/iecmh", agency_page(CONSULTATION))
    report = web.ingest_addresses(f"{site.base}/iecmh\n\nwww.example.gov/page\n{site.base}/missing\n", settings,
                                  embedder=embedder)
    assert report.added == [site.base.removeprefix("http://") + "/iecmh"]
    reasons = {f["path"]: f["reason"] for f in report.failed}
    assert "must start with https://" in reasons["www.example.gov/page"]
    assert "HTTP 404" in reasons[site.base + "/missing"]


def test_cli_takes_addresses_beside_folders_and_an_address_list(site, tmp_path):
    site.put("/iecmh", agency_page(CONSULTATION))
    site.put("/other", agency_page("<p>Home visiting programs serve families with infants in every county of the "
                                   "state.</p>", title="Home Visiting"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_text("Part C\n\nPart C serves infants and toddlers with delays.\n", encoding="utf-8")
    urls = tmp_path / "urls.txt"
    urls.write_text(f"# agency pages\n{site.base}/other\n", encoding="utf-8")
    kb = tmp_path / "kb"
    result = kb_cli("ingest", f"{site.base}/iecmh", docs, "--urls", urls, "--kb", kb, "--json",
                    env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    host = site.base.removeprefix("http://")
    assert sorted(report["added"]) == sorted([f"{host}/iecmh", f"{host}/other", "notes.txt"])
    human = kb_cli("ingest", f"{site.base}/iecmh", "--kb", kb, env={"HF_HUB_OFFLINE": "1"})
    assert human.returncode == 0 and "unchanged      1" in human.stdout
    wrong = kb_cli("ingest", "--urls", docs / "notes.txt", "--kb", kb)
    assert wrong.returncode == 2 and "not http(s) addresses" in wrong.stderr


def test_library_works_on_a_web_document(site, run_ingest, kb_dir, settings, embedder, tmp_path):
    """Edit, open, re-ingest and delete a page ingested by address: no file, no sidecar."""
    from ingest import library
    from kb import app_support as sup

    site.put("/iecmh", agency_page(CONSULTATION), ETag='"v1"')
    url = site.base + "/iecmh"
    run_ingest(url)
    report = library.edit_metadata(settings, url, {"title": "Consultation in Early Care", "year": 2022,
                                                   "states": ["RI"]})
    assert not report.model_loaded
    doc = documents(kb_dir)[url]
    assert (doc.title, doc.year, doc.states, doc.publisher) == ("Consultation in Early Care", 2022, ("RI",),
                                                                "Department of Early Childhood")
    library.edit_metadata(settings, url, {"year": None})  # empty: what the page said
    assert documents(kb_dir)[url].year == 2021
    original = sup.source_file(documents(kb_dir)[url], paged=False, kb_dir=kb_dir)
    assert original.data == site.pages["/iecmh"][2] and original.mime == "text/plain"  # the kept copy, no network
    assert library.reingest_document(settings, url, embedder=embedder).added == [url.removeprefix("http://")]
    removal = library.delete_document(settings, url, tmp_path / "corpus")
    assert not removal.file_deleted and url not in documents(kb_dir)
