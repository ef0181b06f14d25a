"""Scale: how dense and BM25 query latency, memory and build time grow from the seeds to 1M chunks.

The corpus is synthetic but made of real text: each synthetic chunk is the sentences of one RGB passage
plus one sentence of another (so word statistics, and BM25 posting lengths, are those of real Chinese
news), and its vector is that passage's real e5 vector mixed with the other's plus noise (the real
vectors come from the RGB index at /tmp/rgb-index; queries are the 400 real RGB questions embedded by
the product's embedder). Every sentence is jieba-tokenised once (cached), so BM25 at 1M needs no jieba.

For each size it measures: FAISS flat (exact, the ground truth), IVF-flat (nprobe swept) and HNSW
(efSearch swept; built only up to --hnsw-max chunks, because its build at 1M does not fit 10 min on
2 cores), recall@10 of each against flat, single-query p50/p95, build time, memory; and the product's
BM25 (qa.index.lexical.LexicalIndex) query p50/p95 and memory.

    python benchmarks/scale.py                       # seeds-size, 10k, 100k, 1M
    python benchmarks/scale.py --sizes 2000,10000    # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from typing import Any

import numpy as np
from _common import (
    CACHE_DIR,
    RGB_CORPUS,
    RGB_INDEX,
    RGB_QUESTIONS,
    THREADS,
    latency_stats,
    log,
    read_jsonl,
    rss_mb,
    set_threads,
    write_result,
)

DIM = 384
K = 10
RECALL_TARGET = 0.95
P50_TARGET_MS = 120.0
LEXICAL_K = 50  # candidates the product asks BM25 for (a generous upper bound)
N_QUERIES = 200
OWN_BASE = 3000
NPROBES = (1, 2, 4, 8, 16, 32, 64, 128)
EF_SEARCHES = (16, 32, 64, 128, 256)
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")


# ------------------------------------------------------------------------------------------- data


def sentence_pool() -> tuple[list[list[str]], list[list[list[str]]]]:
    """Per RGB passage: its sentences and their jieba tokens (tokenised once, cached under /tmp)."""
    from qa.index.lexical import TOKENIZER, tokenize

    cache = CACHE_DIR / "rgb-sentences.json"
    if cache.exists():
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("tokenizer") == TOKENIZER:
            return data["sentences"], data["tokens"]
    log("tokenising the RGB corpus sentence by sentence (once)")
    sentences = [
        [s for s in (p.strip() for p in _SENTENCE_END.split(row["text"])) if s] or [row["text"]]
        for row in read_jsonl(RGB_CORPUS)
    ]
    tokens = [[tokenize(s) for s in passage] for passage in sentences]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cache.write_text(
        json.dumps({"tokenizer": TOKENIZER, "sentences": sentences, "tokens": tokens}, ensure_ascii=False),
        encoding="utf-8",
    )
    return sentences, tokens


def base_vectors(n_passages: int) -> tuple[np.ndarray, str]:
    """Real e5 vectors from the RGB index (one per chunk there), or clustered random ones without it."""
    from qa.index.dense import DenseIndex

    current = RGB_INDEX / "CURRENT"
    if current.exists():
        build = RGB_INDEX / "builds" / current.read_text(encoding="utf-8").strip()
        vectors = DenseIndex.load(build / "dense.faiss").vectors()
        return vectors.astype(np.float32), f"real e5 vectors of {len(vectors)} RGB chunks"
    cache = CACHE_DIR / f"rgb-base-vectors-{OWN_BASE}.npy"
    if cache.exists() or os.environ.get("QA_BENCH_EMBED_BASE"):
        if not cache.exists():
            import torch
            from _common import load_embedder

            log(f"no RGB index: embedding the first {OWN_BASE} RGB passages for base vectors (once)")
            torch.set_num_threads(1)  # one thread is faster than two on a loaded 2-core machine
            texts = [row["text"] for row in read_jsonl(RGB_CORPUS)[:OWN_BASE]]
            np.save(cache, load_embedder().embed_passages(texts, batch_size=32))
            set_threads()
        vectors = np.load(cache)
        return vectors, f"real e5 vectors of the first {len(vectors)} RGB passages"
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((300, DIM)).astype(np.float32)
    common = rng.standard_normal(DIM).astype(np.float32) * 3  # e5 vectors share a strong common direction
    vectors = (
        centres[rng.integers(0, 300, n_passages)] + common + rng.standard_normal((n_passages, DIM)) * 0.7
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), "clustered random vectors (no RGB index found)"


def query_vectors(base: np.ndarray) -> tuple[np.ndarray, list[str], str]:
    """The RGB questions embedded by the product's embedder (cached), or perturbed base vectors."""
    questions = [row["question"] for row in read_jsonl(RGB_QUESTIONS)]
    cache = CACHE_DIR / "rgb-query-vectors.npy"
    if cache.exists():
        return np.load(cache), questions, "400 real RGB questions (e5 query vectors)"
    try:
        from _common import load_embedder

        vectors = np.asarray(load_embedder().embed_queries(questions), dtype=np.float32)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
        return vectors, questions, "400 real RGB questions (e5 query vectors)"
    except ImportError:
        rng = np.random.default_rng(11)
        picks = base[rng.integers(0, len(base), len(questions))]
        vectors = picks + rng.standard_normal(picks.shape).astype(np.float32) * 0.03
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors.astype(np.float32), questions, "perturbed base vectors (no embedder yet)"


