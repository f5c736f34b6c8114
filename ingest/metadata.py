"""Document metadata: the folder's sidecar file wins, then what the file says, then its name.

The sidecar is `metadata.json` beside the documents, keyed by file name:

    {"report.pdf": {"title": "...", "publisher": "...", "year": 2020, "type": "policy brief",
                    "url": "https://...", "states": ["MA", "Rhode Island"]}}

A field left out or empty falls back to what extraction found (PDF metadata, HTML meta
tags, the first heading) and, for the title, to the file name. Every field is checked: a
value of the wrong type or out of range, or text holding control characters (a NUL, which
PostgreSQL refuses in text), is left out with a warning for that file, so one bad entry never
stops an ingest; a file that is not JSON, or nested too deeply to read, is one warning.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from kb.states import code_of

SIDECAR_NAME = "metadata.json"
TEXT_FIELDS = ("title", "publisher", "type")
MAX_TEXT = 500
YEARS = (1800, 2100)


class SidecarError(ValueError):
    """The sidecar file as a whole cannot be used (not JSON, not an object)."""


@dataclass
class SidecarEntry:
    values: dict = field(default_factory=dict)  # title, publisher, year, type, url, states
    problems: list[str] = field(default_factory=list)  # one line per field left out


def sidecar_for(path: Path) -> SidecarEntry:
    """The checked sidecar entry for a file (empty when there is none)."""
    sidecar = path.parent / SIDECAR_NAME
    if not sidecar.is_file():
        return SidecarEntry()
    st = sidecar.stat()
    entries = _load(str(sidecar), st.st_mtime_ns, st.st_size)
    return entries.get(path.name, SidecarEntry())


@lru_cache(maxsize=64)
def _load(sidecar: str, _mtime_ns: int, _size: int) -> dict[str, SidecarEntry]:
    data = read_sidecar(Path(sidecar))
    return {str(name): check_entry(entry) for name, entry in data.items()}


def read_sidecar(sidecar: Path) -> dict:
    """The sidecar's JSON object, or SidecarError with a one-line reason (ingest and the
    Library's editor read it here)."""
    try:
        data = json.loads(Path(sidecar).read_text(encoding="utf-8"), parse_constant=_no_constant)
    except RecursionError:  # json has no depth limit of its own: Python's stack is the limit
        raise SidecarError(f"{sidecar} is nested too deeply to read (entries are one level of fields); fix it to "
                           "apply its metadata") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SidecarError(f"{sidecar} is not valid JSON ({exc}); fix it to apply its metadata") from None
    if not isinstance(data, dict):
        raise SidecarError(f"{sidecar} must hold an object keyed by file name")
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def check_entry(entry) -> SidecarEntry:
    out = SidecarEntry()
    if not isinstance(entry, dict):
        out.problems.append("its metadata.json entry is not an object; ignored")
        return out
    for key in TEXT_FIELDS:
        value = entry.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            out.problems.append(f"metadata.json: {key} must be text of at most {MAX_TEXT} characters; ignored")
            continue
        if _unprintable(value):
            out.problems.append(f"metadata.json: {key} holds {_unprintable(value)}; ignored")
            continue
        out.values[key] = " ".join(value.split())
    if entry.get("year") not in (None, ""):
        year = _year(entry["year"])
        if year is None:
            out.problems.append(f"metadata.json: year must be a whole number from {YEARS[0]} to {YEARS[1]}; ignored")
        else:
            out.values["year"] = year
    if entry.get("url") not in (None, ""):
        url = entry["url"]
        if isinstance(url, str) and _unprintable(url):
            out.problems.append(f"metadata.json: url holds {_unprintable(url)}; ignored")
        elif isinstance(url, str) and re.match(r"https?://[^\s]+$", url.strip()):
            out.values["url"] = url.strip()
        else:
            out.problems.append("metadata.json: url must be an http(s) address; ignored")
    raw_states = entry.get("states", entry.get("state"))
    if raw_states not in (None, "", []):
        items = raw_states.split(",") if isinstance(raw_states, str) else raw_states
        codes = [code_of(s) for s in items] if isinstance(items, list) and all(isinstance(s, str) for s in items) \
            else [None]
        if None in codes:
            out.problems.append("metadata.json: states must be US state names or two-letter codes; ignored")
        else:
            out.values["states"] = tuple(sorted(set(codes)))
    return out


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls and DEL; tab and line breaks are spaces
SURROGATE = re.compile(r"[\ud800-\udfff]")  # half of a UTF-16 pair ("\ud800" in JSON): not text


def _unprintable(value: str) -> str | None:
    """What in `value` cannot be stored as text (None when nothing): PostgreSQL refuses NUL,
    and no database can encode half a surrogate pair."""
    found = CONTROL.search(value)
    if found:
        return f"a control character (U+{ord(found.group()):04X})"
    if SURROGATE.search(value):
        return "half of a UTF-16 surrogate pair, which is not text"
    return None


