"""Word documents (.docx), read with python-docx and their WordprocessingML.

Headings (paragraphs in a Heading/Title style, or any style with an outline level) become
sections; list paragraphs stay one item a line; tables are read row by row; footnotes and
endnotes become blocks of their own ("1 text"), footnotes at the end of the page that cites
them (where each is cited goes to `Page.footnote_refs`, so it is read with that sentence),
endnotes at the end. Tracked deletions, field codes and the table of contents are left
out; text boxes are read after the paragraph that anchors them. Pages are numbered only when
the document marks where its pages break (hard page breaks, or the breaks Word records when
it saves); otherwise it is one flowing page with no number.

Metadata is what the document prints before what its properties say: the title from the
Title style (the core title when that is empty or a file name such as "Microsoft Word -
x.docx", then the first heading); the publisher from the Company property, else the agency the
cover page names ("Department of ...", "Office of ...", "State of ..."), never the author field,
which holds a person ("Smith,Jane") unless it names an organisation; the year from a date the
cover, headers or footers print ("Revised March 2019", "Effective date: ...", a date line under
the title) before the file's own created date.
"""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone

from kb.errors import ExtractionError
from kb.text import collapse

from ..limits import TextBudget, active
from ..metadata import DATE, DATE_ONLY, PLACEHOLDER_NAMES, looks_like_organisation, parse_date
from ..types import Extracted, Page
from .base import Format
from .blocks import PageBuilder, reference

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
RELS_FOOTNOTES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes"
RELS_ENDNOTES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/endnotes"
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

HEADING_STYLE = re.compile(r"^(?:heading\s*([1-9])|title)$", re.I)
LIST_STYLE = re.compile(r"^list(?:\s+(?:paragraph|bullet|number|continue))?(?:\s*\d)?$", re.I)
TOC_STYLE = re.compile(r"^(?:toc\s*(?:heading|\d)|table of figures)$", re.I)
# A core title that is a file name or Word's default, not the document's title.
PLACEHOLDER_TITLE = re.compile(r"(?:microsoft\s+word\s*-.*|document\s*\d*|untitled.*|title|doc\d*|\S+\.(?:docx?|dotx?|pdf|rtf)"
                               r"|\S*_\S*)", re.I)
# A line of the cover page naming an agency, and the label some put before it.
AGENCY_LINE = re.compile(r"\b(?:department|agency|office|division|bureau|administration|authority|commission|council|"
                         r"board|cabinet|ministry|(?:state|commonwealth)\s+of)\b", re.I)
AGENCY_LABEL = re.compile(r"^\s*(?:prepared|issued|published|produced|released)\s+by\s*:?\s*(?:the\s+)?", re.I)
PERSON_LINE = re.compile(r"^\s*(?:to|from|cc|attn|attention|re|subject)\s*:|\b(?:director|manager|coordinator|"
                         r"specialist|commissioner|secretary|phd|lcsw|m\.?d\.?)\b", re.I)
# Where a document prints the date it took effect or was last revised.
LABELLED_DATE = re.compile(r"\b(?:last\s+)?(?:revised|revision|effective(?:\s+date)?|updated|issued|published|approved|"
                           rf"adopted|dated?|reviewed)\b(?:\s+(?:on|in))?\s*:?\s*(?P<date>{DATE})", re.I)
COVER_PARAGRAPHS = 25  # how far into the body the cover page and its date lines are looked for
PYTHON_DOCX_TEMPLATE_CREATED = datetime(2013, 12, 23, 23, 15, tzinfo=timezone.utc)
# Subtrees whose text is not the document's text as read: deleted or moved-away runs, field
# instructions, ruby guide text, and the fallback copy of a drawing.
SKIPPED = {f"{{{W}}}del", f"{{{W}}}moveFrom", f"{{{W}}}instrText", f"{{{W}}}delText", f"{{{W}}}rt",
           f"{{{MC}}}Fallback"}


