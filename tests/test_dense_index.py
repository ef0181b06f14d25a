"""Dense index: FAISS inner product over the real model's normalised vectors; save/load round trip."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from qa.index.dense import AUTO_FLAT_MAX, DenseIndex, auto_kind, ivf_params

PASSAGES = [
    "许昌市公安局开展交通秩序整治行动，查处交通违法行为二十多万起。",
    "市民在曹魏古城游园赏灯，欢度中秋佳节。",
    "全市高考报名人数再创新高，考点设在各县区高中。",
    "农业部门指导农民抢收玉米，秋粮丰收在望。",
]
QUESTIONS = ["交警查处了多少交通违法行为？", "中秋节市民去哪里赏灯？", "今年高考报名人数是多少？"]


@pytest.fixture(scope="module")
def vectors(embedder) -> np.ndarray:
    return embedder.embed_passages(PASSAGES)


@pytest.fixture(scope="module")
def queries(embedder) -> np.ndarray:
    return embedder.embed_queries(QUESTIONS)


def test_each_question_finds_its_passage_first(vectors: np.ndarray, queries: np.ndarray) -> None:
    index = DenseIndex.build(vectors)
    scores, rows = index.search(queries, 2)
    assert rows[:, 0].tolist() == [0, 1, 2]
    assert (scores[:, 0] >= scores[:, 1]).all()


def test_scores_are_cosine_similarities(vectors: np.ndarray, queries: np.ndarray) -> None:
    index = DenseIndex.build(vectors)
    scores, rows = index.search(queries[:1], len(PASSAGES))
    expected = vectors[rows[0]] @ queries[0]
    assert scores[0] == pytest.approx(expected, abs=1e-5)
    assert (scores <= 1.0001).all()


def test_save_load_round_trip_gives_equal_results(
    vectors: np.ndarray, queries: np.ndarray, tmp_path: Path
) -> None:
    index = DenseIndex.build(vectors)
    index.save(tmp_path / "dense.faiss")
    loaded = DenseIndex.load(tmp_path / "dense.faiss")
    assert (len(loaded), loaded.dim, loaded.kind) == (len(index), index.dim, "flat")
    for got, want in zip(loaded.search(queries, 3), index.search(queries, 3), strict=True):
        np.testing.assert_array_equal(got, want)


def test_vectors_gives_back_what_was_added(vectors: np.ndarray) -> None:
    np.testing.assert_array_equal(DenseIndex.build(vectors).vectors(), vectors)


def test_k_larger_than_the_index_is_capped(vectors: np.ndarray, queries: np.ndarray) -> None:
    scores, rows = DenseIndex.build(vectors).search(queries, 50)
    assert scores.shape == rows.shape == (len(QUESTIONS), len(PASSAGES))
    assert (rows >= 0).all()


def test_hnsw_kind_finds_the_same_best_passage(
    vectors: np.ndarray, queries: np.ndarray, tmp_path: Path
) -> None:
    index = DenseIndex.build(vectors, kind="hnsw")
    index.save(tmp_path / "hnsw.faiss")
    loaded = DenseIndex.load(tmp_path / "hnsw.faiss")
    assert loaded.kind == "hnsw"
    assert loaded.search(queries, 1)[1][:, 0].tolist() == [0, 1, 2]


def test_search_rejects_queries_of_another_dimension(vectors: np.ndarray) -> None:
    with pytest.raises(ValueError, match="dimension"):
        DenseIndex.build(vectors).search(np.ones((1, 7), np.float32), 1)


def test_search_rejects_non_positive_k(vectors: np.ndarray, queries: np.ndarray) -> None:
    with pytest.raises(ValueError, match="k must be positive"):
        DenseIndex.build(vectors).search(queries, 0)


def test_build_rejects_an_unknown_kind(vectors: np.ndarray) -> None:
    with pytest.raises(ValueError, match="kind"):
        DenseIndex.build(vectors, kind="ivf-pq-9000")


def test_load_of_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no dense index"):
        DenseIndex.load(tmp_path / "missing.faiss")


def test_auto_kind_is_exact_flat_below_the_threshold_and_8_bit_ivf_from_it() -> None:
    assert auto_kind(0) == auto_kind(AUTO_FLAT_MAX - 1) == "flat"
    assert auto_kind(AUTO_FLAT_MAX) == auto_kind(1_000_000) == "ivf-sq8"


def test_auto_build_of_a_small_corpus_is_flat(vectors: np.ndarray) -> None:
    assert DenseIndex.build(vectors, kind="auto").kind == "flat"


def test_ivf_cells_grow_like_sqrt_n_and_at_least_32_are_probed() -> None:
    assert ivf_params(100_000) == (256, 32)
    assert ivf_params(1_000_000) == (1024, 64)
    nlist, nprobe = ivf_params(500)
    assert 40 * nlist <= 500 and nprobe <= nlist


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim))
    points = centres[rng.integers(0, 40, n)] + 0.3 * rng.standard_normal((n, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("kind", ["ivf", "ivf-sq8"])
def test_ivf_kind_finds_the_exact_top_10_and_keeps_nprobe_and_vectors_through_save_load(
    tmp_path: Path, kind: str
) -> None:
    data = _clustered(4000, 32, seed=1)
    queries = _clustered(50, 32, seed=2)
    index = DenseIndex.build(data, kind=kind)
    _, exact = DenseIndex.build(data, kind="flat").search(queries, 10)
    _, approx = index.search(queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.95
    index.save(tmp_path / "ivf.faiss")
    loaded = DenseIndex.load(tmp_path / "ivf.faiss")
    assert loaded.kind == kind
    assert loaded.index.nprobe == index.index.nprobe == ivf_params(4000)[1]
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], approx)
    if kind == "ivf":
        np.testing.assert_array_equal(loaded.vectors(), data)
    else:  # 8 bits per dimension: each stored vector points where the original does
        cosines = np.sum(loaded.vectors() * data, axis=1)
        assert np.median(cosines) > 0.999 and cosines.min() > 0.95


def test_an_ivf_index_is_memory_mapped_on_load_and_a_flat_one_read_whole(tmp_path: Path) -> None:
    data = _clustered(4000, 32, seed=1)
    DenseIndex.build(data, kind="ivf-sq8").save(tmp_path / "ivf.faiss")
    DenseIndex.build(data, kind="flat").save(tmp_path / "flat.faiss")
    ivf = DenseIndex.load(tmp_path / "ivf.faiss").index
    assert type(faiss.downcast_InvertedLists(ivf.invlists)).__name__ == "OnDiskInvertedLists"
    flat = DenseIndex.load(tmp_path / "flat.faiss")
    assert flat.kind == "flat"
    np.testing.assert_array_equal(flat.vectors(), data)