def _year(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and YEARS[0] <= value <= YEARS[1]:
        return value
    return None


def title_from_name(path: Path) -> str:
    stem = re.sub(r"[_\-]+", " ", path.stem).strip()
    return stem[:1].upper() + stem[1:] if stem else path.name


def resolve(path: Path, extracted_title: str | None, extracted_publisher: str | None,
            extracted_year: int | None, sidecar: dict) -> dict:
    return {
        "title": sidecar.get("title") or extracted_title or title_from_name(path),
        "publisher": sidecar.get("publisher") or extracted_publisher,
        "year": sidecar.get("year") or extracted_year,
        "doc_type": sidecar.get("type"),
        "url": sidecar.get("url"),
        "states": sidecar.get("states"),
    }


# ---- who published it: an organisation, never a person ----------------------------------------

# Words that make a name an organisation's ("Department of ...", "... Agency", "State of ...").
ORGANISATION_WORDS = re.compile(
    r"\b(?:department|dept|agency|office|division|bureau|administration|authority|commission|council|board|"
    r"cent(?:er|re)|institute|association|alliance|coalition|foundation|university|college|school|services?|"
    r"program(?:me)?|network|partnership|society|committee|ministry|government|county|city|state|commonwealth|"
    r"health|hospital|inc|llc|ltd|corp(?:oration)?|company|trust|fund|initiative|collaborative|project|league|"
    r"federation|consortium|cabinet|secretariat|district|court|legislature|assembly|library|clinic|academy|"
    r"governor|territory|tribe|nation|children|families|education)\b", re.I)
# What a name field holds when it is nobody's: placeholder authors and the Company an
# installation or a computer maker leaves in every file.
PLACEHOLDER_NAMES = {"python-docx", "microsoft office user", "windows user", "user", "admin", "administrator",
                     "author", "owner", "unknown", "office", "microsoft", "microsoft corporation", "home", "hp",
                     "hewlett-packard", "hewlett-packard company", "dell", "dell inc.", "lenovo", "toshiba",
                     "personal", "private", "company", "n/a", "na", "none", "-", "."}


def looks_like_organisation(name: str | None) -> bool:
    """Whether a name reads as an agency or other organisation ("Oregon Health Authority",
    "State of Michigan"), not a person ("Smith, Jane") or a user name ("smithj")."""
    value = " ".join((name or "").split())
    if not value or value.casefold() in PLACEHOLDER_NAMES or len(value) > 150:
        return False
    return bool(ORGANISATION_WORDS.search(value))


def organisation_or_none(name: str | None) -> str | None:
    """The name when it is an organisation's, else None: a publisher is never a person."""
    value = " ".join((name or "").split())
    return value if looks_like_organisation(value) else None


# ---- dates a document prints -------------------------------------------------------------------

MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# "March 5, 2019", "Mar. 2019", "5 March 2019", "3/5/2019", "2019-03-05", "Fall 2020"
DATE = (rf"(?:{MONTH}\s+(?:\d{{1,2}}(?:st|nd|rd|th)?,?\s+)?(?:19|20)\d\d|\d{{1,2}}\s+{MONTH},?\s+(?:19|20)\d\d"
        r"|\d{1,2}/\d{1,2}/(?:19|20)?\d\d|(?:19|20)\d\d-\d{1,2}-\d{1,2}|(?:spring|summer|fall|autumn|winter)\s+(?:19|20)\d\d)")
DATE_ONLY = re.compile(rf"\s*(?:{DATE}|(?:19|20)\d\d)\s*", re.I)


def parse_date(printed: str):
    """A printed date as a datetime.date (a month or season alone: its first day), or None
    when it is no date or lies outside 1950 to next year."""
    from datetime import date, datetime

    from dateutil import parser as dateparser

    text = re.sub(r"^(?:spring|summer|fall|autumn|winter)\s+", "", printed.strip(), flags=re.I)
    if re.fullmatch(r"(?:19|20)\d\d", text):
        value = datetime(int(text), 1, 1)
    else:
        try:
            value = dateparser.parse(text, default=datetime(2000, 1, 1))
        except (ValueError, OverflowError):
            return None
    if not 1950 <= value.year <= date.today().year + 1:
        return None
    return date(value.year, value.month, value.day)


def has_day(printed: str) -> bool:
    """Whether a printed date names the day, not only the month or year."""
    return bool(re.search(r"\d{1,2}(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d|\d\s*/\s*\d|\d-\d{1,2}-\d|\d{1,2}\s+[a-z]", printed, re.I))


AGENCY_WORDS = re.compile(
    r"\b(?:department|dept|agency|office|division|bureau|administration|authority|commission|council|board|ministry|"
    r"government|county|city\s+of|state\s+of|commonwealth|association|alliance|coalition|institute|foundation|"
    r"university|college|cent(?:er|re))\b", re.I)


def names_an_agency(name: str | None) -> bool:
    """Whether a short name is an agency's or another body's ("Oregon Department of Human
    Services", "Lakeshore County Public Health"): stricter than looks_like_organisation, whose
    words ("health", "services") are also the words of page titles."""
    value = " ".join((name or "").split())
    return bool(value) and len(value.split()) <= 12 and looks_like_organisation(value) and \
        bool(AGENCY_WORDS.search(value))
