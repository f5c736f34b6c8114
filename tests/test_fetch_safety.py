"""The web box must not reach inside (issue 27, items 1, 2 and 8): addresses on this machine, on a
private network or at the cloud metadata service are refused, for the address typed, for every
redirect and for robots.txt's redirects, before any connection is made; a name is resolved once
and its connections go to the checked address (DNS rebinding cannot move them); a server that
sends one byte at a time is cut off at the fetch time limit.

Real servers on 127.0.0.1 stand in for the site and for an internal admin service. No traffic
leaves this machine: `network` stands in for DNS and for the internet, carrying a connection to
a "public" address to a server on 127.0.0.1 and refusing (and recording) every other
non-loopback connection, so a test can assert that nothing was even attempted.
"""
from __future__ import annotations

import ipaddress
import socket
import socketserver
import ssl
import threading
import time

import pytest
import trustme
from conftest import kb_cli
from webserver import CONSULTATION, Site, agency_page, serving, site  # noqa: F401 - site is a fixture

from ingest import web
from kb.errors import ExtractionError

PUBLIC = "93.184.215.14"  # what the stand-in DNS answers for the sites below; never contacted
SECRET = b"<html><body><h1>Admin</h1><p>The database password is hunter2.</p></body></html>"


@pytest.fixture
def internal():
    """A second service on this machine, as an admin console or the app's own health check."""
    state = Site()
    state.put("/robots.txt", b"User-agent: *\nAllow: /\n", **{"Content-Type": "text/plain"})
    state.put("/admin", SECRET)
    state.put("/", SECRET)
    with serving(state):
        yield state


class Network:
    """DNS and the internet as the test says: `names` answers look-ups (a list of answers, or
    a list of such lists handed out in turn, the last one repeating); `routes` carries a
    connection to (address, port) to a port on 127.0.0.1. A connection to any other loopback
    address goes through as asked; any other is recorded in `attempts` and refused."""

    def __init__(self, real_getaddrinfo, real_connect):
        self.names: dict[str, list] = {}
        self.routes: dict[tuple[str, int], int] = {}
        self.attempts: list[tuple[str, int]] = []
        self.lookups: list[str] = []
        self._getaddrinfo, self._connect = real_getaddrinfo, real_connect

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - socket's names
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.names:
            if name != "localhost" and not _numeric(str(name)):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return self._getaddrinfo(host, port, family, type, proto, flags)
        self.lookups.append(name)
        answers = self.names[name]
        if answers and isinstance(answers[0], list):
            answers = answers.pop(0) if len(answers) > 1 else answers[0]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, int(port or 0), 0, 0) if ":" in a else (a, int(port or 0))) for a in answers]

    def create_connection(self, address, timeout=None, source_address=None, socket_options=None):
        host, port = address
        host = host.strip("[]")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = ipaddress.ip_address(self.getaddrinfo(host, port)[0][4][0])
        self.attempts.append((str(ip), port))
        target = self.routes.get((str(ip), port))
        if target is not None:
            return self._connect(("127.0.0.1", target), timeout, source_address=source_address,
                                 socket_options=socket_options)
        if ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped and ip.ipv4_mapped.is_loopback):
            return self._connect((str(ip), port), timeout, source_address=source_address,
                                 socket_options=socket_options)
        raise OSError(101, f"test network: no connection beyond this machine ({ip})")

    def beyond_loopback(self) -> list[tuple[str, int]]:
        """The connections asked for to addresses that are not this machine's and not routed."""
        return [(ip, port) for ip, port in self.attempts
                if (ip, port) not in self.routes and not ipaddress.ip_address(ip).is_loopback]


def _numeric(name: str) -> bool:
    """An address written as numbers, in any form the C library reads (2130706433, 0x7f.1, ::1)."""
    try:
        ipaddress.ip_address(name.split("%")[0])
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(name)
        return True
    except OSError:
        return False


