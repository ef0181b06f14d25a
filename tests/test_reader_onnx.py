"""The reader the product loads by default: the shipped reader on ONNX Runtime, the same spans as on
torch, exported once, and weighed against the typed rules' answer."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from qa.answer.reader import Reader, encode_pairs
from qa.answer.reader_onnx import OnnxReader, ensure_reader_export, export_dir
from qa.answer.settings import AnswerSettings
from qa.evaluation import read_questions
from qa.index.e5_convert import ensure_e5_model
from qa.settings import PROJECT_ROOT, Settings
from qa.text import sentence_spans

SHIPPED = PROJECT_ROOT / "models" / "reader"
DEV = PROJECT_ROOT / "tests" / "data" / "dev.jsonl"


def _consecutive_candidates(article, sentences: list[str], scores: list[float], rank: int = 0) -> list:
    """Candidate quotes for `sentences`, which follow one another from the start of `article.text`,
    scored `scores` by the rules and with no typed answer: what the answer step hands the reader."""
    from qa.answer import compose

    found, start = [], 0
    for sentence, score in zip(sentences, scores, strict=True):
        assert article.text.startswith(sentence, start)
        found.append(compose._Candidate(rank, article, start, start + len(sentence), score=score, short=None))
        start += len(sentence)
    return found


@pytest.fixture(scope="module")
def onnx_reader(model_cache_dir: Path) -> OnnxReader:
    return OnnxReader.load(SHIPPED, ensure_e5_model(model_cache_dir), model_cache_dir, threads=2)


def test_default_settings_read_with_the_shipped_reader_on_onnx_runtime_in_int8(service):
    assert Settings().reader_dir == SHIPPED
    assert isinstance(service.reader, OnnxReader) and service.reader.int8
    assert service.reader.export.int8, "the export keeps an int8 graph that reads as the fp32 one"
    assert service.stats()["reader_backend"] == "onnx"


def test_int8_reader_reads_the_spans_of_seeds_sentences_as_the_fp32_one(service, onnx_reader):
    question = "今年以来市公安局交管部门在市区共查处交通违法行为多少起？"
    sentences = [
        "今年以来，市公安局交管部门在市区共查处交通违法行为279869起，其中醉驾525起。",
        "市公安局党委副书记、常务副局长王磊出席会议并讲话。",
    ]
    int8, fp32 = service.reader.read(question, sentences), onnx_reader.read(question, sentences)
    assert [(s.start, s.end) for s in int8] == [(s.start, s.end) for s in fp32]
    assert "279869" in sentences[0][int8[0].start : int8[0].end]


def test_onnx_reader_reads_the_same_spans_as_torch_on_dev_sentences(onnx_reader, reader: Reader, service):
    assert isinstance(reader, Reader)  # the session's torch reader
    pairs = []
    for row in read_questions(DEV)[:25]:
        if "question" not in row:
            continue
        passages = service.ask(row["question"]).passages[:2]
        sentences = [p.text[a:b] for p in passages for a, b in sentence_spans(p.text)[:3]]
        pairs.append((row["question"], sentences))
    for question, sentences in pairs:
        ours, theirs = onnx_reader.read(question, sentences), reader.read(question, sentences)
        for a, b in zip(ours, theirs, strict=True):
            assert (a is None) == (b is None)
            if a is not None and b is not None:
                assert (a.start, a.end) == (b.start, b.end)
                assert a.margin == pytest.approx(b.margin, abs=1e-3)


def test_onnx_reader_cuts_windows_exactly_as_the_transformers_tokenizer(onnx_reader, reader: Reader, service):
    question = "许昌市规模以上工业利润总额同比增长多少？"
    long_passage = "1月至7月，全市规模以上工业营业收入同比增长10.7%，利润总额同比增长24.3%。" * 12
    english = "The Xuchang Daily reported on 3 May 2021 that   spaces  and ASCII words stay apart."
    for ours in (onnx_reader, service.reader):  # its own tokenizer, and the one shared with the embedder
        for passage in ("今年以来，全市共查处醉驾525起。", " 部 门 制 定 了 ", english, long_passage):
            expected = encode_pairs(reader.tokenizer, question, passage, ours.max_length, 0)
            assert ours.windows(question, passage) == expected
        assert len(ours.windows(question, long_passage)) > 1


def test_the_service_reader_shares_the_embedder_tokenizer(service, onnx_embedder):
    # one tokenizer object holds ~290 MB: the reader reads with the embedder's, not a second copy
    assert service.reader.tokenizer is onnx_embedder.tokenizer


def test_reader_export_is_made_once_checked_and_reused(onnx_reader, model_cache_dir: Path):
    model_dir = ensure_e5_model(model_cache_dir)
    export = ensure_reader_export(SHIPPED, model_dir, model_cache_dir)
    assert export == export_dir(SHIPPED.resolve(), model_dir.resolve(), model_cache_dir)
    made = os.stat(export / "reader.onnx").st_mtime_ns
    assert ensure_reader_export(SHIPPED, model_dir, model_cache_dir) == export
    assert os.stat(export / "reader.onnx").st_mtime_ns == made
    assert onnx_reader.export.check_difference < 1e-3
    # the reader reads e5's word vectors from the embedder's export: one file for both
    assert Path(onnx_reader.export.word_embeddings).parent.name.startswith("multilingual-e5-small")


def _answering_with(service, **values):
    """The service with its answer settings changed by `values` (the index and models shared)."""
    answer = dataclasses.replace(service.settings.answer, **values)
    return dataclasses.replace(service, settings=service.settings.model_copy(update={"answer": answer}))


def test_typed_answer_is_shown_when_the_reader_scores_it_close_to_its_own(service):
    question = "1月至7月全市规模以上工业利润总额同比增长多少？"
    every_read = AnswerSettings(sure_min=0.0)  # this one is not sure enough to show by default
    shown = dataclasses.replace(service, settings=service.settings.model_copy(update={"answer": every_read}))
    assert shown.ask(question).short_answer == "24.3%"  # the typed rules' answer, weighed by the reader
    reader_alone = AnswerSettings(reader_typed_slack=0.0, sure_min=0.0)
    settings = service.settings.model_copy(update={"answer": reader_alone})
    assert dataclasses.replace(service, settings=settings).ask(question).short_answer == "10.7%"


def test_reader_answers_a_what_question_the_typed_rules_leave_empty(service):
    question = "许昌筹建的第三个国家级质量监督检验中心是什么？"
    rules = dataclasses.replace(service, reader=None).ask(question)
    assert rules.short_answer is None
    answer = service.ask(question)
    assert answer.short_answer == "国家蜂产品质量监督检验中心"
    (cited,) = [c for c in answer.citations if c.answer_start is not None]
    text = service.article(cited.article_id).text
    assert text[cited.start : cited.end] == cited.quote
    assert text[cited.answer_start : cited.answer_end] == answer.short_answer


def test_reader_backend_torch_on_request(settings: Settings, embedder):
    from qa.service import load_reader

    loaded = load_reader(settings.model_copy(update={"reader_backend": "torch"}), embedder)
    assert isinstance(loaded, Reader)


def test_agreement_counts_the_other_read_sentences_that_gave_the_same_short_answer():
    from qa.answer.compose import short_answer_agreement

    others = ["525起", "525 起", None, "王磊", "525起。"]
    assert short_answer_agreement("525起", others) == 3  # spaces and punctuation aside; nothing read: no
    assert short_answer_agreement("王磊", others) == 1
    assert short_answer_agreement(None, others) == 0


def test_the_reader_moves_the_quote_to_the_read_sentence_that_holds_the_answer(service):
    """The rules rank a sentence without the answer first; the reader reads both and, with a weight on
    its verdict, quotes the one that answers. With no weight the rules' first choice stays first."""
    from qa.answer import compose
    from qa.records import Article

    text = (
        "市公安局召开全市交通安全工作会议，部署下一阶段工作。"
        "市公安局党委副书记、常务副局长王磊出席会议并讲话。"
    )
    article = Article(id="a1", title="全市交通安全工作会议召开", text=text, date="2023-05-01")
    cut = text.index("。") + 1
    first = compose._Candidate(0, article, 0, cut, score=1.0, short=None)
    second = compose._Candidate(0, article, cut, len(text), score=0.9, short=None)
    question = "市公安局党委副书记、常务副局长是谁？"
    asked = compose._Asked.of(question, service.index)
    evidence = compose._Evidence([first, second], best_chunk_coverage=1.0, top_dense=0.0)
    weighed = dataclasses.replace(  # each sentence read alone: the next one is not its context here
        service.settings.answer, reader_candidates=2, reader_weight=0.2, reader_context=0
    )
    _, best = compose._read_candidates(asked, evidence, first, service.reader, weighed)
    assert best.start == cut and article.text[best.span[0] : best.span[1]] == "王磊"
    unweighed = dataclasses.replace(weighed, reader_weight=0.0)
    _, kept = compose._read_candidates(asked, evidence, first, service.reader, unweighed)
    assert kept.start == 0


