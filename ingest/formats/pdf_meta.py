"""Title, publisher and year of a PDF, for citations.

The info dictionary is filled in by whatever program made the file, so it is read with
suspicion: an /Author is a publisher only when it names an organisation (not a person, a
typist's initials or a program), and a /CreationDate is the year the file was made, which
for a file re-written by a converter is not the year the document was published. What the
document prints about itself counts for more: a date in its running header or footer or
in the title lines of its first page ("MMWR / January 14, 2011"), and the agency named
there ("U.S. Census Bureau") or set as a block of its own on the first page ("Department of
the Treasury / Internal Revenue Service"). A scan's file dates are when it was scanned, so a
scan's year comes only from what its pages print. When nothing says a field clearly it is left empty: a wrong
year or publisher in a citation is worse than none.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..types import Page

# US federal bodies that publish policy documents: full name, then the short forms that
# name them on a title page. A short form must stand as a whole word in the title lines.
AGENCIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Administration for Children and Families", ("ACF",)),
    ("Agency for Healthcare Research and Quality", ("AHRQ",)),
    ("Centers for Disease Control and Prevention", ("CDC",)),
    ("Centers for Medicare & Medicaid Services", ("CMS", "Centers for Medicare and Medicaid Services")),
    ("Congressional Research Service", ("CRS",)),
    ("Environmental Protection Agency", ("EPA",)),
    ("Federal Aviation Administration", ("FAA",)),
    ("Federal Bureau of Investigation", ("FBI",)),
    ("Food and Drug Administration", ("FDA",)),
    ("Government Accountability Office", ("GAO",)),
    ("Health Resources and Services Administration", ("HRSA",)),
    ("Internal Revenue Service", ("IRS",)),
    ("Maternal and Child Health Bureau", ("MCHB",)),
    ("National Institute of Mental Health", ("NIMH",)),
    ("National Institutes of Health", ("NIH",)),
    ("Office of Head Start", ()),
    ("Social Security Administration", ("SSA",)),
    ("Substance Abuse and Mental Health Services Administration", ("SAMHSA",)),
    ("U.S. Census Bureau", ("Census Bureau", "United States Census Bureau")),
    ("U.S. Copyright Office", ("United States Copyright Office",)),
    ("U.S. Department of Agriculture", ("USDA", "Department of Agriculture")),
    ("U.S. Department of Education", ("Department of Education",)),
    ("U.S. Department of Health and Human Services", ("HHS", "Department of Health and Human Services")),
    ("U.S. Department of Housing and Urban Development", ("HUD", "Department of Housing and Urban Development")),
    ("U.S. Department of Justice", ("DOJ", "Department of Justice")),
    ("U.S. Department of Labor", ("DOL", "Department of Labor")),
    ("U.S. Department of the Treasury", ("Department of the Treasury",)),
    ("U.S. Department of Transportation", ("DOT", "Department of Transportation")),
)
_ORGANISATION_WORDS = re.compile(
    r"\b(office|department|dept|agency|bureau|cent(?:er|re)s?|institutes?|administration|services?|commission|"
    r"council|board|committee|authority|ministry|government|university|college|association|foundation|"
    r"division|program(?:me)?s?|corporation|inc|llc|ltd|company|society|network|alliance|coalition|"
    r"partnership|project|court|congress|senate|library|academy|trust|fund|federation|organi[sz]ation|"
    r"secretariat|state of|county|city of|branch|unit)\b",
    re.I,
)
_ACRONYM = re.compile(r"[A-Z][A-Z&]{1,6}")
# programs whose names end up in /Author, and placeholder names
_SOFTWARE = re.compile(
    r"microsoft|\bword\b|adobe|acrobat|distiller|pdf\s?tex|\blatex\b|\btex\b|libreoffice|openoffice|writer|"
    r"indesign|quark|pscript|ghostscript|windows|administrator|^user$|^owner$|unknown|^author$",
    re.I,
)
_TYPIST = re.compile(r"\s*(?:[-\u2013\u2014/,;:|]\s*|\()[a-z]{2,4}\)?\s*$")  # " - jmf", " (jmf)"
_US_BODY = re.compile(
    r"\b(?:U\.\s?S\.|United States)\s+(?:Department of (?:the )?[A-Z][a-z]+(?: (?:and|&) [A-Z][a-z]+)*"
    r"|(?:[A-Z][A-Za-z]+ ){1,4}(?:Office|Bureau|Agency|Administration|Service|Commission|Survey))\b"
)
_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?|Spring|Summer|Fall|Autumn|Winter)")
_PRINTED_DATE = re.compile(rf"\b{_MONTH}\.?(?:\s+\d{{1,2}},?)?\s*(?:[-\u2013/]\s*)?((?:19|20)\d\d)\b")
_YEAR = re.compile(r"\b((?:19|20)\d\d)\b")
_LONE_YEAR = re.compile(r"\s*((?:19|20)\d\d)\s*")
_FILE_NAME_TITLE = re.compile(r"\.(docx?|pdf|pptx?|xlsx?|indd|qxd|wpd)$", re.I)
_TITLE_LINES_WORDS = 25  # the title lines of a first page end at the first block this long


@dataclass
class PdfMetadata:
    title: str | None = None
    publisher: str | None = None
    year: int | None = None


def pdf_metadata(reader: Any, pages: list[Page], running: list[str]) -> PdfMetadata:
    """What to cite a PDF by: from its info dictionary, its running headers and footers
    (`running`, as the layout found them) and the title lines of its first page."""
    info = _info(reader)
    title = clean_title(info.get("/Title"))
    title_lines = first_page_title_lines(pages)
    printed = "\n".join([*running, *title_lines])
    publisher = (clean_publisher(info.get("/Author")) or agency_named(printed) or heading_agency(pages, running)
                 or agency_block(pages))
    if is_scan(pages):  # the file's dates are the scanner's: only what the pages print counts
        year = printed_year([*running, *scanned_running(pages)], title_lines) or title_year(title)
    else:
        year = (printed_year(running, title_lines) or file_year(info)
                or title_year(title or next((h for p in pages[:1] for _, h in p.headings), None)))
    return PdfMetadata(title, publisher, year)


def is_scan(pages: list[Page]) -> bool:
    """Whether the document was read by OCR: its first page, or most of its pages, are
    pictures. Its /CreationDate and /ModDate are then when it was scanned, not published."""
    return bool(pages) and (pages[0].ocr or sum(p.ocr for p in pages) * 2 > len(pages))


def scanned_running(pages: list[Page]) -> list[str]:
    """A scan's running header and footer as OCR read them: a short line of a page that,
    digits aside, comes back on another page ("MMWR / January 14, 2011 / Vol. 60"). OCR reads
    them in among the columns, so any line of the page counts, not only its first and last."""
    edges = [dict.fromkeys(line.strip() for line in page.text.splitlines() if 0 < len(line.strip()) <= 120)
             for page in pages]
    shape = [{_shape(line) for line in page} for page in edges]
    return [line for i, page in enumerate(edges) for line in page
            if any(_shape(line) in other for j, other in enumerate(shape) if j != i)]


def _shape(line: str) -> str:
    """A running line with digits made alike and numbers at its ends (the page number) taken off."""
    return re.sub(r"^(?:# )+|(?: #)+$", "", re.sub(r"\d+", "#", " ".join(line.split()))).casefold()


_OCR_DEBRIS = re.compile(r"^\S{1,2}\s+")  # "p< Department ...", "A Department ...": a box's edge or a seal read as text


def _without_debris(line: str) -> str:
    """The line less a one- or two-character token before an agency's name, which OCR reads
    from the seal or the box beside it."""
    rest = _OCR_DEBRIS.sub("", line)
    return rest if rest != line and not _is_agency(line) and _is_agency(rest) else line


def agency_block(pages: list[Page]) -> str | None:
    """The agency printed as a block of its own on the first page, each line an agency's
    name ("Department of the Treasury / Internal Revenue Service"): the last line, the most
    specific, when they nest, and of blocks in a row ("DEPARTMENT OF TRANSPORTATION",
    "Federal Aviation Administration") the last."""
    found = None
    for block in (pages[0].text.split("\n\n") if pages else []):
        lines = [_without_debris(" ".join(line.split())) for line in block.splitlines() if line.strip()]
        if lines and len(lines) <= 4 and all(_is_agency(line) for line in lines):
            found = lines[-1]  # and on: the next block may name the part of it that publishes
        elif found:
            break
    if found is None:
        return None
    return _agency_by_short_form(found) or (_smart_title(found) if found.isupper() else found)


# Headings that name a part of a document, never the document: a caption, a generic section
_CAPTION = re.compile(r"(?:table|figure|fig\.|exhibit|chart|box|worksheet|appendix)\s+[\w.-]+[.:]?(?:\s|$)", re.I)
_SECTION_NAMES = {
    "abstract", "acknowledgments", "acknowledgements", "background", "contents", "executive summary", "foreword",
    "highlights", "introduction", "key findings", "overview", "preface", "summary", "table of contents",
}
_TITLE_PAGES = 2  # a heading further in names a section


def title_heading(pages: list[Page], running: list[str]) -> str | None:
    """The first heading of the first pages that can be the document's title: not a figure or
    table caption (nor the labels in the figure after it), not a generic section name ("HIGHLIGHTS"), not the publication's running
    section ("Proposed Rules", which every Federal Register page repeats in its header), not
    an agency's name (the publisher) and not a bare code ("14 CFR Part 39")."""
    repeated = [" ".join(line.split()).casefold() for line in running]
    for page in pages[:_TITLE_PAGES]:
        for offset, heading in page.headings:
            if page is pages[0] and _opens_mid_text(page.text[:page.headings[0][0]]):
                return None  # an excerpt that starts inside a report: its title is on a page not here
            text = " ".join(heading.split())
            folded = text.casefold().rstrip(".:")
            words = [w for w in re.findall(r"[^\W\d_]{4,}", text) if not w.isupper() or len(w) > 5]
            if _CAPTION.match(text):
                break  # what follows on the page are the figure's labels ("Item 2 Domain 1")
            if folded in _SECTION_NAMES or len(words) < 2 or any(folded in line for line in repeated) \
                    or _is_agency(text):
                continue
            return text[:200]
    return None