def synthetic_corpus(
    n: int, base: np.ndarray, n_passages: int, seed: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vectors, main passage per chunk, extra passage per chunk) for n synthetic chunks."""
    rng = np.random.default_rng(seed + n)
    main = rng.integers(0, n_passages, n)
    extra = rng.integers(0, n_passages, n)
    vectors = np.empty((n, DIM), dtype=np.float32)
    step = 100_000
    for begin in range(0, n, step):
        end = min(begin + step, n)
        a = base[main[begin:end] % len(base)]
        b = base[extra[begin:end] % len(base)]
        mix = rng.uniform(0.0, 0.4, (end - begin, 1)).astype(np.float32)
        noise = rng.standard_normal((end - begin, DIM)).astype(np.float32) * 0.02
        block = a + mix * b + noise
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        vectors[begin:end] = block
    return vectors, main, extra


def synthetic_texts(main: np.ndarray, extra: np.ndarray, sentences: list[list[str]]) -> list[str]:
    """Chunk texts: every sentence of the main passage plus the first sentence of the extra one."""
    return [
        "".join(sentences[a]) + sentences[b][0] for a, b in zip(main.tolist(), extra.tolist(), strict=True)
    ]


def lexical_from_tokens(main: np.ndarray, extra: np.ndarray, tokens: list[list[list[str]]]):
    """The product's LexicalIndex over the synthetic chunks, from cached tokens (no jieba at 1M)."""
    import bm25s

    from qa.index.lexical import LexicalIndex

    vocab: dict[str, int] = {}
    passage_ids = [[vocab.setdefault(t, len(vocab)) for s in passage for t in s] for passage in tokens]
    first_ids = [[vocab.setdefault(t, len(vocab)) for t in passage[0]] for passage in tokens]
    ids = [passage_ids[a] + first_ids[b] for a, b in zip(main.tolist(), extra.tolist(), strict=True)]
    bm25 = bm25s.BM25()
    bm25.index((ids, vocab), create_empty_token=False, show_progress=False)
    unique = [sorted(set(doc)) for doc in ids]  # each document's word ids, as LexicalIndex.build keeps them
    starts = np.zeros(len(unique) + 1, dtype=np.int64)
    starts[1:] = np.cumsum([len(doc) for doc in unique])
    words = np.fromiter((i for doc in unique for i in doc), dtype=np.int32, count=int(starts[-1]))
    return LexicalIndex(bm25=bm25, num_docs=len(ids), doc_words=words, doc_starts=starts)


# ------------------------------------------------------------------------------------------- measures