def w(tag: str) -> str:
    return f"{{{W}}}{tag}"


def extract_docx(data: bytes) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    check_text_size(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except KeyError as exc:  # python-docx: "There is no item named 'word/styles.xml' in the archive"
        missing = re.search(r"named '([^']+)'", str(exc))
        part = f" ({missing.group(1)})" if missing else ""
        raise ExtractionError(f"damaged Word document: a part every Word file has is missing{part}; open it in Word, "
                              "which repairs it, and save it again") from None
    except (PackageNotFoundError, zipfile.BadZipFile):
        raise ExtractionError("damaged Word document: its archive is broken or cut short; open it in Word, which "
                              "repairs it, and save it again (or get a new copy)") from None
    except Exception as exc:  # noqa: BLE001 - python-docx and lxml raise many types on damaged parts
        raise ExtractionError(f"damaged Word document: a part of it cannot be read ({str(exc)[:80] or type(exc).__name__})"
                              "; open it in Word, which repairs it, and save it again") from None
    styles = _Styles(document)
    reader = _Reader(styles, _notes(document, RELS_FOOTNOTES), _notes(document, RELS_ENDNOTES))
    reader.body(document.element.body)
    pages = reader.finish()
    core_title, author, created_year = _core_properties(document)
    cover = _cover(document, styles)
    first_heading = next((h for p in pages for _, h in p.headings), None)
    title = cover.title or (core_title if core_title and not PLACEHOLDER_TITLE.fullmatch(core_title) else None) \
        or first_heading or core_title
    publisher = _company(data) or cover.agency or (author if looks_like_organisation(author) else None)
    year = _printed_year(document, cover) or created_year
    return Extracted(pages, "docx", title=title, publisher=publisher, year=year,
                     page_count=len(pages) if pages[0].number is not None else None)


def check_text_size(data: bytes) -> None:
    """Refuse a document whose body text is over KB_MAX_DOCUMENT_CHARS before python-docx builds
    its tree: the body's XML is streamed out of the archive and only its text runs counted, so
    80,000 repeated paragraphs cost a moment. A body no longer than the limit cannot hold more."""
    from lxml import etree

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("word/document.xml")
            if info.file_size <= active().max_chars:
                return
            budget = TextBudget()
            with archive.open(info) as body:
                for _, element in etree.iterparse(body, events=("end",), tag=w("t"), huge_tree=True):
                    budget.spend(len(element.text or ""))
                    element.clear(keep_tail=True)
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, etree.XMLSyntaxError):
        return  # not readable this way: python-docx says what is wrong with it


# ---- styles -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Role:
    heading: bool = False
    item: bool = False
    toc: bool = False


class _Styles:
    """What each paragraph style means, following `basedOn` to the built-in styles."""

    def __init__(self, document):
        self.by_id = {}
        for style in document.styles.element.findall(w("style")):
            self.by_id[style.get(w("styleId"))] = style
        self.cache: dict[str | None, _Role] = {}

    def role(self, paragraph) -> _Role:
        ppr = paragraph.find(w("pPr"))
        style_id = None
        own_level = own_numbered = None
        if ppr is not None:
            style = ppr.find(w("pStyle"))
            style_id = style.get(w("val")) if style is not None else None
            own_level = _outline_level(ppr)
            own_numbered = _numbered(ppr)
        role = self._style_role(style_id)
        if own_level is not None:
            role = _Role(heading=own_level < 9, item=role.item, toc=role.toc)
        if own_numbered is not None and not role.heading:
            role = _Role(item=own_numbered, toc=role.toc)
        return role

    def _style_role(self, style_id: str | None) -> _Role:
        if style_id not in self.cache:
            heading = item = toc = False
            seen = set()
            current = style_id
            while current and current not in seen and current in self.by_id:
                seen.add(current)
                style = self.by_id[current]
                name_el = style.find(w("name"))
                name = name_el.get(w("val")) if name_el is not None else current
                ppr = style.find(w("pPr"))
                level = _outline_level(ppr) if ppr is not None else None
                heading = heading or bool(HEADING_STYLE.match(name)) or (level is not None and level < 9)
                item = item or bool(LIST_STYLE.match(name)) or (ppr is not None and bool(_numbered(ppr)))
                toc = toc or bool(TOC_STYLE.match(name))
                based = style.find(w("basedOn"))
                current = based.get(w("val")) if based is not None else None
            self.cache[style_id] = _Role(heading=heading, item=item and not heading, toc=toc)
        return self.cache[style_id]


