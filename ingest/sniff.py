"""What bytes are, before any format reads them: content sniffing and text decoding."""
from __future__ import annotations

import codecs
import re

from kb.errors import ExtractionError

BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF8)
CONTROL = re.compile(r"[\x01-\x08\x0b\x0e-\x1f\x7f]")


def magic(data: bytes) -> str | None:
    """puremagic's best guess for binary content ('zip', 'png', ...), None for text-like content."""
    import puremagic

    try:
        guesses = puremagic.magic_string(data[:8192])
    except (puremagic.PureError, ValueError):
        guesses = []
    for g in guesses:
        mime = g.mime_type or ""
        if mime.startswith("message/") or mime == "application/mbox":
            continue  # their "signatures" are English words ("Article", "From ", "Subject:")
        if "html" in mime or g.extension in (".html", ".htm", ".xhtml"):
            return "html"
        if g.confidence >= 0.5 and mime and not mime.startswith("text/") and g.extension not in (".txt",):
            return (g.extension or mime).lstrip(".")
    return None


def looks_like_text(data: bytes) -> bool:
    if data.startswith(BOMS):
        return True
    sample = data[:65536]
    if not sample or utf16_without_bom(sample):
        return True
    if magic(data) not in (None, "html"):
        return False
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 0))
    nul = sample.count(0)
    return control / len(sample) < 0.05 and nul / len(sample) < 0.3


def utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 text has NUL in every other byte for ASCII characters."""
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def decode_text(data: bytes) -> tuple[str, list[str]]:
    """Bytes → str: BOMs and UTF-8 first, then charset detection; NUL and control characters dropped."""
    warnings = []
    for bom, codec in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
                       (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            text = data.decode(codec, errors="replace")
            break
    else:
        bomless = utf16_without_bom(data[:65536])
        if bomless:
            text = data.decode(bomless, errors="replace")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                from charset_normalizer import from_bytes

                matches = from_bytes(data)
                best = matches.best()
                if best is None:
                    raise ExtractionError("not a text file: no text encoding fits its bytes") from None
                # Short Latin-script texts fit several single-byte code pages equally well;
                # when Windows-1252 fits as well as the best guess, it is by far the likeliest.
                western = next((m for m in matches if m.encoding == "cp1252"), None)
                chosen = western if western is not None and western.chaos <= best.chaos + 0.01 else best
                text, encoding = str(chosen), chosen.encoding
                warnings.append(f"decoded as {encoding}")
    if "\x00" in text:
        warnings.append(f"removed {text.count(chr(0))} NUL characters")
        text = text.replace("\x00", "")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return CONTROL.sub("", text), warnings


# ---- text that is markup ----------------------------------------------------------------------

HTML_DOCUMENT = re.compile(r"\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)
HTML_BLOCK = re.compile(r"<(p|div|h[1-6]|ul|ol|li|table|tr|td|th|section|article|blockquote)\b[^>]*>.*?</\1\s*>",
                        re.I | re.S)
# Markdown that a reader would otherwise see raw: strong signals, each unlikely in plain text ...
MARKDOWN_STRONG = {
    "link": re.compile(r"(?<!!)\[[^\]\n]{1,200}\]\((?:#|https?://|/|\.{0,2}/?[\w\-]+\.\w{1,5}|mailto:)[^)\s]*\)"),
    "bold": re.compile(r"(?<![\w*])\*\*(?=\S)[^*\n]{1,300}(?<=\S)\*\*(?![\w*])|(?<!\w)__(?=\S)[^_\n]{1,300}(?<=\S)__(?!\w)"),
    "footnote": re.compile(r"\[\^[\w-]{1,20}\]"),
    "inline html": re.compile(r"<(sup|sub|br|em|strong|b|i|a|span)\b[^>]*/?>(?:[^<\n]{0,200}</\1>)?", re.I),
    "table": re.compile(r"^\|.+\|\s*\n\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)+\|?\s*$", re.M),
    "fence": re.compile(r"^```[^\n]*\n.*?^```\s*$", re.M | re.S),
    "headings": re.compile(r"(?:^#{1,6}[ \t]+[A-Z0-9][^\n]*\n(?:.*\n)*?){2}", re.M),  # two or more "# Heading" lines
}
# ... and weak ones, which count only beside a strong one.
MARKDOWN_WEAK = {
    "autolink": re.compile(r"<https?://[^>\s]+>"),  # plain-text mail writes addresses so too
    "heading": re.compile(r"^#{1,6}[ \t]+[A-Z0-9]", re.M),
    "rule": re.compile(r"^[ \t]*(?:-[ \t]*){3,}$|^[ \t]*(?:\*[ \t]*){3,}$", re.M),
    "escape": re.compile(r"\\[$*_#\[\]`]"),
}


def markup_of(text: str) -> str | None:
    """"html" or "markdown" when text (as a .txt file holds it: copied from a web page or
    exported by a tool) is clearly markup; None for plain text. A whole HTML document, or
    three or more HTML blocks from the very start, is HTML. Markdown needs two different
    signals, one of them strong (a link, **bold**, a [^1] note, inline HTML such as <sup>, a
    table, a code fence, several '#' headings): a URL (bare or <https://...>), a dash line or one
    '#' line leave plain text plain."""
    sample = text[:200_000]
    if HTML_DOCUMENT.match(sample):
        return "html"
    if sample.lstrip().startswith("<") and len(HTML_BLOCK.findall(sample)) >= 3:
        return "html"
    strong = {name for name, pattern in MARKDOWN_STRONG.items() if pattern.search(sample)}
    weak = {name for name, pattern in MARKDOWN_WEAK.items() if pattern.search(sample)}
    if strong and len(strong | weak) >= 2:
        return "markdown"
    return None
