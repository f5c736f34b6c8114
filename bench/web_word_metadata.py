"""Metadata accuracy of Word files and web pages: title, publisher and year right, wrong or empty.

The documents are made here, as agencies publish them, around the text of the shipped seeds
(corpus/): Word files written with python-docx whose properties carry what real files carry
(a staff member's "Surname,Firstname" as author, a Company or none, a core title such as
"Microsoft Word - x.docx", created dates years after the printed one) and whose cover pages
name the agency and print a date; web pages in the six site styles of bench/web_boilerplate.py
(three of them wrapped in one <form> or laid out in a table), the test pages of
tests/webserver.py and tests/test_html_content.py, bench/docs' Lakeshore County page, and a few
more with a person in <meta name="author"> or the agency only in the <title>. What each one
should be cited as is written beside it, from what the document prints.

A value is right when it equals (case and spacing aside) one of the accepted answers, empty
when the reader gives none, wrong otherwise; "person" counts publishers that are a person's
name, "file date" years that are the file's own created/modified year where the document
prints another. The cases were written before the reader was changed; every third one
(`held_out`) was kept aside and not looked at while tuning, and is reported apart.

    python bench/web_word_metadata.py
"""
from __future__ import annotations

import datetime as dt
import html
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench.benchlib import table  # noqa: E402
from bench.web_boilerplate import SITES, content_html, seed_lines  # noqa: E402
from ingest import formats  # noqa: E402
from ingest.metadata import title_from_name  # noqa: E402

CORPUS = ROOT / "corpus"
OWN_DOCS = ROOT / "bench" / "docs"


@dataclass
class Case:
    name: str  # file name it is read under
    data: bytes
    title: tuple[str, ...]  # accepted answers; () means none is right (empty expected)
    publisher: tuple[str, ...]
    year: int | None
    people: tuple[str, ...] = ()  # names of people in the file (author fields, signatures)
    file_years: tuple[int, ...] = ()  # the file's own created/modified years
    held_out: bool = False
    kind: str = field(default="")


def seed_paragraphs(name: str, n: int = 6) -> list[str]:
    lines = seed_lines((CORPUS / name).read_text(encoding="utf-8"))
    return [text for kind, text in lines if kind == "p"][:n]


# ---- Word files -----------------------------------------------------------------------------

def word(cover: list[tuple[str, str]], body_seed: str, author: str = "", company: str = "", core_title: str = "",
         created: dt.datetime | None = None, modified: dt.datetime | None = None, footer: str = "",
         heading: str = "") -> bytes:
    """A .docx: cover paragraphs ((style, text), style "" for Normal), a page break, a heading
    and the seed's paragraphs; properties as given."""
    import docx
    from docx.enum.text import WD_BREAK

    d = docx.Document()
    for style, text in cover:
        d.add_paragraph(text, style=style or None)
    if cover:
        d.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    if heading:
        d.add_heading(heading, level=1)
    for text in seed_paragraphs(body_seed):
        d.add_paragraph(text)
    if footer:
        d.sections[0].footer.paragraphs[0].text = footer
    props = d.core_properties
    props.author = author
    props.title = core_title
    if created:
        props.created = created
    props.modified = modified or created or dt.datetime(2024, 2, 1, 9, 30)
    props.last_modified_by = author
    buf = io.BytesIO()
    d.save(buf)
    data = buf.getvalue()
    return _with_company(data, company) if company else data


def _with_company(data: bytes, company: str) -> bytes:
    """docProps/app.xml with a Company (python-docx writes an empty one)."""
    import zipfile

    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            blob = src.read(info)
            if info.filename == "docProps/app.xml":
                blob = blob.replace(b"<Company/>", f"<Company>{html.escape(company)}</Company>".encode())
            dst.writestr(info, blob)
    return out.getvalue()


def T(year, month=1, day=1):  # noqa: N802 - a short name for a date in the cases
    return dt.datetime(year, month, day, 10, 0)


