"""`kb mcp` as an assistant uses it: a real server process driven by the MCP SDK's own client,
over stdio and over streamable HTTP; a search answers with the passages `kb ask --json` gives."""
from __future__ import annotations

import asyncio
import json
import sys

import httpx
import pytest
from conftest import ROOT, free_port, kb_cli
from kb_servers import Server, clean_env, corpus_copy_kb
from mcp import Client
from mcp.client.stdio import StdioServerParameters

QUESTION = "What is reflective supervision?"
TOOLS = {"search_policy_documents", "get_passage", "list_documents", "cite"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    home = tmp_path_factory.mktemp("mcp")
    _, kb = corpus_copy_kb(home)
    cli = kb_cli("ask", QUESTION, "--kb", kb, "-k", "4", "--json", env=clean_env(home))
    assert cli.returncode == 0, cli.stderr
    return home, kb, json.loads(cli.stdout)


def result_json(result) -> dict:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


async def exercise(client: Client, expected: dict) -> None:
    """What every transport must do: list the tools, answer as `kb ask`, fail a bad call as a tool
    error and keep serving."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for name in ("search_policy_documents", "get_passage", "cite"):
        assert "verbatim" in tools[name].description and "cite" in tools[name].description.lower()
    assert set(tools["search_policy_documents"].input_schema["properties"]) == {"question", "k", "filters"}

    answer = result_json(await client.call_tool("search_policy_documents", {"question": QUESTION, "k": 4}))
    assert [p["passage_id"] for p in answer["passages"]] == [p["passage_id"] for p in expected["passages"]]
    assert [p["text"] for p in answer["passages"]] == [p["text"] for p in expected["passages"]]
    assert [p["citation"] for p in answer["passages"]] == [p["citation"] for p in expected["passages"]]
    assert answer["best_answer"] == expected["best_answer"] and answer["answered"] is True

    best = answer["best_answer"]["passage_id"]
    passage = result_json(await client.call_tool("get_passage", {"passage_id": best, "before": 1, "after": 1}))
    assert passage["passage_id"] == best and passage["before"] + passage["after"]
    cited = result_json(await client.call_tool("cite", {"passage_ids": [best], "style": "apa"}))
    assert cited["style"] == "apa" and cited["citations"][0]["in_text"]["text"].startswith("(")
    documents = result_json(await client.call_tool("list_documents", {}))["documents"]
    assert len(documents) == 5 and all(d["title"] and d["id"] for d in documents)

    filtered = result_json(await client.call_tool("search_policy_documents", {
        "question": "home visiting", "k": 3, "filters": {"state": "MA"}}))
    assert filtered["passages"] and all("MA" in p["states"] or "Massachusetts" in p["title"]
                                        for p in filtered["passages"])

    for name, arguments, words in (
            ("search_policy_documents", {"question": QUESTION, "k": "many"}, "k"),
            ("search_policy_documents", {"question": QUESTION, "k": 500}, "k must be"),
            ("search_policy_documents", {"k": 3}, "question"),
            ("search_policy_documents", {"question": QUESTION, "filters": {"state": "Narnia"}}, "not a US state"),
            ("get_passage", {"passage_id": 999999}, "No passage with id 999999"),
            ("cite", {"passage_ids": [best], "style": "mla"}, "No citation style"),
            ("no_such_tool", {}, "no_such_tool")):
        try:
            result = await client.call_tool(name, arguments)
        except Exception as exc:  # an unknown tool may come back as a protocol error instead
            assert name == "no_such_tool" and words in str(exc)
            continue
        assert result.is_error and words in result.content[0].text, (name, result.content)
    again = result_json(await client.call_tool("search_policy_documents", {"question": QUESTION, "k": 4}))
    assert [p["passage_id"] for p in again["passages"]] == [p["passage_id"] for p in expected["passages"]]


def test_stdio(built):
    home, kb, expected = built
    params = StdioServerParameters(command=sys.executable, args=["-m", "cli", "mcp", "--kb", str(kb)], cwd=str(ROOT),
                                   env=clean_env(home))

    async def run():
        async with Client(params, read_timeout_seconds=120) as client:
            await exercise(client, expected)

    asyncio.run(run())


def test_streamable_http(built):
    home, kb, expected = built
    port = free_port()
    server = Server(["mcp", "--http", "--kb", kb, "--port", port], clean_env(home), port, ready_path="/mcp")
    try:
        async def run():
            async with Client(f"{server.url}/mcp", read_timeout_seconds=120) as client:
                await exercise(client, expected)

        asyncio.run(run())
    finally:
        server.stop()


def test_http_off_loopback_needs_a_token(built):
    home, kb, _ = built
    refused = kb_cli("mcp", "--http", "--kb", kb, "--host", "0.0.0.0", "--port", free_port(), env=clean_env(home),
                     timeout=60)
    assert refused.returncode != 0 and "KB_API_TOKEN" in refused.stderr and "Traceback" not in refused.stderr

    token = "mcp-token-" + "y" * 24
    port = free_port()
    server = Server(["mcp", "--http", "--kb", kb, "--host", "0.0.0.0", "--port", port],
                    clean_env(home, KB_API_TOKEN=token), port, ready_path="/mcp")
    try:
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}
        headers = {"accept": "application/json, text/event-stream"}
        anonymous = httpx.post(f"{server.url}/mcp", json=initialize, headers=headers)
        assert anonymous.status_code == 401 and "Bearer" in anonymous.json()["error"]
        signed = httpx.post(f"{server.url}/mcp", json=initialize, headers={**headers, "authorization": f"Bearer {token}"})
        assert signed.status_code == 200, signed.text
    finally:
        server.stop()
