"""Scanned PDFs with known text, for the OCR tests and bench/ocr_accuracy.py.

A page is typeset with fpdf2 (a heading, paragraphs, a printed page number at the foot),
rasterised with pypdfium2 at scanner resolution, roughened like a scan (a slight skew, grey
speckle, JPEG compression), and wrapped into a PDF that holds nothing but the picture. The
text it was typeset from is what OCR should give back.
"""
from __future__ import annotations

import difflib
import io
import random
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ScanPage:
    heading: str | None
    paragraphs: list[str]
    printed_number: str | None = None  # printed at the foot of the page

    def text(self) -> str:
        return "\n\n".join(([self.heading] if self.heading else []) + self.paragraphs)


def typeset(pages: list[ScanPage], font_size: float = 11) -> bytes:
    """A text PDF of the pages (the 'original' that was printed and scanned)."""
    from fpdf import FPDF

    pdf = FPDF(format="letter")
    pdf.set_auto_page_break(False)
    for page in pages:
        pdf.add_page()
        pdf.set_xy(25, 25)
        if page.heading:
            pdf.set_font("Helvetica", "B", font_size + 7)
            pdf.multi_cell(165, (font_size + 7) * 0.5, page.heading)
            pdf.ln(4)
        pdf.set_font("Helvetica", "", font_size)
        for paragraph in page.paragraphs:
            pdf.multi_cell(165, font_size * 0.5, paragraph)
            pdf.ln(4)
        if page.printed_number:
            pdf.set_xy(25, 260)
            pdf.cell(165, 6, page.printed_number, align="C")
    return bytes(pdf.output())


def scan(pdf_bytes: bytes, dpi: int = 200, seed: int = 0, rough: bool = True, tilt: float = 0.6,
         pages: list[int] | None = None) -> list:
    """Each page of a PDF (or the 0-based `pages`) as a greyscale picture, as a scanner would
    return it: rough, it is turned by up to `tilt` degrees either way, blurred, speckled and
    JPEG-compressed."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    images = []
    document = pdfium.PdfDocument(pdf_bytes)
    for index in range(len(document)) if pages is None else pages:
        image = document[index].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
        if rough:
            image = image.rotate(rng.uniform(-tilt, tilt), resample=Image.BICUBIC, fillcolor=255, expand=False)
            image = image.filter(ImageFilter.GaussianBlur(0.5))
            pixels = image.load()
            width, height = image.size
            for _ in range(width * height // 400):  # grey speckle, 0.25% of the pixels
                x, y = rng.randrange(width), rng.randrange(height)
                pixels[x, y] = rng.randrange(90, 200)
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=70)
            image = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
        images.append(image)
    document.close()
    return images


def images_to_pdf(images: list, dpi: int = 200) -> bytes:
    """A PDF whose pages are the pictures and nothing else (no text layer)."""
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def scanned_pdf(path: Path, pages: list[ScanPage], dpi: int = 200, seed: int = 0, rough: bool = True) -> Path:
    path.write_bytes(images_to_pdf(scan(typeset(pages), dpi, seed, rough), dpi))
    return path


def mixed_pdf(path: Path, pages: list[ScanPage], scanned: set[int], dpi: int = 200) -> Path:
    """Pages typeset as text, except those in `scanned` (0-based), which are pictures."""
    from pypdf import PdfReader, PdfWriter

    text = typeset(pages)
    pictures = PdfReader(io.BytesIO(images_to_pdf(scan(text, dpi), dpi)))
    original = PdfReader(io.BytesIO(text))
    writer = PdfWriter()
    for index in range(len(pages)):
        writer.add_page((pictures if index in scanned else original).pages[index])
    with open(path, "wb") as f:
        writer.write(f)
    return path


MIN_PARAGRAPH_WORDS = 12


def words(text: str) -> list[str]:
    """Words as printed (case kept), after Unicode NFKC (ligatures), with straight quotes,
    dashes and slashes as spaces and punctuation at a word's ends dropped."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"[\u2010-\u2015\-/]", " ", text.replace("\u201c", '"').replace("\u201d", '"'))
    out = [w.strip(".,;:!?\"'()[]{}*\u2020\u2021\u00a7\u00b6\u2022|_~`") for w in text.split()]
    return [w for w in out if w]


def body_paragraphs(page) -> list[list[str]]:
    """A page's paragraphs outside its tables, as word lists, those of 12 words or more."""
    text = page.text
    for start, end, _ in sorted(page.tables, reverse=True):
        text = text[:start] + "\n\n" + text[end:]
    return [w for w in (words(block) for block in text.split("\n\n")) if len(w) >= MIN_PARAGRAPH_WORDS]


def paragraph_errors(reference: list[str], ocr_words: list[str], distance=None) -> int:
    """Word edits between a paragraph and the stretch of the OCR text that holds it (from
    the first to the last word that matches, so the order columns are read in does not
    count). `distance` is an edit distance over word lists (rapidfuzz's Levenshtein in the
    bench); without it, the words difflib finds no match for."""
    blocks = [b for b in difflib.SequenceMatcher(None, ocr_words, reference, autojunk=False).get_matching_blocks()
              if b.size >= 2]
    if not blocks:
        return len(reference)
    # the matches that sit where the longest one puts the paragraph (a word or two dropped or
    # added in between), not a repeated phrase elsewhere on the page
    main = max(blocks, key=lambda b: b.size)
    slack = max(5, len(reference) // 4)
    blocks = [b for b in blocks if abs((b.a - b.b) - (main.a - main.b)) <= slack]
    start = max(0, min(b.a - b.b for b in blocks))
    end = max(b.a + b.size + (len(reference) - b.b - b.size) for b in blocks)
    stretch = ocr_words[start:end]
    if distance is not None:
        return distance(reference, stretch)
    matcher = difflib.SequenceMatcher(None, stretch, reference, autojunk=False)
    matched = sum(b.size for b in matcher.get_matching_blocks())
    return max(len(reference), len(stretch)) - matched


def word_error_rate(original_pages, ocr_pages, distance=None) -> tuple[int, int]:
    """(word errors, words) over the body paragraphs of the original pages, each looked for
    in the OCR text of the same page."""
    errors = total = 0
    for original, scanned in zip(original_pages, ocr_pages):
        got = words(scanned.text) if scanned is not None else []
        for paragraph in body_paragraphs(original):
            errors += paragraph_errors(paragraph, got, distance)
            total += len(paragraph)
    return errors, total


# Letters of the kind a state receives, written for these tests (not quoted from anywhere).
LETTER_PAGES = [
    ScanPage("Guidance on Early Childhood Mental Health Consultation", [
        "This letter explains how the state agency will fund infant and early childhood mental health "
        "consultation in licensed child care programs during the coming fiscal year. Programs that serve "
        "infants and toddlers may request consultation hours through the regional coordinator.",
        "Consultants must hold an endorsement in infant mental health and complete reflective supervision "
        "for at least one hour each month. The agency will review caseloads every quarter.",
    ], "3"),
    ScanPage("Eligibility and Referral", [
        "A child care program becomes eligible after it completes the readiness checklist and names a staff "
        "contact. Referrals from pediatric practices are accepted by telephone or by the secure web form.",
        "Families are never charged for consultation. Questions about this letter may be sent to the "
        "Office of Early Childhood Policy.",
    ], "4"),
]