def single_query_ms(index: Any, queries: np.ndarray, k: int = K) -> list[float]:
    """Per-query search time in ms, one query at a time (how the service searches)."""
    for q in queries[:3]:
        index.search(q[None, :], k)
    timings = []
    for q in queries:
        started = time.perf_counter()
        index.search(q[None, :], k)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean |found ∩ truth| / k over queries."""
    hits = [
        len(set(f.tolist()) & set(t.tolist())) / truth.shape[1] for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits))


def measure_flat(vectors: np.ndarray, queries: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """Exact search: build, latency, memory; returns the ground-truth top-k too."""
    import faiss

    before = rss_mb()
    started = time.perf_counter()
    index = faiss.IndexFlatIP(DIM)
    index.add(vectors)
    build_s = time.perf_counter() - started
    memory = rss_mb() - before
    _, truth = index.search(queries, K)
    stats = latency_stats(single_query_ms(index, queries))
    del index
    return {
        "build_s": round(build_s, 2),
        "index_mb": round(vectors.nbytes / 2**20, 1),
        "rss_delta_mb": round(memory, 1),
        "recall_at_10": 1.0,
        **stats,
    }, truth


def choose(sweep: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The fastest setting that reaches the recall target (else the most accurate one)."""
    good = [row for row in sweep if row["recall_at_10"] >= RECALL_TARGET]
    return min(good, key=lambda r: r["p50_ms"]) if good else max(sweep, key=lambda r: r["recall_at_10"])


def ivf_nlist(n: int) -> int:
    """Cells for IVF: the product's rule (qa.index.dense.ivf_params, about sqrt(n))."""
    from qa.index.dense import ivf_params

    return ivf_params(n)[0]


