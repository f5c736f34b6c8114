"""`kb serve`: the knowledge base as an HTTP JSON API (FastAPI on uvicorn), for intranet search
and any tool that speaks HTTP. A face beside cli.py and app.py: it parses requests, calls the
library (kb/service.py, the Searcher) and, with --allow-writes only, the app's own Library
functions (ingest/library.py, ingest/uploads.py, ingest/pipeline.py, same write lock).

Safe by default: bound to 127.0.0.1; any other address needs a bearer token (KB_API_TOKEN) and
refuses to start without one; request bodies are capped; each client address gets a rate limit;
CORS is off unless origins are configured; errors are one-line JSON, never a traceback. The
OpenAPI schema is at /openapi.json and /docs renders it without loading anything from outside.
"""
from __future__ import annotations

import hmac
import html
import json
import logging
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, File, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from kb import service
from kb.app_support import corpus_dir, is_loopback, shared_searcher
from kb.backends.base import StaleSnapshot
from kb.config import Settings
from kb.errors import (Busy, CorruptKnowledgeBase, EmptyKnowledgeBase, KBError, ModelMismatch, ModelUnavailable,
                       UsageError)

APP_DIR = Path(__file__).resolve().parent
DEFAULT_PORT = 8700
TOKEN_ENV = "KB_API_TOKEN"
OPEN_PATHS = ("/healthz",)  # answered without the token: a load balancer's health check carries none
log = logging.getLogger("kb.http_api")


# ---- who may call, how much, how often: one ASGI layer in front of the app ---------------------------

