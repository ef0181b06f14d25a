"""Lexical index: jieba words into bm25s, rows aligned with the texts, save/load without pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.index.lexical import (
    DOC_STARTS_FILE,
    DOC_WORDS_FILE,
    PARAMS_FILE,
    LexicalIndex,
    NpyReader,
    query_tokens,
    tokenize,
)

TEXTS = [
    "许昌市公安局开展交通秩序整治行动，查处交通违法行为。",
    "",
    "市民在曹魏古城游园赏灯，欢度中秋佳节。",
    "。，、",
    "RCEP 成员国包括东盟十国和中国、日本、韩国、澳大利亚、新西兰。",
    "全市高考报名人数再创新高，考点设在各县区高中。",
]


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex.build(TEXTS)


def test_tokenize_drops_punctuation_and_spaces() -> None:
    tokens = tokenize("许昌 市民，欢度中秋！  ")
    assert "许昌" in tokens and "中秋" in tokens
    assert all(token.strip() and token not in "，！" for token in tokens)


def test_tokenize_lowercases_latin_words() -> None:
    assert "rcep" in tokenize("RCEP协定")


def test_tokenize_search_mode_also_yields_the_shorter_words() -> None:
    tokens = tokenize("许昌市公安局")
    assert {"许昌", "公安", "公安局"} <= set(tokens)


def test_search_finds_the_document_with_the_word(index: LexicalIndex) -> None:
    rows = [row for row, _score in index.search("中秋赏灯", 3)]
    assert rows[0] == 2


def test_a_question_word_of_letters_and_digits_finds_a_passage_that_writes_it_apart() -> None:
    """jieba keeps "GPT4" and "CVPR2022" whole in a question, while passages writing "GPT-4" or
    "CVPR 2022" are indexed as two words: the question's word brings its pieces and finds them,
    and still finds a passage that writes it as one word."""
    texts = [
        "OpenAI于3月14日发布GPT-4。",
        "CVPR 2022 将于6月在美国的新奥尔良举行。",
        "近期举行的计算机视觉顶级会议CVPR2022大家关注了没有？",
        "全市高考报名人数再创新高。",
    ]
    lexical = LexicalIndex.build(texts)
    assert query_tokens("GPT4发布时间") == ("gpt4", "发布", "时间", "gpt", "4")
    assert lexical.search("GPT4发布时间", 1)[0][0] == 0
    assert {row for row, _ in lexical.search("CVPR2022在哪举办", 4)} == {1, 2}
    assert query_tokens("许昌市公安局") == tuple(tokenize("许昌市公安局"))  # other words: unchanged


def test_search_is_case_insensitive(index: LexicalIndex) -> None:
    assert index.search("rcep", 1)[0][0] == 4


def test_results_are_best_first_and_only_matching_rows(index: LexicalIndex) -> None:
    results = index.search("交通 高考", 10)
    assert {row for row, _ in results} == {0, 5}
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)


@pytest.mark.parametrize("query", ["", "   ", "，。！", "的了吗", "什么是"])
def test_empty_or_all_stopword_query_returns_nothing(index: LexicalIndex, query: str) -> None:
    assert index.search(query, 5) == []


def test_query_of_unknown_words_returns_nothing(index: LexicalIndex) -> None:
    assert index.search("量子计算机", 5) == []


def test_empty_documents_keep_their_rows(index: LexicalIndex) -> None:
    assert index.num_docs == len(TEXTS)
    assert index.search("高考", 1)[0][0] == 5


def test_index_of_only_empty_documents_answers_nothing() -> None:
    index = LexicalIndex.build(["", "，"])
    assert index.num_docs == 2
    assert index.search("高考", 3) == []


def test_search_rejects_non_positive_k(index: LexicalIndex) -> None:
    with pytest.raises(ValueError, match="k must be positive"):
        index.search("高考", 0)


def test_save_load_round_trip_gives_the_same_results(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert loaded.num_docs == index.num_docs
    for query in ["中秋赏灯", "交通 高考", "RCEP 日本", "的"]:
        assert loaded.search(query, 4) == index.search(query, 4)


def test_save_writes_no_pickle(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "bm25")
    suffixes = {path.suffix for path in (tmp_path / "bm25").iterdir()}
    assert suffixes <= {".json", ".npy"}


def test_load_refuses_an_index_written_with_another_tokenizer(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "bm25")
    params_path = tmp_path / "bm25" / PARAMS_FILE
    params = json.loads(params_path.read_text())
    params["tokenizer"] = "whitespace"
    params_path.write_text(json.dumps(params))
    with pytest.raises(ValueError, match="tokenizer"):
        LexicalIndex.load(tmp_path / "bm25")


def test_load_of_missing_folder_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=PARAMS_FILE):
        LexicalIndex.load(tmp_path / "nothing")


def test_each_document_keeps_its_distinct_words_through_save_and_load(
    index: LexicalIndex, tmp_path: Path
) -> None:
    index.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    words = {i: word for word, i in loaded.bm25.vocab_dict.items()}
    for row, text in enumerate(TEXTS):
        assert sorted(words[int(i)] for i in loaded.words_of(row)) == sorted(set(tokenize(text)))
    assert len(loaded.words_of(1)) == 0


def test_index_saved_before_word_ids_were_stored_still_loads_and_searches(
    index: LexicalIndex, tmp_path: Path
) -> None:
    index.save(tmp_path / "bm25")
    (tmp_path / "bm25" / DOC_WORDS_FILE).unlink()
    (tmp_path / "bm25" / DOC_STARTS_FILE).unlink()
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert loaded.words_of(0) is None
    assert loaded.search("中秋赏灯", 1)[0][0] == 2


def test_a_loaded_index_reads_postings_and_words_by_slices_with_the_same_scores(
    index: LexicalIndex, tmp_path: Path
) -> None:
    index.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert loaded.postings is not None and isinstance(loaded.doc_words, NpyReader)  # not memory-mapped
    whole = LexicalIndex.load(tmp_path / "bm25", mmap=False)
    assert whole.postings is None
    for query in ["曹魏古城", "交通 违法", "玉米 丰收 秋粮", "SUV"]:
        assert loaded.search(query, 10) == whole.search(query, 10) == index.search(query, 10)
    for row in range(len(TEXTS)):
        assert loaded.words_of(row).tolist() == whole.words_of(row).tolist()


@pytest.mark.parametrize("values", [np.arange(1000, dtype=np.int32), np.linspace(0, 1, 77, dtype=np.float32)])
def test_npy_reader_slices_equal_the_array_slices(tmp_path: Path, values: np.ndarray) -> None:
    np.save(tmp_path / "a.npy", values)
    reader = NpyReader(tmp_path / "a.npy")
    assert len(reader) == len(values)
    for start, stop in [(0, 0), (0, 5), (3, 70), (len(values) - 2, len(values) + 10)]:
        np.testing.assert_array_equal(reader[start:stop], values[start:stop])
    with pytest.raises(TypeError):
        reader[::2]
