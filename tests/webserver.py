"""A real HTTP server on 127.0.0.1 for the web tests: pages that look like agency pages (cookie
banner, site header and navigation, breadcrumbs, footer around the content), any status,
headers and delay, and a log of what was asked."""
from __future__ import annotations

import threading
import time
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


class Site:
    """The pages the test server serves, and what it was asked."""

    def __init__(self):
        self.pages: dict[str, tuple[int, dict, bytes]] = {}
        self.requests: list[tuple[str, dict]] = []
        self.delay: dict[str, float] = {}

    def put(self, path: str, body: bytes, status: int = 200, **headers):
        self.pages[path] = (status, headers, body)


@pytest.fixture
def site():
    state = Site()
    state.put("/robots.txt", b"User-agent: *\nDisallow: /private/\n", **{"Content-Type": "text/plain"})

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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
