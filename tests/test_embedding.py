"""Embedder: offline loading by name or folder path, prompts, unit vectors, save/load, multilingual search."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from qa.index.e5_convert import ensure_e5_model, tokenizer_file
from qa.index.embedding import Embedder

PASSAGES = [
    "市公安局交管部门开展交通秩序整治，重点查处闯红灯、乱停车、酒后驾驶等违法行为。",
    "许昌市图书馆新馆今天正式开放，市民凭身份证即可免费借阅图书。",
    "今年夏粮喜获丰收，全市小麦平均亩产达到五百公斤，创历史新高。",
    "我市举办第十届中小学生运动会，共有三千多名学生参加田径和游泳比赛。",
    "市人民医院开通急救绿色通道，心梗患者从入院到手术不超过九十分钟。",
]


@pytest.fixture(scope="module")
def promptless_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, tiny sentence-transformers folder with no prompts, standing in for e.g. a bge-zh model."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    folder = tmp_path_factory.mktemp("promptless")
    hf_dir = folder / "hf"
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=250002,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        type_vocab_size=1,
    )
    XLMRobertaModel(config).save_pretrained(hf_dir)
    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_file()), model_max_length=128)
    tokenizer.save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=128)
    modules = [transformer, Pooling(32, pooling_mode="mean"), Normalize()]
    model = SentenceTransformer(modules=modules, device="cpu")
    model.save(str(folder / "st"))
    return folder / "st"


def test_e5_loads_with_its_own_query_and_passage_prompts(embedder: Embedder) -> None:
    assert embedder.name == "multilingual-e5-small"
    assert (embedder.dim, embedder.max_seq_length) == (384, 512)
    assert (embedder.query_prompt, embedder.passage_prompt) == ("query: ", "passage: ")


def test_vectors_are_unit_length_float32_rows(embedder: Embedder) -> None:
    passages = embedder.embed_passages(PASSAGES[:3], batch_size=2)
    queries = embedder.embed_queries(["图书馆什么时候开放？", "when does the library open"])
    assert passages.shape == (3, 384) and queries.shape == (2, 384)
    assert passages.dtype == np.float32 and queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)


def test_empty_list_gives_zero_rows(embedder: Embedder) -> None:
    assert embedder.embed_passages([]).shape == (0, 384)
    assert embedder.embed_queries([]).shape == (0, 384)
    assert embedder.embed_queries([]).dtype == np.float32


def test_single_string_is_refused_instead_of_embedded_per_character(embedder: Embedder) -> None:
    with pytest.raises(TypeError, match="list of texts"):
        embedder.embed_passages("许昌")  # type: ignore[arg-type]


def test_query_and_passage_prompts_are_put_in_front_of_the_text(embedder: Embedder) -> None:
    same_prompts = dataclasses.replace(embedder, query_prompt="passage: ")
    text = ["许昌市图书馆新馆正式开放"]
    np.testing.assert_allclose(same_prompts.embed_queries(text), embedder.embed_passages(text), atol=1e-5)
    assert float(embedder.embed_queries(text)[0] @ embedder.embed_passages(text)[0]) < 0.999


def test_converted_folder_path_loads_through_the_same_model_setting(embedder: Embedder, model_cache_dir):
    folder = ensure_e5_model(model_cache_dir)
    by_path = Embedder.load(str(folder))
    assert by_path.name == str(folder)
    assert (by_path.query_prompt, by_path.passage_prompt) == ("query: ", "passage: ")
    np.testing.assert_allclose(by_path.embed_passages(PASSAGES), embedder.embed_passages(PASSAGES), atol=1e-5)


def test_model_without_prompts_gets_empty_prompts(promptless_model_dir: Path) -> None:
    other = Embedder.load(str(promptless_model_dir))
    assert (other.query_prompt, other.passage_prompt) == ("", "")
    assert (other.dim, other.max_seq_length) == (32, 128)
    vectors = other.embed_passages(PASSAGES)
    assert vectors.shape == (len(PASSAGES), 32)
    np.testing.assert_allclose(other.embed_queries(PASSAGES), vectors, atol=1e-6)  # no prompt either side


def test_explicit_prompts_override_the_model_configuration(promptless_model_dir: Path) -> None:
    other = Embedder.load(str(promptless_model_dir), query_prompt="问：", passage_prompt="文：")
    assert (other.query_prompt, other.passage_prompt) == ("问：", "文：")


def test_threads_setting_sets_torch_threads(promptless_model_dir: Path) -> None:
    before = torch.get_num_threads()
    try:
        Embedder.load(str(promptless_model_dir), threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_save_then_load_gives_equal_vectors(embedder: Embedder, tmp_path: Path) -> None:
    saved = embedder.save(tmp_path / "copy")
    reloaded = Embedder.load(str(saved))
    assert reloaded.query_prompt == embedder.query_prompt
    assert reloaded.passage_prompt == embedder.passage_prompt
    asked = ["交通整治查处哪些行为？"]
    texts = PASSAGES
    np.testing.assert_allclose(reloaded.embed_passages(texts), embedder.embed_passages(texts), atol=1e-6)
    np.testing.assert_allclose(reloaded.embed_queries(asked), embedder.embed_queries(asked), atol=1e-6)


def test_missing_model_path_raises_clear_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither 'multilingual-e5-small' nor an existing folder"):
        Embedder.load(str(tmp_path / "no-such-model"))


def test_hub_style_name_is_not_downloaded() -> None:
    with pytest.raises(ValueError, match="nothing is downloaded"):
        Embedder.load("BAAI/bge-small-zh-v1.5")


def test_folder_without_a_model_raises_clear_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot load embedding model"):
        Embedder.load(str(tmp_path))


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("交通秩序整治查处了哪些违法行为？", 0),
        ("新图书馆怎么借书？", 1),
        ("小麦亩产是多少？", 2),
        ("When did the new city library open to the public?", 1),
        ("How high was the wheat yield this summer?", 2),
        ("How fast are heart attack patients operated on at the hospital?", 4),
    ],
)
def test_question_finds_its_chinese_passage_among_distractors(embedder: Embedder, question: str, expected):
    scores = embedder.embed_passages(PASSAGES) @ embedder.embed_queries([question])[0]
    assert int(np.argmax(scores)) == expected, scores
