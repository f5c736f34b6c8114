"""What the app's web server accepts beyond Streamlit's defaults: an ASGI middleware (plain
ASGI, no Streamlit import) that app.py hands to st.App.

- Uploads: Streamlit's upload endpoint (PUT /_stcore/upload_file/<session>/<file>) accepts a
  file for any live session, whatever the page shows. Here it accepts one only for a session
  whose page script showed the Library's uploader in its last run (signed in, not read-only);
  every other session gets 403 before a byte of the body is read.
- Media: the originals the app hands out ("Open original") are served from Streamlit's media
  route, which sends no `X-Content-Type-Options`; every /media/ response gets `nosniff`, and all but PDFs a
  sandboxing Content-Security-Policy, so a document served as text/plain never runs as a page.
- Originals go with their document: Streamlit keeps a media file while any session (even one
  disconnected, for server.disconnectedSessionTTL) still refers to it; a registered original is
  refused (404) as soon as the knowledge base no longer holds its document.
"""
from __future__ import annotations

import threading

UPLOAD_ROUTE = "/_stcore/upload_file/"
MEDIA_ROUTE = "/media/"


class UploadPermissions:
    """Session ids whose page currently offers the uploader (thread-safe)."""

    def __init__(self) -> None:
        self._open: set[str] = set()
        self._lock = threading.Lock()

    def allow(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._open.add(session_id)

    def deny(self, session_id: str | None) -> None:
        with self._lock:
            self._open.discard(session_id)

    def allowed(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._open


UPLOADS = UploadPermissions()


class SourceFiles:
    """Media file ids of the originals handed out, with their document's sha256, and the check
    (set at server start) of whether the knowledge base still holds a document with that hash."""

    def __init__(self) -> None:
        self._sha_by_file: dict[str, str] = {}
        self._lock = threading.Lock()
        self.still_held = None  # callable(sha256) -> bool

    def register(self, url: str, sha256: str) -> None:
        with self._lock:
            self._sha_by_file[media_file_id(url)] = sha256

    def servable(self, file_id: str) -> bool:
        with self._lock:
            sha256 = self._sha_by_file.get(file_id)
        if sha256 is None or self.still_held is None:
            return True  # not an original (an image, a download): Streamlit's own rules
        try:
            return bool(self.still_held(sha256))
        except Exception:  # the knowledge base cannot say: refuse rather than serve a removed document
            return False


SOURCES = SourceFiles()


def media_file_id(path: str) -> str:
    """'…/media/<id>.txt#page=2' -> '<id>'."""
    return path.split("#")[0].rsplit("/", 1)[-1].split(".")[0]


def upload_session(path: str) -> str | None:
    """The session id of an upload request's path (…/_stcore/upload_file/<session>/<file>), else None."""
    at = path.find(UPLOAD_ROUTE)
    if at < 0:
        return None
    rest = path[at + len(UPLOAD_ROUTE):].split("/")
    return rest[0] if rest and rest[0] else ""


class ServingGuard:
    """ASGI middleware: refuses uploads to sessions not offered the uploader, and hardens media responses."""

    def __init__(self, app, permissions: UploadPermissions = UPLOADS, sources: SourceFiles = SOURCES) -> None:
        self.app = app
        self.permissions = permissions
        self.sources = sources

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        session = upload_session(path)
        if session is not None and scope.get("method") in ("PUT", "POST") and not self.permissions.allowed(session):
            return await _refuse(send, b"Uploads are not accepted here: sign in and open the Library page "
                                       b"(a read-only app takes no uploads).\n")
        if MEDIA_ROUTE in path:
            if not self.sources.servable(media_file_id(path)):
                return await _refuse(send, b"This document is no longer in the knowledge base.\n", 404)
            return await self.app(scope, receive, _hardened(send))
        return await self.app(scope, receive, send)


def _hardened(send):
    async def send_with_headers(message):
        if message.get("type") == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", [])
                       if k.lower() not in (b"x-content-type-options", b"content-security-policy")]
            headers.append((b"x-content-type-options", b"nosniff"))
            content_type = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
            if not content_type.startswith(b"application/pdf"):  # a sandbox would block the PDF viewer
                headers.append((b"content-security-policy", b"sandbox"))
            message = {**message, "headers": headers}
        await send(message)
    return send_with_headers


async def _refuse(send, body: bytes, status: int = 403) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
