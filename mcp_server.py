"""`kb mcp`: the knowledge base as a Model Context Protocol server (the official `mcp` SDK), so a
desktop AI assistant can search the policy documents and cite them. Over stdio (the assistant
starts it) or streamable HTTP (`--http`, behind the same token, size and rate guard as
`kb serve`).

Four tools, thin over kb/service.py and one shared Searcher (model and index loaded once, a
newer generation picked up per question): search_policy_documents, get_passage,
list_documents, cite. Their descriptions tell the assistant to quote verbatim and cite.
"""
from __future__ import annotations

import os
import threading
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from kb import service
from kb.app_support import shared_searcher
from kb.config import Settings
from kb.errors import KBError

QUOTING = ("Quote passages verbatim (their `text`, word for word, never paraphrased inside quotation marks) and "
           "cite every quote with its `citation` (or `quote_citation`, which is quote and citation together). Do "
           "not cite a passage you did not use. When `answered` is false, say that the documents do not answer "
           "the question, give the `reason`, and present the passages only as the closest found.")
INSTRUCTIONS = ("This server searches a curated library of infant and early childhood mental health (IECMH) policy "
                "documents and returns verbatim passages with citations. " + QUOTING)

SEARCH = ("Search the IECMH policy documents for passages that answer a question. Returns `answered` (false with a "
          "`reason` when the documents do not seem to answer), `best_answer` (the answering sentence, verbatim, with "
          "its citation) and `passages`: each with `passage_id`, verbatim `text`, `page_label`, `section`, `title`, "
          "`publisher`, `year`, `citation` and `quote_citation`. `filters` may restrict by state "
          '(name or two-letter code), year ("2018-2022"), publisher, type or document: {"state": ["MA"]}. ' + QUOTING)
GET_PASSAGE = ("One passage by its `passage_id` (from a search), with its citation and the passages just before and "
               "after it in its document, to read a quote in context. " + QUOTING)
LIST_DOCUMENTS = ("Every document in the library: id, title, publisher, year, type, US states it is about, address, "
                  "and how many passages it has. Use the names to filter a search by document or publisher.")
CITE = ("Citations for passages (their `passage_id`s) in a style: `house` (default), `apa` or `chicago-author-date`. "
        "Returns each passage's in-text citation and a quote with its citation, and the reference list of their "
        "documents, as text and HTML. Use these exact strings; do not write citations yourself. " + QUOTING)

FilterValue = str | int | list[str | int]


def build_server(settings: Settings) -> MCPServer:
    """The MCP server over the knowledge base `settings` names."""
    server = MCPServer("iecmh-policy-kb", title="IECMH policy knowledge base", instructions=INSTRUCTIONS,
                       log_level="WARNING")

    def searcher():
        return shared_searcher(settings)

    @server.tool(description=SEARCH)
    def search_policy_documents(question: str, k: int = 5, filters: dict[str, FilterValue] | None = None
                                ) -> dict[str, Any]:
        if not 1 <= k <= 50:
            raise ToolError("k must be between 1 and 50.")
        return _tool(lambda: service.answer_json(searcher().ask(question, k=k, filters=service.filters_from_json(
            filters), method=settings.method)))

    @server.tool(description=GET_PASSAGE)
    def get_passage(passage_id: int, before: int = 1, after: int = 1) -> dict[str, Any]:
        return _tool(lambda: service.passage_json(searcher(), passage_id, before, after))

    @server.tool(description=LIST_DOCUMENTS)
    def list_documents() -> dict[str, Any]:
        return _tool(lambda: {"documents": service.documents_json(searcher().backend)})

    @server.tool(description=CITE)
    def cite(passage_ids: list[int], style: str = "house") -> dict[str, Any]:
        return _tool(lambda: service.cite_json(service.passage_hits(searcher(), passage_ids), style))

    return server


def _tool(work):
    """The library's one-line message as the tool's error: the assistant reads it, the server
    keeps running."""
    try:
        return work()
    except KBError as exc:
        raise ToolError(str(exc)) from None


def _preload(settings: Settings) -> None:
    """Load the model and index beside the handshake, so the first search finds them ready."""
    def work():
        s = shared_searcher(settings)
        try:
            s.embedder.load()
            s.embedder.encode_query("warm up")
            s.reader()
        except Exception:  # reported by the first tool call that needs them
            pass

    threading.Thread(target=work, name="kb-mcp-preload", daemon=True).start()


def run_stdio(settings: Settings) -> None:
    """Serve one assistant over stdin/stdout until it closes them."""
    server = build_server(settings)
    _preload(settings)
    server.run("stdio")


def run_http(settings: Settings, host: str = "127.0.0.1", port: int = 8701) -> None:
    """Serve over streamable HTTP at http://HOST:PORT/mcp, guarded like `kb serve`."""
    import uvicorn

    from http_api import TOKEN_ENV, Guard, check_binding

    token = os.environ.get(TOKEN_ENV) or None
    check_binding(host, token)
    server = build_server(settings)
    _preload(settings)
    app = server.streamable_http_app(host=host)
    guarded = Guard(app, token=token, max_body=settings.api_max_body_kb * 1024,
                    rate_per_minute=settings.api_rate_per_minute, open_paths=())
    uvicorn.run(guarded, host=host, port=port, log_level="warning", server_header=False, access_log=False)
