"""The source viewer beside an answer: the cited passage shown in its document, marked.

- Flowing text (text, Markdown, HTML and other "text" formats): the document's passages in
  reading order under their headings, all escaped, the cited passage marked (its answering
  sentence highlighted) and given an id to scroll to. The passages are verbatim spans of
  the extracted text, so the mark is always exact: no raw markup, no search across line
  breaks.
- PDFs: the cited page rendered to an image with pypdfium2, the passage's words located in
  the page's own text layer and marked; how many were found is returned, so a page whose
  text could not be matched says so instead of pretending. A passage whose last sentence
  runs over a page break is shown on both pages, each marked with its own part.

No Streamlit here.
"""
from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass

from .app_support import escape_html, highlighted_html
from .models import Passage

MARK_ID = "kb-view-current"
CHUNK_WORDS = 5  # the passage is matched on the page in runs of this many words
MIN_CHUNK_CHARS = 8  # shorter runs ("of the a") would match anywhere


def text_view_html(passages: list[Passage], current_id: int | None, highlights: list[tuple[int, int]] | None = None,
                   title: str | None = None) -> str:
    """The document as readable HTML: a heading wherever the section changes, one paragraph
    per passage, the current passage marked (id MARK_ID) with its highlights."""
    out = ['<div class="kb-view">']
    if title:
        out.append(f'<div class="kb-view-title">{escape_html(title)}</div>')
    section = None
    for p in passages:
        if p.section and p.section != section:
            out.append(f'<div class="kb-view-h">{escape_html(p.section)}</div>')
        section = p.section or section
        if p.id == current_id:
            out.append(f'<div class="kb-view-p kb-view-current" id="{MARK_ID}" data-passage="{int(p.id)}">'
                       f'{highlighted_html(p.text, highlights or [])}</div>')
        else:
            out.append(f'<div class="kb-view-p">{escape_html(p.text)}</div>')
    out.append("</div>")
    return "".join(out)


VIEW_CSS = """
<style>
.kb-view {line-height: 1.6; font-size: .95rem;}
.kb-view-title {font-size: 1.1rem; font-weight: 600; margin-bottom: .6rem;}
.kb-view-h {font-weight: 600; margin: .9rem 0 .3rem;}
.kb-view-p {margin: 0 0 .6rem;}
.kb-view-current {background: #fff8d6; outline: 2px solid #f0c400; border-radius: 3px; padding: .2rem .35rem;}
.kb-view-current mark {background: #ffd84d; color: inherit;}
</style>
"""


# ---- PDF pages -----------------------------------------------------------------------------------

@dataclass
class PageImage:
    png: bytes
    width: int
    height: int
    marked: int  # runs of the passage found and marked on the page (0: not located)
    runs: int  # runs looked for
    boxes: list[tuple[float, float, float, float]]  # marked rectangles, image pixels (x0, y0, x1, y1)


def passage_pages(passage: Passage) -> list[int]:
    """The PDF pages (1-based) to show for a passage: its page, and the page its last sentence
    ends on when it runs over a break (pages of tables set between are left out)."""
    if not passage.page:
        return []
    if passage.end_page and passage.end_page > passage.page:
        return [int(passage.page), int(passage.end_page)]
    return [int(passage.page)]


def _norm(text: str) -> str:
    return "".join(ch.lower() for ch in unicodedata.normalize("NFKC", text) if ch.isalnum())


def _runs(text: str) -> list[str]:
    words = [w for w in (_norm(w) for w in text.split()) if w]
    runs = ["".join(words[i:i + CHUNK_WORDS]) for i in range(0, len(words), CHUNK_WORDS)]
    return [r for r in runs if len(r) >= MIN_CHUNK_CHARS] or (["".join(words)] if words else [])


def _page_chars(textpage) -> tuple[str, list[int]]:
    """The page's text reduced to letters and digits, and the character index of each."""
    import pypdfium2.raw as raw

    chars, index = [], []
    for i in range(textpage.count_chars()):
        for ch in unicodedata.normalize("NFKC", chr(raw.FPDFText_GetUnicode(textpage, i) or 32)):
            if ch.isalnum():
                chars.append(ch.lower())
                index.append(i)
    return "".join(chars), index