def test_an_unsure_first_reading_takes_a_second_look_and_quotes_a_sure_sentence(service):
    """The rules rank the sentence with the answer below the ones the reader reads first; none of those
    holds it (every margin low), so the reader reads the next ones, and the sure one is quoted first.
    Without the second look the rules' sentences stay."""
    from qa.answer import compose
    from qa.records import Article

    sentences = [
        "市公安局召开全市交通安全工作会议，部署下一阶段工作。",
        "会议通报了今年以来全市交通安全形势。",
        "会议要求各单位压实责任，确保道路交通安全形势稳定。",
        "市公安局党委副书记、常务副局长王磊出席会议并讲话。",
    ]
    article = Article(id="a1", title="全市交通安全工作会议召开", text="".join(sentences), date="2023-05-01")
    candidates = _consecutive_candidates(article, sentences, [1.0, 0.9, 0.8, 0.7])
    starts = [c.start for c in candidates]
    asked = compose._Asked.of("市公安局党委副书记、常务副局长是谁？", service.index)
    evidence = compose._Evidence(candidates, best_chunk_coverage=1.0, top_dense=0.0)
    look = dataclasses.replace(
        service.settings.answer,
        reader_candidates=2,
        reader_more=2,
        reader_more_below=2.0,
        reader_more_sure=2.0,
        reader_context=0,
    )
    read, best = compose._read_candidates(asked, evidence, candidates[0], service.reader, look)
    assert best.start == starts[3] and article.text[best.span[0] : best.span[1]] == "王磊"
    assert sum(c.margin is not None for c in read.candidates) == 4  # two read first, two more
    _, kept = compose._read_candidates(
        asked, evidence, candidates[0], service.reader, dataclasses.replace(look, reader_more=0)
    )
    assert kept.start in starts[:2]