def _opens_mid_text(before: str) -> bool:
    """Whether the first page starts with body text (a paragraph of 25 words or more, or one
    that starts in lower case) before its first heading: it carries on a text begun on an
    earlier page, so none of its headings is the document's title."""
    first = before.lstrip().split("\n\n")[0]
    return len(first.split()) >= _TITLE_LINES_WORDS or first[:1].islower()


_AGENCY_LINE = re.compile(
    r"(?:(?:U\.\s?S\.|United States)\s+)?(?:(?:department|office|bureau|agency|administration)\s+(?:of|for)\s+"
    r"(?:the\s+)?[^\W\d_][\w ,&]*|(?:[^\W\d_][\w&]*\s+){0,5}(?:administration|agency|bureau|service|office"
    r"|commission|department))", re.I)


def heading_agency(pages: list[Page], running: list[str]) -> str | None:
    """The agency set as a heading above the title on the first page, the most specific
    when several are ("DEPARTMENT OF TRANSPORTATION", "Federal Aviation Administration")."""
    repeated = [" ".join(line.split()).casefold() for line in running]
    found = None
    for _, heading in pages[0].headings if pages else []:
        text = " ".join(heading.split())
        if _is_agency(text):
            found = _agency_by_short_form(text) or (_smart_title(text) if text.isupper() else text)
        elif not any(text.casefold() in line for line in repeated):
            break  # the title: what comes after it is the body
    return found


