"""Property tests of the passage splitter: verbatim, complete, within pages, bounded."""
from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.split import MAX_CHARS, MAX_RUNOVER_WORDS, MAX_WORDS, _only_floats, _opening_block, heading_end, split_pages
from ingest.types import Page
from kb.text import collapse

WORDS = st.one_of(
    st.sampled_from(["infant", "mental", "health", "Part", "C", "DC:0-5", "U.S.", "e.g.", "state", "I.",
                     "§303.321", "toddlers", "—", "1.", "(CAPTA)", "a" * 40, "é", "z"]),
    st.integers(0, 200).map(lambda n: "x" * 3000 if n == 0 else "word"),  # now and then one huge "word"
)
SEPARATORS = st.sampled_from([" ", " ", " ", ". ", ", ", "\n", "\n\n", "\n- ", "\n1. ", ".\n", "? ", "\t", "  \n \n"])


RUN_ON = st.sampled_from([" ", " ", " ", ", ", " "])  # long sentences and paragraphs, few breaks


@st.composite
def page_text(draw):
    separators = draw(st.sampled_from([SEPARATORS, RUN_ON]))
    parts = []
    for _ in range(draw(st.integers(0, 700))):
        parts.append(draw(WORDS))
        parts.append(draw(separators))
    return "".join(parts)


@st.composite
def pages(draw):
    out = []
    for number in range(1, draw(st.integers(1, 4)) + 1):
        text = draw(page_text())
        line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        chosen = sorted(set(draw(st.lists(st.sampled_from(line_starts), max_size=5)))) if text else []
        headings = [(o, collapse(text[o:text.find("\n", o) if "\n" in text[o:] else len(text)])[:60] or "H")
                    for o in chosen]
        out.append(Page(number, text, headings))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(pages())
@example([Page(1, "word " * (MAX_WORDS + 1), [])])  # one sentence just over the limit
@example([Page(1, "x" * (MAX_CHARS * 2 + 7), [])])  # one "word" longer than a passage
@example([Page(1, "Heading\n\nBody text. " * 3, [(0, "Heading")]), Page(2, "", []), Page(3, "\n\n", [])])
# a sentence broken at the foot of page 1 goes on on page 3, past a page of figures alone
@example([Page(1, "The program served families in", []), Page(2, "1,234 5,678 9,012", []),
          Page(3, "the two counties. More text follows here.", [])])
def test_passages_are_verbatim_complete_bounded_and_within_pages(doc):
    passages = split_pages(doc)
    by_page = {p.number: p for p in doc}
    assert [p.ordinal for p in passages] == list(range(len(passages)))
    covered = {n: set() for n in by_page}
    for p in passages:
        page = by_page[p.page]  # every passage starts on exactly one page
        assert 0 <= p.start < p.end <= len(page.text)
        own = collapse(page.text[p.start:p.end])
        assert own != "" and p.text.startswith(own)
        assert len(own.split()) <= MAX_WORDS
        assert p.end - p.start <= MAX_CHARS
        span = set(range(p.start, p.end))
        assert not (span & covered[p.page]), "passages overlap"
        covered[p.page] |= span
        if p.end_page is None:
            assert p.text == own
            continue
        # a sentence run over the page break: the rest of it is verbatim from the first body text
        # of the page it goes on to: the next page, or a later one when the pages between hold
        # only tables, captions and notes
        assert p.end_page > p.page and p.end == len(page.text.rstrip())
        assert all(_only_floats(by_page[n]) for n in range(p.page + 1, p.end_page))
        nxt, rest = by_page[p.end_page], p.text[len(own):].lstrip()
        begin = _opening_block(nxt)[0]
        taken = next(k for k in range(begin, len(nxt.text) + 1) if collapse(nxt.text[begin:k]) == rest)
        assert 0 < len(rest.split()) <= MAX_RUNOVER_WORDS
        assert not (set(range(begin, taken)) & covered[p.end_page])
        covered[p.end_page] |= set(range(begin, taken))
    for n, page in by_page.items():
        text_positions = {i for i, ch in enumerate(page.text) if not ch.isspace()}
        for offset, heading in page.headings:  # a heading's own text is the passages' section
            text_positions -= set(range(offset, heading_end(page.text, offset, heading)))
        assert text_positions <= covered[n], "some text is in no passage"
    # reading order is kept within a page
    for a, b in zip(passages, passages[1:]):
        if a.page == b.page:
            assert a.end <= b.start


@settings(max_examples=60, deadline=None)
@given(pages())
def test_section_is_a_heading_of_this_or_an_earlier_page(doc):
    headings = [h for page in doc for _, h in page.headings]
    for p in split_pages(doc):
        # "A › B": heading A had nothing under it before B (ingest/split.py `_regions`)
        assert p.section is None or p.section in headings or all(
            part in headings for part in p.section.split(" \u203a ")), p.section