def _first_chunks_without(service, word: str, n: int, besides: str = "") -> list:
    """The first chunk of each of the first `n` seeds articles whose chunk does not mention `word`
    (nor is of the article `besides`): first hits about other things, for the farther looks."""
    first: dict[str, object] = {}
    for i in range(len(service.index.chunks)):
        chunk = service.index.chunks[i]
        if word not in chunk.text and chunk.article_id != besides:
            first.setdefault(chunk.article_id, chunk)
    return list(first.values())[:n]


def test_a_reader_unsure_of_everything_it_read_reads_farther_articles_and_quotes_the_sure_one(service):
    """The first hits are seeds articles about other things: every sentence the reader reads there, on
    the first and the second look, is far below a margin of 0. It then reads the best sentence of each
    farther hit's article, and the one holding the answer is quoted first. Without the farther look,
    or when the reader was sure enough already, the rules' sentence stays and nothing more is read.
    A farther reading short of `reader_far_sure` but reaching `reader_far_quote` is quoted second."""
    from qa.answer import compose
    from qa.records import Hit

    chunks = [service.index.chunks[i] for i in range(len(service.index.chunks))]
    answer = next(c for c in chunks if "荣膺全国文明城市称号" in c.text)
    away = _first_chunks_without(service, "文明", 4, besides=answer.article_id)
    hits = [Hit(c, 1.0 - 0.1 * i) for i, c in enumerate([*away, answer])]
    asked = compose._Asked.of("许昌哪一年荣膺全国文明城市称号？", service.index)
    settings = service.settings.answer
    evidence = compose._score_candidates(asked, hits, service.index, settings, None, None)
    first = max(evidence.candidates, key=lambda c: c.score)
    evidence, best = compose._read_candidates(asked, evidence, first, service.reader, settings)
    assert max(c.margin for c in evidence.candidates if c.margin is not None) < settings.reader_far_below

    def sentences_farther(settings):
        return lambda: compose._farther_candidates(asked, hits, service.index, settings, None)

    farther, far, second = compose._read_farther(
        asked, evidence, best, sentences_farther(settings), service.reader, settings
    )
    assert second is None  # quoted first, not second
    assert far.article.id == answer.article_id and far.short == "2015年"
    assert far.margin is not None and far.margin >= settings.reader_far_sure
    assert far.article.text[far.start : far.end] in answer.text  # a verbatim sentence of that chunk
    assert len(farther.candidates) > len(evidence.candidates)
    for off in (
        dataclasses.replace(settings, reader_far_articles=0),
        dataclasses.replace(settings, reader_far_below=-30.0),
    ):
        same, kept, none = compose._read_farther(
            asked, evidence, best, sentences_farther(off), service.reader, off
        )
        assert kept is best and same is evidence and none is None

    # Less sure than reader_far_sure, the farther reading is quoted second, after the rules' sentence.
    wary = dataclasses.replace(settings, reader_far_sure=99.0)
    farther, kept, second = compose._read_farther(
        asked, evidence, best, sentences_farther(wary), service.reader, wary
    )
    assert kept is best and second is not None and second.article.id == answer.article_id
    assert second.short == "2015年"
    assert compose._further_quotes(kept, farther.candidates, wary, second)[:2] == [kept, second]
    off = dataclasses.replace(wary, reader_far_quote=99.0)
    unread = compose._read_farther(asked, evidence, best, sentences_farther(off), service.reader, off)
    assert unread[2] is None