@pytest.fixture
def network(monkeypatch):
    from urllib3.util import connection

    net = Network(socket.getaddrinfo, connection.create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", net.getaddrinfo)
    monkeypatch.setattr(connection, "create_connection", net.create_connection)
    return net


def fetch(url: str, allow_private: bool = False, timeout_s: float = 10) -> web.Response:
    return web.fetch(url, web.Validators(), timeout_s, 10 * 2**20, allow_private)


# ---- which addresses -------------------------------------------------------------------------

REFUSED = {
    "127.0.0.1": "loopback", "127.8.9.10": "loopback", "::1": "loopback", "0.0.0.0": "unspecified", "::": "unspecified",
    "10.1.2.3": "private", "172.16.5.4": "private", "172.31.255.1": "private", "192.168.1.10": "private",
    "fd12:3456:789a::1": "unique local", "fc00::5": "unique local",
    "169.254.169.254": "link-local", "fe80::1": "link-local",
    "100.64.0.1": "carrier-grade NAT", "100.127.255.254": "carrier-grade NAT",
    "224.0.0.251": "multicast", "239.1.2.3": "multicast", "ff02::1": "multicast",
    "240.0.0.1": "reserved", "255.255.255.255": "reserved",
    # IPv6 forms that carry an IPv4 address, judged by that address
    "::ffff:169.254.169.254": "link-local", "::ffff:127.0.0.1": "loopback", "::ffff:10.0.0.1": "private",
    "64:ff9b::a9fe:a9fe": "link-local", "64:ff9b::7f00:1": "loopback", "64:ff9b::c0a8:101": "private",
    "2002:a9fe:a9fe::": "link-local", "2002:7f00:1::1": "loopback", "2002:a00:1::": "private",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "private",  # Teredo, client 192.0.2.45 (documentation)
    "2001:0:4136:e378:8000:63bf:5601:5601": "link-local",  # Teredo, client 169.254.169.254 (obfuscated)
}
PUBLIC_ADDRESSES = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
                    "2002:808:808::1"]


@pytest.mark.parametrize("address", sorted(REFUSED))
def test_every_kind_of_inside_address_is_refused(address):
    why = web.refusal(ipaddress.ip_address(address))
    assert why and REFUSED[address] in why


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_and_their_ipv6_forms_are_allowed(address):
    assert web.refusal(ipaddress.ip_address(address)) is None


def test_allowing_private_addresses_never_allows_the_metadata_service():
    for address in ("127.0.0.1", "::1", "10.1.2.3", "192.168.1.10", "100.64.0.1", "fd12::1", "::ffff:10.0.0.1",
                    "64:ff9b::a00:1"):
        assert web.refusal(ipaddress.ip_address(address), allow_private=True) is None, address
    for address in ("169.254.169.254", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::",
                    "fe80::1", "224.0.0.1", "0.0.0.0", "240.0.0.1"):
        assert web.refusal(ipaddress.ip_address(address), allow_private=True), address


METADATA_FORMS = ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/latest/meta-data/",
                  "http://[::ffff:a9fe:a9fe]/latest/meta-data/", "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
                  "http://[2002:a9fe:a9fe::]/latest/meta-data/"]
PRIVATE_URLS = ["http://10.20.30.40/intranet", "http://192.168.0.1/", "http://100.64.1.2/", "http://[fd00::1]/",
                "http://[::ffff:10.20.30.40]/"]


@pytest.mark.parametrize("url, allow_private", [(u, False) for u in METADATA_FORMS + PRIVATE_URLS] +
                         [(u, True) for u in METADATA_FORMS])
def test_inside_addresses_are_refused_before_any_connection(network, url, allow_private):
    with pytest.raises(ExtractionError, match="not fetched") as refused:
        fetch(url, allow_private)
    assert "\n" not in str(refused.value)
    assert network.attempts == []  # nothing was sent, not even for robots.txt


# ---- an internal service on this machine -------------------------------------------------------

def test_an_internal_service_is_refused_by_address_in_ingest_the_app_box_and_the_cli(internal, run_ingest,
                                                                                     settings, embedder, kb_dir):
    assert not settings.fetch_allow_private  # the default
    addresses = [f"http://127.0.0.1:{internal.port}/admin", f"http://localhost:{internal.port}/admin",
                 f"http://[::ffff:127.0.0.1]:{internal.port}/admin", f"http://127.1.2.3:{internal.port}/",
                 f"http://2130706433:{internal.port}/admin"]  # 127.0.0.1 written as one number
    report = run_ingest(*addresses)
    assert report.added == [] and len(report.failed) == len(addresses)
    for failure in report.failed:
        assert "loopback" in failure["reason"] and "not fetched" in failure["reason"]
        assert "KB_FETCH_ALLOW_PRIVATE" in failure["reason"]
    box = web.ingest_addresses(f"{internal.base}/admin\n", settings, embedder=embedder)  # the Library's box
    assert box.added == [] and "loopback" in box.failed[0]["reason"]
    cli = kb_cli("ingest", f"{internal.base}/admin", "--kb", kb_dir, "--json", env={"HF_HUB_OFFLINE": "1"})
    assert cli.returncode == 1 and "loopback" in cli.stdout
    assert internal.requests == []  # the service never saw a request


