"""US states, D.C. and territories: the names people write, the codes filters use, and finding
them in text ("what do other states do?").

Names are found anywhere as whole words. Two-letter codes are found only where they cannot
be something else: after a city and a comma ("Boston, MA"), or before a ZIP code
("MA 02108"). A bare "MA", "IN" or "OR" is too often a degree, a preposition or a
conjunction to mean a state.
"""
from __future__ import annotations

import re

STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California", "CO": "Colorado",
    "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa", "KS": "Kansas",
    "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan",
    "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York", "NC": "North Carolina",
    "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas",
    "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin",
    "WY": "Wyoming", "PR": "Puerto Rico", "GU": "Guam", "VI": "U.S. Virgin Islands", "AS": "American Samoa",
    "MP": "Northern Mariana Islands",
}
OTHER_NAMES = {"Washington, D.C.": "DC", "Washington, DC": "DC", "Washington D.C.": "DC", "D.C.": "DC",
               "Virgin Islands": "VI", "Commonwealth of Massachusetts": "MA", "Washington State": "WA",
               "State of Washington": "WA"}
_BY_NAME = {name.lower(): code for code, name in STATES.items()} | {k.lower(): v for k, v in OTHER_NAMES.items()}
# Longest names first, so "West Virginia" is not read as "Virginia" and "Washington, D.C." not as "Washington".
_NAMES = re.compile(r"(?<![\w.])(" + "|".join(re.escape(n) for n in sorted(_BY_NAME, key=len, reverse=True))
                    + r")(?![\w])", re.IGNORECASE)
_CODES = "|".join(STATES)
_CODE_IN_ADDRESS = re.compile(rf"(?<=[a-z]), ({_CODES})(?=[\s.,;)]|$)|\b({_CODES}) \d{{5}}\b")


def code_of(value: str) -> str | None:
    """'MA', 'ma', 'Massachusetts' -> 'MA'; None for anything else."""
    value = " ".join(str(value).split())
    if value.upper() in STATES:
        return value.upper()
    return _BY_NAME.get(value.lower())


def name_of(code: str) -> str:
    return STATES.get(code.upper(), code)


def _named(text: str):
    """(code, (start, end)) for each place the text names a state: a name capitalised as names
    are ("new york" in running lower-case text does not count, "New York" does), or a code in
    an address ("Boston, MA")."""
    for m in _NAMES.finditer(text):
        if all(w[:1].isupper() or w.lower() in ("of",) for w in m.group(1).split()):
            yield _BY_NAME[m.group(1).lower()], m.span(1)
    for m in _CODE_IN_ADDRESS.finditer(text):
        group = 1 if m.group(1) else 2
        yield m.group(group), m.span(group)


def in_text(text: str) -> tuple[str, ...]:
    """Codes of the states a text names, sorted."""
    return tuple(sorted({code for code, _ in _named(text)}))


def mentions(text: str, code: str) -> list[tuple[int, int]]:
    """(start, end) of each place `text` names the state `code`, as in_text finds them."""
    return sorted(span for named, span in _named(text) if named == code)


def without_names(text: str, keep: tuple[str, ...] = ()) -> str:
    """The text with the names of states not in `keep` (codes) blanked, so a word of a state's
    name is not read as the word alone ("Mexico" in "New Mexico", "Virginia" in "West Virginia")."""
    return _NAMES.sub(lambda m: m.group() if _BY_NAME[m.group(1).lower()] in keep else " ", text)
