"""Glyph names as a second opinion on a PDF font's Unicode map.

A PDF font says what its glyphs mean twice: by glyph name (the /Encoding and its
/Differences, e.g. ``/fi``, ``/f_i``, ``/T_h``, ``/uni00E9``) and by an optional /ToUnicode
map. Readers (pypdf, pdfminer, pdfium, poppler) trust /ToUnicode. Some producers write it
wrong in two recognisable ways, and then a quote comes out garbled:

* a ligature mapped to its last letter only (``/fi`` -> "i", ``/T_h`` -> "h"), so "definition"
  reads "deinition" and "The" reads "he" (the CDC MMWR files);
* a letter mapped to the other case (``/T`` -> "t"), so "TABLE" reads "tABLE".

`repair_font_map` corrects exactly those codes, and codes whose Unicode is missing, from
the glyph name read by the Adobe Glyph List rules (fontTools.agl: ``f_i``-style ligature
names, ``uniXXXX``/``uXXXXX``, ``.suffix`` variants). Any other disagreement keeps
/ToUnicode, which is usually the better source (symbol fonts name glyphs privately).

CID-keyed fonts have no glyph names; there a ligature cut to its last letter shows as a
second code mapped to the same letter but about twice as wide, and the glyph widths tell
which ligature it is ("fi" is as wide as "f" + "i").
"""
from __future__ import annotations

import unicodedata
from typing import Any

from fontTools import agl

# Where repaired codes live in pypdf's decoding tables: a private-use plane no font uses,
# so an entry can never collide with a real character of the font.
_PRIVATE_BASE = 0xF0000
_LATIN_BASE_ENCODINGS = {"/StandardEncoding", "/WinAnsiEncoding", "/MacRomanEncoding", "/PDFDocEncoding"}
_SYMBOLIC = 1 << 2
# a ligature whose Unicode map kept only its last letter: that letter -> what it may stand for
_LIGATURE_ENDINGS = {"i": ("fi", "ffi"), "l": ("fl", "ffl"), "f": ("ff",), "h": ("Th", "th"), "t": ("ft", "st")}
_LIGATURE_WIDTH_TOLERANCE = 0.15  # |glyph width - sum of the letters' widths| / glyph width


def glyph_names(font_dict: Any) -> dict[int, str]:
    """Code -> glyph name from a simple font's /Encoding /Differences (names without '/')."""
    encoding = _resolved(font_dict.get("/Encoding"))
    differences = _resolved(encoding.get("/Differences")) if hasattr(encoding, "get") else None
    names: dict[int, str] = {}
    code = 0
    for item in differences or []:
        item = _resolved(item)
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            code = int(item)
        elif isinstance(item, str):
            if 0 <= code <= 255:
                names[code] = item.lstrip("/")
            code += 1
    return names


def glyph_text(name: str) -> str:
    """Unicode text of a glyph name by the Adobe Glyph List rules, NFKC-normalised; "" when
    the name says nothing (``g123``, ``cid12``) or only a private-use code point."""
    try:
        text = agl.toUnicode(name)
    except (ValueError, OverflowError):
        return ""
    if not text or any(unicodedata.category(c) in ("Co", "Cs", "Cc") for c in text):
        return ""
    return unicodedata.normalize("NFKC", text)


def better_text(named: str, mapped: str | None) -> bool:
    """Whether the glyph name's text should replace what /ToUnicode says for one code."""
    if not named:
        return False
    if not mapped or mapped == "\ufffd" or all(unicodedata.category(c) in ("Cc", "Co") for c in mapped):
        return True
    mapped = unicodedata.normalize("NFKC", mapped)
    if mapped == named:
        return False
    if len(named) > 1 and len(mapped) < len(named) and mapped in named:
        return True  # a ligature cut to its last letter(s)
    return len(named) == 1 and mapped.swapcase() == named and named.isalpha()


def repair_font_map(font_dict: Any, font: Any) -> int:
    """Fix a pypdf ``Font``'s decoding tables in place for a simple (one-byte) font.

    `font.encoding` maps a code to a character and `font.character_map` that character
    to text (pypdf's TextStateParams reads them in that order). A repaired code is sent
    to a private-use character whose text is the glyph name's. Returns how many codes
    were repaired.
    """
    if not isinstance(font.encoding, dict):
        return _repair_by_width(font)  # composite (CID) fonts: no glyph names to read
    names = dict(glyph_names(font_dict))
    if _latin_letters_by_position(font_dict):
        for code in (*range(0x41, 0x5B), *range(0x61, 0x7B)):
            names.setdefault(code, chr(code))  # a letter of the base encoding is named by itself
    repaired = 0
    for code, name in names.items():
        named = glyph_text(name)
        current = font.encoding.get(code, chr(code))
        mapped = font.character_map.get(current, current)
        if isinstance(mapped, str) and mapped.startswith("/") and len(mapped) > 1:
            mapped = None  # pypdf keeps a glyph name it could not read as the "text"
        if (mapped is None or isinstance(mapped, str)) and better_text(named, mapped):
            private = chr(_PRIVATE_BASE + code)
            font.encoding[code] = private
            font.character_map[private] = named
            repaired += 1
    return repaired


def _repair_by_width(font: Any) -> int:
    """Codes mapped to one of the letters ligatures end in, but much wider than the plain
    letter, get the ligature their width matches (within 15%); the rest are left alone."""
    widths = font.character_widths
    narrowest: dict[str, float] = {}
    for code, text in font.character_map.items():
        width = widths.get(code, 0)
        if isinstance(text, str) and len(text) == 1 and isinstance(width, (int, float)) and width > 0:
            narrowest[text] = min(width, narrowest.get(text, width))
    repaired = 0
    for code, text in list(font.character_map.items()):
        width = widths.get(code, 0)
        if text not in _LIGATURE_ENDINGS or not isinstance(width, (int, float)) or width < 1.4 * narrowest[text]:
            continue
        fits = []
        for ligature in _LIGATURE_ENDINGS[text]:
            if all(letter in narrowest for letter in ligature):
                error = abs(width - sum(narrowest[letter] for letter in ligature)) / width
                fits.append((error, ligature))
        if fits and min(fits)[0] <= _LIGATURE_WIDTH_TOLERANCE:
            font.character_map[code] = min(fits)[1]
            repaired += 1
    return repaired


def _latin_letters_by_position(font_dict: Any) -> bool:
    """Whether codes 0x41-0x5A and 0x61-0x7A are the letters A-Z, a-z by the font's own
    declaration: a standard Latin base encoding, which a Type 1 font always follows and a
    TrueType font only when it is not flagged symbolic (PDF 32000-1, 9.6.6)."""
    encoding = _resolved(font_dict.get("/Encoding"))
    base = encoding if isinstance(encoding, str) else (
        _resolved(encoding.get("/BaseEncoding")) if hasattr(encoding, "get") else None)
    if base not in _LATIN_BASE_ENCODINGS:
        return False
    if _resolved(font_dict.get("/Subtype")) in ("/Type1", "/MMType1"):
        return True
    descriptor = _resolved(font_dict.get("/FontDescriptor"))
    flags = _resolved(descriptor.get("/Flags")) if hasattr(descriptor, "get") else None
    return isinstance(flags, int) and not flags & _SYMBOLIC


def _resolved(value: Any) -> Any:
    try:
        return value.get_object() if value is not None and hasattr(value, "get_object") else value
    except Exception:  # noqa: BLE001 - a broken reference reads as missing
        return None
