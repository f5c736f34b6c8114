"""Web pages by address: fetched once, politely and within bounds, then read like a file.

- An address is normalised (scheme and host lower-case, default port and #fragment dropped)
  and that is the document's identity; the pipeline keeps its bytes in `<kb_dir>/web/` (see
  kb/web_copies.py) so the source opens, and can be read again, without the network.
- Re-ingesting sends the stored ETag / Last-Modified (a conditional request): an unchanged
  page costs one small answer and is skipped.
- Bounded: one time limit for the whole fetch (robots.txt, redirects and body together),
  at most MAX_REDIRECTS redirects, a size cap read as the body streams in.
- Polite: robots.txt is obeyed (RFC 9309: a missing one allows everything, an unreachable
  one allows nothing).
- Whatever the address serves is read by the format registry: a PDF behind an address is
  ingested as a PDF. Every refusal is an ExtractionError with a one-line reason.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from kb.errors import ExtractionError, UsageError

from . import formats
from .types import Extracted

ROBOTS_AGENT = "iecmh-kb"
USER_AGENT = f"Mozilla/5.0 (compatible; {ROBOTS_AGENT}/0.1; knowledge-base ingest of public policy pages)"
MAX_REDIRECTS = 5
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
ADDRESS = re.compile(r"^\s*https?://", re.I)
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/x-download",
                 "application/download", "application/force-download"}


class AddressError(UsageError):
    """Not an address that can be fetched; the message says why."""


def is_address(value) -> bool:
    """A string (not a Path) that starts with http:// or https://."""
    return isinstance(value, str) and bool(ADDRESS.match(value))


def normalise(address: str) -> str:
    """The address as the knowledge base keys it: scheme and host lower-case, no default
    port, no #fragment, "/" for an empty path."""
    raw = address.strip()
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise AddressError(f"{raw[:80]!r} is not a web address: it holds spaces or control characters")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise AddressError(f"{raw[:80]!r}: only http:// and https:// addresses can be fetched")
    if parts.username or parts.password:
        raise AddressError(f"{_shown(raw)}: addresses with a user name or password are not fetched")
    try:
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        raise AddressError(f"{_shown(raw)}: the port is not a number") from None
    if not host:
        raise AddressError(f"{raw[:80]!r} has no host name")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise AddressError(f"{_shown(raw)}: the host name is not valid") from None
    if ":" in host:
        host = f"[{host}]"  # IPv6
    default = {"http": 80, "https": 443}[scheme]
    netloc = host if port in (None, default) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def display_name(url: str) -> str:
    """How a web document is named in results: the address without its scheme."""
    parts = urlsplit(url)
    name = parts.netloc + (parts.path if parts.path != "/" else "") + (f"?{parts.query}" if parts.query else "")
    return name if len(name) <= 120 else name[:119] + "…"


def read_address_list(path: Path) -> list[str]:
    """Addresses from a file, one a line; blank lines and lines starting with # are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"The address list {path} cannot be read ({getattr(exc, 'strerror', None) or exc}).") from None
    addresses, wrong = [], []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        (addresses if is_address(text) else wrong).append(text if is_address(text) else f"line {number}")
    if wrong:
        raise UsageError(f"The address list {path} has lines that are not http(s) addresses ({', '.join(wrong[:5])}"
                         f"{', …' if len(wrong) > 5 else ''}); put one address on each line.")
    return addresses


# ---- what is stored between ingests -----------------------------------------------------------

@dataclass(frozen=True)
class Validators:
    """What the server said about the copy we hold, for a conditional request next time."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out

    def to_dict(self) -> dict:
        return {"etag": self.etag, "last_modified": self.last_modified}

    def merged_over(self, old: "Validators") -> "Validators":
        """A 304 may leave the validators out: keep the ones we sent."""
        return Validators(self.etag or old.etag, self.last_modified or old.last_modified)

    @classmethod
    def from_meta(cls, extracted_meta: str | None) -> "Validators":
        import json

        try:
            http = json.loads(extracted_meta or "{}").get("http") or {}
        except (ValueError, AttributeError):
            return cls()
        return cls(http.get("etag"), http.get("last_modified"))


@dataclass(frozen=True)
class Job:
    """One address to fetch: what we hold of it, if anything."""

    url: str
    validators: Validators = field(default_factory=Validators)
    stored_sha256: str | None = None


@dataclass
class Fetched:
    """A page fetched and read. Quacks like discover.Found where the pipeline needs it."""

    key: str  # the address as normalised: the document's path
    final_url: str
    sha256: str
    size: int
    mtime_ns: int  # when it was fetched
    data: bytes
    validators: Validators
    extracted: Extracted | None = None
    notes: list[str] = field(default_factory=list)  # redirects and the like, reported as warnings

    @property
    def name(self) -> str:
        return display_name(self.key)


@dataclass
class Unchanged:
    """The server says (304), or the bytes show, that the stored copy is current."""

    key: str
    validators: Validators