@pytest.mark.parametrize(
    ("question", "sentences", "wanted"),
    [
        (
            "戈尔巴乔夫的葬礼将在哪里举行？",
            [
                "此前，俄总统新闻秘书佩斯科夫表示，戈尔巴乔夫的葬礼将于9月3日举行，但普京因有其他行程安排无法参加葬礼。",
                "前苏联最后一位领导人戈尔巴乔夫的葬礼星期六（9月3日）在莫斯科圆柱大厅举行。",
            ],
            "圆柱大厅",
        ),
        (
            "2022年G20峰会的时间？",
            [
                "原先是意大利取得該屆峰會主辦國家，但印度总理纳伦德拉·莫迪則提出延至2022年印度獨立75週年之时舉行，"
                "因此於2018年峰會上向意大利总理朱塞佩·孔特進行協調，最終達成共識改為印度承辦。",
                "2022年二十国集团峇里岛峰会是20国集团第十七次高峰会，于2022年11月15日至16日在印度尼西亚巴厘省努沙杜瓦举行。",
            ],
            "11月15日",
        ),
    ],
)
def test_a_reading_not_of_the_asked_kind_gives_way_to_one_that_is(service, question, sentences, wanted):
    """The reader reads "9月3日" for "在哪里举行" (or "75週年" for a date) in the rules' first sentence.
    That span is not of the kind asked (`fits_kind`), so it loses `reader_off_kind` of its margin and
    the sentence with the place (the date) is quoted first; without the penalty the first one is."""
    from qa.answer import compose
    from qa.records import Article

    article = Article(id="a1", title="", text="".join(sentences), date="2022-09-03")
    candidates = _consecutive_candidates(article, sentences, [1.0, 0.9])
    asked = compose._Asked.of(question, service.index)
    evidence = compose._Evidence(candidates, best_chunk_coverage=1.0, top_dense=0.0)
    look = dataclasses.replace(service.settings.answer, reader_more=0, reader_far_articles=0)
    assert look.reader_off_kind > 0
    _, best = compose._read_candidates(asked, evidence, candidates[0], service.reader, look)
    assert best.start == candidates[1].start and wanted in (best.short or "")
    blind = dataclasses.replace(look, reader_off_kind=0.0)
    _, first = compose._read_candidates(asked, evidence, candidates[0], service.reader, blind)
    assert first.start == candidates[0].start and wanted not in (first.short or "")