def _locate(page_text: str, index: list[int], text: str) -> tuple[set[int], int, int]:
    """Character indices of `text`'s runs found on the page (in order where possible)."""
    found, hits, cursor = set(), 0, 0
    runs = _runs(text)
    for run in runs:
        at = page_text.find(run, cursor)
        if at < 0:
            at = page_text.find(run)
        if at < 0:
            continue
        hits += 1
        cursor = at + len(run)
        found.update(index[at:at + len(run)])
    return found, hits, len(runs)


def _line_boxes(textpage, chars: set[int]) -> list[tuple[float, float, float, float]]:
    """Character boxes (PDF points) merged into one rectangle per line run."""
    boxes: list[list[float]] = []
    for i in sorted(chars):
        left, bottom, right, top = textpage.get_charbox(i)
        if right <= left or top <= bottom:
            continue
        last = boxes[-1] if boxes else None
        height = top - bottom
        if last and abs(last[1] - bottom) < height * 0.6 and left >= last[0] - height and left - last[2] < 3 * height:
            last[0], last[1] = min(last[0], left), min(last[1], bottom)
            last[2], last[3] = max(last[2], right), max(last[3], top)
        else:
            boxes.append([left, bottom, right, top])
    return [tuple(b) for b in boxes]


def pdf_page_image(path: str, page: int, passage_text: str, highlight_texts: list[str] = (),
                   width_px: int = 900) -> PageImage:
    """Page `page` (1-based) of the PDF at `path` as a PNG, the passage marked in light yellow
    and its highlighted sentences in a stronger one."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    pdf = pdfium.PdfDocument(path)
    try:
        if not 1 <= page <= len(pdf):
            raise ValueError(f"page {page} is not in this {len(pdf)}-page PDF")
        pg = pdf[page - 1]
        left, bottom, right, top = pg.get_bbox()  # the crop box, else the media box
        scale = width_px / max(right - left, 1.0)
        image = pg.render(scale=scale).to_pil().convert("RGBA")
        textpage = pg.get_textpage()
        page_text, index = _page_chars(textpage)
        marked, marked_runs, runs = set(), 0, 0
        layers = []
        for text, colour in [(passage_text, (255, 221, 0, 60))] + [(t, (255, 170, 0, 110)) for t in highlight_texts]:
            chars, hits, total = _locate(page_text, index, text)
            if text is passage_text:
                marked_runs, runs = hits, total
            marked |= chars
            layers.append((_line_boxes(textpage, chars), colour))
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        pixels = []
        pad = 2 * scale
        for boxes, colour in layers:
            for x0, y0, x1, y1 in boxes:
                box = ((x0 - left) * scale - pad, (top - y1) * scale - pad, (x1 - left) * scale + pad,
                       (top - y0) * scale + pad)
                draw.rectangle(box, fill=colour)
                pixels.append(box)
        image = Image.alpha_composite(image, overlay).convert("RGB")
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=False)
        return PageImage(out.getvalue(), image.width, image.height, marked_runs, runs, pixels)
    finally:
        pdf.close()



def closeup(image: PageImage, margin_px: int = 18, context_px: int = 48) -> bytes | None:
    """The marked part of a rendered page, cropped to the passage's lines (a little context above
    and below): shown at the viewer's width its text is read at about the size of the page's own
    type, where the whole page would be too small beside the answers. None when nothing was marked."""
    from PIL import Image

    if not image.boxes:
        return None
    x0 = max(0, int(min(b[0] for b in image.boxes)) - margin_px)
    x1 = min(image.width, int(max(b[2] for b in image.boxes)) + margin_px)
    y0 = max(0, int(min(b[1] for b in image.boxes)) - context_px)
    y1 = min(image.height, int(max(b[3] for b in image.boxes)) + context_px)
    if x1 - x0 < 40 or y1 - y0 < 20:
        return None
    page = Image.open(io.BytesIO(image.png))
    out = io.BytesIO()
    page.crop((x0, y0, x1, y1)).save(out, format="PNG")
    return out.getvalue()
