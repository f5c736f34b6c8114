"""The best answer (kb/answer.py) and the abstention that reads the document (kb/abstain.py),
on real ingested documents with the real packaged model."""
from __future__ import annotations

import json

import pytest

from conftest import CORPUS
from kb import answer as answers
from kb.abstain import acronyms, document_tokens, judge
from kb.highlight import sentence_spans
from kb.models import Document


@pytest.mark.parametrize("question,kind", [
    ("How many states received grants in 2021?", "number"),
    ("What share of children were screened?", "number"),
    ("What was the age-adjusted death rate from stroke?", "number"),
    ("When does the AOA disagree alert appear?", "date"),
    ("In what year was the act signed?", "date"),
    ("Which states fund consultation through Medicaid?", "states"),
    ("Who evaluates the Boston Project LAUNCH work?", "who"),
    ("Which agency issued the guidance?", "who"),
    ("What is reflective supervision?", "definition"),
    ("What does DC:0-5 mean?", "definition"),
    ("What is the role of the lead agency in coordinating early intervention services across the state?", "fact"),
    ("Why did the program close?", "fact"),
])
def test_question_kinds(question, kind):
    assert answers.question_kind(question).kind == kind


def test_what_each_kind_needs():
    number, date = answers.QuestionKind("number"), answers.QuestionKind("date")
    assert answers.holds_kind("The program served 1,240 families.", number)
    assert answers.holds_kind("Twelve states took part.", number)
    assert not answers.holds_kind("The program began in 2019.", number)  # a year is no count
    assert answers.holds_kind("The program began in 2019.", date)
    assert answers.holds_kind("It ends on June 30.", date)
    assert not answers.holds_kind("It ends when funding stops.", date)
    assert answers.holds_kind("Oregon and Rhode Island pay for it.", answers.QuestionKind("states"))
    assert answers.holds_kind("Reflective supervision is a framework for practice.", answers.QuestionKind("definition"))


def test_a_run_in_heading_is_not_part_of_a_sentence():
    text = ("TITLE II: ONLINE COPYRIGHT INFRINGEMENT LIABILITY LIMITATION Title II of the DMCA adds a new "
            "section 512. NOTE: U.S. EPA staff wrote this.")
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Title II of the DMCA adds a new section 512.", "NOTE: U.S. EPA staff wrote this."]


def test_a_definition_question_is_answered_by_the_definition(corpus_searcher):
    answer = corpus_searcher.ask("What is reflective supervision?", k=5)
    assert answer.answered and answer.best is not None
    assert answer.best.text.startswith("Reflective supervision is a framework")
    # the card it comes from highlights the same sentence
    hit = answer.best.hit
    assert [hit.passage.text[s:e] for s, e in hit.highlights] == [hit.passage.text[s:e] for s, e in answer.best.spans]
    d = answer.to_dict()["best_answer"]
    assert d["text"] == answer.best.text and d["passage_id"] == hit.passage.id and d["rank"] == answer.best.rank
    assert d["citation"] == hit.citation and d["quote_citation"].startswith("“Reflective supervision is a framework")


def test_a_count_is_answered_by_the_sentence_with_the_number(tmp_path, run_ingest, searcher):
    doc = tmp_path / "cascadia-home-visiting.md"
    doc.write_text(
        "# Cascadia Home Visiting Annual Report\n\n## Families served\n\n"
        "The Cascadia home visiting program serves families across the state through nurse home visitors. "
        "In its third year the program reached 1,240 families in eleven counties. "
        "Home visiting program staff meet monthly with families to review goals.\n\n"
        "## Staff\n\nNurse home visitors hold a state license and complete reflective supervision training. "
        "Supervisors review each visitor's caseload every quarter.\n")
    run_ingest(doc)
    answer = searcher.ask("How many families did the Cascadia home visiting program serve?", k=3)
    # the sentence sharing most words with the question has no number; the answer holds the count
    assert answer.answered and "1,240 families" in answer.best.text
    assert answer.best.text != "The Cascadia home visiting program serves families across the state through nurse home visitors."


def test_a_count_that_no_passage_gives_is_not_answered(tmp_path, run_ingest, searcher):
    doc = tmp_path / "lakeside.md"
    doc.write_text(
        "# Lakeside Consultation Program\n\n## Consultants\n\n"
        "The Lakeside consultation program employs mental health consultants who visit child care centers. "
        "Consultants hold graduate degrees in social work, counseling or psychology and an infant mental "
        "health endorsement. They coach teachers on challenging behavior and support directors.\n")
    run_ingest(doc)
    counted = searcher.ask("How many consultants does the Lakeside consultation program employ?", k=3)
    assert not counted.answered and counted.best is None
    assert counted.reason == answers.LACKING_REASON["number"]
    described = searcher.ask("What degrees do Lakeside consultants hold?", k=3)
    assert described.answered and "graduate degrees" in described.best.text


