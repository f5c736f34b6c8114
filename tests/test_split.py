"""Passage boundaries that keep meaning together: lead-ins with their lists, paragraphs broken
by a stray blank line, title blocks, and tables cut by the size limit."""
from __future__ import annotations

from ingest.split import split_pages
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


def test_each_table_row_is_a_passage_whose_context_names_its_cells_by_column():
    header = "County\tChildren served\tClinicians\tWaitlist"
    rows = [f"County {i:02d} of the state\t{100 + i} children\t{i} clinicians\t{i * 3} weeks waiting" for i in range(60)]
    text = "\n".join([header] + rows)
    page = Page(1, text, tables=[(0, len(text), len(header))])
    body = split_pages([page])  # the header row is no passage of its own: every row names its columns
    assert [p.text for p in body] == [" ".join(r.split()) for r in rows]  # the quote is the row as printed
    p = body[7]
    assert p.context == "County 07 of the state — Children served: 107 children; Clinicians: 7 clinicians; " \
                        "Waitlist: 21 weeks waiting"
    assert p.table.headers == ("County", "Children served", "Clinicians", "Waitlist")
    assert p.table.cells == ("County 07 of the state", "107 children", "7 clinicians", "21 weeks waiting")


def test_a_tables_caption_and_multi_level_header_travel_with_each_row_never_in_its_quote():
    caption = "Table 1. Number of deaths and death rates, by sex - United States, 2006"
    table = "\n".join([
        "Coronary heart disease\tStroke",
        "Characteristic\tNo.\tRate\tNo.\tRate",
        "Sex",
        "Female\t200,915\t103.1\t82,595\t42.6",
        "Male\t224,510\t176.5\t54,524\t43.9",
    ])
    text = f"Some text before the table ends here.\n\n{caption}\n\n{table}\n\n*Per 100,000 population."
    start = text.index(table)
    page = Page(1, text, tables=[(start, start + len(table), start + table.index("Sex") - 1)])
    female = next(p for p in split_pages([page]) if p.table and p.table.cells[0] == "Female")
    assert female.text == "Sex Female 200,915 103.1 82,595 42.6"  # the group's label row goes with its first row
    assert female.table.caption == caption and female.table.group == "Sex"
    assert female.table.headers == ("Characteristic", "Coronary heart disease No.", "Coronary heart disease Rate",
                                    "Stroke No.", "Stroke Rate")
    assert female.context.splitlines() == [caption, "Sex, Female — Coronary heart disease No.: 200,915; "
                                           "Coronary heart disease Rate: 103.1; Stroke No.: 82,595; Stroke Rate: 42.6"]
    assert female.table.label == "Table 1"
    male = next(p for p in split_pages([page]) if p.table and p.table.cells[0] == "Male")
    assert male.text == "Male 224,510 176.5 54,524 43.9" and male.table.group == "Sex"


def test_a_caption_and_header_rows_are_no_passages_of_their_own_but_every_rows_context():
    # a caption alone, or a header alone, is dense in the words a question about the table uses,
    # and outranked the prose and the rows on the government PDFs
    caption = "Table 2: Crime Statistics Reported in Compliance with the Clery Act, by Type of Crime and Year"
    table = "\n".join(["Murder /\tForcible\tMotor Vehicle", "Manslaughter\tSex Offense\tTheft",
                       "2005\t28\t33\t3,583\t55", "2006\t25\t0\t3,490\t56", "2007\t66\t8\t3,482\t62"])
    text = f"{' '.join(sentence(i) for i in range(8))}\n\n{caption}\n\n{table}"
    start = text.index(table)
    page = Page(1, text, tables=[(start, start + len(table), start + table.index("\n2005"))])
    passages = split_pages([page])
    assert [p.text for p in passages[1:]] == ["2005 28 33 3,583 55", "2006 25 0 3,490 56", "2007 66 8 3,482 62"]
    assert caption not in passages[0].text
    row = passages[2]  # the header does not line up with the columns: it travels as printed
    assert row.table.headers == () and row.context.splitlines() == [
        caption, "Murder / Forcible Motor Vehicle Manslaughter Sex Offense Theft", "2006"]