def _outline_level(ppr) -> int | None:
    el = ppr.find(w("outlineLvl"))
    try:
        return int(el.get(w("val"))) if el is not None else None
    except (TypeError, ValueError):
        return None


def _numbered(ppr) -> bool | None:
    """True for a numbered or bulleted paragraph, False where numbering is switched off (numId 0)."""
    num = ppr.find(w("numPr"))
    if num is None:
        return None
    num_id = num.find(w("numId"))
    return num_id is None or num_id.get(w("val")) != "0"


# ---- notes ------------------------------------------------------------------------------------

def _notes(document, reltype: str) -> dict[str, object]:
    """Footnote or endnote elements by id, read from their part (python-docx does not model them)."""
    from docx.oxml import parse_xml

    for rel in document.part.rels.values():
        if rel.reltype == reltype and not rel.is_external:
            try:
                root = parse_xml(rel.target_part.blob)
            except Exception:  # noqa: BLE001 - damaged notes must not lose the body
                return {}
            return {note.get(w("id")): note for note in root if note.get(w("type")) in (None, "normal")}
    return {}


# ---- the body ---------------------------------------------------------------------------------

@dataclass
class _PageInProgress:
    builder: PageBuilder = field(default_factory=PageBuilder)
    notes: list[str] = field(default_factory=list)  # footnote texts cited on this page