def word_cases() -> list[Case]:
    res, mass, wf, topic = ("iecmh-resources.txt", "massachusetts-iecmh-resources-and-services.txt",
                            "iecmh-workforce-systems-and-supports-2020.md", "iecmh-topic-page-part-c.txt")
    c = [
        Case("consultation-guidelines.docx", word(
            [("Title", "Infant and Early Childhood Mental Health Consultation Guidelines"),
             ("", "Department of Early Education and Care"), ("", "Revised March 2019")], mass,
            author="Gomm,Andy", created=T(2021, 6, 2), heading="Purpose"),
            ("Infant and Early Childhood Mental Health Consultation Guidelines",),
            ("Department of Early Education and Care",), 2019, ("Gomm,Andy",), (2021,)),
        Case("ohA_imh.docx", word([], res, author="Jane Smith", company="Oregon Health Authority",
                                  created=T(2018, 5, 3), heading="Infant Mental Health Consultation Guidelines"),
             ("Infant Mental Health Consultation Guidelines",), ("Oregon Health Authority",), 2018, ("Jane Smith",)),
        Case("mdhhs-iecmh.docx", word(
            [("Title", "Infant and Early Childhood Mental Health Services Policy"),
             ("", "Michigan Department of Health and Human Services"), ("", "Effective date: October 1, 2020")], wf,
            author="smithj", company="State of Michigan", core_title="Microsoft Word - IECMH_policy_final.docx",
            created=T(2022, 1, 10), heading="Policy"),
            ("Infant and Early Childhood Mental Health Services Policy",),
            ("State of Michigan", "Michigan Department of Health and Human Services"), 2020, ("smithj",), (2022,),
            held_out=True),
        Case("vt-ccmhc.docx", word(
            [("", "State of Vermont"), ("", "Office of Child Care"), ("", "June 2017")], topic, author="Administrator",
            core_title="Document1", created=T(2019, 9, 9), heading="Child Care Mental Health Consultation Policy"),
            ("Child Care Mental Health Consultation Policy",), ("Office of Child Care", "State of Vermont"), 2017,
            (), (2019,)),
        Case("notes.docx", word([], res, author="Doe, John", heading="Resource Notes"),
             ("Resource Notes",), (), None, ("Doe, John",)),
        Case("ak-iecmh.docx", word(
            [("Title", "Alaska Infant and Early Childhood Mental Health Plan"), ("", "Alaska Department of Health"),
             ("", "Prepared by Kim Lee, Program Manager"), ("", "December 2021")], mass,
            author="Lee, Kim", company="Microsoft", created=T(2023, 3, 1), heading="Introduction"),
            ("Alaska Infant and Early Childhood Mental Health Plan",), ("Alaska Department of Health",), 2021,
            ("Lee, Kim", "Kim Lee"), (2023,), held_out=True),
        Case("hv-standards.docx", word(
            [("Title", "Home Visiting Program Standards"),
             ("", "Cascadia Department of Children, Youth, and Families"), ("", "Approved: 2022-07-15")], wf,
            author="Rivera, Ana", company="Cascadia Department of Children, Youth, and Families",
            core_title="Home Visiting Program Standards", created=T(2023, 8, 1), heading="Standards"),
            ("Home Visiting Program Standards",), ("Cascadia Department of Children, Youth, and Families",), 2022,
            ("Rivera, Ana",), (2023,)),
        Case("dcf-memo.docx", word(
            [("", "Department of Children and Families"), ("", "MEMORANDUM"), ("", "TO: Home visiting programs"),
             ("", "FROM: Jane Smith, Director"), ("", "DATE: April 3, 2023")], res, author="Smith, Jane",
            created=T(2023, 4, 3), heading="Caseload Standards for Home Visiting"),
            ("Caseload Standards for Home Visiting",), ("Department of Children and Families",), 2023,
            ("Smith, Jane", "Jane Smith")),
        Case("part-c-brief.docx", word([], topic, author="Okafor,Chidi", company="Division of Behavioral Health",
                                       created=T(2024, 1, 5), footer="Revised: January 2021",
                                       heading="Early Intervention and Infant Mental Health"),
             ("Early Intervention and Infant Mental Health",), ("Division of Behavioral Health",), 2021,
             ("Okafor,Chidi",), (2024,), held_out=True),
        Case("doh-brief.docx", word([], wf, author="Department of Health", created=T(2020, 2, 2),
                                    heading="Workforce Supports Brief"),
             ("Workforce Supports Brief",), ("Department of Health",), 2020),
        Case("bh-workforce.docx", word(
            [("Title", "Behavioral Health Workforce Report"), ("", "Prepared by: Maria Lopez, Program Manager"),
             ("", "Division of Behavioral Health Services"), ("", "Fall 2020")], wf, author="Lopez, Maria",
            created=T(2021, 11, 30), heading="Summary"),
            ("Behavioral Health Workforce Report",), ("Division of Behavioral Health Services",), 2020,
            ("Lopez, Maria", "Maria Lopez"), (2021,)),
        Case("IECMH_Plan_v3_FINAL.docx", word(
            [("Title", "State Plan for Infant and Early Childhood Mental Health"), ("", "Office of the Governor"),
             ("", "2016")], mass, author="jdoe", core_title="IECMH_Plan_v3_FINAL", created=T(2017, 2, 2),
            heading="Goals"),
            ("State Plan for Infant and Early Childhood Mental Health",), ("Office of the Governor",), 2016,
            ("jdoe",), (2017,), held_out=True),
    ]
    for case in c:
        case.kind = "Word"
    return c


