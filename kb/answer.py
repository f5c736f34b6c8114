"""The best answer: the sentence (or two adjacent sentences, or a list item) of the first
passages that answers the question, quoted verbatim.

The top passage is right more often than its first highlighted sentence is: a passage holds
several sentences that share the question's words, and the one that answers is the one that
says what was asked for. So each sentence and adjacent pair of the first `DEPTH` passages is
scored by meaning (its cosine to the question, the same window vectors the sentence focus
reads, cached), by the question's rare words it holds, by its passage's fused score, and by
whether it holds the kind of thing the question asks for (a number for "how many", a date
for "when", a definition for "what is X", states for "which states", an organisation for
"who"). Headings, bare addresses and footnote text are never the answer.

The weights were fitted on the gov, own, dev, answerable, answers-gov and answers-corpus
question sets together (bench/answer_weights.py) and checked on held-out sets (README).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from . import states as us_states
from .highlight import lexical_scores, quotable, sentence_spans, with_list
from .models import Hit
from .tokens import tokenize

DEPTH = 3  # passages whose sentences compete
COSINE_WEIGHT = 0.5  # times the window's cosine to the question
LEXICAL_WEIGHT = 0.25  # times the share of the question's (idf-weighted) terms a window holds
KIND_WEIGHT = 0.3  # a window that holds what the question asks for
RANK_WEIGHT = 0.5  # times its passage's fused score below the top passage's
PAIR_PENALTY = 0.0  # two sentences must beat one by this much (any penalty measured lower: 0.02 cost 5 of 173)
# Question kinds whose answer must hold such a thing: when none of the candidate sentences
# does, the knowledge base does not answer (kb/search.py's abstention).
REQUIRED_KINDS = ("number", "date", "states")
LACKING_REASON = {
    "number": "None of the closest passages gives a number for this question; they are shown for reference.",
    "date": "None of the closest passages gives a date for this question; they are shown for reference.",
    "states": "None of the closest passages names a state; they are shown for reference.",
}

_NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
                 "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred "
                 "thousand million billion trillion half third quarter dozen").split()
NUMBER = re.compile(r"\d|\b(?:" + "|".join(_NUMBER_WORDS) + r")s?\b", re.IGNORECASE)
YEAR = re.compile(r"\b(?:1[89]|20)\d{2}\b")
MONTH = re.compile(r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December|"
                   r"Jan\.|Feb\.|Mar\.|Apr\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)")
DATE = re.compile(YEAR.pattern + r"|" + MONTH.pattern + r"|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\bfiscal year\b", re.IGNORECASE)
ORGANISATION = re.compile(
    r"\b(?:Department|Office|Agency|Administration|Bureau|Center|Centers|Institute|Commission|Council|Board|"
    r"Service|Services|Association|Foundation|Division|Committee|Congress|Secretary|Court|Coalition|Alliance|"
    r"University|Authority|Program|Network|Partnership|Team)\b|\b[A-Z]{2,}[a-z]?\b")
DEFINITION = re.compile(r"\b(?:is|are|was|were)\s+(?:a|an|the|one|any|defined|described|known|understood|used)\b|"
                        r"\brefers?\s+to\b|\bdefined\s+as\b|\bmeans?\b|\bdenotes?\b|\bconsists?\s+of\b|"
                        r"\bis\s+when\b|\bdescribes?\b", re.IGNORECASE)

_AMOUNT_NOUNS = (r"number|percent|percentage|share|proportion|fraction|rate|amount|total|cost|ratio|fee|count|median|"
                 r"average|mean|maximum|minimum|limit|cap|size|budget|sum|figure|threshold|age|stipend|payment|"
                 r"charge|penalty|fine|salary|wage|price|score|level|most|least")
_KINDS = (
    ("states", re.compile(r"\b(?:which|what)\s+(?:u\.?s\.?\s+)?(?:\w+\s+)?(?:states|state)\b", re.IGNORECASE)),
    ("date", re.compile(r"^\s*(?:since\s+|until\s+|by\s+)?when\b|\b(?:what|which|in which|in what|by what)\s+"
                        r"(?:year|date|month|day)\b|\bby when\b|\b(?:deadline|due date|effective date)\b",
                        re.IGNORECASE)),
    ("definition", re.compile(r"\bwhat\s+counts\s+as\s+(?:an?\s+)?(?P<v>[^?]{2,60})", re.IGNORECASE)),
    ("number", re.compile(r"^\s*how\s+(?:many|much|long|often|large|big|old|high|low|far|common|quickly|fast|soon|"
                          r"frequently)\b|\bhow\s+(?:many|much)\b|"
                          r"\b(?:what|which)\s+(?:is|was|are|were)?\s*(?:the\s+)?(?:[\w-]+\s+){0,3}?"
                          rf"(?:{_AMOUNT_NOUNS})s?\b|\bwhat\s+(?:does|do|did)\b.*\b(?:pay|cost|charge)\b",
                          re.IGNORECASE)),
    ("who", re.compile(r"^\s*(?:by\s+)?who(?:m|se)?\b|\b(?:which|what)\s+(?:[\w-]+\s+)?(?:agency|agencies|"
                       r"organi[sz]ations?|office|department|body|bodies|entity|entities|person|people|group|committee|"
                       r"court|bureau|center|centre|program|university)\b", re.IGNORECASE)),
    ("definition", re.compile(r"^\s*(?:what\s+(?:is|are|was|were)\s+(?:meant\s+by\s+)?(?:an?\s+|the\s+)?(?P<x>[^?]{2,60})\??\s*$|"
                              r"what\s+does\s+(?P<y>[^?]{2,60})\s+mean|define\s+(?P<z>[^?]{2,60})|"
                              r"how\s+(?:does|do|did|is|are)\s+.{0,60}?\bdefined?\s+(?P<w>[^?]{2,60}))", re.IGNORECASE)),
)


@dataclass(frozen=True)
class QuestionKind:
    """What a question asks for; `subject` is the X of "what is X"."""

    kind: str  # number, date, states, who, definition, or fact
    subject: str | None = None


def question_kind(question: str) -> QuestionKind:
    for kind, pattern in _KINDS:
        m = pattern.search(question)
        if not m:
            continue
        if kind == "definition":
            subject = next(g for g in m.groups() if g)
            if len(subject.split()) > 6:  # "what is the role of … in …" asks for more than a definition
                continue
            return QuestionKind(kind, subject.strip(" .?"))
        return QuestionKind(kind)
    return QuestionKind("fact")


def holds_kind(text: str, kind: QuestionKind) -> bool:
    """Whether a sentence holds the kind of thing the question asks for."""
    if kind.kind == "number":
        return bool(NUMBER.search(YEAR.sub(" ", text)))  # a year alone is no count
    if kind.kind == "date":
        return bool(DATE.search(text))
    if kind.kind == "states":
        return bool(us_states.in_text(text))
    if kind.kind == "who":
        return bool(ORGANISATION.search(text))
    if kind.kind == "definition":  # a definition sentence, of the subject when the question names one
        if not DEFINITION.search(text):
            return False
        if not kind.subject:
            return True
        subject = set(tokenize(kind.subject))
        return len(subject & set(tokenize(text))) >= max(1, len(subject) // 2)
    return False


@dataclass
class Candidate:
    rank: int  # 1-based, of the passage
    spans: tuple[tuple[int, int], ...]
    text: str
    cosine: float
    lexical: float
    kind: bool
    behind: float  # the passage's fused score below the top passage's (>= 0)
    sentences: int = 1  # a pair of adjacent sentences: 2

    def score(self, cosine_weight: float = COSINE_WEIGHT, lexical_weight: float = LEXICAL_WEIGHT,
              kind_weight: float = KIND_WEIGHT, rank_weight: float = RANK_WEIGHT, pair_penalty: float = PAIR_PENALTY
              ) -> float:
        return (cosine_weight * self.cosine + lexical_weight * self.lexical + kind_weight * self.kind - rank_weight * self.behind
                - pair_penalty * (self.sentences - 1))


def candidates(question: str, hits: list[Hit], cosines: list[np.ndarray], window_spans: list[list],
               idf: dict[str, float] | None = None) -> list[Candidate]:
    """Every quotable window of the first passages, with what its score is made of.
    `cosines[i]` and `window_spans[i]` are hit i's windows (kb/focus.py)."""
    kind = question_kind(question)
    top = hits[0].score if hits else 0.0
    out: list[Candidate] = []
    for rank, (hit, sims, groups) in enumerate(zip(hits, cosines, window_spans), 1):
        text = hit.passage.text
        # a window that introduces a list ("… six areas of consideration:") is quoted with the list
        sizes = [len(g) for g in groups]
        sentences = sentence_spans(text, hit.passage.section, hit.passage.footnote)
        groups = [tuple(with_list(list(g), sentences, text)) for g in groups]
        pieces = [" ".join(text[s:e].strip() for s, e in group) for group in groups]
        lexical = lexical_scores(question, pieces, idf)
        for group, piece, sim, lex, size in zip(groups, pieces, sims, lexical, sizes):
            if not all(quotable(text[s:e]) for s, e in group):
                continue
            out.append(Candidate(rank, tuple(group), piece, float(sim), float(lex), holds_kind(piece, kind),
                                 max(0.0, top - hit.score), size))
    return out


def lacks_asked_kind(question: str, pool: list[Candidate]) -> str | None:
    """The kind the question asks for when it is one no candidate sentence holds, else None."""
    kind = question_kind(question)
    if kind.kind in REQUIRED_KINDS and pool and not any(c.kind for c in pool):
        return kind.kind
    return None