class _Reader:
    """Walks the body in order, writing blocks into the current page."""

    def __init__(self, styles: _Styles, footnotes: dict, endnotes: dict):
        self.styles, self.footnotes, self.endnotes = styles, footnotes, endnotes
        self.pages = [_PageInProgress()]
        self.breaks = 0
        self.note_numbers: dict[tuple[str, str], int] = {}
        self.endnote_texts: list[str] = []

    def body(self, element) -> None:
        for child in element:
            if child.tag == w("p"):
                self.paragraph(child)
            elif child.tag == w("tbl"):
                self.table(child)
            elif child.tag == w("sdt"):
                if not _is_toc(child):
                    content = child.find(w("sdtContent"))
                    if content is not None:
                        self.body(content)
            elif child.tag in (w("customXml"), w("ins"), w("moveTo")):
                self.body(child)

    def paragraph(self, p) -> None:
        ppr = p.find(w("pPr"))
        if ppr is not None and ppr.find(w("pageBreakBefore")) is not None:
            self.page_break()
        role = self.styles.role(p)
        tokens: list = []
        boxes: list = []
        _runs(p, tokens, boxes)
        text: list[str] = []
        for token in tokens + [PAGE_END]:
            if isinstance(token, str):
                text.append(token)
            elif isinstance(token, _NoteRef):
                number = self._cite(token)
                if number is not None:  # where the text cites a footnote (not an endnote)
                    text.append(reference(str(number)))
            else:  # a page break inside the paragraph: the text before it ends the page
                if not role.toc:
                    self._write(role, "".join(text))
                text = []
                if token is PAGE_BREAK:
                    self.page_break()
        for box in boxes:
            self.body(box)
        if ppr is not None and _section_starts_page(ppr):
            self.page_break()

    def _write(self, role: _Role, text: str) -> None:
        out = self.pages[-1].builder
        if role.heading:
            out.heading(text)
        elif role.item:
            out.item(text)
        else:
            out.paragraph(text)

    def _cite(self, ref: "_NoteRef") -> int | None:
        """Number a note at its first citation; a footnote goes to the page citing it. Returns
        a footnote's number."""
        notes = self.endnotes if ref.end else self.footnotes
        key = ("end" if ref.end else "foot", ref.id)
        if ref.id not in notes:
            return None
        if key not in self.note_numbers and ref.end:
            self.endnote_texts.append(f"{_roman(len(self.endnote_texts) + 1)} {_note_text(notes[ref.id])}")
            self.note_numbers[key] = len(self.endnote_texts)
        elif key not in self.note_numbers:
            self.note_numbers[key] = sum(1 for k in self.note_numbers if k[0] == "foot") + 1
            self.pages[-1].notes.append(f"{self.note_numbers[key]} {_note_text(notes[ref.id])}")
        return None if ref.end else self.note_numbers[key]

    def table(self, tbl) -> None:
        rows, header = [], 0
        for tr in tbl.findall(w("tr")):
            cells = []
            for tc in tr.findall(w("tc")):
                if _merged_continuation(tc):
                    cells.append("")
                    continue
                tokens: list = []
                _runs(tc, tokens, [])
                for ref in (t for t in tokens if isinstance(t, _NoteRef)):
                    self._cite(ref)
                cells.append(_text(tokens))
            trpr = tr.find(w("trPr"))
            if len(rows) == header and trpr is not None and trpr.find(w("tblHeader")) is not None:
                header += 1
            rows.append(cells)
        if rows and header == 0 and len(rows) > 1:
            header = 1  # unmarked: the first row, as for PDF tables
        self.pages[-1].builder.table(rows, header)

    def page_break(self) -> None:
        """Start a new page, unless nothing has been written since the last break (Word
        records a break it rendered right after a hard break: one break, not two)."""
        current = self.pages[-1]
        if current.builder or current.notes:
            self.breaks += 1
            self.pages.append(_PageInProgress())

    def finish(self) -> list[Page]:
        if self.endnote_texts:
            self.pages[-1].notes.extend(self.endnote_texts)
        pages = []
        for current in self.pages:
            for note in current.notes:
                current.builder.footnote(note)
            pages.append(current.builder)
        while len(pages) > 1 and not pages[-1]:
            pages.pop()
        if self.breaks == 0 or len(pages) == 1:
            return [pages[0].page(None)]
        return [builder.page(number) for number, builder in enumerate(pages, start=1)]


@dataclass(frozen=True)
class _NoteRef:
    id: str | None
    end: bool  # an endnote, not a footnote


PAGE_BREAK = object()  # a page break inside a paragraph
PAGE_END = object()  # the paragraph's end


def _runs(element, tokens: list, boxes: list) -> None:
    """The text of a paragraph (or cell) in order: strings, PAGE_BREAK and _NoteRef tokens;
    text boxes are collected in `boxes` to be read after it."""
    for child in element:
        tag = child.tag
        if tag in SKIPPED or tag in (w("pPr"), w("rPr"), w("tcPr"), w("trPr"), w("tblPr")):
            continue
        if tag == w("t"):
            tokens.append(child.text or "")
        elif tag in (w("tab"), w("ptab")):
            tokens.append(" ")
        elif tag == w("br"):
            tokens.append(PAGE_BREAK if child.get(w("type")) == "page" else "\n")
        elif tag == w("cr"):
            tokens.append("\n")
        elif tag == w("noBreakHyphen"):
            tokens.append("-")
        elif tag == w("lastRenderedPageBreak"):
            tokens.append(PAGE_BREAK)
        elif tag in (w("footnoteReference"), w("endnoteReference")):
            tokens.append(_NoteRef(child.get(w("id")), tag == w("endnoteReference")))
        elif tag == w("txbxContent"):
            boxes.append(child)
        elif tag in (w("p"), w("tc")):
            tokens.append(" ")  # paragraphs inside a cell, cells of a nested table
            _runs(child, tokens, boxes)
        else:
            _runs(child, tokens, boxes)


