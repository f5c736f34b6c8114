"""The cell a question asks for, in a passage that is one row of a table.

Retrieval finds the row (its passage is indexed with each cell named by its column); this
picks the column from the question's words: the column names it shares most words with,
distinctive ones counting more ("Private Sale Handgun" over "Handgun" when the question says
private sale), a year the question names over the other years, "how many" over rates and a
rate or percentage over counts, and confidence intervals or margins of error only when asked.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .models import Passage, TableRow
from .tokens import tokenize

YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
COUNT_WORDS = {"no", "number", "count", "total", "totals", "n"}
RATE_WORDS = {"rate", "rates", "percent", "percentage", "share", "proportion", "ratio", "%"}
SPREAD_WORDS = {"ci", "confidence", "interval", "margin", "error", "se"}
# a confidence interval or range printed in parentheses, "(13.8–17.1)"; "(12.0)" alone is a percentage
INTERVAL = re.compile(r"^\(\s*[-–]?[\d.,]+\s*[-–]\s*[\d.,]+\s*\)$")
# a cell that is one figure: "$4,630,000", "(12.0)", "31.4%", "1,282.9", "*2,247"
FIGURE = re.compile(r"^[*†‡]*[(\[]?[-–+]?[$€£]?\s?\d[\d,]*(?:\.\d+)?\s?%?[)\]]?[*†‡]*$")
LETTER = re.compile(r"[^\W\d_]")
HOW_MANY = re.compile(r"\bhow many\b|\bnumber of\b|\bhow much\b", re.IGNORECASE)
ASKS_RATE = re.compile(r"\brate\b|\bpercent|\bshare\b|\bproportion\b|%", re.IGNORECASE)
ASKS_SPREAD = re.compile(r"confidence|margin of error|\bCI\b|standard error", re.IGNORECASE)


@dataclass(frozen=True)
class Cell:
    text: str  # as printed
    column: str  # its column's name ("" when the table names none)
    index: int  # position in the row
    span: tuple[int, int]  # where it stands in passage.text


def cell_spans(passage: Passage) -> list[tuple[int, int] | None]:
    """Where each cell of the row stands in the passage's text, in order (None for an empty
    cell); the text is the cells as printed, joined by spaces, after any group label."""
    row = passage.table
    if row is None:
        return []
    text = passage.text
    pos = 0
    spans: list[tuple[int, int] | None] = []
    for cell in row.cells:
        if not cell:
            spans.append(None)
            continue
        at = _find(text, cell, pos)
        if at is None:
            spans.append(None)
            continue
        spans.append(at)
        pos = at[1]
    return spans


def _find(text: str, cell: str, pos: int) -> tuple[int, int] | None:
    """The cell's words in the text from `pos`, standing alone (not part of a longer figure)."""
    pattern = r"\s+".join(re.escape(w) for w in cell.split())
    m = re.compile(rf"(?<![\w,.]){pattern}(?![\w]|[,.]\d)").search(text, pos)
    return (m.start(), m.end()) if m else None


def pick_cell(question: str, passage: Passage) -> Cell | None:
    """The cell of a table-row passage the question asks for; None for other passages, or
    when the row has no cell past its label."""
    row = passage.table
    if row is None or len(row.cells) < 2:
        return None
    spans = cell_spans(passage)
    choices = [i for i in range(1, len(row.cells)) if row.cells[i] and spans[i] is not None]
    if not choices:
        return None
    scores = column_scores(question, row, choices)
    best = max(choices, key=lambda i: (scores[i], -i))
    return Cell(row.cells[best], row.headers[best] if row.headers else "", best, spans[best])


def row_coverage(question: str, passage: Passage, idf: dict[str, float], title: str | None = None) -> float:
    """How much of the question (its words weighted by idf) the asked cell's description holds:
    the document's title, the passage's section, the table's caption, the row's group and label,
    and the asked column's name. A row indexed
    with every column named matches a question about any of them; this reads only the asked
    one, so "Black women aged 75–84 … stroke" fits the stroke table's Black column over a row of
    the same ages in the Hispanic table. 0.0 for other passages."""
    row = passage.table
    if row is None or not row.cells:
        return 0.0
    asked = set(tokenize(question))
    total = sum(idf.get(t, 0.0) for t in asked)
    if total <= 0:
        return 0.0
    cell = pick_cell(question, passage)
    described = " ".join(x for x in (title, passage.section, row.caption, row.group, row.cells[0],
                                      cell.column if cell else "") if x)
    return sum(idf.get(t, 0.0) for t in asked & set(tokenize(described))) / total


def column_scores(question: str, row: TableRow, choices: list[int]) -> dict[int, float]:
    asked = set(tokenize(question))
    years = set(YEAR.findall(question))
    headers = {i: set(tokenize(row.headers[i])) if row.headers else set() for i in choices}
    plain = {i: set(re.findall(r"[a-z]+|%", row.headers[i].lower())) if row.headers else set() for i in choices}
    # a word shared by many column names tells them apart less
    df: dict[str, int] = {}
    for words in headers.values():
        for t in words:
            df[t] = df.get(t, 0) + 1
    how_many, rate, wants_spread = bool(HOW_MANY.search(question)), bool(ASKS_RATE.search(question)), \
        bool(ASKS_SPREAD.search(question))
    scores = {}
    for i in choices:
        words = headers[i]
        name = row.headers[i] if row.headers else ""
        shared = asked & words
        score = sum(1.0 / df[t] for t in shared) + 0.5 * len(shared)
        score -= 0.1 * len(words - asked)  # a longer name that the question does not say
        named_years = set(YEAR.findall(name))
        if years and named_years:
            score += 2.0 if years & named_years else -2.0
        kinds = plain[i]
        is_spread = bool(kinds & SPREAD_WORDS) or bool(INTERVAL.match(row.cells[i]))
        cell_words = set(tokenize(row.cells[i])) if LETTER.search(row.cells[i]) else set()
        if cell_words and cell_words <= asked:  # the question states this cell ("per 15 minutes"): a given, not the answer
            score -= 2.0
        if (how_many or rate) and not FIGURE.match(row.cells[i]):  # a number is asked, and this cell is no figure
            score -= 1.0
        if is_spread != wants_spread:  # a confidence interval or margin of error only when asked for
            score -= 1.5
        if how_many and kinds & COUNT_WORDS:
            score += 0.75
        if rate and kinds & RATE_WORDS:
            score += 0.75
        if how_many and not rate and kinds & RATE_WORDS:
            score -= 0.5
        scores[i] = score
    return scores


# A question about a table's total row says so in other words: "national", "all states", "overall".
TOTAL_LABEL = re.compile(r"^\s*(?:totals?|all(?:\s+\w+)?|united states|u\.s\.|overall|national|nationwide)\b", re.IGNORECASE)
ASKS_TOTAL = re.compile(r"\b(?:totals?|all|national(?:ly)?|nationwide|overall|united states|u\.s\.|us|america|americans)\b",
                        re.IGNORECASE)


def names_row(question: str, passage: Passage) -> bool:
    """Whether the question names the row of a table-row passage: a word of its label is among
    the question's words, or the row is a total the question asks for ("national", "all states").
    Naming only its group ("women") names every row under it, so that weighs in `row_coverage`
    instead. Other passages: True."""
    row = passage.table
    if row is None or not row.cells:
        return True
    label = row.cells[0]
    if TOTAL_LABEL.match(row.cells[0]) and ASKS_TOTAL.search(question):
        return True
    return bool(set(tokenize(label)) & set(tokenize(question)))