def test_an_answer_in_the_sentence_after_is_read_with_it_and_both_are_quoted(service):
    """The sentence with the question's words does not hold the answer; the one after it does, without
    those words. Read together (reader_context), the reader finds the name and the quote takes in both
    sentences, verbatim; read alone, the first sentence gives no short answer."""
    from qa.answer import compose
    from qa.records import Article

    sentences = ["市第七届运动会游泳比赛昨日在市体育中心举行。", "来自禹州市的选手李明夺得冠军。"]
    text = "".join(sentences)
    article = Article(id="a1", title="市运会游泳比赛举行", text=text, date="2022-08-12")
    first = compose._Candidate(0, article, 0, len(sentences[0]), score=1.0, short=None)
    asked = compose._Asked.of("市第七届运动会游泳比赛的冠军是谁？", service.index)
    evidence = compose._Evidence([first], best_chunk_coverage=1.0, top_dense=0.0)
    alone = dataclasses.replace(service.settings.answer, reader_candidates=1, reader_more=0, reader_context=0)
    _, best = compose._read_candidates(asked, evidence, first, service.reader, alone)
    assert best.span is None and best.end == len(sentences[0])
    together = dataclasses.replace(alone, reader_context=80)
    _, best = compose._read_candidates(asked, evidence, first, service.reader, together)
    assert (best.start, best.end) == (0, len(text)) and article.text[best.span[0] : best.span[1]] == "李明"
    assert compose._citation(1, article, best.start, best.end).quote == text


def test_the_next_sentence_is_read_only_when_both_fit_the_context():
    from qa.answer.compose import next_sentence_end

    text = "游泳比赛昨日举行。选手李明夺得冠军。\n  本报记者 王芳\n"
    end = text.index("。") + 1
    assert next_sentence_end(text, 0, end, 80) == text.index("冠军。") + 3
    assert next_sentence_end(text, 0, end, 12) == end  # the next one ends past 12 characters
    assert next_sentence_end(text, 0, end, 0) == end  # off
    after = text.index("冠军。") + 3
    assert text[after : next_sentence_end(text, end, after, 80)].strip() == "本报记者 王芳"  # a line
    assert next_sentence_end(text, 0, len(text), 80) == len(text)  # nothing after


def test_a_span_read_again_as_context_does_not_agree_with_itself():
    from qa.answer.compose import _Candidate, _read_elsewhere, short_answer_agreement
    from qa.records import Article

    text = "游泳比赛昨日举行。选手李明夺得冠军。"
    article = Article(id="a1", title="t", text=text)
    span = (text.index("李明"), text.index("李明") + 2)
    pair = _Candidate(0, article, 0, len(text), 1.0, "李明", span=span, margin=6.0)
    second = _Candidate(0, article, 9, len(text), 0.9, "李明", span=span, margin=5.0)
    other = Article(id="a2", title="t", text=text)
    elsewhere = _Candidate(1, other, 9, len(text), 0.8, "李明", span=span, margin=4.0)
    assert short_answer_agreement("李明", _read_elsewhere(pair, [pair, second])) == 0
    assert short_answer_agreement("李明", _read_elsewhere(pair, [pair, second, elsewhere])) == 1


def test_confidence_grows_with_the_margin_and_with_agreement():
    from qa.answer.compose import short_answer_confidence

    weights = AnswerSettings(sure_margin=0.5, sure_agree=1.0, sure_compound=-1.0, sure_margin_cap=10.0)
    sure = short_answer_confidence(6.0, 0, False, weights)
    assert sure > short_answer_confidence(0.0, 0, False, weights)
    assert short_answer_confidence(0.0, 3, False, weights) > short_answer_confidence(0.0, 0, False, weights)
    assert short_answer_confidence(6.0, 0, True, weights) < sure
    assert short_answer_confidence(60.0, 0, False, weights) == short_answer_confidence(
        10.0, 0, False, weights
    )