def test_a_place_named_only_by_the_document_counts_as_found(tmp_path, run_ingest, searcher):
    doc = tmp_path / "vermont-consultation.md"
    doc.write_text(
        "# Vermont Early Childhood Mental Health Consultation Report\n\n## Reach\n\n"
        "In 2022 the consultation program reached 312 child care programs and 58 family child care homes. "
        "Consultants made 2,140 visits, most of them to infant and toddler classrooms.\n")
    run_ingest(doc)
    answer = searcher.ask("How many child care programs did Vermont's consultation program reach in 2022?", k=3)
    assert "Vermont" not in answer.hits[0].passage.text  # named only in the document's title
    assert answer.answered and "312 child care programs" in answer.best.text


def test_the_reason_names_the_missing_combination_not_a_term_shown(tmp_path, run_ingest, searcher):
    (tmp_path / "rhode-island.md").write_text(
        "# Consultation in Rhode Island\n\n## Funding\n\n"
        "Rhode Island funds early childhood mental health consultation through its child care development "
        "block grant and a state appropriation for consultation in child care.\n")
    (tmp_path / "oregon.md").write_text(
        "# Consultation in Oregon\n\n## Funding\n\n"
        "Oregon funds early childhood mental health consultation through Medicaid, billing consultation "
        "visits to Medicaid as a covered service for eligible children in child care.\n")
    run_ingest(tmp_path / "rhode-island.md", tmp_path / "oregon.md")
    answer = searcher.ask("Does Rhode Island fund consultation through Medicaid?", k=3)
    assert not answer.answered
    assert "“Rhode Island” together with “Medicaid”" in answer.reason
    shown = " ".join(h.passage.text for h in answer.hits)
    assert "Medicaid" in shown and "mentions “Medicaid”" not in answer.reason


def test_a_word_of_a_states_name_is_not_the_word_alone():
    from kb.models import Passage

    def passage(text):
        return Passage(1, 1, 0, None, None, 0, len(text), text)

    homes = passage("In New Mexico, 12 percent of homes lacked complete plumbing; Texas reported 9 percent.")
    assert judge("What share of homes in Mexico lack running water?", 0.6, [homes], {}).answered is False
    assert judge("What share of homes in New Mexico lack complete plumbing?", 0.6, [homes], {}).answered
    assert not judge("How many homes in Virginia lack plumbing?", 0.6,
                     [passage("West Virginia counted 4,100 homes without plumbing.")], {}).answered


def test_a_document_names_its_acronyms():
    epa = Document(1, "/x.pdf", "x.pdf", "", 0, 0, "Mercury Study Report to Congress", "U.S. Environmental "
                   "Protection Agency", 1997, None, None, states=("VT",))
    seen = document_tokens(epa, "What did the EPA find in Vermont?")
    assert {"epa", "vermont", "1997", "mercuri"} <= seen
    assert "vermont" not in document_tokens(epa, "What did the EPA find?")  # its states, only when asked by name
    assert "NCES" in acronyms("National Center for Education Statistics")
    assert "EU" in acronyms("European Union")
    assert judge("What did the EPA find about mercury?", 0.6, [], {}).reason  # no passages: a reason, not a crash


def test_kb_ask_json_has_the_best_answer(corpus_searcher, monkeypatch, tmp_path):
    """The CLI prints the same best answer the library chose."""
    from click.testing import CliRunner

    import cli

    kb = corpus_searcher.backend.root if hasattr(corpus_searcher.backend, "root") else None
    if kb is None:
        pytest.fail("LocalBackend has no root")
    result = CliRunner().invoke(cli.main, ["ask", "What is reflective supervision?", "--kb", str(kb), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["best_answer"]["text"].startswith("Reflective supervision is a framework")
    assert out["best_answer"]["passage_id"] in [p["passage_id"] for p in out["passages"]]
    text = CliRunner().invoke(cli.main, ["ask", "What is reflective supervision?", "--kb", str(kb)])
    assert text.output.startswith("Best answer") and "“Reflective supervision is a framework" in text.output


@pytest.fixture(scope="module")
def corpus_searcher(tmp_path_factory, embedder):
    from ingest.pipeline import ingest
    from kb.backends.local import LocalBackend
    from kb.config import load_settings
    from kb.search import Searcher

    kb = tmp_path_factory.mktemp("best") / "kb"
    ingest([CORPUS], load_settings(kb_dir=kb), embedder=embedder)
    return Searcher(LocalBackend(kb), embedder)