# ---- web pages ------------------------------------------------------------------------------

def web_cases() -> list[Case]:
    from test_html_content import RESOURCE_LIST
    from test_html_content import page as shell_page
    from webserver import CONSULTATION, agency_page

    seed = "massachusetts-iecmh-resources-and-services.txt"
    lines = seed_lines((CORPUS / seed).read_text(encoding="utf-8"))
    title, content = lines[0][1], content_html(lines[1:])

    def site(style: str) -> bytes:
        return SITES[style](html.escape(title), content).encode()

    def page(head: str, body: str) -> bytes:
        return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>".encode()

    body = f"<header><div class='logo'>Home</div></header><main><h1>{title}</h1>{content}</main>"
    c = [
        Case("drupal.html", site("state agency (Drupal)"), (title,), ("Mass.gov", "Department of Mental Health"), None),
        Case("wordpress.html", site("nonprofit (WordPress)"), (title,), ("ZERO TO THREE",), 2021),
        Case("ta-centre.html", site("TA centre (topic page)"), (title,),
             ("The Early Childhood Technical Assistance Center", "ECTA Center"), None, ("Andy Gomm",), held_out=True),
        Case("webforms.aspx.html", site("state agency (ASP.NET WebForms form)"), (title,),
             ("Oregon Department of Human Services",), 2019, ("Nguyen, Linda",)),
        Case("sharepoint.aspx.html", site("state agency (SharePoint form)"), (title,),
             ("Michigan Department of Health and Human Services",), 2015),
        Case("layout.html", site("state agency (layout table)"), (title,), ("Vermont Agency of Human Services",), 2015,
             held_out=True),
        Case("lakeshore.html", (OWN_DOCS / "lakeshore-county-ecmh-consultation.html").read_bytes(),
             ("Early Childhood Mental Health Consultation",), ("Lakeshore County Public Health",), 2024),
        Case("test-agency.html", agency_page(CONSULTATION), ("Infant Mental Health Consultation",),
             ("Department of Early Childhood",), 2021),
        Case("test-shell.html", shell_page(RESOURCE_LIST), ("Resources",), ("Early Childhood Agency",), None,
             held_out=True),
        Case("author-person.html", page(
            f'<title>{title} | Department of Public Health</title><meta name="author" content="Jennifer Walsh">'
            '<meta property="article:modified_time" content="2022-05-17T14:03:00-04:00">', body),
            (title,), ("Department of Public Health",), 2022, ("Jennifer Walsh",)),
        Case("dcterms.html", page(
            f'<title>{title}</title><meta name="DC.publisher" content="Colorado Office of Early Childhood">'
            '<meta name="dcterms.modified" content="2020-09-01"><meta name="dcterms.created" content="2012-03-01">',
            body + "<footer><p>Page last updated: September 1, 2020</p></footer>"),
            (title,), ("Colorado Office of Early Childhood",), 2020),
        Case("printed-over-meta.html", page(
            f'<title>{title} - Texas Health and Human Services</title>'
            '<meta property="article:published_time" content="2017-01-09T08:00:00Z"><meta name="author" content="Cruz, Maria">',
            body + "<div class='updated'>Last updated: 08/22/2023</div>"),
            (title,), ("Texas Health and Human Services",), 2023, ("Cruz, Maria",), held_out=True),
    ]
    for case in c:
        case.kind = "web page"
    return c


