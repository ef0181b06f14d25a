"""Chunking: sentence-aligned chunks whose text is always the exact article slice."""

from __future__ import annotations

from itertools import pairwise

import pytest

from qa.ingest.chunking import DEFAULT_MAX_CHARS, chunk_article, embedding_text
from qa.records import Article
from qa.settings import PROJECT_ROOT

SEEDS = PROJECT_ROOT / "seeds"


def _article(text: str, title: str = "标题", date: str = "") -> Article:
    return Article(id="a1", title=title, text=text, date=date)


@pytest.fixture(scope="module")
def seed_articles() -> list[Article]:
    from qa.ingest.segment import load_articles

    articles, _problems = load_articles(SEEDS)
    assert articles
    return articles


@pytest.mark.parametrize("max_chars", [60, 150, DEFAULT_MAX_CHARS, 400])
def test_every_seed_chunk_is_the_exact_article_slice(seed_articles: list[Article], max_chars: int) -> None:
    for article in seed_articles:
        for chunk in chunk_article(article, max_chars=max_chars):
            assert chunk.text == article.text[chunk.start : chunk.end], chunk.id
            assert chunk.article_id == article.id
            assert chunk.text == chunk.text.strip()
            assert len(chunk.text) <= max_chars


def test_seed_chunks_cover_every_character_of_the_article(seed_articles: list[Article]) -> None:
    for article in seed_articles:
        covered = set()
        for chunk in chunk_article(article):
            covered.update(range(chunk.start, chunk.end))
        missing = [i for i, ch in enumerate(article.text) if not ch.isspace() and i not in covered]
        assert missing == [], article.id


def test_chunks_end_at_sentence_ends() -> None:
    text = "第一句话很长很长很长很长。第二句话也很长很长很长！第三句话还是很长很长？第四句。"
    chunks = chunk_article(_article(text), max_chars=30, overlap_sentences=0)
    assert [c.text for c in chunks] == [
        "第一句话很长很长很长很长。第二句话也很长很长很长！",
        "第三句话还是很长很长？第四句。",
    ]


def test_closing_quote_stays_with_its_sentence() -> None:
    text = "他说：“我们一定完成任务。”随后大家开始工作，一直忙到深夜才结束。"
    chunks = chunk_article(_article(text), max_chars=20, overlap_sentences=0)
    assert chunks[0].text == "他说：“我们一定完成任务。”"


def test_line_end_ends_a_sentence() -> None:
    text = "小标题一\n这是正文第一段的内容，内容比较长一些。\n小标题二\n这是正文第二段的内容。"
    chunks = chunk_article(_article(text), max_chars=24, overlap_sentences=0)
    assert [c.text for c in chunks] == [
        "小标题一\n这是正文第一段的内容，内容比较长一些。",
        "小标题二\n这是正文第二段的内容。",
    ]


def test_next_chunk_opens_with_the_last_sentence_of_the_previous() -> None:
    text = "".join(f"这是第{i}个句子的内容。" for i in range(12))
    chunks = chunk_article(_article(text), max_chars=40, overlap_sentences=1)
    assert len(chunks) > 2
    for previous, following in pairwise(chunks):
        last_sentence = previous.text[previous.text.rstrip("。").rfind("。") + 1 :]
        assert following.text.startswith(last_sentence)
        assert following.start < previous.end


def test_no_overlap_when_overlap_sentences_is_zero() -> None:
    text = "".join(f"这是第{i}个句子的内容。" for i in range(12))
    chunks = chunk_article(_article(text), max_chars=40, overlap_sentences=0)
    for previous, following in pairwise(chunks):
        assert following.start >= previous.end


def test_sentence_longer_than_max_chars_is_cut_after_a_comma() -> None:
    text = "这一句没有句号但是很长，" * 10
    chunks = chunk_article(_article(text), max_chars=50, overlap_sentences=0)
    assert len(chunks) > 1
    assert all(len(c.text) <= 50 for c in chunks)
    assert all(c.text.endswith("，") for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_chunk_ids_number_the_chunks_of_the_article_in_order() -> None:
    text = "".join(f"这是第{i}个句子的内容。" for i in range(12))
    chunks = chunk_article(_article(text), max_chars=40)
    assert [c.id for c in chunks] == [f"a1:{i}" for i in range(len(chunks))]
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_blank_article_has_no_chunks() -> None:
    assert chunk_article(_article(" \n\n  ")) == []


def test_init_rejects_tiny_max_chars() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        chunk_article(_article("一句话。"), max_chars=5)


def test_embedding_text_starts_with_title_and_date() -> None:
    article = _article("市区新增公交线路三条。", title="公交新线开通", date="2019-09-12")
    [chunk] = chunk_article(article)
    text = embedding_text(chunk, article)
    assert text.startswith("公交新线开通 2019-09-12\n")
    assert text.endswith(chunk.text)


def test_embedding_text_without_title_or_date_is_the_chunk_text() -> None:
    article = _article("市区新增公交线路三条。", title="")
    [chunk] = chunk_article(article)
    assert embedding_text(chunk, article) == chunk.text


def test_a_placeholder_title_is_not_embedded_the_lead_clause_heads_the_chunk_instead():

    article = Article(
        id="p-1",
        title="001_page 2020-11-20 无标题",
        text="11月20日，许继电气有限公司员工正在调试机器人。该公司建设的项目已投产。",
        date="2020-11-20",
        untitled=True,
    )
    chunk = chunk_article(article)[0]
    text = embedding_text(chunk, article)
    assert "无标题" not in text and "001_page" not in text
    assert text.startswith("许继电气有限公司员工正在调试机器人 2020-11-20\n")


def test_lead_clause_drops_a_leading_date_and_cuts_a_long_sentence_at_a_comma():
    from qa.ingest.chunking import lead_clause

    assert lead_clause("近日，市图书馆新馆开放。") == "市图书馆新馆开放"
    long = "魏都区委办公室党支部开展“低碳环保，绿色骑行”活动，通过参观“民生365工程”等方式增强责任感。"
    assert lead_clause(long) == "魏都区委办公室党支部开展“低碳环保，绿色骑行”活动"
