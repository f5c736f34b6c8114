"""Writes the two PDFs of the held-out document set (bench/docs/) with fpdf2.

    python bench/docs/make_pdfs.py [FOLDER]     # default: beside this script

The documents are fictional (a made-up state, "Cascadia"), written to measure the knowledge
base on content nobody tuned for. They carry what real policy PDFs carry: running headers,
printed page numbers that differ from the PDF page index (12-14; B-1, B-2), a two-column
page, a footnote, and tables. Output is byte-for-byte reproducible (fixed dates and ids), so
the committed PDFs can be checked against this script.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

from fpdf import FPDF, FontFace

HERE = Path(__file__).resolve().parent
FIXED_DATE = datetime(2024, 3, 4, tzinfo=timezone.utc)


class Document(FPDF):
    """A letter-size page with a running header and a printed page label in the footer."""

    def __init__(self, header_text: str, labels: list[str], title: str, author: str):
        super().__init__(format="letter", unit="mm")
        self.header_text, self.labels = header_text, labels
        self.set_auto_page_break(False)
        self.set_margins(20, 20, 20)
        self.set_title(title)
        self.set_author(author)
        self.set_creation_date(FIXED_DATE)
        self.file_id = lambda: "<0123456789ABCDEF0123456789ABCDEF><0123456789ABCDEF0123456789ABCDEF>"

    def header(self):
        self.set_font("Helvetica", "", 8)
        self.set_text_color(90)
        self.set_xy(20, 10)
        self.cell(0, 4, self.header_text, align="L")
        self.line(20, 15, self.w - 20, 15)
        self.set_text_color(0)

    def footer(self):
        self.set_font("Helvetica", "", 9)
        self.set_xy(20, self.h - 14)
        self.cell(0, 5, self.labels[self.page_no() - 1], align="C")

    # ---- blocks ----------------------------------------------------------------------------

    def heading(self, text: str, size: int = 12, x: float | None = None, w: float = 0) -> None:
        self.set_font("Helvetica", "B", size)
        if x is not None:
            self.set_x(x)
        self.multi_cell(w, size * 0.5, text)
        self.ln(1.5)

    def para(self, text: str, x: float | None = None, w: float = 0, size: float = 10) -> None:
        self.set_font("Helvetica", "", size)
        if x is not None:
            self.set_x(x)
        self.multi_cell(w, size * 0.5, text)
        self.ln(2.5)

    def with_note_mark(self, before: str, mark: str, after: str, size: float = 10) -> None:
        """A paragraph with a superscript footnote mark inside it."""
        self.set_font("Helvetica", "", size)
        self.write(size * 0.5, before)
        self.char_vpos = "SUP"
        self.write(size * 0.5, mark)
        self.char_vpos = "LINE"
        self.write(size * 0.5, after)
        self.ln(size * 0.5 + 2.5)

    def footnote(self, mark: str, text: str) -> None:
        y = self.h - 34
        self.line(20, y, 80, y)
        self.set_xy(20, y + 1.5)
        self.set_font("Helvetica", "", 7.5)
        self.multi_cell(0, 3.6, f"{mark} {text}")

    def grid(self, headings: list[str], rows: list[list[str]], widths: list[int]) -> None:
        self.set_font("Helvetica", "", 9)
        with self.table(col_widths=widths, line_height=4.6, text_align="LEFT",
                        headings_style=FontFace(emphasis="BOLD")) as table:
            for row in [headings] + rows:
                r = table.row()
                for cell in row:
                    r.cell(cell)
        self.ln(3)


def medicaid_bulletin(path: Path) -> None:
    """Three pages numbered 12-14: a footnote on 12, two columns on 13, a rate table on 14."""
    pdf = Document("Cascadia Health Care Authority  |  Provider Bulletin HCA-2024-07  |  Behavioral Health Services Manual",
                   ["12", "13", "14"],
                   "Provider Bulletin HCA-2024-07: Dyadic Behavioral Health Services for Children Ages 0 Through 5",
                   "Cascadia Health Care Authority")
    pdf.add_page()
    pdf.set_y(22)
    pdf.heading("Provider Bulletin HCA-2024-07: Dyadic Behavioral Health Services for Children Ages 0 Through 5", 14)
    pdf.para("Cascadia Health Care Authority. Cascadia is a fictional state: this bulletin was written to test "
             "software and describes no real program.", size=8.5)
    pdf.para("Issued March 4, 2024. Effective for dates of service on and after July 1, 2024.", size=9)
    pdf.heading("1. Purpose")
    pdf.para("This bulletin explains how Cascadia Medicaid pays for dyadic services: behavioral health services "
             "delivered to a young child and the child's parent or primary caregiver together, where the "
             "relationship between them is the focus of treatment. It replaces Bulletin HCA-2021-15 in full. "
             "Dyadic care treats the child's symptoms in the context of the caregiving relationship, which is "
             "where most mental health problems in the first years of life arise and are best repaired.")
    pdf.heading("2. Who may receive dyadic services")
    pdf.with_note_mark(
        "A child qualifies when the child is enrolled in Cascadia Medicaid, is under 6 years of age on the date "
        "of service, and is accompanied by a parent or caregiver who takes part in the session. The caregiver "
        "does not need to be enrolled in Medicaid. Sessions billed under the child's Medicaid number may address "
        "the caregiver's own depression, anxiety or trauma symptoms when treating them benefits the child.",
        "1", "")
    pdf.heading("3. Assessment before a diagnosis")
    pdf.para("Providers may bill up to five assessment sessions per child in a 12-month period before a diagnosis "
             "is required on the claim. For children under 6, clinicians should diagnose with the DC:0-5 "
             "Diagnostic Classification of Mental Health and Developmental Disorders of Infancy and Early "
             "Childhood and cross-walk the result to an ICD-10-CM code for billing. A DSM-5 diagnosis alone is "
             "not accepted for children under 3. Assessment sessions may take place over several weeks and "
             "should include observation of the child with each caregiver who will take part in treatment.")
    pdf.footnote("1", "See Cascadia Administrative Code 182-531-1428 (fictional). Sessions with the caregiver alone, "
                      "without the child present, are limited to four per child per year and are billed with code 90846.")

    pdf.add_page()
    pdf.set_y(22)
    left, right, col = 20, 113, 83
    pdf.heading("4. Qualified providers", x=left, w=col)
    pdf.para("Dyadic services must be delivered by a licensed mental health professional (LMHP), or by a "
             "clinician working toward licensure under an LMHP's supervision. Beginning January 1, 2025, every "
             "rendering provider must also hold an infant and early childhood mental health endorsement at the "
             "Infant Mental Health Specialist level or higher, or show active enrollment in an endorsement "
             "pathway.", x=left, w=col)
    pdf.para("Agencies must give each rendering clinician at least two hours of reflective supervision per month. "
             "Reflective supervision is a regular, collaborative meeting in which the clinician examines the "
             "thoughts and feelings evoked by the work with a family, so that those reactions inform rather than "
             "derail treatment.", x=left, w=col)
    pdf.para("Community health workers and family peer specialists may deliver care coordination under code T1016 "
             "but may not bill psychotherapy codes.", x=left, w=col)
    bottom_left = pdf.get_y()
    pdf.set_y(22)
    pdf.heading("5. Settings and telehealth", x=right, w=col)
    pdf.para("Services may be delivered in a clinic, the family's home, a child care setting, or a pediatric "
             "primary care office. Audio-video telehealth is covered for dyadic psychotherapy. Audio-only "
             "telehealth is covered only for follow-up sessions and only when the family lacks reliable video "
             "access. Use place of service 10 for telehealth delivered to the home.", x=right, w=col)
    pdf.heading("6. Caregiver depression screening", x=right, w=col)
    pdf.para("Pediatric primary care providers may bill code 96161 for a caregiver depression screen during the "
             "child's well-child visits, up to four screens per child in the first year of life. Use the "
             "Edinburgh Postnatal Depression Scale (EPDS) or the PHQ-9. A positive screen must be followed by a "
             "referral that is documented in the child's record; the screen is billed under the child's Medicaid "
             "number even though the caregiver is the person screened.", x=right, w=col)
    assert pdf.get_y() < pdf.h - 25 and bottom_left < pdf.h - 25, "page 13 overflows"

    pdf.add_page()
    pdf.set_y(22)
    pdf.heading("7. Billing codes and rates")
    pdf.para("The following codes and fee-for-service rates apply to dyadic services for dates of service on and "
             "after July 1, 2024. Rates are 7 percent higher than those in Bulletin HCA-2021-15.")
    pdf.grid(["Code", "Service", "Unit", "Rate"],
             [["90791", "Psychiatric diagnostic evaluation (assessment sessions)", "per session", "$182.40"],
              ["90834", "Psychotherapy, 45 minutes, child and caregiver together", "per session", "$118.75"],
              ["90847", "Family psychotherapy with the child present, 50 minutes", "per session", "$126.30"],
              ["90846", "Family psychotherapy without the child present", "per session", "$112.10"],
              ["T1016", "Care coordination", "15 minutes", "$18.60"],
              ["96161", "Caregiver depression screen", "per screen", "$9.85"]],
             [18, 100, 28, 24])
    pdf.para("Add modifier U7 to every dyadic psychotherapy claim so that the session is counted toward the "
             "program's annual report. Claims without the modifier are paid but are not counted.")
    pdf.heading("8. Questions")
    pdf.para("Contact Provider Relations at 1-800-555-0142 or dyadic@hca.cascadia.example. Managed care plans "
             "must apply the coverage rules in this bulletin and may not pay less than the rates above.")
    pdf.output(str(path))


def home_visiting_memo(path: Path) -> None:
    """Two pages labelled B-1 and B-2 (an attachment): a memo with a table and a footnote."""
    pdf = Document("Cascadia Department of Children, Youth, and Families  |  Home Visiting Services Division  |  Attachment B",
                   ["B-1", "B-2"],
                   "Memorandum HV-2023-04: Caseload, visit frequency and screening requirements for SFY 2024",
                   "Cascadia Department of Children, Youth, and Families")
    pdf.add_page()
    pdf.set_y(22)
    pdf.heading("MEMORANDUM HV-2023-04", 14)
    pdf.para("TO: Contracted home visiting programs\nFROM: Home Visiting Services Division, Cascadia Department of "
             "Children, Youth, and Families (a fictional agency; this memo was written for software testing)\n"
             "DATE: September 18, 2023\nSUBJECT: Caseload, visit frequency and screening requirements for state "
             "fiscal year 2024", size=9.5)
    pdf.heading("Caseloads and visit frequency")
    pdf.with_note_mark(
        "Each contracted program must keep caseloads at or below the limit set by its model. The limits below "
        "are for a full-time home visitor", "1",
        " and apply from October 1, 2023. A program that exceeds its limit for two consecutive months must "
        "submit a corrective action plan within 30 days.")
    pdf.grid(["Model", "Maximum families per full-time home visitor", "Minimum visit frequency", "Enrollment window"],
             [["Nurse-Family Partnership", "25", "Weekly for the first month, then every other week",
               "Before the 28th week of pregnancy"],
              ["Healthy Families America", "15", "Weekly until the child is 6 months old",
               "Prenatally or before the child is 3 months old"],
              ["Parents as Teachers", "20", "At least 12 visits a year (24 for families with two or more high needs)",
               "Prenatal to kindergarten entry"],
              ["SafeCare Augmented", "18", "Weekly, 18 to 22 sessions", "Child under 5 years"]],
             [40, 34, 52, 44])
    pdf.footnote("1", "A full-time home visitor works at least 32 hours per week. Caseload limits for part-time staff "
                      "are prorated by hours worked.")

    pdf.add_page()
    pdf.set_y(22)
    pdf.heading("Required screenings")
    pdf.para("All models must complete the following screenings and record the results in CHART, the division's "
             "home visiting data system:")
    pdf.para("- Ages and Stages Questionnaire, Third Edition (ASQ-3), at 9, 18 and 30 months of age.\n"
             "- Ages and Stages Questionnaire: Social-Emotional, Second Edition (ASQ:SE-2), at 6, 18 and 36 months.\n"
             "- Edinburgh Postnatal Depression Scale at enrollment and again by 3 months after the birth.\n"
             "- Intimate partner violence screening within 6 months of enrollment.")
    pdf.para("When a caregiver screens positive for depression, the home visitor must offer a referral within 7 "
             "days and follow up at the next visit. A child whose ASQ-3 or ASQ:SE-2 score falls below the cutoff "
             "must be referred to Early Steps, the state's IDEA Part C program, with the family's consent.")
    pdf.heading("Reporting")
    pdf.para("Quarterly data reports are due in CHART 30 days after the end of each quarter. Programs that miss two "
             "quarterly deadlines in a fiscal year will have their next payment held until the reports are "
             "complete. Annual family satisfaction surveys are due July 31.")
    pdf.heading("Questions")
    pdf.para("Send questions to the Home Visiting Services Division at hv.contracts@dcyf.cascadia.example.")
    pdf.output(str(path))


PDFS = {"cascadia-medicaid-dyadic-bulletin-2024.pdf": medicaid_bulletin,
        "cascadia-home-visiting-memo-hv-2023-04.pdf": home_visiting_memo}


def main(folder: Path = HERE) -> None:
    for name, make in PDFS.items():
        make(folder / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