# ---- fetching ---------------------------------------------------------------------------------

def fetch_and_read(job: Job, timeout_s: float, max_bytes: int) -> Fetched | Unchanged:
    """Fetch one address and read what it serves with the format registry (in the worker)."""
    response = fetch(job.url, job.validators, timeout_s, max_bytes)
    if response.status == 304:
        return Unchanged(job.url, response.validators.merged_over(job.validators))
    sha = hashlib.sha256(response.body).hexdigest()
    if sha == job.stored_sha256:
        return Unchanged(job.url, response.validators)
    fmt = format_of(response)
    extracted = formats.extract_as(fmt, _as_utf8(response) if fmt.kind == "html" else response.body)
    extracted.url = response.final_url
    extracted.accessed = response.fetched_at.date().isoformat()
    notes = []
    if response.final_url != job.url:
        notes.append(f"redirected to {response.final_url} (cited under that address)")
    return Fetched(job.url, response.final_url, sha, len(response.body), time.time_ns(), response.body,
                   response.validators, extracted, notes)


@dataclass
class Response:
    status: int  # 200 or 304
    final_url: str
    body: bytes
    media_type: str
    charset: str | None
    validators: Validators
    fetched_at: datetime


def fetch(url: str, validators: Validators, timeout_s: float, max_bytes: int) -> Response:
    """GET `url`, following redirects by hand (each hop checked), within `timeout_s` overall."""
    import requests

    deadline = time.monotonic() + timeout_s
    robots: dict[str, RobotFileParser] = {}
    current = url
    with requests.Session() as session:
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml,"
                                "application/pdf,application/vnd.openxmlformats-officedocument.wordprocessingml."
                                "document,text/plain;q=0.9,*/*;q=0.5"})
        for _ in range(MAX_REDIRECTS + 1):
            _check_host(current)
            _check_robots(session, current, robots, deadline)
            response = _get(session, current, validators.headers(), deadline)
            with response:
                if response.is_redirect or response.status_code in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise ExtractionError(f"the server redirected (HTTP {response.status_code}) without saying where")
                    current = normalise_redirect(urljoin(current, location))
                    continue
                return _response(response, current, max_bytes, deadline)
    raise ExtractionError(f"more than {MAX_REDIRECTS} redirects (a redirect loop?); check the address in a browser")


def normalise_redirect(location: str) -> str:
    try:
        return normalise(location)
    except AddressError as exc:
        raise ExtractionError(f"redirected to an address that is not fetched: {exc}") from None


def _check_host(url: str) -> None:
    """Resolve the host name; refuse link-local addresses (cloud metadata services live there).
    Behind a proxy (HTTPS_PROXY and the like) the proxy resolves names, so nothing is checked here."""
    from requests.utils import get_environ_proxies

    parts = urlsplit(url)
    if get_environ_proxies(url):
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ExtractionError(f"the host name {parts.hostname} does not resolve (DNS): the site is gone or the "
                              "address is mistyped") from None
    except (UnicodeError, OSError) as exc:
        raise ExtractionError(f"the host name {parts.hostname} cannot be looked up ({exc})") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
            raise ExtractionError(f"{parts.hostname} is a link-local or reserved network address ({ip}); not fetched")


def _check_robots(session, url: str, cache: dict, deadline: float) -> None:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin not in cache:
        cache[origin] = _robots(session, origin, deadline)
    if not cache[origin].can_fetch(ROBOTS_AGENT, url):
        raise ExtractionError(f"robots.txt of {parts.netloc} does not allow fetching this address; save the page "
                              "from a browser and ingest the file instead")


def _robots(session, origin: str, deadline: float) -> RobotFileParser:
    import requests

    parser = RobotFileParser(origin + "/robots.txt")
    try:
        response = session.get(origin + "/robots.txt", timeout=_timeouts(deadline), stream=True, allow_redirects=True)
        with response:
            status = response.status_code
            body = _read_capped(response, ROBOTS_MAX_BYTES, deadline, truncate=True) if status == 200 else b""
    except requests.RequestException as exc:
        raise ExtractionError(f"robots.txt of {urlsplit(origin).netloc} could not be read ({_why(exc)}), so the page "
                              "is not fetched; try again later") from None
    if status >= 500:
        raise ExtractionError(f"robots.txt of {urlsplit(origin).netloc} is unavailable (HTTP {status}), so the page "
                              "is not fetched; try again later")
    parser.parse(body.decode("utf-8", "replace").splitlines() if status == 200 else [])
    return parser


def _get(session, url: str, headers: dict, deadline: float):
    import requests

    try:
        return session.get(url, headers=headers, timeout=_timeouts(deadline), stream=True, allow_redirects=False)
    except requests.RequestException as exc:
        raise ExtractionError(_why(exc)) from None