def test_an_intranet_setting_allows_this_machine(internal, run_ingest, settings):
    report = run_ingest(f"{internal.base}/admin", settings=settings.with_(fetch_allow_private=True))
    assert report.failed == [] and len(report.added) == 1
    assert [path for path, _ in internal.requests] == ["/robots.txt", "/admin"]


@pytest.fixture
def agency(site, network):
    """The site, as www.agency.example at a public address (carried to 127.0.0.1 by `network`)."""
    network.names["www.agency.example"] = [PUBLIC]
    network.routes[(PUBLIC, 80)] = site.port
    site.put("/iecmh", agency_page(CONSULTATION))
    return site


def test_a_public_site_is_fetched_through_the_checked_address(agency, network):
    response = fetch("http://www.agency.example/iecmh")
    assert response.status == 200 and response.body == agency.pages["/iecmh"][2]
    assert {headers["Host"] for _, headers in agency.requests} == {"www.agency.example"}  # the name, not the address
    assert set(network.attempts) == {(PUBLIC, 80)} and network.lookups == ["www.agency.example"]  # resolved once


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/admin", "http://localhost:{port}/admin",
                                    "http://[::1]:{port}/admin", "http://[::ffff:7f00:1]:{port}/admin",
                                    "http://2130706433:{port}/admin", "http://0x7f.1:{port}/admin",
                                    "http://inside.agency.example:{port}/admin"])
def test_a_redirect_to_an_internal_service_is_refused(agency, internal, network, target):
    network.names["inside.agency.example"] = ["127.0.0.1"]
    agency.put("/moved", b"", status=302, Location=target.format(port=internal.port))
    with pytest.raises(ExtractionError) as refused:
        fetch("http://www.agency.example/moved")
    reason = str(refused.value)
    assert reason.startswith("redirected to") and "loopback" in reason and "not fetched" in reason
    assert internal.requests == [] and set(network.attempts) == {(PUBLIC, 80)}  # only the site was contacted


def test_a_name_with_any_inside_answer_is_refused(agency, network):
    network.names["mixed.example"] = [PUBLIC, "10.0.0.7"]
    with pytest.raises(ExtractionError, match=r"mixed\.example resolves to 10\.0\.0\.7, a private network"):
        fetch("http://mixed.example/iecmh")
    assert network.attempts == []


@pytest.mark.parametrize("allow_private", [False, True])
def test_robots_txt_redirecting_to_the_metadata_service_is_refused(agency, network, allow_private):
    agency.put("/robots.txt", b"", status=302, Location="http://169.254.169.254/latest/meta-data/iam/")
    url = f"{agency.base}/iecmh" if allow_private else "http://www.agency.example/iecmh"  # 127.0.0.1 needs the setting
    with pytest.raises(ExtractionError) as refused:
        fetch(url, allow_private)
    reason = str(refused.value)
    assert "robots.txt" in reason and "169.254.169.254" in reason and "link-local" in reason
    assert network.beyond_loopback() == []  # the metadata address was never contacted
    assert [path for path, _ in agency.requests] == ["/robots.txt"]  # and the page was not fetched either