def test_an_unsure_short_answer_is_not_shown_but_the_quotes_still_answer(service):
    unsure = _answering_with(service, sure_min=1.0)
    answer = unsure.ask("市公安局党委副书记、常务副局长是谁？")
    assert answer.short_answer is None and not answer.abstained
    assert "王磊" in answer.citations[0].quote
    assert all(c.answer_start is None for c in answer.citations)
    assert service.ask("市公安局党委副书记、常务副局长是谁？").short_answer == "王磊"


def test_a_question_in_other_words_than_its_article_is_answered_when_the_reader_is_sure(service):
    """ "公安抓到多少起喝醉了开车的？" shares few words with "其中醉驾525起": the best passage covers
    0.36 of the question, below `min_coverage`, where the answer step abstained. The reader, reading
    the best sentences all the same, is sure of 525起 (margin ~9, `reader_rescue_margin` 4): answered.
    Out of its reach, the answer abstains as before. Dev's unanswerable questions read at most ~1.1
    there and still abstain (test_every_unanswerable_dev_question_abstains)."""
    question = "公安抓到多少起喝醉了开车的？"
    answer = service.ask(question)
    assert not answer.abstained and "525起" in answer.citations[0].quote
    quote = answer.citations[0]
    assert service.index.articles[quote.article_id].text[quote.start : quote.end] == quote.quote
    assert _answering_with(service, reader_rescue_margin=99.0).ask(question).abstained


def test_an_answer_without_a_short_answer_quotes_one_sentence_more(service):
    """Not sure enough to show a short answer, the reply's quotes are the whole answer: one more
    (`unsure_more_quotes`) at `unsure_quote_ratio` of the best's score, where a shown one gets two."""
    question = "市公安局党委副书记、常务副局长是谁？"
    shown = service.ask(question)
    assert shown.short_answer == "王磊" and len(shown.citations) == 2

    def asked_with(**values):
        return _answering_with(service, sure_min=1.0, **values).ask(question)

    unsure = asked_with()
    assert unsure.short_answer is None and len(unsure.citations) == 3
    assert [c.quote for c in unsure.citations[:2]] == [c.quote for c in shown.citations]
    third = unsure.citations[2]
    article = service.index.articles[third.article_id]
    assert article.text[third.start : third.end] == third.quote  # verbatim, as every quote
    assert len(asked_with(unsure_more_quotes=0).citations) == 2


def test_a_two_part_answer_without_a_short_answer_quotes_one_sentence_more(service):
    """The same for a question asking two things: four quotes where three is its most otherwise."""
    question = "今年前8个月国有企业和集体企业的工业增加值分别增长多少？"
    quoted = _answering_with(service, sure_min=1.0).ask(question).citations
    assert len(quoted) == service.settings.answer.compound_quotes + 1 == 4
    three = _answering_with(service, sure_min=1.0, unsure_more_quotes=0).ask(question).citations
    assert [c.quote for c in three] == [c.quote for c in quoted[:3]]


def test_each_part_of_a_two_part_question_gets_the_sentence_the_reader_answers_it_from(service):
    """The rules score the sentence with the second part's answer too low to quote; asked that part
    alone, the reader reads the sentence naming it and is sure, so it is quoted for that part."""
    from qa.answer import compose
    from qa.records import Article

    texts = (
        "网易公布财报，2022年全年净收入为965亿元，同比增长10%。",
        "腾讯控股发布2022年全年业绩，全年营收5545.5亿元。",
    )
    articles = [Article(id=f"a{i}", title="年报", text=t, date="2023-03-01") for i, t in enumerate(texts)]
    netease = compose._Candidate(0, articles[0], 0, len(texts[0]), score=1.0, short="965亿元")
    tencent = compose._Candidate(1, articles[1], 0, len(texts[1]), score=0.3, short="5545.5亿元")
    asked = compose._Asked.of("网易和腾讯2022年全年营收分别是多少？", service.index)
    evidence = compose._Evidence([netease, tencent], best_chunk_coverage=1.0, top_dense=0.0)
    settings = dataclasses.replace(service.settings.answer, part_reader_candidates=1)
    for_parts = compose._read_for_parts(
        asked, evidence, compose._part_terms(service.index, asked.parts, settings), service.reader, settings
    )
    quoted = compose._quotes_for_parts(asked, netease, evidence.candidates, settings, for_parts)
    assert [c.article.id for c in quoted] == ["a0", "a1"]
    tencent_read = next(c for c in for_parts if c.article.id == "a1")
    assert texts[1][tencent_read.span[0] : tencent_read.span[1]] == "5545.5亿元"
    off = dataclasses.replace(settings, part_reader_candidates=0)
    assert (
        compose._read_for_parts(
            asked, evidence, compose._part_terms(service.index, asked.parts, off), service.reader, off
        )
        == []
    )
    alone = compose._quotes_for_parts(asked, netease, evidence.candidates, off)
    assert [c.article.id for c in alone] == ["a0"]  # the rules alone: too weak a sentence to quote