def _smart_title(text: str) -> str:
    small = {"of", "for", "and", "the", "on", "in"}
    words = text.lower().split()
    return " ".join(w if i and w in small else w.capitalize() for i, w in enumerate(words))


def _is_agency(text: str) -> bool:
    """Whether the whole of `text` is an agency's name ("DEPARTMENT OF TRANSPORTATION")."""
    name = " ".join(text.split())
    return bool(_AGENCY_LINE.fullmatch(name) or _agency_by_short_form(name)
                or any(full.casefold() == name.casefold() for full, _ in AGENCIES))


def clean_title(value: Any) -> str | None:
    """The /Title, unless it is a file name or a program's placeholder."""
    title = _text(value)
    if not title or len(title) < 3 or _FILE_NAME_TITLE.search(title):
        return None
    if title.lower().startswith(("microsoft word", "untitled", "slide 1", "document")):
        return None
    return title


def clean_publisher(value: Any) -> str | None:
    """The /Author as a publisher: an organisation, with a typist's initials taken off
    ("United States Copyright Office - jmf"); None for a person, a program or a code."""
    author = _text(value)
    if not author:
        return None
    author = _TYPIST.sub("", author).strip(" -,;")
    if not author or _SOFTWARE.search(author) or not re.fullmatch(r"[A-Za-z][\w .,&'()\-]*", author):
        return None  # a program, or an office code such as "W:CAR:MP:FP"
    full = _agency_by_short_form(author)
    if full:
        return full
    if _ORGANISATION_WORDS.search(author) or _ACRONYM.fullmatch(author):
        return author
    return None  # most likely a person: the author, not the publisher


