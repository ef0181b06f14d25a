"""QAService: question validation, sessions and follow-ups, stats, article lookup, rebuild, CLI text."""

from __future__ import annotations

import pytest

from qa.service import QAService, QuestionError, format_answer, rebuild_index


def test_empty_question_is_refused(service):
    with pytest.raises(QuestionError, match="empty"):
        service.ask("")


def test_whitespace_question_is_refused(service):
    with pytest.raises(QuestionError, match="empty"):
        service.ask("  \n\t ")


def test_overlong_question_is_refused_with_the_limit(service):
    limit = service.settings.max_question_chars
    with pytest.raises(QuestionError, match=str(limit)):
        service.ask("许" * (limit + 1))


def test_question_error_is_a_value_error():
    assert issubclass(QuestionError, ValueError)


def test_ask_without_session_creates_one(service):
    answer = service.ask("魏都区委书记是谁？")
    assert answer.session_id and answer.session_id in service.sessions


def test_followup_in_the_same_session_is_resolved(service):
    first = service.ask("振德集团华中区域总部建设项目总投资多少？")
    second = service.ask("它落户在哪个县？", session_id=first.session_id)
    assert second.resolved_question and "振德" in second.resolved_question
    assert "鄢陵" in second.answer and second.session_id == first.session_id


def test_followup_in_a_new_session_is_not_resolved(service):
    answer = service.ask("那区长呢？")
    assert answer.resolved_question is None


def test_top_k_limits_the_passages(service):
    assert len(service.ask("魏都区委书记是谁？", top_k=2).passages) == 2


def test_timings_are_reported(service):
    timings = service.ask("魏都区委书记是谁？").timings_ms
    assert {"retrieve", "answer", "total"} <= set(timings)


def test_stats_describe_the_loaded_index(service):
    stats = service.stats()
    assert stats["articles"] == len(service.index.articles) and stats["chunks"] == len(service.index.chunks)
    assert stats["model"] and stats["dim"] == service.embedder.dim
    assert stats["built_at"] and stats["corpus_fingerprint"]


def test_article_lookup(service):
    article_id = next(iter(service.index.articles))
    assert service.article(article_id).id == article_id
    assert service.article("no-such-article") is None


def test_sessions_carry_over_to_a_reloaded_service(service, settings, embedder, reader):
    reloaded = QAService.load(settings, embedder=embedder, reader=reader, sessions=service.sessions)
    assert reloaded.sessions is service.sessions


def test_format_answer_lists_numbered_sources(service):
    text = format_answer(service.ask("豫浙合作项目签约仪式在哪里举行？"))
    assert "杭州" in text and "[1]" in text and "来源" in text


def test_format_answer_of_an_abstention_shows_closest_passages(service):
    text = format_answer(service.ask("许昌今年的平均气温是多少度？"))
    assert "没有找到" in text and "最接近的段落" in text


def test_rebuild_index_builds_the_configured_corpus(settings, embedder, reader, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "page.txt").write_text(
        "本报讯（记者 王明）3月5日，许昌市举办春季植树活动，共栽种树苗1200棵。\n\n许昌举办春季植树活动\n",
        encoding="utf-8",
    )
    local = settings.model_copy(update={"corpus_dir": corpus, "index_dir": tmp_path / "index"})
    report = rebuild_index(local, progress=False, embedder=embedder)
    assert report.articles >= 1 and report.chunks >= 1
    answer = QAService.load(local, embedder=embedder, reader=reader).ask("许昌植树活动栽种了多少棵树苗？")
    assert "1200棵" in answer.answer


def test_the_text_cache_belongs_to_the_service_and_a_reloaded_index_starts_a_fresh_one(
    service, embedder, reader
):
    service.ask("魏都区委书记是谁？")
    assert len(service.cache) > 0  # retrieval and the answer step remembered sentences in it
    swapped = QAService.load(service.settings, embedder=embedder, reader=reader, sessions=service.sessions)
    assert swapped.cache is not service.cache
    assert len(swapped.cache) == 0
    assert swapped.sessions is service.sessions  # conversations carry over a swap; cached text does not


def test_service_passes_its_settings_to_the_layers(service, embedder, reader):
    """The English grids question needs the agreement step (see test_retrieval); settings turn it off."""
    question = "Into how many grids are the communities of Weidu District divided?"
    plain = service.settings.model_copy(update={"retrieval": service.settings.retrieval.without("agreement")})
    assert "620个网格" in service.ask(question).passages[0].text.replace(" ", "")
    assert "620个网格" not in QAService.load(plain, embedder=embedder, reader=reader).ask(question).passages[
        0
    ].text.replace(" ", "")


def test_rebuild_with_nothing_changed_keeps_the_live_index_and_loads_no_model(
    tmp_path, embedder, model_cache_dir
):
    import shutil

    from qa.index.build import build_index
    from qa.index.e5_convert import ensure_e5_model
    from qa.settings import PROJECT_ROOT, Settings

    corpus = tmp_path / "pages"
    corpus.mkdir()
    shutil.copy(sorted((PROJECT_ROOT / "seeds").glob("*.txt"))[0], corpus)
    built = build_index(corpus, tmp_path / "index", embedder, progress=False)
    # A model cache whose e5 folder has its configuration but no weights: loading the model would fail.
    real = ensure_e5_model(model_cache_dir)
    shutil.copytree(real, tmp_path / "models" / real.name, ignore=shutil.ignore_patterns("*.safetensors"))
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model_cache_dir=tmp_path / "models")

    report = rebuild_index(settings, progress=False)
    assert report.unchanged and report.embedded == 0 and report.build_id == built.build_id
    assert "Nothing changed" in report.summary()

    page = next(corpus.glob("*.txt"))
    page.write_text(page.read_text(encoding="utf-8") + "\n新增的一段正文。\n", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot load embedding model"):  # a change needs the model
        rebuild_index(settings, progress=False)
