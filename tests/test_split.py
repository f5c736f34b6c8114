"""Passage boundaries that keep meaning together: lead-ins with their lists, paragraphs broken
by a stray blank line, title blocks, and tables cut by the size limit."""
from __future__ import annotations

from ingest.split import MAX_WORDS, split_pages
from ingest.types import Page
from kb.citations import cited_page, locator
from kb.models import Document


def sentence(i: int, words: int = 20) -> str:
    return " ".join([f"Sentence{i}"] + ["word"] * (words - 2) + ["end."])


def test_a_lead_in_never_ends_a_passage():
    body = " ".join(sentence(i, 21) for i in range(7))  # 147 words: the lead-in takes it past the target
    text = (body + "\n\nStates must address these three areas:\n"
            "- Screening for every infant at each well-child visit\n"
            "- Referral to a clinician trained in infant mental health\n"
            "- Payment for dyadic treatment of parent and child\n")
    passages = split_pages([Page(1, text)])
    holder = next(p for p in passages if "three areas:" in p.text)
    assert not holder.text.endswith(":")
    assert "Screening for every infant" in holder.text


def test_a_list_cut_by_the_size_limit_carries_its_lead_in():
    items = "\n".join(f"- Item {i} " + "detail " * 25 for i in range(14))
    text = "The plan lists these requirements for every county:\n" + items
    passages = split_pages([Page(1, text)])
    assert len(passages) > 1
    assert passages[0].context is None and passages[0].text.startswith("The plan lists")
    for p in passages[1:]:
        assert p.context == "The plan lists these requirements for every county:"
        assert p.text.startswith("- Item")


def test_a_stray_blank_line_mid_sentence_does_not_split_a_paragraph():
    filler = " ".join(sentence(i) for i in range(8))
    text = filler + "\n\nThe consultation program served families in\n\nnine rural counties during its first year.\n"
    passages = split_pages([Page(1, text)])
    holder = next(p for p in passages if "served families in" in p.text)
    assert "nine rural counties" in holder.text


def test_a_real_paragraph_break_still_splits():
    paragraph = " ".join(sentence(i) for i in range(9))
    text = paragraph + "\n\n" + paragraph.replace("Sentence", "Other")
    passages = split_pages([Page(1, text)])
    assert len(passages) == 2 and passages[1].text.startswith("Other0")


def test_a_short_opening_line_joins_the_passage_after_it():
    text = "December 2020\n\n" + " ".join(sentence(i) for i in range(5))
    (p,) = split_pages([Page(1, text)])
    assert p.text.startswith("December 2020 Sentence0")


def test_a_short_section_stays_whole_under_its_heading():
    text = ("Contact\nJane Doe, program director, 555-0100.\nFunding\n" + " ".join(sentence(i) for i in range(5)))
    headings = [(0, "Contact"), (text.index("Funding"), "Funding")]
    contact, funding = split_pages([Page(1, text, headings)])
    assert (contact.section, contact.text) == ("Contact", "Jane Doe, program director, 555-0100.")
    assert funding.section == "Funding" and funding.text.startswith("Sentence0")


def test_a_heading_is_the_section_not_part_of_the_quote():
    text = "Alabama\nAlabama Department of Early Childhood Education leveraged a grant.\n"
    (p,) = split_pages([Page(None, text, [(0, "Alabama")])])
    assert p.section == "Alabama" and p.text == "Alabama Department of Early Childhood Education leveraged a grant."


def test_table_rows_stay_whole_and_a_cut_table_repeats_its_header():
    header = "County\tChildren served\tClinicians\tWaitlist"
    rows = [f"County {i:02d} of the state\t{100 + i} children\t{i} clinicians\t{i * 3} weeks waiting" for i in range(60)]
    text = "\n".join([header] + rows)
    page = Page(1, text, tables=[(0, len(text), len(header))])
    passages = split_pages([page])
    assert len(passages) > 1
    for p in passages:
        assert len(p.text.split()) <= MAX_WORDS
    for row in rows:  # every row lies whole inside exactly one passage
        assert sum(" ".join(row.split()) in p.text for p in passages) == 1
    assert passages[0].context is None and passages[0].text.startswith("County Children served")
    for p in passages[1:]:
        assert p.context == "County Children served Clinicians Waitlist"