def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve other machines without a token."""
    if not is_loopback(host) and not token:
        raise UsageError(f"Serving on {host} makes the knowledge base reachable from other machines: set "
                         f"{TOKEN_ENV} to a long random secret (python -c 'import secrets; "
                         "print(secrets.token_urlsafe(32))') and send it as 'Authorization: Bearer …', or bind "
                         "127.0.0.1.")


class Guard:
    """Bearer token (when one is set), a cap on request bodies, and a per-client rate limit (a
    token bucket per client address), in front of any ASGI app (the API and the MCP endpoint)."""

    def __init__(self, app, *, token: str | None, max_body: int, rate_per_minute: int,
                 body_limits: dict[str, int] | None = None, open_paths=OPEN_PATHS):
        self.app, self.token, self.max_body, self.rate = app, token, max_body, rate_per_minute
        self.body_limits = body_limits or {}  # path -> a larger cap (uploads)
        self.open_paths = open_paths
        self.buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens left, when counted)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.token and path not in self.open_paths and not self._authorised(headers.get("authorization", "")):
            return await _send_json(send, 401, "A bearer token is required: send 'Authorization: Bearer <token>' "
                                               f"with the server's {TOKEN_ENV}.",
                                    [(b"www-authenticate", b'Bearer realm="kb"')])
        client = (scope.get("client") or ("?", 0))[0]
        if self.rate > 0 and not self._allowed(client):
            return await _send_json(send, 429, f"Too many requests from {client}: at most {self.rate} a minute "
                                               "(KB_API_RATE_PER_MINUTE); wait a moment.", [(b"retry-after", b"1")])
        limit = self.body_limits.get(path, self.max_body)
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return await _send_json(send, 413, _too_large(limit))
        if declared is None and scope.get("method") in ("POST", "PUT", "PATCH"):
            # No Content-Length (a chunked body): read it here, counting, before the app sees it.
            # (With one, the server itself stops the body at the length declared and checked above.)
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > limit:
                    return await _send_json(send, 413, _too_large(limit))
                if not message.get("more_body"):
                    break
            replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

            async def replayed():
                return replay.pop() if replay else await receive()

            return await self.app(scope, replayed, send)
        await self.app(scope, receive, send)

    def _authorised(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    def _allowed(self, client: str) -> bool:
        now = time.monotonic()
        tokens, then = self.buckets.get(client, (float(self.rate), now))
        tokens = min(float(self.rate), tokens + (now - then) * self.rate / 60.0)
        if len(self.buckets) > 10_000:  # forget idle clients rather than grow without bound
            self.buckets = {c: v for c, v in self.buckets.items() if now - v[1] < 60}
        if tokens < 1.0:
            self.buckets[client] = (tokens, now)
            return False
        self.buckets[client] = (tokens - 1.0, now)
        return True


def _too_large(limit: int) -> str:
    return (f"The request body is larger than this server accepts ({limit // 1024} KB; KB_API_MAX_BODY_KB, "
            "uploads KB_UPLOAD_LIMIT_MB).")


async def _send_json(send, status: int, message: str, headers=()) -> None:
    body = json.dumps({"error": message, "status": status}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


# ---- requests ---------------------------------------------------------------------------------------

FilterValue = str | int | list[str | int]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=2000, description="A question in plain English.")
    k: int = Field(5, ge=1, le=100, description="Passages to return.")
    filters: dict[str, FilterValue] | None = Field(
        None, description='Restrict the search: {"state": ["MA", "Rhode Island"], "year": "2018-2022", '
                          '"publisher": "…", "type": "…", "document": "file name"}.')
    style: str | None = Field(None, description="Add citations in this style: house, apa, chicago-author-date.")
    method: Literal["fused", "dense", "keyword"] | None = Field(None, description="Retrieval method (default fused).")


class PassageIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    passage_ids: list[int] = Field(min_length=1, max_length=500, description="passage_id values of search results.")
    style: str | None = Field(None, description="house (default), apa or chicago-author-date.")


class ExportRequest(PassageIds):
    format: Literal["bibtex", "ris", "csl-json", "csv", "markdown"] = "bibtex"


class AddressRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = Field(min_length=8, max_length=2000, description="A public web address (https://…).")


class MetadataEdit(BaseModel):
    """Fields to set; an empty value falls back to what the file says."""
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    publisher: str | None = None
    year: int | str | None = None
    type: str | None = None
    url: str | None = None
    states: list[str] | None = None


# ---- errors: one line of JSON, never a traceback ------------------------------------------------------

def _status_of(exc: KBError) -> int:
    if isinstance(exc, service.NotFound):
        return 404
    if isinstance(exc, Busy):
        return 409
    if isinstance(exc, (EmptyKnowledgeBase, ModelMismatch, ModelUnavailable, CorruptKnowledgeBase, StaleSnapshot)):
        return 503
    return 400


def _one_line_validation(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "The request is not valid."
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    if tuple(first.get("loc", ())) == ("body",):
        return "The request body must be a JSON object (Content-Type: application/json); see /docs."
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where + ': ' if where else ''}{first.get('msg', 'invalid')}{more}."


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KBError)
    async def kb_error(_, exc: KBError):
        return JSONResponse({"error": str(exc), "status": _status_of(exc)}, status_code=_status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_, exc: RequestValidationError):
        return JSONResponse({"error": _one_line_validation(exc), "status": 422}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_, exc: StarletteHTTPException):
        message = {404: "No such endpoint: see /docs.", 405: "This endpoint does not take that method: see /docs."}
        text = message.get(exc.status_code) if exc.detail in ("Not Found", "Method Not Allowed") else exc.detail
        return JSONResponse({"error": text or str(exc.detail), "status": exc.status_code}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def bug(_, exc: Exception):
        log.exception("Unexpected error")  # the traceback goes to the server's log, never to the client
        return JSONResponse({"error": "Internal error; the server log has the details.", "status": 500},
                            status_code=500)


# ---- the app --------------------------------------------------------------------------------------

def create_app(settings: Settings, *, allow_writes: bool = False, token: str | None = None) -> FastAPI:
    """The API over the knowledge base `settings` names; one Searcher (model and index loaded
    once, at start-up) answers every request, from worker threads."""

    @asynccontextmanager
    async def lifespan(_):
        await run_in_threadpool(_preload, settings)
        yield

    app = FastAPI(title="IECMH policy knowledge base", version="1", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", lifespan=lifespan,
                  description="Cited passages from infant and early childhood mental health policy documents. "
                              "Quote passages verbatim and cite them with their citation.")
    _install_error_handlers(app)

    def searcher():
        return shared_searcher(settings)

    @app.post("/ask", summary="Answer a question with cited passages (the object `kb ask --json` prints)")
    def ask(body: AskRequest):
        answer = searcher().ask(body.question, k=body.k, filters=service.filters_from_json(body.filters),
                                method=body.method or settings.method)
        return service.answer_json(answer, body.style)

    @app.get("/documents", summary="Every document, with the metadata its citations use")
    def documents():
        return service.documents_json(searcher().backend)

    @app.get("/documents/{document_id}", summary="One document's metadata and reference entry")
    def document(document_id: int):
        return service.document_json(searcher().backend, document_id)

    @app.get("/passages/{passage_id}", summary="One passage, its citation, and the passages around it")
    def passage(passage_id: int, before: int = 1, after: int = 1, style: str | None = None):
        return service.passage_json(searcher(), passage_id, before, after, style)

    @app.post("/cite", summary="In-text citations, quotes and the reference list for passages, in a style")
    def cite(body: PassageIds):
        return service.cite_json(service.passage_hits(searcher(), body.passage_ids), body.style or "house")

    @app.post("/export", summary="BibTeX, RIS, CSL-JSON, CSV or Markdown for passages",
              response_class=Response)
    def export(body: ExportRequest):
        text, fmt = service.export(service.passage_hits(searcher(), body.passage_ids), body.format, body.style)
        return Response(text, media_type=f"{fmt.media_type}; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="passages.{fmt.extension}"'})

    @app.get("/status", summary="Documents, passages, model, index kind and size")
    def status():
        return searcher().backend.status().to_dict()

    @app.get("/healthz", summary="The server is up (no token needed)")
    def healthz():
        return {"status": "ok"}

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs():
        return HTMLResponse(offline_docs(app.openapi()))

    if allow_writes:
        _add_writes(app, settings, searcher)
    return _guarded(app, settings, token)


def _add_writes(app: FastAPI, settings: Settings, searcher) -> None:
    """Ingest an address or an upload, edit metadata, delete: the app's Library functions, under
    the same write lock (KB_READ_ONLY still refuses them). Reading and embedding run in a child
    process (library.ingest_in_child), so a document that exhausts memory or crashes a reader
    ends that process, not the server; fetched pages count against the upload quota."""
    from ingest import library

    folder = corpus_dir(APP_DIR, settings)

    def ingest(paths):
        return library.ingest_in_child(paths, settings, quota_folder=folder)

    @app.post("/ingest", summary="Fetch a web address and add it (writes)")
    def ingest_address(body: AddressRequest):
        from ingest.web import is_address

        library.check_writable(settings)
        if not is_address(body.address.strip()):
            raise UsageError("address must be a web address starting with http:// or https://.")
        return ingest([body.address.strip()]).to_dict()

    @app.post("/documents", summary="Upload files into the corpus folder and ingest them (writes)")
    async def upload(files: list[UploadFile] = File(...)):
        given = [(f.filename or "upload", await f.read()) for f in files]
        return await run_in_threadpool(_save_and_ingest, given)

    def _save_and_ingest(given):
        from kb.app_support import known_hashes

        try:
            known = known_hashes(searcher().backend)
        except KBError:
            known = {}
        result = library.save_uploads_within_quota(settings, folder, given, known)
        report = ingest([s.path for s in result.saved]) if result.saved else None
        return {"saved": [{"name": s.path.name, "original_name": s.original_name} for s in result.saved],
                "rejected": [str(r) for r in result.rejected], "report": report.to_dict() if report else None}

    @app.patch("/documents/{document_id}", summary="Edit a document's metadata, without re-embedding (writes)")
    def edit(document_id: int, body: MetadataEdit):
        doc = service.find_document(searcher().backend, document_id)
        values = body.model_dump(exclude_unset=True)
        return library.edit_metadata(settings, doc.path, values, embedder=searcher().embedder).to_dict()

    @app.delete("/documents/{document_id}", summary="Remove a document (and its file, inside the corpus folder) (writes)")
    def delete(document_id: int):
        doc = service.find_document(searcher().backend, document_id)
        removal = library.delete_document(settings, doc.path, folder)
        return {"path": removal.path, "file_deleted": removal.file_deleted, "message": removal.message}

    app.state.upload_limit = settings.upload_limit_mb * 1024 * 1024


def _guarded(app: FastAPI, settings: Settings, token: str | None):
    if settings.api_cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        origins = [o.strip() for o in settings.api_cors_origins.split(",") if o.strip()]
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=["authorization", "content-type"])
    uploads = getattr(app.state, "upload_limit", None)
    guard = Guard(app, token=token, max_body=settings.api_max_body_kb * 1024, rate_per_minute=settings.api_rate_per_minute,
                  body_limits={"/documents": uploads} if uploads else None)
    guard.fastapi = app  # for tests and tools that want the routes
    return guard


def _preload(settings: Settings) -> None:
    """Model and index loaded before the first request; a missing or damaged knowledge base is
    left for the requests to report."""
    searcher = shared_searcher(settings)
    try:
        searcher.embedder.load()
        searcher.embedder.encode_query("warm up")
        searcher.reader()
    except KBError as exc:
        log.warning("%s", exc)


def offline_docs(schema: dict) -> str:
    """The OpenAPI schema as a readable page, with no script or style from outside (Swagger UI
    would load from a CDN)."""
    e = html.escape
    parts = [f"<!doctype html><html lang=en><meta charset=utf-8><title>{e(schema['info']['title'])} API</title>",
             "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
             "code,pre{background:#f4f4f4;padding:.1rem .3rem}pre{padding:.6rem;overflow:auto}"
             "h2{border-top:1px solid #ccc;padding-top:1rem;font-size:1.1rem}</style>",
             f"<h1>{e(schema['info']['title'])}</h1><p>{e(schema['info'].get('description', ''))}</p>",
             '<p>Machine-readable schema: <a href="/openapi.json">/openapi.json</a>. Send JSON; errors come back as '
             '<code>{"error": "…", "status": N}</code>.</p>']
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(f"<h2><code>{e(method.upper())} {e(path)}</code></h2><p>{e(op.get('summary', ''))}</p>")
            params = [f"<code>{e(p['name'])}</code> ({e(p.get('in', ''))})" for p in op.get("parameters", [])]
            if params:
                parts.append("<p>Parameters: " + ", ".join(params) + "</p>")
            body = op.get("requestBody", {}).get("content", {})
            for media, spec in body.items():
                ref = spec.get("schema", {}).get("$ref", "")
                model = schema.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1], spec.get("schema"))
                parts.append(f"<p>Body ({e(media)}):</p><pre>{e(json.dumps(model, indent=2))}</pre>")
    return "\n".join(parts)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = DEFAULT_PORT, allow_writes: bool = False) -> None:
    """Run the API until interrupted."""
    import uvicorn

    token = os.environ.get(TOKEN_ENV) or None
    check_binding(host, token)
    app = create_app(settings, allow_writes=allow_writes, token=token)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False, access_log=False)
