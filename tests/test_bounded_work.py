"""Nothing slow forever: extraction and splitting do work linear in their input, measured by
counting Python function calls (not wall-clock), on generated pathological documents.

Doubling the input may at most double the work, with some slack for constant costs; a
quadratic stage would quadruple it. Every format also runs in the worker with a time and a
memory limit (tests/test_robustness.py), so this guards the common path, not the last line.
"""
from __future__ import annotations

import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import formats
from ingest.split import split_pages

PATTERNS = {
    "blank lines": (".txt", lambda n: "\n" * (40 * n) + "x\n"),
    "blank lines between title-like lines": (".txt", lambda n: "Title Line Here\n\n\n\n" * n + "Body text.\n"),
    "one huge line": (".txt", lambda n: "word " * (400 * n)),
    "many short paragraphs": (".md", lambda n: "Para.\n\n" * (60 * n)),
    "deep nesting": (".html", lambda n: "<div>" * (10 * n) + "deep text" + "</div>" * (10 * n)),
    "tiny html paragraphs": (".html", lambda n: "<html><body>" + "<p>a</p>" * (60 * n) + "</body></html>"),
    "nested lists": (".md", lambda n: "".join("  " * (i % 12) + "- item\n" for i in range(40 * n))),
    # nesting as deep as Markdown goes (markdown-it stops at 20 levels), then text that keeps it open
    "quote nesting": (".md", lambda n: "> " * 40 + "quoted text\n" + "plain line\n" * (20 * n)),
}


def calls(suffix: str, text: str) -> int:
    """Python calls made extracting and splitting one document."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    data = text.encode("utf-8")
    sys.setprofile(profile)
    try:
        try:
            extracted = formats.extract(f"doc{suffix}", data)
            split_pages(extracted.pages)
        except Exception as exc:  # a refusal is also bounded work; what matters is the count
            if "no text" not in str(exc):
                raise
    finally:
        sys.setprofile(None)
    return count


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=st.sampled_from(sorted(PATTERNS)), n=st.integers(10, 30))
def test_doubling_the_input_at_most_doubles_the_work(pattern, n):
    suffix, make = PATTERNS[pattern]
    calls(suffix, make(1))  # first use imports parsers lazily: not part of the work measured
    small, large = calls(suffix, make(n)), calls(suffix, make(2 * n))
    assert large <= 2.3 * small + 2000, f"{pattern}: {small} calls at n={n}, {large} at 2n"