def test_dns_rebinding_never_reaches_this_machine(agency, internal, network):
    """The first answer is public, every later one 127.0.0.1 (where the internal service is on
    port 80 for this test): the connections go where the first, checked, answer said."""
    network.names["rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
    network.routes[("127.0.0.1", 80)] = internal.port
    response = fetch("http://rebind.example/iecmh")
    assert response.body == agency.pages["/iecmh"][2]
    assert internal.requests == [] and set(network.attempts) == {(PUBLIC, 80)}
    assert [path for path, _ in agency.requests] == ["/robots.txt", "/iecmh"]  # two connections, one answer used


@pytest.fixture
def tls_site(network, monkeypatch, tmp_path):
    """The site over HTTPS as rebind.example, with a certificate for that name from a test CA
    (trustme) that requests is told to trust; `names_sent` records the TLS server names (SNI)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("rebind.example").configure_cert(context)
    names_sent = []
    context.sni_callback = lambda sock, name, ctx: names_sent.append(name)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    state = Site()
    state.put("/robots.txt", b"User-agent: *\nAllow: /\n", **{"Content-Type": "text/plain"})
    state.put("/iecmh", agency_page(CONSULTATION))
    state.names_sent = names_sent
    with serving(state, tls=context):
        network.routes[(PUBLIC, 443)] = state.port
        yield state


def test_dns_rebinding_over_https_keeps_the_name_for_the_certificate(tls_site, internal, network):
    """Pinned to the checked address, the connection still sends the name (SNI) and checks the
    certificate against it, never against the address."""
    network.names["rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
    network.names["wrong-name.example"] = [PUBLIC]
    network.routes[("127.0.0.1", 443)] = internal.port
    response = fetch("https://rebind.example/iecmh")
    assert response.body == tls_site.pages["/iecmh"][2] and response.final_url == "https://rebind.example/iecmh"
    assert set(tls_site.names_sent) == {"rebind.example"}
    assert internal.requests == [] and set(network.attempts) == {(PUBLIC, 443)}
    with pytest.raises(ExtractionError, match="certificate could not be verified"):
        fetch("https://wrong-name.example/iecmh")  # same address, a name the certificate does not hold


# ---- a server that sends one byte at a time ---------------------------------------------------

class Drip:
    """A server on 127.0.0.1 that answers robots.txt at once (404) and everything else one byte
    every `interval` seconds: the body (mode "body"), the headers ("headers"), or a body with
    no length that ends when the connection does ("no-length"). `sent` counts the bytes of the
    slow answer that went out before the client hung up."""

    def __init__(self, mode: str, interval: float = 0.25, size: int = 60):
        self.mode, self.interval, self.size = mode, interval, size
        self.sent = 0
        self.hung_up = threading.Event()

    def answer(self, sock: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = sock.recv(4096)
            if not chunk:
                return
            request += chunk
        if request.startswith(b"GET /robots.txt"):
            sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        body = b"<html><body><p>" + b"x" * (self.size - 29) + b"</p></body></html>"
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
        if self.mode == "body":
            sock.sendall(head + f"Content-Length: {len(body)}\r\n\r\n".encode())
            slow = body
        elif self.mode == "no-length":
            sock.sendall(head + b"\r\n")
            slow = body
        else:
            slow = head + f"X-Padding: {'p' * self.size}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        try:
            for byte in slow:
                sock.sendall(bytes([byte]))
                self.sent += 1
                time.sleep(self.interval)
        except OSError:
            self.hung_up.set()
            return
        # everything sent: a client still reading has held on for the whole drip


@pytest.fixture
def drip():
    servers = []

    def start(mode: str) -> tuple[Drip, str]:
        state = Drip(mode)

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                state.answer(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return state, f"http://127.0.0.1:{server.server_address[1]}/slow"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_slow_drip_is_cut_at_the_fetch_time_limit_and_said_so(drip, run_ingest, settings):
    state, url = drip("body")
    report = run_ingest(url, settings=settings.with_(fetch_timeout_s=2, fetch_allow_private=True))
    (failure,) = report.failed
    reason = failure["reason"]
    assert "server was too slow" in reason and "2 s time limit (KB_FETCH_TIMEOUT_S)" in reason
    assert "extraction" not in reason and "\n" not in reason
    assert state.hung_up.wait(5) and state.sent < 60  # cut off mid-body, not read to the end


@pytest.mark.parametrize("mode", ["headers", "no-length"])
def test_slow_headers_and_a_slow_body_without_a_length_are_cut_too(drip, mode):
    state, url = drip(mode)
    with pytest.raises(ExtractionError, match="server was too slow"):
        fetch(url, allow_private=True, timeout_s=1.5)  # a body cut short is never taken for the page
    assert state.hung_up.wait(5) and state.sent < state.size


# ---- a DNS look-up counts against the same time limit -----------------------------------------

def test_a_slow_dns_lookup_counts_against_the_fetch_time_limit(network, monkeypatch):
    """The stand-in resolver holds the look-up of one name until the test lets it go: the fetch
    gives up at its time limit with a reason that says DNS, while the look-up is still pending
    (the old code waited for the resolver however long it took, then fetched)."""
    release, finished = threading.Event(), threading.Event()
    answer = network.getaddrinfo

    def slow_resolver(host, port, *args, **kwargs):
        if host == "slow-dns.example":
            release.wait(30)
            finished.set()
        return answer(host, port, *args, **kwargs)

    network.names["slow-dns.example"] = [PUBLIC]
    monkeypatch.setattr(socket, "getaddrinfo", slow_resolver)
    try:
        with pytest.raises(ExtractionError) as refused:
            fetch("http://slow-dns.example/iecmh", timeout_s=1.5)
        assert not finished.is_set(), "the fetch waited for the resolver"
        reason = str(refused.value)
        assert "slow-dns.example was not looked up (DNS) within the 1.5 s time limit (KB_FETCH_TIMEOUT_S)" in reason
    finally:
        release.set()
    assert network.attempts == []  # nothing was connected to
