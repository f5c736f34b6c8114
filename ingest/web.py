"""Web pages by address: fetched once, politely and within bounds, then read like a file.

- An address is normalised (scheme and host lower-case, default port and #fragment dropped)
  and that is the document's identity; the pipeline keeps its bytes in `<kb_dir>/web/` (see
  kb/web_copies.py) so the source opens, and can be read again, without the network.
- Re-ingesting sends the stored ETag / Last-Modified (a conditional request): an unchanged
  page costs one small answer and is skipped.
- Bounded: one time limit for the whole fetch (robots.txt, redirects and body together),
  enforced on the sockets themselves, so a server that sends one byte at a time is cut off
  at the limit; at most MAX_REDIRECTS redirects, a size cap read as the body streams in.
- Only the public internet: every connection (robots.txt and each redirect included) goes to
  an address checked first, resolved once and pinned, so a second DNS answer cannot move it
  (DNS rebinding). This machine, private networks, link-local (cloud metadata), carrier-grade
  NAT, multicast and reserved addresses are refused, judged for IPv6 forms that carry an IPv4
  address (::ffff:a.b.c.d, NAT64, 6to4, Teredo) by that address. KB_FETCH_ALLOW_PRIVATE lets
  an intranet fetch private and loopback addresses; link-local and the rest stay refused.
  Behind a proxy (HTTPS_PROXY and the like) the proxy resolves names and connects: what it
  may reach is its administrator's to restrict; addresses typed as numbers are still checked.
- Polite: robots.txt is obeyed (RFC 9309: a missing one allows everything, an unreachable
  one allows nothing).
- Whatever the address serves is read by the format registry: a PDF behind an address is
  ingested as a PDF. Every refusal is an ExtractionError with a one-line reason.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
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


class LookupTimedOut(ExtractionError):
    """The host name's DNS look-up did not finish within the fetch's time limit."""


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

def fetch_and_read(job: Job, timeout_s: float, max_bytes: int, allow_private: bool = False) -> Fetched | Unchanged:
    """Fetch one address and read what it serves with the format registry (in the worker)."""
    response = fetch(job.url, job.validators, timeout_s, max_bytes, allow_private)
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


def fetch(url: str, validators: Validators, timeout_s: float, max_bytes: int,
          allow_private: bool = False) -> Response:
    """GET `url`, following redirects by hand (each hop checked), within `timeout_s` overall.

    Every connection goes through a FetchGuard: to a checked, pinned address, and shut when
    the time is up, so no server, however slowly it sends, holds the fetch past `timeout_s`."""
    guard = FetchGuard(timeout_s, allow_private)
    timer = threading.Timer(timeout_s, guard.expire)
    timer.daemon = True
    timer.start()
    try:
        response = _fetch(url, validators, max_bytes, guard)
        if guard.expired:  # a body without a length ends when its socket is shut: not the whole page
            raise ExtractionError(guard.too_slow())
        return response
    except ExtractionError as exc:
        if guard.expired and not isinstance(exc, LookupTimedOut):  # that one says more exactly what was slow
            raise ExtractionError(guard.too_slow()) from None
        raise
    finally:
        timer.cancel()


def _fetch(url: str, validators: Validators, max_bytes: int, guard: "FetchGuard") -> Response:
    import requests

    robots: dict[str, RobotFileParser] = {}
    current = url
    with requests.Session() as session:
        adapter = _pinned_adapter()(guard)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml,"
                                "application/pdf,application/vnd.openxmlformats-officedocument.wordprocessingml."
                                "document,text/plain;q=0.9,*/*;q=0.5"})
        for hop in range(MAX_REDIRECTS + 1):
            try:
                _check_literal(current, guard.allow_private)
                _check_robots(session, current, robots, guard)
                response = _get(session, current, validators.headers(), guard.deadline)
            except ExtractionError as exc:
                if hop == 0:
                    raise
                raise ExtractionError(f"redirected to {_shown(current)}: {exc}") from None
            with response:
                if response.is_redirect or response.status_code in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise ExtractionError(f"the server redirected (HTTP {response.status_code}) without saying where")
                    current = normalise_redirect(urljoin(current, location))
                    continue
                return _response(response, current, max_bytes, guard.deadline)
    raise ExtractionError(f"more than {MAX_REDIRECTS} redirects (a redirect loop?); check the address in a browser")


def normalise_redirect(location: str) -> str:
    try:
        return normalise(location)
    except AddressError as exc:
        raise ExtractionError(f"redirected to an address that is not fetched: {exc}") from None


# ---- which addresses may be fetched ----------------------------------------------------------

NAT64 = ipaddress.ip_network("64:ff9b::/96")  # an IPv4 address in its last 32 bits (RFC 6052)
CGNAT = ipaddress.ip_network("100.64.0.0/10")  # shared address space (RFC 6598): a provider's inside
PRIVATE_HINT = " (on an intranet, KB_FETCH_ALLOW_PRIVATE=1 allows private addresses)"


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries and is routed to: IPv4-mapped (::ffff:a.b.c.d),
    NAT64 (64:ff9b::/96), 6to4 (2002::/16) or a Teredo client; None for a plain IPv6 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool = False) -> str | None:
    """Why a web fetch may not connect to `ip` (what kind of address it is), or None.

    Only public internet addresses are fetched. With `allow_private` (KB_FETCH_ALLOW_PRIVATE)
    this machine, private networks and carrier-grade NAT are allowed too; link-local (where
    cloud metadata services answer), multicast, unspecified and reserved addresses never are."""
    if ip.version == 6:
        inner = embedded_ipv4(ip)
        if inner is not None:
            why = refusal(inner, allow_private)
            if why:
                return f"an IPv6 form of {inner}, {why}"
            if ip.teredo is not None:
                return "a Teredo tunnel address (IPv4 through a relay)"
            return None  # judged by the IPv4 address it reaches
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return None if allow_private else "an address of this machine (loopback)"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved or (ip.version == 4 and ip == ipaddress.IPv4Address("255.255.255.255")):
        return "a reserved address"
    if ip.version == 4 and ip in CGNAT:
        return None if allow_private else "a carrier-grade NAT address (100.64.0.0/10)"
    if ip.is_private or not ip.is_global:
        kind = "a private network address" + (" (IPv6 unique local)" if ip.version == 6 and
                                               ip in ipaddress.ip_network("fc00::/7") else "")
        return None if allow_private else kind
    return None


def _literal(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((host or "").strip("[]").split("%")[0])
    except ValueError:
        return None


def _refused(subject: str, ip, allow_private: bool) -> None:
    """Raise the one-line reason when `ip` may not be fetched; `subject` says how we got to it."""
    why = refusal(ip, allow_private)
    if why:
        hint = PRIVATE_HINT if refusal(ip, True) is None else ""
        raise ExtractionError(f"{subject} {why}; not fetched{hint}")


def _check_literal(url: str, allow_private: bool) -> None:
    """An address written as a number is judged before anything is sent (a proxy included)."""
    host = urlsplit(url).hostname
    ip = _literal(host)
    if ip is not None:
        _refused(f"{host} is", ip, allow_private)


def checked_address(host: str, port: int, allow_private: bool = False, deadline: float | None = None,
                    timeout_s: float | None = None) -> str:
    """The address to connect to for `host`: resolved once (by `deadline`, the fetch's), every
    answer checked (a name with any refused answer is refused), the first one used."""
    ip = _literal(host)
    if ip is not None:
        _refused(f"{host} is", ip, allow_private)
        return str(ip)
    try:
        infos = _lookup(host, port, deadline, timeout_s)
    except socket.gaierror:
        raise ExtractionError(f"the host name {host} does not resolve (DNS): the site is gone or the "
                              "address is mistyped") from None
    except (UnicodeError, OSError) as exc:
        raise ExtractionError(f"the host name {host} cannot be looked up ({exc})") from None
    answers = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos
               if info[0] in (socket.AF_INET, socket.AF_INET6)]
    if not answers:
        raise ExtractionError(f"the host name {host} has no internet address (DNS)")
    for answer in answers:
        _refused(f"{host} resolves to {answer},", answer, allow_private)
    return str(answers[0])


def _lookup(host: str, port: int, deadline: float | None, timeout_s: float | None) -> list:
    """getaddrinfo within the fetch's time limit. The C library's look-up cannot be interrupted,
    so it runs on a daemon thread that the fetch stops waiting for at the deadline."""
    from urllib3.util.connection import allowed_gai_family

    def look():
        try:
            found["infos"] = socket.getaddrinfo(host, port, family=allowed_gai_family(), type=socket.SOCK_STREAM)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting fetch
            found["error"] = exc

    found: dict = {}
    if deadline is None:
        look()
    else:
        thread = threading.Thread(target=look, name=f"dns {host}", daemon=True)
        thread.start()
        thread.join(max(deadline - time.monotonic(), 0.0))
        if thread.is_alive():
            limit = f"the {timeout_s:g} s time limit" if timeout_s else "the time limit"
            raise LookupTimedOut(f"the host name {host} was not looked up (DNS) within {limit} "
                                  "(KB_FETCH_TIMEOUT_S); try again later")
    if "error" in found:
        raise found["error"]
    return found["infos"]


class FetchGuard:
    """Where one fetch may connect and until when: each host is resolved and checked once and
    its connections go to that address (pinned); at the deadline every socket it opened is
    shut, which ends a read however slowly the server sends (a per-read timeout does not)."""

    def __init__(self, timeout_s: float, allow_private: bool = False):
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.allow_private = allow_private
        self.expired = False
        self._pinned: dict[tuple[str, int], str] = {}
        self._fds: list[int] = []
        self._lock = threading.Lock()

    def address_for(self, host: str, port: int) -> str:
        if (host, port) not in self._pinned:
            self._pinned[(host, port)] = checked_address(host, port, self.allow_private, self.deadline, self.timeout_s)
        return self._pinned[(host, port)]

    def opened(self, sock: socket.socket) -> None:
        """Keep the socket's descriptor (a TLS wrapper takes the socket over, the descriptor stays)."""
        with self._lock:
            if self.expired:
                sock.close()
                raise ExtractionError(self.too_slow())
            self._fds.append(sock.fileno())

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            fds, self._fds = self._fds, []
        for fd in set(fds):
            try:  # shut the connection through a duplicate: the descriptor stays its owner's to close
                dup = os.dup(fd)
            except OSError:
                continue  # already closed
            try:
                sock = socket.socket(fileno=dup)
            except OSError:  # no longer a socket
                os.close(dup)
                continue
            with sock:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # no longer connected

    def too_slow(self) -> str:
        return (f"the server was too slow: the page was not complete within the {self.timeout_s:g} s time limit "
                "(KB_FETCH_TIMEOUT_S); try again later")


@lru_cache(maxsize=1)
def _pinned_adapter():
    """The requests transport adapter whose direct connections all go through a FetchGuard
    (through a proxy, the proxy connects: see the module's note). Built on first use: requests
    and urllib3 load only when something is fetched."""
    from requests.adapters import HTTPAdapter
    from urllib3 import PoolManager
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    from urllib3.util import connection

    class Pinned:
        """Connect where the guard says, not to a new DNS answer; the host name stays the Host
        header, the TLS server name (SNI) and the name the certificate must hold."""

        def __init__(self, *args, guard: FetchGuard, **kwargs):
            super().__init__(*args, **kwargs)
            self.guard = guard

        def _new_conn(self):  # urllib3's one place that opens the socket
            address = self.guard.address_for(self._dns_host, self.port)
            try:
                sock = connection.create_connection((address, self.port), self.timeout,
                                                    source_address=self.source_address,
                                                    socket_options=self.socket_options)
            except socket.timeout as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
            except OSError as exc:
                raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
            self.guard.opened(sock)
            return sock

    class PinnedHTTPConnection(Pinned, HTTPConnection):
        pass

    class PinnedHTTPSConnection(Pinned, HTTPSConnection):
        pass

    class PinnedPoolManager(PoolManager):
        def __init__(self, guard: FetchGuard, **kwargs):
            super().__init__(**kwargs)
            self.guard = guard

        def _new_pool(self, scheme, host, port, request_context=None):
            pool = super()._new_pool(scheme, host, port, request_context)
            pool.ConnectionCls = PinnedHTTPSConnection if scheme == "https" else PinnedHTTPConnection
            pool.conn_kw = {**pool.conn_kw, "guard": self.guard}
            return pool

    class PinnedAdapter(HTTPAdapter):
        def __init__(self, guard: FetchGuard):
            self.guard = guard  # before HTTPAdapter.__init__, which makes the pool manager
            super().__init__()

        def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
            self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
            self.poolmanager = PinnedPoolManager(self.guard, num_pools=connections, maxsize=maxsize, block=block,
                                                 **pool_kwargs)

    return PinnedAdapter


def _check_robots(session, url: str, cache: dict, guard: FetchGuard) -> None:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin not in cache:
        cache[origin] = _robots(session, origin, guard)
    if not cache[origin].can_fetch(ROBOTS_AGENT, url):
        raise ExtractionError(f"robots.txt of {parts.netloc} does not allow fetching this address; save the page "
                              "from a browser and ingest the file instead")


def _robots(session, origin: str, guard: FetchGuard) -> RobotFileParser:
    """robots.txt, its redirects followed by hand: each one is checked like a page's."""
    import requests

    netloc = urlsplit(origin).netloc
    parser = RobotFileParser(origin + "/robots.txt")
    current = origin + "/robots.txt"
    for hop in range(MAX_REDIRECTS + 1):
        try:
            _check_literal(current, guard.allow_private)
            response = session.get(current, timeout=_timeouts(guard.deadline), stream=True, allow_redirects=False)
            with response:
                status = response.status_code
                location = response.headers.get("Location") if response.is_redirect else None
                body = _read_capped(response, ROBOTS_MAX_BYTES, guard.deadline, truncate=True) if status == 200 else b""
        except requests.RequestException as exc:
            raise ExtractionError(f"robots.txt of {netloc} could not be read ({_why(exc)}), so the page "
                                  "is not fetched; try again later") from None
        except ExtractionError as exc:
            if hop == 0:
                raise
            raise ExtractionError(f"robots.txt of {netloc} redirects to {_shown(current)}: {exc}") from None
        if not location:
            break
        try:
            current = normalise(urljoin(current, location))
        except AddressError as exc:
            raise ExtractionError(f"robots.txt of {netloc} redirects to an address that is not fetched: {exc}") \
                from None
    else:
        raise ExtractionError(f"robots.txt of {netloc} redirects more than {MAX_REDIRECTS} times, so the page is "
                              "not fetched; check the site in a browser")
    if status >= 500:
        raise ExtractionError(f"robots.txt of {netloc} is unavailable (HTTP {status}), so the page "
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
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))[:100]


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