# ---- judging --------------------------------------------------------------------------------

def norm(value) -> str:
    return " ".join(str(value).split()).casefold()


def judge(got, accepted) -> str:
    if got in (None, ""):
        return "empty" if accepted not in ((), None) else "right"
    if accepted in ((), None):
        return "wrong"
    accepted = accepted if isinstance(accepted, tuple) else (accepted,)
    return "right" if norm(got) in {norm(a) for a in accepted} else "wrong"


def read(case: Case) -> dict:
    """What a citation of the file would say: the pipeline's own fallbacks (the site name for
    the publisher, the file name for the title); a file read as no text is cited by its name."""
    from kb.errors import ExtractionError

    try:
        extracted = formats.extract(case.name, case.data)
    except ExtractionError:
        return {"title": title_from_name(Path(case.name)), "publisher": None, "year": None}
    return {"title": extracted.title or title_from_name(Path(case.name)),
            "publisher": extracted.publisher or extracted.site_name, "year": extracted.year}


def main() -> None:
    cases = word_cases() + web_cases()
    rows, detail = [], []
    groups: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    people = file_dates = 0
    for case in cases:
        got = read(case)
        part = "held out" if case.held_out else "tuning"
        verdicts = {"title": judge(got["title"], case.title), "publisher": judge(got["publisher"], case.publisher),
                    "year": judge(got["year"], case.year)}
        g = groups.setdefault((case.kind, part), {k: {"right": 0, "wrong": 0, "empty": 0} for k in verdicts})
        for k, v in verdicts.items():
            g[k][v] += 1
        person = got["publisher"] and norm(got["publisher"]) in {norm(p) for p in case.people}
        file_date = got["year"] in case.file_years and got["year"] != case.year
        people += bool(person)
        file_dates += bool(file_date)
        if not case.held_out:
            detail.append([case.name, *(str(got[k]).replace("|", "\\|") for k in ("title", "publisher", "year")),
                           " ".join(f"{k[0]}:{v}" for k, v in verdicts.items())])
    for (kind, part), g in sorted(groups.items()):
        n = sum(g["title"].values())
        rows.append([kind, part, n] + [f"{g[k]['right']} / {g[k]['wrong']} / {g[k]['empty']}"
                                        for k in ("title", "publisher", "year")])
    print(f"## Metadata accuracy, {len(cases)} documents (right / wrong / empty)\n")
    print(table(["documents", "part", "n", "title", "publisher", "year"], rows))
    print(f"\nPublisher a person's name: {people}; year the file's own date where the document prints another: "
          f"{file_dates}\n")
    print("Tuning cases, one by one:\n")
    print(table(["file", "title", "publisher", "year", "verdicts"], detail))


if __name__ == "__main__":
    main()
