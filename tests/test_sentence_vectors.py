"""Sentence vectors and POS tags made at index time: the same answers as making them at ask time,
reused on rebuild."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa.answer.retrieve import RememberedQueries
from qa.index.build import build_index
from qa.index.sentences import (
    SENTENCE_REFS_FILE,
    TAGS_FILE,
    SentenceTags,
    chunk_sentences,
    tag_key,
    write_sentence_tags,
)
from qa.index.store import IndexCorruptError, load_index
from qa.ingest.chunking import chunk_article
from qa.records import Article
from qa.service import QAService
from qa.settings import PROJECT_ROOT
from qa.text import has_cjk, pos_tags

DEV = PROJECT_ROOT / "tests" / "data" / "dev.jsonl"

ARTICLES = [
    Article(
        id="a-1",
        title="交警整治交通秩序",
        text="市公安局交管部门开展交通秩序整治行动。今年以来共查处交通违法行为二十七万余起。醉驾五百余起。",
        date="2019-09-12",
        source="test",
    ),
    Article(
        id="a-2",
        title="秋粮丰收在望",
        text="农业部门指导农民抢收玉米。全市秋粮播种面积稳中有增，丰收在望。",
        date="2019-09-11",
        source="test",
    ),
]


def write_corpus(folder: Path, articles: list[Article]) -> Path:
    """A JSONL corpus of `articles` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(a.__dict__, ensure_ascii=False) for a in articles]
    (folder / "articles.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def english_questions() -> list[str]:
    """The dev set's questions with no Chinese: the ones whose quote is picked by sentence vectors."""
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["question"] for row in rows if "question" in row and not has_cjk(row["question"])]


