"""A real HTTP server on 127.0.0.1 for the web tests: pages that look like agency pages (cookie
banner, site header and navigation, breadcrumbs, footer around the content), any status,
headers and delay, and a log of what was asked."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

NAV = "Home About us Programs Contact Careers"
COOKIES = "We use cookies to improve your experience on our website. Accept all cookies"
FOOTER = "Copyright 2024 Department of Early Childhood. Privacy policy. Accessibility statement."


def agency_page(body: str, title: str = "Infant Mental Health Consultation") -> bytes:
    return f"""<!DOCTYPE html><html><head><title>{title} | Department of Early Childhood</title>
<meta property="og:site_name" content="Department of Early Childhood">
<meta name="dc.date" content="2021-03-04"></head><body>
<div id="cookie-banner" class="cookie-banner"><p>{COOKIES}</p><button>Accept</button></div>
<header class="site-header"><a class="skip-link" href="#main">Skip to main content</a>
<nav><ul>{''.join(f'<li><a href="/{w}">{w}</a></li>' for w in NAV.split())}</ul></nav></header>
<main id="main"><ol class="breadcrumb"><li>Home</li><li>Programs</li><li>Infant and Early Childhood Mental Health</li></ol>
<h1>{title}</h1>{body}</main>
<footer class="site-footer"><p>{FOOTER}</p></footer></body></html>""".encode()


CONSULTATION = ("<p>Consultation builds the capacity of early care providers to support the social and emotional "
                "development of infants and toddlers in their care.</p><h2>Supervision</h2><p>Reflective "
                "supervision is offered monthly to every consultant employed by the program.</p>"
                "<ul><li><a href='/a'>Consultation request form</a></li><li><a href='/b'>Regional coordinators</a>"
                "</li></ul>")


VIEWSTATE = ('<div class="aspNetHidden"><input type="hidden" name="__VIEWSTATE" id="__VIEWSTATE" '
             'value="/wEPDwUKLTcxNjU0NjY1Mg9kFgJmD2QWAgIDD2QWAgIBD2QWAmYPZBYCZg8WAh4EVGV4dAUQRGVwYXJ0bWVudA==" />'
             '<input type="hidden" name="__EVENTVALIDATION" id="__EVENTVALIDATION" value="/wEdAAKk" /></div>')


def sharepoint_page(body: str, title: str = "Infant Mental Health Consultation",
                    agency: str = "Department of Early Childhood", printed: str = "Last Reviewed: November 6, 2015",
                    head: str = "") -> bytes:
    """An agency page as SharePoint serves it: the whole body inside <form id="aspnetForm"> with
    __VIEWSTATE, the ribbon, #s4-workspace, the site's name in its header, a person in
    <meta name="author">, page tools, an in-page table of contents, "Return to Top" links and
    a printed review date in the rich-text field."""
    sections = [s for s in body.split("<h2>") if s]
    anchored = sections[0] + "".join(f'<p><a href="#top">Return to Top</a></p><h2 id="s{i}">{s}'
                                     for i, s in enumerate(sections[1:]))
    contents = "".join(f'<li><a href="#s{i}">{s.split("</h2>")[0]}</a></li>' for i, s in enumerate(sections[1:]))
    return f"""<!DOCTYPE html><html dir="ltr" lang="en-US"><head><meta name="GENERATOR" content="Microsoft SharePoint">
<meta name="author" content="Whitfield, Dana">{head}<title>
	{title}
</title></head><body><form method="post" action="./{title.replace(' ', '')}.aspx" id="aspnetForm">{VIEWSTATE}
<div id="ms-designer-ribbon"><div id="s4-ribbonrow"><a href="/_layouts/15/Authenticate.aspx">Sign In</a></div></div>
<div id="s4-workspace"><div id="s4-bodyContainer"><div id="s4-titlerow"><div id="titleAreaBox">
<div id="siteIcon"><a href="/"><img alt="{agency}" src="/logo.png"></a></div>
<div id="DeltaTopNavigation"><ul>{''.join(f'<li><a href="/{w}">{w}</a></li>' for w in NAV.split())}</ul></div>
<div id="DeltaPlaceHolderSearchArea"><input title="Search..." type="text"></div></div></div>
<div id="contentRow"><div id="sideNavBox"><ul><li><a href="/c">Child care</a></li><li><a href="/h">Home visiting</a></li></ul></div>
<div id="contentBox"><div id="DeltaPlaceHolderMain"><h1>{title}</h1>
<div class="ms-rtestate-field"><p><a href="javascript:window.print()">Print this page</a> | <a href="mailto:?">Email this page</a> | <a href="/share">Share</a></p>
<p><strong>On this page</strong></p><ul>{contents}</ul>
{anchored}<p><a href="#top">Return to Top</a></p><p>{printed}</p></div></div></div></div>
<div id="footer"><p>{FOOTER}</p></div></div></div></form></body></html>""".encode()


class Site:
    """The pages the test server serves, and what it was asked."""

    def __init__(self):
        self.pages: dict[str, tuple[int, dict, bytes]] = {}
        self.requests: list[tuple[str, dict]] = []
        self.delay: dict[str, float] = {}

    def put(self, path: str, body: bytes, status: int = 200, **headers):
        self.pages[path] = (status, headers, body)


@contextmanager
def serving(state: Site, tls=None):
    """Serve `state`'s pages on 127.0.0.1 (a free port: state.base, state.port) while inside;
    over HTTPS with `tls`, a server-side ssl.SSLContext."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            state.requests.append((self.path, dict(self.headers)))
            time.sleep(state.delay.get(self.path, 0))
            status, headers, body = state.pages.get(self.path, (404, {}, b"not found"))
            etag = headers.get("ETag")
            if status == 200 and etag and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(status)
            headers = {"Content-Type": "text/html; charset=utf-8", **headers}
            chunked = headers.pop("chunked", False)
            for key, value in headers.items():
                self.send_header(key, value)
            if not chunked:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.port = server.server_address[1]
    state.base = f"{'https' if tls else 'http'}://127.0.0.1:{state.port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site(monkeypatch):
    """The server, on 127.0.0.1: fetching from it takes KB_FETCH_ALLOW_PRIVATE, as on an intranet
    (set here for `kb` run as a command; a test that builds its settings first sets it itself)."""
    monkeypatch.setenv("KB_FETCH_ALLOW_PRIVATE", "1")
    state = Site()
    state.put("/robots.txt", b"User-agent: *\nDisallow: /private/\n", **{"Content-Type": "text/plain"})
    with serving(state):
        yield state
