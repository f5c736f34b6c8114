"""Writes the two Word documents of the tables-more question set (bench/questions/tables-more.jsonl):
fictional state-agency IECMH documents whose facts sit in tables, with prose around them that
names the same topics (so a row has to beat prose that only mentions its subject).

    python bench/docs/tables/make_docx.py [OUT_DIR]   (default: this folder)
"""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn

HERE = Path(__file__).resolve().parent


def _table(doc, caption: str, header: list[str], rows: list[list[str]], mark_header: bool, note: str | None = None):
    doc.add_paragraph(caption, style="Caption")
    table = doc.add_table(rows=1 + len(rows), cols=len(header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, header):
        cell.text = text
    if mark_header:  # "repeat as header row", as Word's table tools set it
        trPr = table.rows[0]._tr.get_or_add_trPr()
        flag = OxmlElement("w:tblHeader")
        flag.set(qn("w:val"), "true")
        trPr.append(flag)
    for r, values in enumerate(rows, 1):
        for cell, text in zip(table.rows[r].cells, values):
            cell.text = text
    if note:
        doc.add_paragraph(note)


def survey(path: Path) -> None:
    doc = Document()
    doc.core_properties.title = "State Infant and Early Childhood Mental Health Consultation Survey, 2024"
    doc.core_properties.author = "Alliance of State Early Childhood Mental Health Programs"
    doc.core_properties.created = datetime(2025, 3, 14)
    doc.add_heading("State Infant and Early Childhood Mental Health Consultation Survey, 2024", 0)
    doc.add_paragraph("Alliance of State Early Childhood Mental Health Programs · March 2025")
    doc.add_heading("Summary", 1)
    doc.add_paragraph(
        "Infant and early childhood mental health consultation (IECMHC) pairs a mental health professional "
        "with the adults who care for young children in child care, home visiting and early intervention. "
        "Between June and September 2024 the Alliance asked every state's lead agency how many consultation "
        "programs it funds, how many consultants it employs, how many child care sites and children the "
        "consultants reached, and what the programs cost. Twelve states answered every item; their answers "
        "are in Table 1. Consultant counts are full-time equivalents on June 30, 2024.")
    doc.add_paragraph(
        "Most states fund consultation from the Child Care and Development Fund quality set-aside, often "
        "together with Medicaid administrative match or state general funds. States with more consultants "
        "per site reported shorter waits for a first visit, and several states described hiring as the main "
        "limit on growth: open consultant positions stayed vacant for a median of four months.")
    _table(doc, "Table 1. Infant and early childhood mental health consultation by state, state fiscal year 2024",
           ["State", "Consultation programs", "Consultants (FTE)", "Child care sites served", "Children reached",
            "Annual budget ($)"],
           [["Arizona", "3", "14.5", "212", "9,840", "2,150,000"],
            ["Colorado", "5", "31.0", "640", "18,215", "4,875,000"],
            ["Connecticut", "2", "22.5", "388", "11,060", "3,310,000"],
            ["Georgia", "4", "18.0", "451", "14,932", "2,640,000"],
            ["Michigan", "6", "46.5", "905", "27,418", "7,920,000"],
            ["Minnesota", "3", "12.0", "176", "6,245", "1,780,000"],
            ["New Mexico", "2", "9.5", "134", "4,118", "1,205,000"],
            ["Ohio", "7", "52.0", "1,120", "33,506", "8,460,000"],
            ["Oregon", "4", "16.5", "298", "8,770", "2,495,000"],
            ["Vermont", "1", "4.0", "61", "1,387", "540,000"],
            ["Washington", "5", "27.5", "533", "15,604", "4,210,000"],
            ["Wisconsin", "3", "11.0", "187", "5,903", "1,615,000"],
            ["Total", "45", "265.0", "5,105", "156,998", "41,200,000"]],
           mark_header=True,
           note="Source: Alliance survey of state lead agencies, 2024. FTE: full-time equivalent positions filled "
                "on June 30, 2024. Budgets include federal, state and local funds.")
    doc.add_heading("Consultant qualifications", 1)
    doc.add_paragraph(
        "All twelve states require consultants to hold a master's degree in a mental health discipline. "
        "Nine require or prefer infant mental health endorsement, and seven pay for reflective supervision "
        "of every consultant at least twice a month. Table 2 shows what the states reported about their "
        "consultant workforce by region.")
    _table(doc, "Table 2. Consultant workforce by census region, 2024",
           ["Region", "States responding", "Consultants (FTE)", "Endorsed consultants (%)",
            "Bilingual consultants (%)", "Median salary ($)"],
           [["Northeast", "2", "26.5", "61.0", "18.9", "68,400"],
            ["Midwest", "4", "121.5", "47.3", "9.6", "61,250"],
            ["South", "1", "18.0", "38.9", "22.2", "55,900"],
            ["West", "5", "99.0", "52.5", "31.4", "66,800"]],
           mark_header=False)
    doc.add_paragraph(
        "Median salaries ranged widely. States in the West reported the largest share of bilingual "
        "consultants, most of them Spanish-speaking; the Midwest employed the most consultants overall.")
    doc.save(path)


def budget(path: Path) -> None:
    doc = Document()
    doc.core_properties.title = "Infant and Early Childhood Mental Health: Decision Package, SFY 2026 Budget Request"
    doc.core_properties.author = "Cascadia Department of Children, Youth, and Families"
    doc.core_properties.created = datetime(2025, 9, 2)
    doc.add_heading("Infant and Early Childhood Mental Health: Decision Package, SFY 2026 Budget Request", 0)
    doc.add_paragraph("Cascadia Department of Children, Youth, and Families · September 2025")
    doc.add_heading("Request", 1)
    doc.add_paragraph(
        "The Department requests an increase for infant and early childhood mental health (IECMH) services "
        "in state fiscal year (SFY) 2026 to expand mental health consultation to every licensed infant and "
        "toddler classroom, to fund endorsement scholarships for the workforce, and to pay the state share "
        "of dyadic treatment for children from birth through age five. Table 1 lists the budget lines for "
        "the program as spent in SFY 2024, as enacted for SFY 2025, and as requested for SFY 2026.")
    _table(doc, "Table 1. IECMH budget lines, SFY 2024–2026 (dollars)",
           ["Budget line", "SFY 2024 actual", "SFY 2025 enacted", "SFY 2026 requested"],
           [["Mental health consultation contracts", "$4,215,000", "$4,630,000", "$5,980,000"],
            ["Endorsement scholarships", "$185,000", "$240,000", "$410,000"],
            ["Reflective supervision training", "$322,500", "$338,000", "$455,000"],
            ["Dyadic treatment, state share", "$2,870,400", "$3,104,900", "$3,612,300"],
            ["Family peer support", "$96,000", "$128,000", "$175,000"],
            ["Data system and evaluation", "$210,000", "$215,000", "$390,000"],
            ["Program administration", "$441,600", "$462,100", "$498,700"],
            ["Total", "$8,340,500", "$9,118,000", "$11,521,000"]],
           mark_header=False,
           note="Figures for SFY 2024 are expenditures; SFY 2025 is the enacted appropriation.")
    doc.add_heading("Who is served", 1)
    doc.add_paragraph(
        "Services reach children from birth through age five and their caregivers. The consultation program "
        "counts children in the classrooms its consultants support; dyadic treatment counts children with a "
        "paid claim. Table 2 gives the number of children served in SFY 2024 by age group and service.")
    _table(doc, "Table 2. Children served by age group and service, SFY 2024",
           ["Age group", "Mental health consultation", "Dyadic treatment", "Family peer support",
            "Share of children served (%)"],
           [["Under 12 months", "1,962", "418", "133", "13.5"],
            ["12 to 23 months", "2,744", "655", "187", "19.3"],
            ["24 to 35 months", "3,518", "902", "241", "25.0"],
            ["3 years", "2,305", "1,147", "160", "19.4"],
            ["4 to 5 years", "2,861", "1,230", "275", "22.8"],
            ["All ages", "13,390", "4,352", "996", "100.0"]],
           mark_header=True)
    doc.add_heading("Outcomes", 1)
    doc.add_paragraph(
        "Classrooms that received consultation for a full year expelled no infant or toddler in SFY 2024, "
        "against 31 expulsions reported by licensed programs without consultation. Families in dyadic "
        "treatment attended a median of nine sessions.")
    doc.save(path)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    out.mkdir(parents=True, exist_ok=True)
    survey(out / "iecmh-consultation-state-survey-2024.docx")
    budget(out / "cascadia-iecmh-budget-request-sfy2026.docx")


if __name__ == "__main__":
    main()
