"""`kb serve` as other programs use it: a real server process on a free loopback port, driven
with httpx; the answers compared with `kb ask --json` (the packaged model, ONNX, as shipped)."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import kb_cli
from kb_servers import clean_env, corpus_copy_kb, start_api

QUESTION = "What is reflective supervision?"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    home = tmp_path_factory.mktemp("api")
    corpus, kb = corpus_copy_kb(home)
    return home, corpus, kb


@pytest.fixture(scope="module")
def api(built):
    home, _, kb = built
    server = start_api(kb, home, env_extra={"KB_API_RATE_PER_MINUTE": "0"})
    yield server
    server.stop()


def ask(url: str, **body) -> httpx.Response:
    return httpx.post(url + "/ask", json=body, timeout=60)


def comparable(answer: dict) -> dict:
    """What must be equal between two runs of one question (timings and float noise aside)."""
    return {"answered": answer["answered"], "reason": answer.get("reason"), "best_answer": answer["best_answer"],
            "passages": [{k: v for k, v in p.items() if k != "score"} for p in answer["passages"]]}


def test_ask_answers_as_kb_ask_json_does(api, built):
    home, _, kb = built
    cli = kb_cli("ask", QUESTION, "--kb", kb, "-k", "4", "--json", env=clean_env(home))
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    response = ask(api.url, question=QUESTION, k=4)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    got = response.json()
    assert set(got) == set(expected)
    assert comparable(got) == comparable(expected)
    assert got["answered"] and got["best_answer"]["text"].startswith("Reflective supervision is")
    assert [round(p["score"], 4) for p in got["passages"]] == [round(p["score"], 4) for p in expected["passages"]]


def test_ask_with_filters_and_a_citation_style(api, built):
    home, _, kb = built
    cli = kb_cli("ask", "home visiting", "--kb", kb, "-k", "3", "--json", "--filter", "state=MA", env=clean_env(home))
    expected = json.loads(cli.stdout)
    got = ask(api.url, question="home visiting", k=3, filters={"state": ["Massachusetts"]}, style="apa").json()
    assert [p["passage_id"] for p in got["passages"]] == [p["passage_id"] for p in expected["passages"]]
    assert got["passages"] and all("MA" in p["states"] or "Massachusetts" in p["title"] for p in got["passages"])
    assert got["style"] == "apa"
    for p in got["passages"]:
        assert p["styled_citation"]["text"].startswith("(") and p["citation"]  # APA in-text beside the house one
    assert got["references"]["text"] and "<i>" in got["references"]["html"]
    nothing = ask(api.url, question="home visiting", filters={"year": "1900-1901"}).json()
    assert nothing["answered"] is False and nothing["passages"] == [] and "filters" in nothing["reason"]


def test_every_read_endpoint(api):
    status = httpx.get(api.url + "/status").json()
    assert status["documents"] == 5 and status["passages"] > 20 and status["backend"] == "local"
    assert httpx.get(api.url + "/healthz").json() == {"status": "ok"}

    documents = httpx.get(api.url + "/documents").json()
    assert len(documents) == 5 and sum(d["passages"] for d in documents) == status["passages"]
    one = httpx.get(f"{api.url}/documents/{documents[0]['id']}").json()
    assert one["title"] == documents[0]["title"] and one["reference"]

    best = ask(api.url, question=QUESTION, k=3).json()["best_answer"]
    passage = httpx.get(f"{api.url}/passages/{best['passage_id']}", params={"before": 1, "after": 1}).json()
    assert passage["passage_id"] == best["passage_id"] and best["text"] in " ".join(passage["text"].split())
    assert passage["citation"] == best["citation"]
    neighbours = passage["before"] + passage["after"]
    assert neighbours and all(n["passage_id"] != passage["passage_id"] and n["text"] for n in neighbours)

    ids = [best["passage_id"], neighbours[0]["passage_id"]]
    cited = httpx.post(api.url + "/cite", json={"passage_ids": ids, "style": "chicago-author-date"}).json()
    assert [c["passage_id"] for c in cited["citations"]] == ids and cited["references"]["text"]
    assert all(c["quote"]["text"].startswith("“") for c in cited["citations"])
    for fmt, media, marker in (("bibtex", "application/x-bibtex", "@"), ("ris", "application/x-research-info-systems",
                               "TY  - "), ("csl-json", "application/vnd.citationstyles.csl+json", '"title"'),
                               ("csv", "text/csv", "quote"), ("markdown", "text/markdown", "## Sources")):
        exported = httpx.post(api.url + "/export", json={"passage_ids": ids, "format": fmt})
        assert exported.status_code == 200 and exported.headers["content-type"].startswith(media)
        assert marker in exported.text and "attachment" in exported.headers["content-disposition"]
    assert json.loads(httpx.post(api.url + "/export", json={"passage_ids": ids, "format": "csl-json"}).text)[0]["title"]

    schema = httpx.get(api.url + "/openapi.json").json()
    assert {"/ask", "/documents", "/documents/{document_id}", "/passages/{passage_id}", "/export", "/cite", "/status",
            "/healthz"} <= set(schema["paths"])
    assert "/ingest" not in schema["paths"]  # read-only unless --allow-writes
    docs = httpx.get(api.url + "/docs")
    assert docs.status_code == 200 and "POST /ask" in docs.text
    assert "<script" not in docs.text and "cdn" not in docs.text.lower()  # nothing loaded from outside
    preflight = httpx.options(api.url + "/ask", headers={"origin": "https://elsewhere.example",
                                                         "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers  # CORS off unless configured


@pytest.mark.parametrize("method,path,body,status", [
    ("post", "/ask", {"question": ""}, 422),
    ("post", "/ask", {"question": "x", "k": 0}, 422),
    ("post", "/ask", {"question": "x", "k": "many"}, 422),
    ("post", "/ask", {"question": "x", "unknown": 1}, 422),
    ("post", "/ask", {"question": "x", "filters": {"state": "Narnia"}}, 400),
    ("post", "/ask", {"question": "x", "filters": {"colour": "red"}}, 400),
    ("post", "/ask", {"question": "x", "filters": {"year": "soon"}}, 400),
    ("post", "/ask", {"question": "x", "style": "mla"}, 400),
    ("post", "/ask", {"question": "   "}, 400),
    ("post", "/ask", b"{not json", 422),
    ("post", "/ask", b"question=x", 422),
    ("get", "/passages/999999", None, 404),
    ("get", "/passages/abc", None, 422),
    ("get", "/passages/1?before=500", None, 400),
    ("get", "/documents/999999", None, 404),
    ("post", "/export", {"passage_ids": [1], "format": "docx"}, 422),
    ("post", "/export", {"passage_ids": []}, 422),
    ("post", "/cite", {"passage_ids": [999999]}, 404),
    ("delete", "/documents/1", None, 405),
    ("get", "/nowhere", None, 404),
])
def test_bad_input_is_a_4xx_json_message_never_a_traceback(api, method, path, body, status):
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
    response = httpx.request(method.upper(), api.url + path, timeout=60, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error, str) and error and "\n" not in error
    assert "Traceback" not in response.text and 'File "' not in response.text


def test_request_bodies_are_capped(api):
    big = {"question": "x" * 100, "filters": {"document": ["y" * 1000] * 1200}}  # ~1.2 MB of JSON
    declared = httpx.post(api.url + "/ask", json=big, timeout=60)
    assert declared.status_code == 413 and "KB_API_MAX_BODY_KB" in declared.json()["error"]

    def chunks():  # no Content-Length: the limit is counted as the body arrives
        for _ in range(40):
            yield b"x" * 65536

    streamed = httpx.post(api.url + "/ask", content=chunks(), headers={"content-type": "application/json"}, timeout=60)
    assert streamed.status_code == 413
    assert ask(api.url, question=QUESTION, k=1).status_code == 200  # and the server carries on


def test_off_loopback_needs_a_token_and_clients_are_rate_limited(built):
    home, _, kb = built
    refused = kb_cli("serve", "--kb", kb, "--host", "0.0.0.0", "--port", "8799", env=clean_env(home), timeout=60)
    assert refused.returncode != 0 and "KB_API_TOKEN" in refused.stderr and "Traceback" not in refused.stderr

    token = "test-token-" + "x" * 24
    server = start_api(kb, home, "--host", "0.0.0.0", env_extra={"KB_API_TOKEN": token, "KB_API_RATE_PER_MINUTE": "6"})
    try:
        assert httpx.get(server.url + "/healthz").status_code == 200  # health checks carry no token
        missing = httpx.get(server.url + "/status")
        assert missing.status_code == 401 and "Bearer" in missing.json()["error"]
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert httpx.get(server.url + "/status", headers={"authorization": "Bearer wrong"}).status_code == 401
        good = {"authorization": f"Bearer {token}"}
        codes = [httpx.get(server.url + "/status", headers=good).status_code for _ in range(8)]
        assert codes[0] == 200 and 429 in codes  # six a minute, some already spent above
        limited = httpx.get(server.url + "/status", headers=good)
        assert limited.status_code == 429 and "KB_API_RATE_PER_MINUTE" in limited.json()["error"]
    finally:
        server.stop()


ZEBRA = """# The zebra protocol