def test_a_part_is_read_only_in_sentences_that_name_it_and_of_the_asked_year(service):
    """The men's sentence matches every shared word of "…女子世界锦标赛在哪举行" and the reader, asked
    about the women's race there, reads the men's venue; a 2024 report names 女子 and more shared
    words but writes only 2024. The women's part is read in the sentence that names it, of 2023."""
    from qa.answer import compose
    from qa.records import Article

    men = "IRONMAN官网宣布2023年IRONMAN世界锦标赛男子赛事将于2023年9月10日在法国尼斯举行；"
    women = "女子赛事将于2023年10月14日仍在夏威夷的KONA举办。"
    later = "2024年IRONMAN世界锦标赛女子赛事在尼斯举行，男子赛事在KONA举行。"
    first = Article(id="a0", title="IRONMAN世锦赛分男女两地举行", text=men + women, date="2023-01-06")
    second = Article(id="a1", title="IRONMAN世锦赛", text=later, date="2024-01-10")
    candidates = [
        *_consecutive_candidates(first, [men, women], [1.0, 0.7]),
        *_consecutive_candidates(second, [later], [0.2], rank=1),
    ]
    asked = compose._Asked.of("2023年IRONMAN男子和女子世界锦标赛分别在哪举行", service.index)
    evidence = compose._Evidence(candidates, best_chunk_coverage=1.0, top_dense=0.0)
    settings = dataclasses.replace(service.settings.answer, part_reader_candidates=1, reader_context=0)
    for_parts = compose._read_for_parts(
        asked, evidence, compose._part_terms(service.index, asked.parts, settings), service.reader, settings
    )
    women_read = for_parts[-1]
    assert (women_read.article.id, women_read.start) == ("a0", len(men))
    assert "夏威夷" in first.text[women_read.span[0] : women_read.span[1]]
    quoted = compose._quotes_for_parts(asked, candidates[0], evidence.candidates, settings, for_parts)
    assert [c.start for c in quoted][:2] == [0, len(men)]


def test_the_farther_look_reads_more_than_the_best_sentence_of_each_farther_article(service):
    """A farther article's best sentence by the rules may only talk around the answer ("2023年…复查"
    for "哪一年荣膺"); the farther look reads its `reader_far_sentences` best sentences, so the one
    that holds the year is read and quoted first. Reading only the best one quotes the wrong year."""
    from qa.answer import compose
    from qa.records import Article, Chunk, Hit

    first_hits = _first_chunks_without(service, "文明", 4)
    text = (
        "许昌荣膺全国文明城市称号，是全市上下多年来坚持不懈、共同努力创建的结果，2023年许昌又一次顺利通过了复查。"
        "市民们至今仍记得那个令人振奋的消息。"
        "2015年2月28日，中央文明委在北京召开表彰大会，许昌名列第四届全国文明城市名单。"
    )
    article = Article(id="far", title="一张名片", text=text, date="2020-01-01", source="test")
    articles = {c.article_id: service.index.articles[c.article_id] for c in first_hits} | {"far": article}
    index = dataclasses.replace(service.index, articles=articles)
    far = Chunk("far-0", "far", 0, len(text), text)
    hits = [Hit(c, 1.0 - 0.1 * i) for i, c in enumerate([*first_hits, far])]
    asked = compose._Asked.of("许昌哪一年荣膺全国文明城市称号？", index)

    def first_and_second(settings: AnswerSettings):
        evidence = compose._score_candidates(asked, hits, index, settings, None, None)
        first = max(evidence.candidates, key=lambda c: c.score)
        evidence, best = compose._read_candidates(asked, evidence, first, service.reader, settings)
        farther = lambda: compose._farther_candidates(asked, hits, index, settings, None)  # noqa: E731
        _, best, second = compose._read_farther(asked, evidence, best, farther, service.reader, settings)
        return best, second

    settings = service.settings.answer
    assert settings.reader_far_sentences > 1
    best, second = first_and_second(settings)
    assert best.article.id == "far" and best.short == "2015年" and second is None
    best, second = first_and_second(dataclasses.replace(settings, reader_far_sentences=1))
    assert best.article.id != "far" and second is not None and second.short == "2023年"