def measure_ivf(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """IVF-flat: train on a sample, add, sweep nprobe."""
    import faiss

    n = len(vectors)
    nlist = ivf_nlist(n)
    before = rss_mb()
    started = time.perf_counter()
    quantizer = faiss.IndexFlatIP(DIM)
    index = faiss.IndexIVFFlat(quantizer, DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = vectors[np.random.default_rng(3).choice(n, min(n, 40 * nlist), replace=False)]
    index.train(sample)
    train_s = time.perf_counter() - started
    index.add(vectors)
    build_s = time.perf_counter() - started
    memory = rss_mb() - before
    sweep = []
    for nprobe in NPROBES:
        if nprobe > nlist:
            break
        index.nprobe = nprobe
        _, found = index.search(queries, K)
        sweep.append(
            {
                "nprobe": nprobe,
                "recall_at_10": round(recall_at_k(found, truth), 4),
                **latency_stats(single_query_ms(index, queries)),
            }
        )
    del index
    best = choose(sweep, "nprobe")
    from qa.index.dense import ivf_params

    product = next((row for row in sweep if row["nprobe"] == ivf_params(n)[1]), None)
    return {
        "nlist": nlist,
        "product_nprobe": product,
        "train_s": round(train_s, 2),
        "build_s": round(build_s, 2),
        "rss_delta_mb": round(memory, 1),
        "chosen": best,
        "sweep": sweep,
    }


def measure_hnsw(vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """HNSW (M=32, the product's HNSW_NEIGHBOURS): build, sweep efSearch."""
    import faiss

    from qa.index.dense import HNSW_NEIGHBOURS

    before = rss_mb()
    started = time.perf_counter()
    index = faiss.IndexHNSWFlat(DIM, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    index.add(vectors)
    build_s = time.perf_counter() - started
    memory = rss_mb() - before
    sweep = []
    for ef in EF_SEARCHES:
        index.hnsw.efSearch = ef
        _, found = index.search(queries, K)
        sweep.append(
            {
                "ef_search": ef,
                "recall_at_10": round(recall_at_k(found, truth), 4),
                **latency_stats(single_query_ms(index, queries)),
            }
        )
    del index
    return {
        "M": HNSW_NEIGHBOURS,
        "build_s": round(build_s, 2),
        "rss_delta_mb": round(memory, 1),
        "chosen": choose(sweep, "ef_search"),
        "sweep": sweep,
    }


def bm25_memory_mb(lexical: Any) -> float:
    """Bytes of the bm25s score arrays (data, indices, indptr) in MiB."""
    return sum(np.asarray(a).nbytes for a in lexical.bm25.scores.values() if hasattr(a, "nbytes")) / 2**20


def measure_bm25(main: np.ndarray, extra: np.ndarray, tokens: list, questions: list[str]) -> dict[str, Any]:
    """The product's BM25 at this size: build (from cached tokens), query latency, memory."""
    started = time.perf_counter()
    lexical = lexical_from_tokens(main, extra, tokens)
    build_s = time.perf_counter() - started
    timings = []
    for q in questions[:3]:
        lexical.search(q, LEXICAL_K)
    for q in questions[:N_QUERIES]:
        begin = time.perf_counter()
        lexical.search(q, LEXICAL_K)
        timings.append((time.perf_counter() - begin) * 1000)
    figures = {
        "build_s_from_tokens": round(build_s, 2),
        "arrays_mb": round(bm25_memory_mb(lexical), 1),
        **latency_stats(timings),
    }
    del lexical
    return figures


def measure_bm25_with_jieba(texts: list[str]) -> dict[str, Any]:
    """LexicalIndex.build exactly as `qa index` runs it (jieba included), for build throughput."""
    from qa.index.lexical import LexicalIndex

    started = time.perf_counter()
    LexicalIndex.build(texts)
    seconds = time.perf_counter() - started
    return {"docs": len(texts), "build_s": round(seconds, 2), "docs_per_s": round(len(texts) / seconds, 1)}


def seeds_chunk_count() -> int:
    """How many chunks the seeds make (the smallest point on the curve)."""
    try:
        from _common import SEEDS_DIR

        from qa.ingest.chunking import chunk_article
        from qa.ingest.segment import load_articles

        articles, _ = load_articles(SEEDS_DIR)
        return sum(len(chunk_article(a)) for a in articles)
    except ImportError:
        return 300


def main() -> None:
    """Measure every size, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="seeds,10000,100000,1000000", help="Comma-separated chunk counts.")
    parser.add_argument("--hnsw-max", type=int, default=100_000, help="Largest size to build HNSW at.")
    parser.add_argument(
        "--jieba-max", type=int, default=100_000, help="Largest size to time jieba BM25 build at."
    )
    args = parser.parse_args()
    set_threads()

    sentences, tokens = sentence_pool()
    base, base_note = base_vectors(len(sentences))
    queries_all, questions, query_note = query_vectors(base)
    queries = np.ascontiguousarray(queries_all[:N_QUERIES], dtype=np.float32)
    sizes = [seeds_chunk_count() if s == "seeds" else int(s) for s in args.sizes.split(",")]

    rows = []
    for n in sizes:
        log(f"size {n:,}: generating")
        vectors, main_ids, extra_ids = synthetic_corpus(n, base, len(sentences))
        row: dict[str, Any] = {"chunks": n}
        log(f"size {n:,}: flat")
        row["flat"], truth = measure_flat(vectors, queries)
        from qa.index.dense import auto_kind

        row["auto_kind"] = auto_kind(n)
        if n >= 1000:
            log(f"size {n:,}: ivf")
            row["ivf"] = measure_ivf(vectors, queries, truth)
        if n <= args.hnsw_max:
            log(f"size {n:,}: hnsw")
            row["hnsw"] = measure_hnsw(vectors, queries, truth)
        log(f"size {n:,}: bm25")
        row["bm25"] = measure_bm25(main_ids, extra_ids, tokens, questions)
        if n <= args.jieba_max:
            log(f"size {n:,}: bm25 build with jieba")
            row["bm25_jieba_build"] = measure_bm25_with_jieba(synthetic_texts(main_ids, extra_ids, sentences))
        del vectors
        rows.append(row)
        log(f"size {n:,}: flat p50 {row['flat']['p50_ms']} ms, bm25 p50 {row['bm25']['p50_ms']} ms")
        write_result(
            "scale",
            {
                "vectors": base_note,
                "queries": query_note,
                "threads": THREADS,
                "k": K,
                "lexical_k": LEXICAL_K,
                "sizes": rows,
            },
        )


if __name__ == "__main__":
    main()