def _text(tokens: list) -> str:
    return collapse("".join(t for t in tokens if isinstance(t, str)))


def _note_text(note) -> str:
    tokens: list = []
    _runs(note, tokens, [])
    return _text(tokens)


def _merged_continuation(tc) -> bool:
    """A cell that continues a vertical merge repeats nothing: the text is in the cell above."""
    tcpr = tc.find(w("tcPr"))
    if tcpr is None:
        return False
    merge = tcpr.find(w("vMerge"))
    return merge is not None and merge.get(w("val")) in (None, "continue")


def _is_toc(sdt) -> bool:
    pr = sdt.find(w("sdtPr"))
    if pr is None:
        return False
    gallery = pr.find(f"{w('docPartObj')}/{w('docPartGallery')}")
    return gallery is not None and "table of contents" in (gallery.get(w("val")) or "").lower()


def _section_starts_page(ppr) -> bool:
    """A section break carried by this paragraph starts the next section on a new page
    (the default section type), unless it is continuous."""
    sect = ppr.find(w("sectPr"))
    if sect is None:
        return False
    kind = sect.find(w("type"))
    return kind is None or kind.get(w("val")) in (None, "nextPage", "oddPage", "evenPage")


def _roman(n: int) -> str:
    out = ""
    for value, numeral in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"),
                           (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out += numeral
            n -= value
    return out


# ---- metadata ---------------------------------------------------------------------------------

def _core_properties(document) -> tuple[str | None, str, int | None]:
    """(title, author, year created) from the core properties; placeholder authors and the
    python-docx template's date ignored."""
    try:
        props = document.core_properties
        title = collapse(props.title or "") or None
        author = collapse(props.author or "")
        created = props.created
    except Exception:  # noqa: BLE001 - damaged properties are only missing metadata
        return None, "", None
    if author.lower() in PLACEHOLDER_NAMES:
        author = ""
    year = None
    if created is not None:
        stamp = created if created.tzinfo else created.replace(tzinfo=timezone.utc)
        if stamp != PYTHON_DOCX_TEMPLATE_CREATED and 1900 < created.year <= datetime.now().year + 1:
            year = created.year
    return title, author, year


@dataclass
class _Cover:
    """What the first paragraphs print: the Title-style title, the agency, date lines."""

    title: str | None = None
    agency: str | None = None
    lines: list[str] = field(default_factory=list)  # the cover's paragraphs, as text


def _cover(document, styles: _Styles) -> _Cover:
    """The cover page: the body's paragraphs (and the cells of a table on it, as a memo's
    TO/FROM/DATE block) up to the first heading after the title, or COVER_PARAGRAPHS of them;
    the agency is the first line naming a department, office, agency... (a "State of ..." line
    only when no such line is there), else the letterhead's in the page header."""
    cover = _Cover()
    states: list[str] = []
    for element in document.element.body.iterchildren(w("p"), w("tbl")):
        if len(cover.lines) >= COVER_PARAGRAPHS:
            break
        if element.tag == w("tbl"):
            for cell in element.iter(w("tc")):
                tokens: list = []
                _runs(cell, tokens, [])
                if text := _text(tokens):
                    cover.lines.append(text)
                    _agency_line(text, cover, states)
            continue
        tokens = []
        _runs(element, tokens, [])
        text = _text(tokens)
        if not text:
            continue
        role = styles.role(element)
        if role.heading and _is_title_style(element, styles) and cover.title is None:
            cover.title = text
            continue
        if role.heading:
            break
        cover.lines.append(text)
        _agency_line(text, cover, states)
    if cover.agency is None and not states:
        for text in _header_footer_lines(document, footers=False):
            _agency_line(text, cover, states)
    cover.agency = cover.agency or (states[0] if states else None)
    return cover


def _agency_line(text: str, cover: _Cover, states: list[str]) -> None:
    """Take `text` as the cover's agency when it is a short line naming one."""
    line = AGENCY_LABEL.sub("", text).strip(" .,:;")
    if len(line.split()) > 14 or PERSON_LINE.search(text) or not AGENCY_LINE.search(line) \
            or not looks_like_organisation(line) or text.rstrip().endswith((".", ";")) or not line[:1].isupper():
        return
    if re.match(r"(?:state|commonwealth)\s+of\b", line, re.I):
        states.append(line)
    elif cover.agency is None:
        cover.agency = line


def _is_title_style(paragraph, styles: _Styles) -> bool:
    ppr = paragraph.find(w("pPr"))
    style = ppr.find(w("pStyle")) if ppr is not None else None
    style_id = style.get(w("val")) if style is not None else None
    seen = set()
    while style_id and style_id not in seen and style_id in styles.by_id:
        seen.add(style_id)
        el = styles.by_id[style_id]
        name_el = el.find(w("name"))
        if (name_el.get(w("val")) if name_el is not None else style_id).lower() == "title":
            return True
        based = el.find(w("basedOn"))
        style_id = based.get(w("val")) if based is not None else None
    return False


def _printed_year(document, cover: _Cover) -> int | None:
    """The year of the latest date the cover, the headers or the footers print with a label
    ("Revised March 2019", "Effective date: 10/1/2020", "DATE: April 3, 2023"), else of a
    cover line that is only a date ("June 2017", "2016")."""
    labelled = []
    for text in cover.lines + _header_footer_lines(document):
        labelled += [parsed for m in LABELLED_DATE.finditer(text) if (parsed := parse_date(m.group("date")))]
    if labelled:
        return max(labelled).year
    for text in cover.lines:
        if DATE_ONLY.fullmatch(text) and (parsed := parse_date(text)) is not None:
            return parsed.year
    return None


def _header_footer_lines(document, footers: bool = True) -> list[str]:
    lines = []
    try:
        for section in document.sections:
            parts = [section.header, section.first_page_header]
            if footers:
                parts += [section.footer, section.first_page_footer]
            for part in parts:
                if part.is_linked_to_previous:
                    continue  # (an unlinked first section's parts are its own; a linked one repeats)
                lines += [collapse(p.text) for p in part.paragraphs if p.text.strip()]
    except Exception:  # noqa: BLE001 - damaged headers are only missing metadata
        return lines
    return lines


def _company(data: bytes) -> str | None:
    """The Company field of docProps/app.xml (python-docx reads only the core properties)."""
    from docx.oxml import parse_xml

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("docProps/app.xml")
            if info.file_size > 1 << 20:
                return None
            root = parse_xml(archive.read(info))
    except (KeyError, zipfile.BadZipFile, OSError, ValueError):
        return None
    except Exception:  # noqa: BLE001 - a malformed app.xml
        return None
    for el in root:
        if el.tag.endswith("}Company"):
            company = collapse(el.text or "")
            if company.casefold() in PLACEHOLDER_NAMES or _is_person(company):
                return None
            return company or None
    return None


def _is_person(name: str) -> bool:
    """A name written as a person's ("Smith, Jane", "Jane Smith", "jsmith"), not an organisation's."""
    if looks_like_organisation(name):
        return False
    return bool(re.fullmatch(r"[A-Z][\w'\-]+,\s*[A-Z][\w'\-]+(?:\s+[A-Z]\.?)?|[A-Z][a-z'\-]+(?:\s+[A-Z]\.)?\s+[A-Z][a-z'\-]+"
                             r"|[a-z]+\d*", name))


def accepts(data: bytes) -> bool:
    """A zip package holding word/document.xml."""
    if not data.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


FORMAT = Format(kind="docx", label="Word document", suffixes=(".docx",), media_types=(MEDIA_TYPE,),
                accepts=accepts, extract=extract_docx)