def agency_named(text: str) -> str | None:
    """The first agency the text names: a known one by full or short name, or a
    "U.S. <Name> Office/Bureau/..." form."""
    found: list[tuple[int, str]] = []
    for full, short_forms in AGENCIES:
        for name in (full, *short_forms):
            match = re.search(rf"(?<![\w&]){re.escape(name)}(?![\w&])", text)
            if match:
                found.append((match.start(), full))
    for match in _US_BODY.finditer(text):
        name = " ".join(match.group(0).split())
        unprefixed = re.sub(r"^(?:U\.\s?S\.|United States)\s+", "", name)
        found.append((match.start(), _agency_by_short_form(name) or _agency_by_short_form(unprefixed) or name))
    return min(found)[1] if found else None


def printed_year(running: list[str], title_lines: list[str]) -> int | None:
    """The year of a date the document prints about itself: in a running header or
    footer ("MMWR / January 14, 2011 / Vol. 60"), else in its first page's title lines (a
    date, or a year set alone as on a form's cover)."""
    for texts in (running, title_lines):
        years = Counter(int(m.group(1)) for text in texts for m in _PRINTED_DATE.finditer(text))
        if texts is title_lines and not years:  # a year set alone on a cover ("2007")
            years = Counter(int(m.group(1)) for text in texts for m in [_LONE_YEAR.fullmatch(text)] if m)
        years = Counter({y: n for y, n in years.items() if _plausible(y)})
        if years:
            return years.most_common(1)[0][0]
    return None


def file_year(info: dict) -> int | None:
    """The year the file was made, unless a converter re-wrote it (Ghostscript with no
    /Creator: its date is the conversion's, not the document's)."""
    producer, creator = _text(info.get("/Producer")) or "", _text(info.get("/Creator"))
    if "ghostscript" in producer.lower() and not creator:
        return None
    match = re.match(r"D:((?:19|20)\d\d)", _text(info.get("/CreationDate")) or "")
    return int(match.group(1)) if match and _plausible(int(match.group(1))) else None


def title_year(title: str | None) -> int | None:
    years = [int(y) for y in _YEAR.findall(title or "") if _plausible(int(y))]
    return years[-1] if years else None


def first_page_title_lines(pages: list[Page]) -> list[str]:
    """The blocks of the first page before its first paragraph of body text."""
    lines: list[str] = []
    for block in (pages[0].text.split("\n\n") if pages else [])[:8]:
        if len(block.split()) >= _TITLE_LINES_WORDS:
            break
        lines.append(" ".join(block.split()))
    return lines


def _agency_by_short_form(name: str) -> str | None:
    name = " ".join(name.split()).replace("U. S.", "U.S.")
    for full, short_forms in AGENCIES:
        if name == full or name in short_forms:
            return full
    return None


def _plausible(year: int) -> bool:
    return 1900 <= year <= dt.date.today().year + 1


def _info(reader: Any) -> dict:
    try:
        return dict(reader.metadata or {})
    except Exception:  # noqa: BLE001 - a damaged info dictionary reads as empty
        return {}


def _text(value: Any) -> str | None:
    try:
        if value is not None and hasattr(value, "get_object"):
            value = value.get_object()
    except Exception:  # noqa: BLE001 - a broken reference
        return None
    if value is None:
        return None
    text = " ".join(str(value).replace("\x00", "").split())
    return text or None
