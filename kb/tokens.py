"""The library's tokenizer: what keyword search indexes, and what abstention and highlights
compare. Every backend scores BM25 over these tokens, so answers do not depend on the engine.

Policy text is full of codes ("DC:0-5", "34 CFR §303.321", "HB20-1053"): a code is kept
both whole ("dc:0-5") and as its parts ("dc", "0", "5"), so the exact code ranks highest
while a differently punctuated spelling still matches on its parts.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

WORD = re.compile(r"\w+", re.UNICODE)
DOTTED_ACRONYM = re.compile(r"(?<![\w.])(?:[A-Za-z]\.){2,}(?![\w])")  # U.S., D.C., U.S.C.
# A run of letters/digits joined by code punctuation, containing at least one digit.
CODE = re.compile(r"(?<![\w§])§?\w+(?:[-:./§–]\w+)+")
# A number printed with thousands separators ("15,300", "2,236,457"): one token, without its
# commas, so "$15,300" is not "15" and "300", and "264,140" matches "264140".
GROUPED_NUMBER = re.compile(r"(?<![\w,])\d{1,3}(?:,\d{3})+(?![\d]|,\d)")


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """bm25s's English list (NLTK's, plus a few), read from its module file: importing the
    bm25s package pulls in scipy (~0.25 s), which the query path otherwise never needs."""
    import importlib.util
    import sys

    if "bm25s" not in sys.modules:
        spec = importlib.util.find_spec("bm25s")  # locates the package without running it
        if spec and spec.submodule_search_locations:
            path = Path(next(iter(spec.submodule_search_locations))) / "stopwords.py"
            module_spec = importlib.util.spec_from_file_location("_bm25s_stopwords", path)
            if module_spec and module_spec.loader and path.is_file():
                module = importlib.util.module_from_spec(module_spec)
                module_spec.loader.exec_module(module)
                return frozenset(module.STOPWORDS_EN_PLUS)
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


def normalise(text: str) -> str:
    """Compatibility forms folded (ligatures, full-width letters: NFKC) and dotted acronyms
    closed up, so "U.S." matches "US" and "ﬁnancing" matches "financing"."""
    text = unicodedata.normalize("NFKC", text)
    return DOTTED_ACRONYM.sub(lambda m: m.group().replace(".", ""), text)


def tokenize(text: str) -> list[str]:
    """Lower-cased words minus stopwords, stemmed; plus whole codes that contain a digit."""
    low = GROUPED_NUMBER.sub(lambda m: m.group().replace(",", ""), normalise(text).lower())
    words = [w for w in WORD.findall(low) if w not in stopwords()]
    stemmed = _stemmer().stemWords(words)
    codes = [c.strip(".§").replace("–", "-") for c in CODE.findall(low)]
    return stemmed + [c for c in codes if any(ch.isdigit() for ch in c)]


def idf(df: int, n: int) -> float:
    """BM25 (Lucene) inverse document frequency: rare terms weigh more."""
    import math

    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def index_text(passage_text: str, section: str | None, context: str | None = None) -> str:
    """What keyword and dense search see: the passage under its heading (and the table header
    or list lead-in it continues), so a heading is searchable with every passage in its
    section. (Adding the document title as well measured worse on the dev set: it drowns
    short passages; see bench/quality.py.)"""
    text = f"{context} \n{passage_text}" if context else passage_text
    if section and not text.startswith(section):
        return f"{section} \n{text}"
    return text