def test_every_chunk_has_one_vector_per_sentence_equal_to_embedding_it_alone(seeds_index_dir, embedder):
    index = load_index(seeds_index_dir)
    assert index.sentences is not None and len(index.sentences) == len(index.chunks)
    for row in (0, len(index.chunks) // 2, len(index.chunks) - 1):
        sentences = chunk_sentences(index.chunks[row])
        stored = index.sentence_vectors(row)
        assert stored.shape == (len(sentences), embedder.dim)
        cosines = (stored * embedder.embed_passages(sentences)).sum(axis=1)
        assert cosines.min() > 0.999


def test_english_answers_are_the_same_from_stored_and_from_ask_time_sentence_vectors(settings, embedder):
    stored = QAService.load(settings, embedder=embedder)
    asked_now = QAService.load(settings, embedder=embedder)
    asked_now.index = replace(asked_now.index, sentences=None)  # a store without them embeds at ask time
    questions = english_questions()
    assert len(questions) >= 5
    for question in questions:
        a, b = stored.ask(question), asked_now.ask(question)
        assert (a.short_answer, a.abstained, a.citations) == (b.short_answer, b.abstained, b.citations)


def test_an_english_question_embeds_nothing_but_itself(settings, embedder):
    """With the sentence vectors on disk the answer step runs no model: the question's one vector,
    computed for retrieval, is all the model work an English question costs."""
    service = QAService.load(settings, embedder=embedder)
    calls: list[int] = []
    passages = embedder.embed_passages

    def counting(texts, *args, **kwargs):
        calls.append(len(texts))
        return passages(texts, *args, **kwargs)

    embedder.embed_passages = counting
    try:
        answer = service.ask(english_questions()[0])
    finally:
        del embedder.embed_passages
    assert answer.citations and calls == []


def test_the_question_is_embedded_once_per_ask(embedder):
    queries = RememberedQueries(embedder)
    first = queries.embed_queries(["Who is the mayor?", "许昌市长是谁？"])
    again = queries.embed_queries(["许昌市长是谁？"])
    assert list(queries.vectors) == ["Who is the mayor?", "许昌市长是谁？"]
    np.testing.assert_array_equal(first[1], again[0])


def test_a_rebuild_embeds_only_new_sentences(tmp_path, embedder):
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    first = build_index(corpus, tmp_path / "index", embedder, progress=False)
    assert first.sentences_embedded == 5 and "5 sentences embedded" in first.summary()
    added = Article(id="a-3", title="灯会开幕", text="曹魏古城举办灯会。市民游园赏灯。", date="2019-09-13")
    second = build_index(
        write_corpus(corpus, [*ARTICLES, added]), tmp_path / "index", embedder, progress=False
    )
    assert (second.embedded, second.sentences_embedded) == (1, 2)
    index = load_index(tmp_path / "index")
    row = next(i for i, chunk in enumerate(index.chunks) if chunk.article_id == "a-3")
    assert len(index.sentence_vectors(row)) == 2


def test_damaged_sentence_vectors_ask_for_a_rebuild(tmp_path, embedder):
    report = build_index(
        write_corpus(tmp_path / "corpus", ARTICLES), tmp_path / "index", embedder, progress=False
    )
    np.save(report.path / SENTENCE_REFS_FILE, np.array([0, 99], dtype=np.int32))
    with pytest.raises(IndexCorruptError, match="qa index"):
        load_index(tmp_path / "index")


def test_every_sentence_has_its_jieba_tags_stored(seeds_index_dir):
    index = load_index(seeds_index_dir)
    sentences = {s for chunk in index.chunks for s in chunk_sentences(chunk)}
    assert sentences and {tag_key(s) for s in sentences} == set(index.tags)
    for sentence in sorted(sentences)[::25]:
        assert index.stored_tags(sentence) == pos_tags(sentence)
    assert index.stored_tags("这句话不在资料库里。") is None


def test_the_service_tags_from_the_index_not_from_jieba(settings, embedder):
    service = QAService.load(settings, embedder=embedder)
    sentence = chunk_sentences(service.index.chunks[0])[0]
    assert service.cache.stored == service.index.stored_tags
    assert service.cache.tags(sentence) == pos_tags(sentence)


def test_a_rebuild_tags_only_new_sentences(tmp_path):
    chunks = [c for a in ARTICLES for c in chunk_article(a, 250, 1)]
    first = write_sentence_tags(tmp_path / "first.sqlite", chunks)
    added = chunk_article(Article(id="a-3", title="灯会", text="曹魏古城举办灯会。市民游园赏灯。"), 250, 1)
    second = write_sentence_tags(tmp_path / TAGS_FILE, [*chunks, *added], previous=tmp_path / "first.sqlite")
    assert first == (5, 0) and second == (2, 5)
    assert SentenceTags(tmp_path / TAGS_FILE).get("市民游园赏灯。") == pos_tags("市民游园赏灯。")


def test_a_chinese_candidate_sentence_gains_dense_weight_times_its_cosine_with_the_question(
    settings, embedder
):
    """Word overlap alone ranks a Chinese question's sentences; dense_weight adds the sentence's cosine
    with the question, from the vectors stored at index time (none are embedded at ask time)."""
    from qa.answer import compose
    from qa.answer.retrieve import retrieve

    service = QAService.load(settings, embedder=embedder)
    question = "今年以来市公安局交管部门在市区共查处交通违法行为多少起？"
    hits = retrieve(service.index, service.embedder, question, k=5)
    asked = compose._Asked.of(question, service.index)
    words = replace(service.settings.answer, dense_weight=0.0)
    both = replace(words, dense_weight=0.5)

    def scores(answer_settings):
        evidence = compose._score_candidates(asked, hits, service.index, answer_settings, embedder, None)
        return [c.score for c in evidence.candidates]  # hit by hit, sentence by sentence

    query = embedder.embed_queries([question])[0]
    used = hits[: words.sentences_from]
    cosines = [float(v @ query) for hit in used for v in service.index.sentence_vectors(hit.row)]
    gained = [w - p for p, w in zip(scores(words), scores(both), strict=True)]
    assert gained == pytest.approx([0.5 * c for c in cosines], abs=1e-3)
    assert max(cosines) - min(cosines) > 0.05  # the cosine tells sentences apart


def test_dense_weight_embeds_nothing_at_ask_time_for_a_store_without_sentence_vectors(settings, embedder):
    """A store that keeps no sentence vectors (the Milvus store) scores Chinese sentences by their words
    alone even with dense_weight on: embedding them at ask time cost +355 ms at p50 on the seeds."""
    from qa.answer import compose
    from qa.answer.retrieve import retrieve

    service = QAService.load(settings, embedder=embedder)
    bare = replace(service.index, sentences=None)
    question = "今年以来市公安局交管部门在市区共查处交通违法行为多少起？"
    hits = retrieve(bare, service.embedder, question, k=5)
    asked = compose._Asked.of(question, bare)

    class Refuses:
        """The embedder for queries only: embedding passages here fails the test."""

        def embed_queries(self, texts):
            return embedder.embed_queries(texts)

        def embed_passages(self, texts, **kwargs):
            raise AssertionError("sentences embedded at ask time")

    on = replace(service.settings.answer, dense_weight=0.5)
    off = replace(on, dense_weight=0.0)
    weighed = compose._score_candidates(asked, hits, bare, on, Refuses(), None)
    plain = compose._score_candidates(asked, hits, bare, off, Refuses(), None)
    assert [c.score for c in weighed.candidates] == [c.score for c in plain.candidates]