def test_a_table_read_line_by_line_packs_like_text_so_a_wrapped_phrase_stays_in_one_passage():
    table = "\n".join(["Property\tMeasurement Type\tWhat Is Assessed?",
                       "Reliability\tTest-retest or intra-\tStability of scores over time when no change",
                       "interviewer reliability (for\tis expected in the concept of interest",
                       "interviewer-administered PROs only)\tInternal consistency\t•\tExtent to which items",
                       "measure the same concept\t•\tItem-total correlations", "•\tIntercorrelation of items"])
    page = Page(1, table, tables=[(0, len(table), table.index("\nReliability"))])
    passages = split_pages([page])
    assert len(passages) == 1 and passages[0].table is None
    assert "Stability of scores over time when no change is expected in the concept of interest" in \
        " ".join(passages[0].text.replace("interviewer reliability (for ", "").split())


def test_a_table_continued_on_the_next_page_keeps_its_header_and_caption():
    first = "Table 4. Checks by state\n\nState\tPermit\tHandgun\nAlabama\t18,870\t23,022\nAlaska\t209\t3,062"
    second = "Wyoming\t383\t1,745\nTotals\t804,006\t671,330"
    t1 = first.index("State")
    pages = [Page(1, first, tables=[(t1, len(first), first.index("\nAlabama"))]),
             Page(2, second, tables=[(0, len(second), 0)])]
    wyoming = next(p for p in split_pages(pages) if p.text.startswith("Wyoming"))
    assert wyoming.page == 2 and wyoming.table.caption == "Table 4. Checks by state"
    assert wyoming.table.headers == ("State", "Permit", "Handgun")
    assert "Wyoming — Permit: 383; Handgun: 1,745" in wyoming.context


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


def test_a_long_table_of_figures_alone_packs_rows_like_text_with_its_header_as_context():
    header = "At least\tBut less than\tSingle\tMarried"
    rows = [f"{56000 + 50 * i:,}\t{56050 + 50 * i:,}\t{9881 + 13 * i:,}\t{7650 + 11 * i:,}" for i in range(120)]
    text = "\n".join([header] + rows)
    passages = split_pages([Page(9, text, tables=[(0, len(text), len(header))])])
    assert 1 < len(passages) < 20  # not one passage a row
    assert all(p.table is None for p in passages)
    assert all(p.context == "At least But less than Single Married" for p in passages[1:])
    for row in rows:
        assert sum(" ".join(row.split()) in p.text for p in passages) == 1


def test_a_heading_with_nothing_under_it_heads_the_section_below_too():
    """Issue 26: every word of a document can be found. "TITLE IV: MISCELLANEOUS PROVISIONS"
    followed at once by its first subsection was in no passage's text or section; the document's
    own title (its first heading) stays out of sections, which the citation's title covers."""
    title, part, sub, other = ("The Digital Millennium Copyright Act of 1998", "TITLE IV: MISCELLANEOUS PROVISIONS",
                               "Clarification of the authority of the Copyright Office", "TITLE V: VESSEL HULLS")
    body = ("Section 401(b) adds a provision to section 701 of the Copyright Act confirming the Copyright "
            "Office's authority to continue to perform the policy and international functions it has carried out.")
    text = f"{title}\n{part}\n{sub}\n{body}\n{other}\nTitle V creates a new form of protection for the design of vessel hulls."
    headings = [(text.index(h), h) for h in (title, part, sub, other)]
    passages = split_pages([Page(1, text, headings=headings)])
    sections = [p.section for p in passages]
    assert sections == [f"{part} \u203a {sub}", other]
    assert all(title not in (s or "") for s in sections)
