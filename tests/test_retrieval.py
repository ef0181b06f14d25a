"""Retrieval: hybrid fusion finds the right article, filters restrict it, English questions work."""

from __future__ import annotations

import pytest

from qa.answer.extraction import coverage
from qa.answer.retrieve import Filters, merge_parts, retrieve
from qa.answer.settings import RetrievalSettings
from qa.records import Chunk, Hit


def _titles(service, hits) -> list[str]:
    return [service.article(h.chunk.article_id).text for h in hits]


def test_hits_come_best_first(service):
    hits = retrieve(service.index, service.embedder, "魏都区把社区划分为多少个网格？", k=5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_top_hit_holds_the_answer(service):
    hits = retrieve(service.index, service.embedder, "豫浙合作项目签约仪式在哪里举行？", k=3)
    assert "杭州" in hits[0].chunk.text


@pytest.mark.parametrize("fusion", ["weighted", "rrf"])
def test_both_fusions_find_the_answer_in_the_top_three(service, fusion):
    settings = RetrievalSettings(fusion=fusion)
    hits = retrieve(service.index, service.embedder, "市中心医院院士工作站由谁揭牌？", k=3, settings=settings)
    assert any("揭牌" in h.chunk.text for h in hits)


def test_unknown_fusion_is_refused():
    with pytest.raises(ValueError, match="fusion"):
        RetrievalSettings(fusion="max")


def test_settings_refuse_an_unknown_step_and_a_pool_of_zero():
    with pytest.raises(ValueError, match="step"):
        RetrievalSettings(steps=("sentence", "magic"))
    with pytest.raises(ValueError, match="step"):
        RetrievalSettings().without("magic")
    with pytest.raises(ValueError, match="candidates"):
        RetrievalSettings(candidates=0)


def test_without_turns_off_only_the_named_steps():
    assert RetrievalSettings().without("vote", "hedge").steps == ("sentence", "year", "typed", "agreement")


def test_k_must_be_positive(service):
    with pytest.raises(ValueError):
        retrieve(service.index, service.embedder, "许昌", k=0)


def test_hits_record_both_retrievers(service):
    hits = retrieve(service.index, service.embedder, "魏都区委书记是谁？", k=5)
    assert any(h.dense_rank is not None for h in hits) and any(h.lexical_rank is not None for h in hits)
    assert all(h.dense_score is not None for h in hits)


def test_english_question_finds_the_chinese_passage(service):
    hits = retrieve(
        service.index,
        service.embedder,
        "Into how many grids are the communities of Weidu District divided?",
        k=5,
    )
    assert any("620" in h.chunk.text for h in hits)


def test_date_filter_keeps_only_articles_in_range(service):
    dated = sorted({a.date for a in service.index.articles.values() if a.date})
    year = dated[-1][:4]
    hits = retrieve(
        service.index, service.embedder, "会议", k=5, filters=Filters(date_from=year, date_to=year)
    )
    assert hits and all(service.article(h.chunk.article_id).date.startswith(year) for h in hits)


def test_source_filter_keeps_only_that_page(service):
    source = sorted({a.source for a in service.index.articles.values()})[0]
    hits = retrieve(service.index, service.embedder, "许昌", k=5, filters=Filters(source=source))
    assert hits and all(service.article(h.chunk.article_id).source == source for h in hits)


def test_filter_that_matches_nothing_returns_no_hits(service):
    assert (
        retrieve(
            service.index, service.embedder, "许昌", k=5, filters=Filters(date_from="1990", date_to="1990")
        )
        == []
    )


def test_filter_refuses_a_date_that_is_not_iso():
    with pytest.raises(ValueError, match="date_from"):
        Filters(date_from="19/11/2020")


def test_partial_dates_overlap_their_whole_period():
    from qa.records import Article

    article = Article(id="a", title="", text="", date="2019-11")
    assert Filters(date_from="2019-11-14", date_to="2019-11-14").allows(article)
    assert not Filters(date_from="2019-12").allows(article)


def test_coverage_counts_the_papers_own_name_for_its_city_from_the_corpus_aliases():
    aliases = {"许昌": ("我市", "本市")}
    assert coverage("我市有2个案例获奖", {"许昌": 1.0, "案例": 1.0}, aliases) == 1.0
    assert coverage("我市有2个案例获奖", {"许昌": 1.0, "案例": 1.0}) == 0.5


def test_chunk_stating_the_asked_number_outranks_same_topic_chunks(service):
    """Stage 2 looks for an answer of the asked type: without it a chunk that only shares words wins."""
    question = "许昌有几个案例获得全国城市基层党建创新案例奖？"
    evidence = "其中我市有2个案例获奖"
    typed = RetrievalSettings().without("agreement")  # the agreement stage alone also lifts it
    plain = retrieve(service.index, service.embedder, question, k=1, settings=typed.without("typed", "vote"))
    assert evidence not in plain[0].chunk.text.replace(" ", "")
    hits = retrieve(service.index, service.embedder, question, k=1, settings=typed)
    assert evidence in hits[0].chunk.text.replace(" ", "")


def test_typed_evidence_is_none_when_no_sentence_holds_the_asked_type(service):
    from qa.answer.rerank import question_terms, typed_evidence

    question = "新能源汽车推广了多少辆？"
    terms = question_terms(service.index, question)
    assert typed_evidence("我市高度重视新能源汽车推广工作，推广成效明显。", "number", question, terms) is None
    assert typed_evidence("截至10月底，全市累计推广新能源汽车3200辆。", "number", question, terms) is not None


def test_answer_votes_go_to_the_answer_most_good_passages_state():
    from qa.answer.rerank import answer_votes

    shares = answer_votes({0: "525起", 1: "525起", 2: "300起"}, {0: 1.0, 1: 0.8, 2: 1.2})
    assert shares[0] == shares[1] == pytest.approx(1.8 / 3.0)
    assert shares[2] == pytest.approx(1.2 / 3.0)


def test_answer_votes_of_candidates_with_no_positive_score_are_all_zero():
    from qa.answer.rerank import answer_votes

    assert answer_votes({0: "1", 1: "2"}, {0: -0.5, 1: 0.0}) == {0: 0.0, 1: 0.0}


def _rows_of_article(service, article_id: str) -> list[int]:
    return [row for row, chunk in enumerate(service.index.chunks) if chunk.article_id == article_id]


def test_agreement_scores_the_odd_passage_out_lowest(service):
    """Three chunks of one article share their words; a chunk of another article shares few of them."""
    from qa.answer.rerank import agreement

    by_article: dict[str, list[int]] = {}
    for row, chunk in enumerate(service.index.chunks):
        by_article.setdefault(chunk.article_id, []).append(row)
    long_article = next(rows for rows in by_article.values() if len(rows) >= 3)
    other = next(rows[0] for aid, rows in by_article.items() if rows is not long_article)
    rows = [*long_article[:3], other]
    scores = agreement(service.index, rows, "问题")
    assert scores.argmin() == 3
    assert float(scores.sum()) == pytest.approx(0.0, abs=1e-5)  # relative to the pool's average


def test_agreement_reads_the_same_with_or_without_stored_word_ids(service, monkeypatch):
    """An index built before word ids were stored falls back to tokenising the chunk text."""
    import numpy as np

    from qa.answer.rerank import agreement

    rows = list(range(min(20, len(service.index.chunks))))
    question = "魏都区把社区划分为多少个网格？"
    stored = agreement(service.index, rows, question)
    monkeypatch.setattr(service.index.lexical, "doc_words", None)
    assert np.allclose(stored, agreement(service.index, rows, question), atol=1e-6)


def test_passage_the_other_candidates_agree_with_comes_first(service):
    """Without the agreement stage this English question's first passage is another article's."""
    question = "Into how many grids are the communities of Weidu District divided?"
    plain_settings = RetrievalSettings().without("agreement")
    plain = retrieve(service.index, service.embedder, question, k=1, settings=plain_settings)
    assert "620个网格" not in plain[0].chunk.text.replace(" ", "")
    hits = retrieve(service.index, service.embedder, question, k=1)
    assert "620个网格" in hits[0].chunk.text.replace(" ", "")


def test_dense_first_choice_stays_in_the_top_five_whatever_stage_two_does(service):
    question = "豫浙合作项目签约仪式在哪里举行？"
    gone_wrong = RetrievalSettings(agreement_weight=-50.0)  # a stage 2 gone wrong
    unhedged = retrieve(service.index, service.embedder, question, k=10, settings=gone_wrong.without("hedge"))
    assert all(h.dense_rank != 0 for h in unhedged[:5])
    hits = retrieve(service.index, service.embedder, question, k=10, settings=gone_wrong)
    assert any(h.dense_rank == 0 for h in hits[:5])
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def _hit(name: str, score: float) -> Hit:
    return Hit(chunk=Chunk(id=name, article_id=name, start=0, end=1, text=name), score=score)


def test_the_rankings_of_the_whole_question_and_of_each_part_are_taken_in_turn():
    whole = [_hit("w1", 0.9), _hit("w2", 0.8), _hit("w3", 0.7)]
    parts = [[_hit("a1", 0.95), _hit("w2", 0.5)], [_hit("w1", 0.99), _hit("b2", 0.6)]]
    merged = merge_parts(whole, parts, k=4)
    # first places: w1, a1 (b1 was w1); second places: w2, b2 (a2 was w2); w3 comes after them
    assert [h.chunk.id for h in merged] == ["w1", "a1", "w2", "b2"]
    assert [h.score for h in merged] == sorted((h.score for h in merged), reverse=True)


def test_compound_question_finds_a_passage_for_each_part(service):
    hits = retrieve(service.index, service.embedder, "魏都区委书记和区长分别是谁？", k=5)
    texts = "".join(h.chunk.text for h in hits[:3])
    assert "魏都区委书记张书杰" in texts and "魏都区区长李朝锋" in texts


def test_settings_name_every_rerank_step_in_the_order_they_run():
    from qa.answer.rerank import STEPS
    from qa.answer.settings import RERANK_STEPS

    assert tuple(STEPS) == RERANK_STEPS


def test_every_retrieval_number_can_be_set_from_the_environment(monkeypatch):
    from qa.settings import Settings

    monkeypatch.setenv("QA_RETRIEVAL__AGREEMENT_WEIGHT", "1.5")
    settings = Settings()
    assert settings.retrieval.agreement_weight == 1.5
    monkeypatch.setenv("QA_RETRIEVAL__CANDIDATES", "0")
    with pytest.raises(ValueError, match="candidates"):
        Settings()


def test_a_step_turned_off_changes_the_ranking_only_through_settings(service):
    """Settings are passed in, not written into module globals: two calls with different settings differ."""
    question = "Into how many grids are the communities of Weidu District divided?"
    without = retrieve(
        service.index, service.embedder, question, k=1, settings=RetrievalSettings().without("agreement")
    )
    with_all = retrieve(service.index, service.embedder, question, k=1)
    again = retrieve(
        service.index, service.embedder, question, k=1, settings=RetrievalSettings().without("agreement")
    )
    assert without[0].chunk.id == again[0].chunk.id != with_all[0].chunk.id