def _timeouts(deadline: float) -> tuple[float, float]:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ExtractionError("no complete answer within the time limit (KB_FETCH_TIMEOUT_S)")
    return (min(left, 10.0), left)


def _why(exc: Exception) -> str:
    import requests

    if isinstance(exc, (requests.ConnectTimeout, requests.ReadTimeout)):
        return "the server did not answer within the time limit (KB_FETCH_TIMEOUT_S)"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the site's HTTPS certificate could not be verified"
    if isinstance(exc, requests.ConnectionError):
        return "the server could not be reached (connection refused or dropped)"
    return f"the request failed ({type(exc).__name__})"


def _response(response, url: str, max_bytes: int, deadline: float) -> Response:
    status = response.status_code
    fetched_at = datetime.now(timezone.utc)
    found = Validators(response.headers.get("ETag"), response.headers.get("Last-Modified"))
    if status == 304:
        return Response(304, url, b"", "", None, found, fetched_at)
    if status in (404, 410):
        raise ExtractionError(f"the page is gone (HTTP {status} {'Not Found' if status == 404 else 'Gone'})")
    if status in (401, 403):
        raise ExtractionError(f"the server refused access (HTTP {status}); a page behind a login cannot be fetched")
    if status == 429 or status >= 500:
        raise ExtractionError(f"the server is unavailable (HTTP {status}); try again later")
    if status != 200:
        raise ExtractionError(f"the server answered HTTP {status}, not the page")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ExtractionError(_too_big(int(declared), max_bytes))
    body = _read_capped(response, max_bytes, deadline)
    media_type, _, params = (response.headers.get("Content-Type") or "").partition(";")
    charset = re.search(r"charset\s*=\s*\"?([\w.:-]+)", params, re.I)
    return Response(200, url, body, media_type.strip().lower(), charset.group(1) if charset else None, found,
                    fetched_at)


def _read_capped(response, max_bytes: int, deadline: float, truncate: bool = False) -> bytes:
    import requests

    chunks, size = [], 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                if truncate:
                    chunks.append(chunk[:max_bytes - (size - len(chunk))])
                    break
                raise ExtractionError(_too_big(size, max_bytes, at_least=True))
            if time.monotonic() > deadline:
                raise ExtractionError("the page did not arrive within the time limit (KB_FETCH_TIMEOUT_S)")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise ExtractionError(_why(exc)) from None
    return b"".join(chunks)


def _too_big(size: int, max_bytes: int, at_least: bool = False) -> str:
    return (f"the page is {'over ' if at_least else ''}{size / 2**20:.1f} MB, over the {max_bytes / 2**20:g} MB "
            "limit (KB_MAX_FILE_MB); skipped")


def format_of(response: Response) -> formats.Format:
    """The format of what an address served: its declared media type, else the address's
    suffix, else what the bytes look like."""
    fmt = formats.for_media_type(response.media_type)
    if fmt is None and response.media_type in GENERIC_TYPES:
        fmt = formats.for_path(urlsplit(response.final_url).path) or _sniffed(response.body)
    if fmt is None:
        raise ExtractionError(f"the address serves {response.media_type or 'an undeclared type'}, which is not "
                              f"a format this knowledge base reads ({formats.SUPPORTED})")
    return fmt


def _sniffed(data: bytes) -> formats.Format | None:
    from .sniff import magic

    if b"%PDF-" in data[:1024]:
        return formats.by_kind("pdf")
    guess = magic(data)
    if guess == "html":
        return formats.by_kind("html")
    if guess in ("docx", "zip"):
        docx = formats.by_kind("docx")
        return docx if docx and docx.accepts(data) else None
    return None


def _as_utf8(response: Response) -> bytes:
    """A page in the charset its server declares, as UTF-8 (the HTML reader assumes UTF-8 first)."""
    if not response.charset:
        return response.body
    try:
        response.body.decode("utf-8")
        return response.body
    except UnicodeDecodeError:
        pass
    try:
        return response.body.decode(response.charset).encode("utf-8")
    except (LookupError, UnicodeDecodeError):
        return response.body


def _shown(address: str) -> str:
    parts = urlsplit(address)
    return urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", ""))[:100]


# ---- for front ends ---------------------------------------------------------------------------

def ingest_addresses(text: str, settings, **kwargs):
    """Fetch and ingest the addresses typed into a box, one a line; returns the IngestReport.

    Every line is accounted for: a line that is not an http(s) address is a failure in the
    report, as is an address that cannot be fetched (a page already stored keeps its
    passages). `kwargs` go to ingest.pipeline.ingest (progress, embedder, on_wait).
    """
    from .pipeline import IngestReport, ingest

    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    addresses = [line for line in lines if is_address(line)]
    report = ingest(addresses, settings, **kwargs) if addresses else IngestReport(kb_dir=str(settings.kb_dir))
    report.failed += [{"path": line, "reason": "not a web address: it must start with https:// or http://"}
                      for line in lines if not is_address(line)]
    return report