def test_a_part_unsure_in_the_first_hits_is_read_in_farther_sentences_naming_it(service):
    """The first hits report the men's final and, for 女子, only last year's World Cup: the reader finds
    no sure answer for the women's part there. A farther hit's sentence naming 女子 holds it; read
    there, 全红婵 becomes that part's quote. Without the farther sentences the part gets no quote."""
    from qa.answer import compose
    from qa.records import Article

    men = "3月19日晚，在2023年全国跳水冠军赛男子双人10米台比赛中，练俊杰搭档杨昊夺得冠军。"
    vague = "去年10月的柏林跳水世界杯上，她包揽女子10米台单、双人冠军。"
    women = "全红婵与陈芋汐搭档夺得2023年全国跳水冠军赛女子双人10米跳台冠军。"
    first = Article(id="a0", title="全国跳水冠军赛男双10米台", text=men + vague, date="2023-03-20")
    later = Article(id="a1", title="全国跳水冠军赛开赛", text=women, date="2023-03-19")
    candidates = _consecutive_candidates(first, [men, vague], [1.0, 0.8])
    farther = _consecutive_candidates(later, [women], [0.5], rank=6)
    asked = compose._Asked.of(
        "2023年全国跳水冠军赛女子双人10米跳台和男子双人10米跳台冠军分别是谁？", service.index
    )
    evidence = compose._Evidence(candidates, best_chunk_coverage=1.0, top_dense=0.0)
    settings = dataclasses.replace(service.settings.answer, reader_context=0)
    terms = compose._part_terms(service.index, asked.parts, settings)
    near = compose._read_for_parts(asked, evidence, terms, service.reader, settings, None)
    assert [c.article.id for c in near] == ["a0"]  # the men's part only
    for_parts = compose._read_for_parts(asked, evidence, terms, service.reader, settings, lambda: farther)
    assert [(c.article.id, c.short) for c in for_parts] == [("a1", "全红婵"), ("a0", "练俊杰")]
    quoted = compose._quotes_for_parts(asked, candidates[0], evidence.candidates, settings, for_parts)
    assert [c.article.id for c in quoted][:2] == ["a0", "a1"]


def test_a_part_read_around_the_other_parts_answer_gives_both_parts_their_typed_answers(service):
    """Asked the 酒驾 part, the reader reads "279869起，其中醉驾525起" from a list that holds both
    figures: a span around the 醉驾 part's answer that names 醉驾 and not 酒驾. Asked the 一等奖 part
    of the other question, it reads "3名、二等奖5名", and the 二等奖 part "3名". The reader mixed the
    parts up in that quote, so each part takes the typed rules' answer there: its own figure."""
    answer = service.ask("今年以来查处的醉驾和酒驾分别有多少起？")
    assert "醉驾525起、酒驾621起" in answer.citations[0].quote
    assert answer.short_answer is not None
    assert answer.short_answer.split("；") == ["525起", "621起"]
    prizes = service.ask("“我与政协”征文活动的一等奖和二等奖各设几名？")
    assert prizes.short_answer is not None
    assert prizes.short_answer.split("；") == ["3名", "5名"]