## Visits

The zebra protocol ({v}) asks home visitors to see each family in the first weeks after birth, to
watch how the infant and parent attend to each other, and to write down what the parent says about
sleep and feeding. Under the zebra protocol ({v}) a visit lasts an hour.

## Consultation

The zebra protocol ({v}) pairs each home visitor with an infant mental health consultant, who meets
the visitor every month to reflect on the families seen and on the visitor's own responses to them.

## Records

The zebra protocol ({v}) keeps its records in the family's own words, and shares them with the
family first.
"""


def test_concurrent_asks_during_an_ingest_each_see_one_generation(api, built):
    """A `kb ingest` in another process replaces a document while eight clients ask; every
    answer holds the old document's passages or the new one's, never some of each."""
    home, corpus, kb = built
    zebra = corpus / "zebra-protocol.md"
    zebra.write_text(ZEBRA.format(v="edition alpha"))
    assert kb_cli("ingest", corpus, "--kb", kb, env=clean_env(home)).returncode == 0
    question = "What does the zebra protocol ask home visitors and consultants to do?"
    before = ask(api.url, question=question, k=10).json()
    assert sum("edition alpha" in p["text"] for p in before["passages"]) >= 2  # the server saw the new document

    zebra.write_text(ZEBRA.format(v="edition beta"))
    done = threading.Event()
    answers: list[dict] = []

    def keep_asking():
        with httpx.Client(timeout=120) as client:
            while not done.is_set():
                response = client.post(api.url + "/ask", json={"question": question, "k": 10})
                assert response.status_code == 200, response.text
                answers.append(response.json())

    with ThreadPoolExecutor(8) as pool:
        askers = [pool.submit(keep_asking) for _ in range(8)]
        time.sleep(0.5)
        ingest = kb_cli("ingest", corpus, "--kb", kb, "--json", env=clean_env(home))
        deadline = time.monotonic() + 60
        while not any("edition beta" in p["text"] for a in answers[-8:] for p in a["passages"]):
            assert time.monotonic() < deadline, "no answer saw the new generation"
            time.sleep(0.2)
        done.set()
        for f in askers:
            f.result()
    assert ingest.returncode == 0 and json.loads(ingest.stdout)["updated"] == ["zebra-protocol.md"]
    editions = [{e for e in ("edition alpha", "edition beta") for p in a["passages"] if e in p["text"]}
                for a in answers]
    assert all(len(seen) == 1 for seen in editions), editions
    assert {"edition alpha"} in editions and {"edition beta"} in editions  # answers from both sides of the commit
    after = ask(api.url, question=question, k=10).json()
    assert {e for e in ("edition alpha", "edition beta") for p in after["passages"] if e in p["text"]} == {"edition beta"}
    zebra.unlink()
    assert kb_cli("ingest", corpus, "--kb", kb, env=clean_env(home)).returncode == 0


def test_writes_exist_only_with_allow_writes_and_go_through_the_library(built, tmp_path):
    home, corpus, kb = built
    server = start_api(kb, home, "--allow-writes", env_extra={"KB_CORPUS": str(corpus), "KB_API_RATE_PER_MINUTE": "0"})
    try:
        paths = httpx.get(server.url + "/openapi.json").json()["paths"]
        assert "/ingest" in paths and "patch" in paths["/documents/{document_id}"]
        text = ("Otter Valley Infant Plan\n\nThe Otter Valley plan funds infant mental health consultation in every "
                "child care center of the valley, with a consultant visiting each center twice a month.\n")
        uploaded = httpx.post(server.url + "/documents", files={"files": ("otter-valley.txt", text.encode(),
                                                                          "text/plain")}, timeout=120).json()
        assert uploaded["saved"][0]["name"] == "otter-valley.txt" and uploaded["report"]["added"] == ["otter-valley.txt"]
        assert (corpus / "otter-valley.txt").read_text() == text  # saved into the corpus folder, as the app does
        found = ask(server.url, question="How often does the Otter Valley consultant visit?", k=3).json()
        assert found["passages"][0]["document"] == "otter-valley.txt"

        doc = next(d for d in httpx.get(server.url + "/documents").json() if d["name"] == "otter-valley.txt")
        edited = httpx.patch(f"{server.url}/documents/{doc['id']}", json={"publisher": "Otter Valley Council",
                                                                        "year": 2021}, timeout=120)
        assert edited.status_code == 200 and edited.json()["model_loaded"] is False  # no re-embedding
        shown = httpx.get(f"{server.url}/documents/{doc['id']}").json()
        assert shown["publisher"] == "Otter Valley Council" and shown["year"] == 2021
        assert json.loads((corpus / "metadata.json").read_text())["otter-valley.txt"]["publisher"] == "Otter Valley Council"
        bad = httpx.patch(f"{server.url}/documents/{doc['id']}", json={"year": "next year"})
        assert bad.status_code == 400 and "year" in bad.json()["error"].lower()

        refused = httpx.post(server.url + "/ingest", json={"address": "http://127.0.0.1:1/page"}, timeout=120).json()
        assert refused["added"] == [] and refused["failed"]  # this machine's addresses are refused, one reason each
        assert httpx.post(server.url + "/ingest", json={"address": "not an address"}).status_code == 400

        removed = httpx.delete(f"{server.url}/documents/{doc['id']}", timeout=120).json()
        assert removed["file_deleted"] is True and not (corpus / "otter-valley.txt").exists()
        assert httpx.get(f"{server.url}/documents/{doc['id']}").status_code == 404
        too_big = httpx.post(server.url + "/documents", files={"files": ("big.txt", b"x" * (51 * 2**20), "text/plain")},
                             timeout=120)
        assert too_big.status_code == 413
    finally:
        server.stop()
    metadata = corpus / "metadata.json"
    entries = json.loads(metadata.read_text())
    entries.pop("otter-valley.txt", None)
    metadata.write_text(json.dumps(entries, indent=2))


def test_the_api_on_the_postgres_backend(built, postgres_url, tmp_path):
    """The same server on a PostgreSQL knowledge base (a `kb migrate` copy): answers as `kb ask`
    gives them there, documents and status from the database."""
    home, _, kb = built
    env = clean_env(home)
    migrated = kb_cli("migrate", "--to", "postgres", "--kb", kb, "--database-url", postgres_url, env=env)
    assert migrated.returncode == 0, migrated.stderr
    pg = {"KB_BACKEND": "postgres", "KB_DATABASE_URL": postgres_url, "KB_API_RATE_PER_MINUTE": "0"}
    cli = kb_cli("ask", QUESTION, "-k", "4", "--json", env=clean_env(home, **pg))
    assert cli.returncode == 0, cli.stderr
    server = start_api(tmp_path / "unused-kb-dir", home, env_extra=pg)
    try:
        got = ask(server.url, question=QUESTION, k=4).json()
        assert comparable(got) == comparable(json.loads(cli.stdout)) and got["answered"]
        status = httpx.get(server.url + "/status").json()
        assert status["backend"] == "postgres" and status["documents"] == len(httpx.get(server.url + "/documents").json())
        passage = httpx.get(f"{server.url}/passages/{got['best_answer']['passage_id']}").json()
        assert passage["text"] == got["passages"][got["best_answer"]["rank"] - 1]["text"]
    finally:
        server.stop()
