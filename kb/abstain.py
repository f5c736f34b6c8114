"""Does the corpus answer the question? Three tests, all needed for "answered".

1. Topic: the best passage must be similar enough to the question (cosine). This
   separates off-topic questions ("how do I renew a passport"). A question word that
   occurs nowhere in the corpus raises the bar: the topic must then match clearly.
2. Specifics: a near-miss ("Kentucky's 2019 home-visiting budget") scores like a real
   question, because the topic matches. So the question's distinctive terms (names,
   places, years, numbers, codes, acronyms) must all appear together in one of the best
   passages (with its heading and its document's title, publisher and year).
3. Substance: that passage must hold a fair share of the question's other words,
   weighted by rarity ("Head Start performance standards for classroom ratios" finds
   "Head Start" but nothing about standards or ratios). Not asked when the topic match is
   strong and every named thing was found: a paraphrase shares few words but means the same.

Named things match across spellings: "U.S." = "US" = "United States" = "America(n)",
inflections and demonyms ("Indian" finds "India"), hyphenated compounds by their parts.

Thresholds are calibrated by bench/quality.py on the dev questions, bench/answerable.jsonl
and bench/unanswerable.jsonl.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import states as us_states
from .models import Document, Passage
from .tokens import normalise, stopwords, tokenize

MIN_COSINE = 0.30  # when the question names nothing specific, the topic test must carry it
MIN_COSINE_WITH_TERMS = 0.15  # named things found together are strong evidence on their own
# A question word the corpus never uses raises the bar, more for each such word. Calibrated
# on every question set together (bench/quality.py --set ...): answerable questions that use
# a word of their own ("planes" for "airplanes") sat at cosine >= 0.36, off-topic ones below.
MIN_COSINE_ABSENT_WORD = 0.34
ABSENT_WORD_STEP = 0.05
STRONG_COSINE = 0.50  # at this similarity, with every named thing found, the wording need not match
MIN_COVERAGE = 0.30
# Endings that turn a place into its people or adjective (India/Indian, America/Americans,
# Japan/Japanese, Israel/Israeli, Spain/Spanish), or a noun into its plural.
VARIANT_ENDINGS = ("n", "an", "ian", "ns", "ans", "ians", "ese", "i", "is", "ish", "s", "es")
US_SPELLINGS = ({"us"}, {"usa"}, {"america"}, {"american"}, {"unit", "state"})  # stemmed spellings of the U.S.
QUESTION_WORDS = {
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "is", "are", "was", "were", "do",
    "does", "did", "can", "could", "should", "would", "will", "has", "have", "had", "tell", "list", "name",
    "describe", "explain", "give", "show", "find", "according", "in", "under", "for", "the", "a", "an", "i",
}
TOKEN = re.compile(r"[\w§$][\w§$:./\-–'’]*\w|\w")


@dataclass
class Verdict:
    answered: bool
    reason: str | None
    missing: list[str]


def distinctive_terms(question: str) -> list[str]:
    """Names, places, years, numbers, codes and acronyms: what a passage must mention to
    answer this question rather than a neighbouring one."""
    terms = []
    words = TOKEN.findall(normalise(question))
    for i, raw in enumerate(words):
        word = raw.strip(".'’-–:")
        word = re.sub(r"['’]s$", "", word)
        if not word:
            continue
        has_digit = any(ch.isdigit() for ch in word)
        upper = sum(ch.isupper() for ch in word)
        acronym = upper >= 2 and upper >= len(re.sub(r"\W", "", word)) / 2
        proper = word[0].isupper() and i > 0 and word.lower() not in QUESTION_WORDS
        if has_digit or acronym or proper:
            if word.lower() not in QUESTION_WORDS:
                terms.append(word)
    return terms


def judge(question: str, best_cosine: float, passages: list[Passage], documents: dict[int, Document],
          idf: dict[str, float] | None = None, absent: list[str] = (), shown: list[Passage] = ()) -> Verdict:
    """`idf` weighs the question's tokens; `absent` lists those the corpus never uses.
    `passages` are the ones read for the answer, `shown` all those the reader will see (so a
    reason never calls a term missing that a shown passage holds).

    A term counts as found in the passage's own text or its document's names (document_tokens),
    not in the passages beside it: that was measured too (bench/quality.py, six sets) and let six
    more unanswerable questions through without answering one more answerable question."""
    if not passages:
        return Verdict(False, "The knowledge base has no passage to offer for this question.", [])
    terms = distinctive_terms(question)
    floor = MIN_COSINE_WITH_TERMS if terms else MIN_COSINE
    unknown = {t for t in absent if t.isalpha() and t not in stopwords()}
    if unknown:
        floor = max(floor, MIN_COSINE_ABSENT_WORD + ABSENT_WORD_STEP * (len(unknown) - 1))
    if best_cosine < floor:
        if unknown:
            named = [w for w in dict.fromkeys(TOKEN.findall(question)) if set(tokenize(w)) & unknown]
            listed = ", ".join(f"“{w.strip('.?!,;:')}”" for w in named)
            return Verdict(False, f"No document in the knowledge base mentions {listed}; the closest passages are "
                                  "shown, but they may not answer this question.", named)
        return Verdict(False, "No passage is about this question; the closest ones are shown for reference.", [])
    words = set(tokenize(question))
    weights = {t: (idf or {}).get(t, 1.0) for t in words}
    best_coverage = 0.0
    asked_states = us_states.in_text(question)
    by_document: dict[int | None, set[str]] = {}  # a document's names, read once for all its passages

    def seen_in(p: Passage) -> set[str]:
        if p.document_id not in by_document:
            by_document[p.document_id] = document_tokens(documents.get(p.document_id), question)
        return _passage_tokens(p, asked_states) | by_document[p.document_id]

    complete = False  # some passage names every term
    found_anywhere: set[str] = set()
    read = {p.id for p in passages}
    for p in passages:
        seen = seen_in(p)
        missing = [t for t in terms if not _found(t, seen)]
        found_anywhere |= {t for t in terms if t not in missing}
        if not missing:
            complete = True
            coverage = sum(w for t, w in weights.items() if t in seen) / (sum(weights.values()) or 1.0)
            best_coverage = max(best_coverage, coverage)
    if terms and not complete:
        for p in shown:  # a term a shown passage holds is not "mentioned by no passage"
            if p.id not in read:
                found_anywhere |= {t for t in terms if _found(t, seen_in(p))}
        absent_terms = [t for t in terms if t not in found_anywhere]
        if absent_terms:
            listed = " or ".join(f"“{t}”" for t in phrases(question, absent_terms))
            return Verdict(False, f"No matching passage mentions {listed}; the closest passages are shown, "
                                  "but they may not answer this question.", absent_terms)
        together = " together with ".join(f"“{t}”" for t in phrases(question, terms))
        return Verdict(False, f"No passage names {together}; the closest passages are shown, "
                              "but they may not answer this question.", list(terms))
    if words and best_coverage < MIN_COVERAGE and best_cosine < STRONG_COSINE:
        return Verdict(False, "The closest passages share little with this question; they are shown for "
                              "reference but probably do not answer it.", [])
    return Verdict(True, None, [])


def phrases(question: str, terms: list[str]) -> list[str]:
    """The terms as the question writes them, neighbours joined: "Rhode", "Island" -> "Rhode Island"."""
    wanted, out, run, last_end = set(terms), [], [], None
    text = normalise(question)
    for m in TOKEN.finditer(text):
        word = re.sub(r"['’]s$", "", m.group().strip(".'’-–:"))
        if word not in wanted:
            continue
        joined = run and last_end is not None and not text[last_end:m.start()].strip() and \
            not re.search(r"['’]s$", text[:last_end])
        if run and not joined:
            out.append(" ".join(run))
            run = []
        run.append(word)
        last_end = m.end()
    if run:
        out.append(" ".join(run))
    return list(dict.fromkeys(out)) or list(terms)


def _passage_tokens(p: Passage, asked_states: tuple[str, ...] = ()) -> set[str]:
    """A passage's words; a state's name counts only as the state the question names."""
    return set().union(*(tokenize(us_states.without_names(t, asked_states)) for t in (p.text, p.section or "", p.context or "")))


CAPITALISED_RUN = re.compile(r"(?:[A-Z][\w'’&-]*(?:\s+(?:of|for|and|on|the|&)\s+|\s+)?)+")


def document_tokens(doc: Document | None, question: str = "") -> set[str]:
    """What a document names about itself: its title, publisher, year, the states it is about,
    its address's host, its file name ("epa_mercury_ecorisk.pdf": files are named for what they
    are), and the acronyms of the names in its title and publisher ("EPA" for the
    Environmental Protection Agency's report), so a question naming them finds its passages."""
    if doc is None:
        return set()
    names = [x for x in (doc.title, doc.publisher) if x]
    # a state the document is about, when the question names it whole ("Mexico" is not New Mexico)
    named = set(us_states.in_text(question))
    parts = names + [str(doc.year or ""), " ".join(us_states.name_of(c) for c in doc.states if c in named),
                     re.sub(r"[_.\-]+", " ", doc.name.rsplit(".", 1)[0])]
    if doc.url:
        parts.append(re.sub(r"^\w+://(www\.)?|/.*$", "", doc.url).replace(".", " "))
    out = set(tokenize(" ".join(parts)))
    for name in names:
        out |= {a.lower() for a in acronyms(normalise(name))}
    return out


def acronyms(name: str) -> set[str]:
    """Initials of each run of capitalised words (function words skipped): the whole run when
    it has two or more words, and each stretch of three or more inside it."""
    out = set()
    for m in CAPITALISED_RUN.finditer(name):
        words = [w for w in re.split(r"\s+", m.group()) if w[:1].isupper()]
        initials = "".join(w[0] for w in words)
        if len(words) >= 2:
            out.add(initials)
        for size in range(3, len(words)):
            out |= {initials[i:i + size] for i in range(len(words) - size + 1)}
    return out


def _found(term: str, seen: set[str]) -> bool:
    tokens = tokenize(term)
    if not tokens:
        return True  # a stopword, e.g. "The"
    codes = [t for t in tokens if not t.isalnum()]
    if codes:  # a code matches whole ("dc:0-5"), or by all of its parts
        return any(c in seen for c in codes) or all(t in seen for t in tokens if t.isalnum())
    return all(_token_found(t, seen) for t in tokens)


def _token_found(token: str, seen: set[str]) -> bool:
    if token in seen:
        return True
    if {token} in US_SPELLINGS:
        return any(spelling <= seen for spelling in US_SPELLINGS)
    if token.isdigit() or len(token) < 4:
        return False
    return any(_variant(token, s) or _variant(s, token) for s in seen if s[:3] == token[:3])


def _variant(longer: str, shorter: str) -> bool:
    """`longer` is `shorter` with a demonym or plural ending ("indian" / "india")."""
    return len(shorter) >= 4 and longer.startswith(shorter) and longer[len(shorter):] in VARIANT_ENDINGS