def test_page_label_and_ocr_flag_travel_to_passages():
    page = Page(4, " ".join(sentence(i) for i in range(3)), label="24", ocr=True)
    (p,) = split_pages([page])
    assert (p.page, p.page_label, p.ocr) == (4, "24", True)


def test_footnotes_make_passages_of_their_own():
    body = " ".join(sentence(i) for i in range(3))
    note = "9 Degree-granting institutions are defined as postsecondary institutions that grant a degree."
    text = body + "\n\n" + note
    page = Page(5, text, footnotes=[(text.index(note), len(text))])
    body_passage, footnote = split_pages([page])
    assert body_passage.text == body and footnote.text == note


def test_a_cited_footnote_is_a_passage_of_its_own_read_with_the_sentence_that_cites_it():
    """A note alone ("2 Per 100,000 women aged 15-44.") answers nothing: the sentence that
    cites it is its context (indexed, shown above it, never quoted). Notes nothing in the body
    cites (a table's notes, a source line) are packed together as before."""
    cites = "The rate rose sharply in 2009 and fell after."
    body = f"{sentence(0)} {cites} {sentence(1)}"
    notes = ["2 Per 100,000 women aged 15-44.", "* Not significant.", "Source: state vital records."]
    text = body + "\n\n" + "\n\n".join(notes)
    spans = [(text.index(n), text.index(n) + len(n)) for n in notes]
    page = Page(5, text, footnotes=spans, footnote_refs=[(text.index(" and fell"), "2")])
    passages = split_pages([page])
    assert [p.text for p in passages] == [body, notes[0], f"{notes[1]} {notes[2]}"]
    assert passages[1].footnote and passages[1].context == cites
    assert passages[1].context_label == f"Note to: “{cites}”"
    assert passages[0].context is None and passages[2].context is None


def test_a_sentence_broken_by_a_page_break_runs_over_and_is_cited_on_both_pages():
    body = " ".join(sentence(i) for i in range(3))
    first = Page(62, body + " The range for CHD was from 77.5 deaths per 100,000 population (Utah) to 193.5 per "
                 "100,000 (District of", label="62")
    rest = "Columbia). " + " ".join(sentence(i) for i in range(4, 8))
    second = Page(63, rest + "\n\nHeading\n\n" + sentence(9), headings=[(len(rest) + 2, "Heading")], label="63")
    passages = split_pages([first, second])
    broken = next(p for p in passages if "(District of" in p.text)
    assert broken.text.endswith("(District of Columbia).")
    assert (broken.page, broken.end_page, broken.end_page_label) == (62, 63, "63")
    assert cited_page(broken) == "62–63"
    assert locator(Document(1, "/r.pdf", "r.pdf", "x", 1, 1, "Report", None, None, None, 2), broken).startswith(
        "pp. 62–63")
    after = [p for p in passages if p.page == 63]
    assert after[0].text.startswith("Sentence4")  # the next page's passages start after the run-over
    assert all(p.end_page is None for p in after)


def test_no_run_over_into_a_heading_a_caption_or_a_finished_sentence():
    body = " ".join(sentence(i) for i in range(3))
    for opening, headings in [("Results\n\nthe rest.", [(0, "Results")]),
                              ("Table 2. Deaths by state\nUtah 77.5", []),
                              ("1. First item of a list.", [])]:
        pages = [Page(1, body + " Among the"), Page(2, opening, headings=headings)]
        assert all(p.end_page is None for p in split_pages(pages)), opening
    done = split_pages([Page(1, body), Page(2, "and a lower-case start of a new one.")])
    assert all(p.end_page is None for p in done)
