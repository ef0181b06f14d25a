"""Memory and end-to-end latency of the real `qa serve`: on the seeds index and on product-format
indexes of 100k and 1M synthetic chunks.

The big indexes are written by the product's own writers in its on-disk layout (qa.index.store:
CURRENT, builds/<id>/manifest.json, records.sqlite via `write_records`, vector_keys.txt, dense.faiss
via `DenseIndex.build(kind="auto")`, bm25/ via `LexicalIndex.save`) from the same synthetic corpus as
scale.py (real RGB sentences; vectors from real e5 vectors when an RGB index or cached base vectors
exist, else clustered random ones), so the server loads and searches them exactly as it would a real
archive. Writing one also measures the recall@10 of its dense index against exact search (and of
IVF-flat with the same cells, for comparison). Measured per index: seconds from launch to the first
answer, p50/p95 of `POST /ask` (RGB questions, warm), and the server's peak RSS (VmHWM) and RSS after
the requests.

    python benchmarks/memory.py [--sizes seeds,100000,1000000] [--questions 60]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    CACHE_DIR,
    RGB_QUESTIONS,
    latency_stats,
    load_embedder,
    log,
    read_jsonl,
    seeds_index,
    serve,
    set_threads,
    write_result,
)
from scale import DIM, base_vectors, lexical_from_tokens, sentence_pool, synthetic_corpus

CHUNKS_PER_ARTICLE = 4
RECALL_QUERIES = 200
RECALL_FILE = "dense_recall.json"  # beside CURRENT: the recall measured when the index was written


def _current_format(index_dir: Path) -> bool:
    """True when `index_dir` holds a live build that this code loads (an old format is written again)."""
    from qa.index.store import IndexLoadError, load_index

    try:
        load_index(index_dir)
    except IndexLoadError:
        return False
    return True


def _synthetic_records(
    n: int, sentences: list[list[str]], main: np.ndarray, extra: np.ndarray
) -> tuple[Iterator[Any], Iterator[Any]]:
    """(articles, chunks) of the synthetic corpus as generators: 4 chunks per article, chunk text =
    every sentence of its main passage + the first of its extra one, `text == article.text[start:end]`."""
    from qa.records import Article, Chunk

    def pieces(first: int) -> list[str]:
        rows = range(first, min(first + CHUNKS_PER_ARTICLE, n))
        return ["".join(sentences[main[row]]) + sentences[extra[row]][0] for row in rows]

    def articles() -> Iterator[Article]:
        for first in range(0, n, CHUNKS_PER_ARTICLE):
            article_id = f"syn-{first // CHUNKS_PER_ARTICLE:07d}"
            yield Article(id=article_id, title="", text="".join(pieces(first)), source="synthetic")

    def chunks() -> Iterator[Chunk]:
        for first in range(0, n, CHUNKS_PER_ARTICLE):
            article_id, start = f"syn-{first // CHUNKS_PER_ARTICLE:07d}", 0
            for offset, piece in enumerate(pieces(first)):
                row = first + offset
                yield Chunk(f"{article_id}-{row}", article_id, start, start + len(piece), piece)
                start += len(piece)

    return articles(), chunks()


def dense_recall(vectors: np.ndarray, dense: Any, queries: np.ndarray, k: int = 10) -> dict[str, Any]:
    """recall@k of `dense` against exact inner-product search, and of IVF-flat with the same cells and
    probes (what the index would be without 8-bit vectors)."""
    import faiss

    from qa.index.dense import DenseIndex

    scores = queries @ vectors.T  # (q, n): exact, in one BLAS call
    exact = np.argpartition(-scores, k, axis=1)[:, :k]
    del scores

    def recall(found: np.ndarray) -> float:
        return round(float(np.mean([len(set(f) & set(e)) / k for f, e in zip(found, exact, strict=True)])), 4)

    figures = {
        "kind": dense.kind,
        "queries": len(queries),
        f"recall@{k}": recall(dense.search(queries, k)[1]),
    }
    if isinstance(dense.index, faiss.IndexIVF):
        flat = DenseIndex.build(vectors, kind="ivf")
        figures["nlist"], figures["nprobe"] = int(flat.index.nlist), int(flat.index.nprobe)
        figures[f"ivf_flat_recall@{k}"] = recall(flat.search(queries, k)[1])
    return figures


def write_synthetic_index(n: int, index_dir: Path) -> Path:
    """A product-format index of n synthetic chunks (4 per article); reused when already there in the
    current format."""
    from qa.index.dense import DenseIndex
    from qa.index.lexical import TOKENIZER
    from qa.index.record_store import write_records
    from qa.index.store import (
        BUILDS_DIR,
        DENSE_FILE,
        FORMAT_VERSION,
        KEYS_FILE,
        LEXICAL_DIR,
        MANIFEST_FILE,
        RECORDS_FILE,
        fsync_tree,
        point_current_at,
    )

    if _current_format(index_dir):
        return index_dir
    shutil.rmtree(index_dir, ignore_errors=True)
    log(f"writing a {n:,}-chunk product index (once)")
    sentences, tokens = sentence_pool()
    base, base_kind = base_vectors(len(sentences))
    vectors, main, extra = synthetic_corpus(n, base, len(sentences))
    build_id = f"synthetic-{n}"
    build = index_dir / BUILDS_DIR / build_id
    build.mkdir(parents=True)

    started = time.perf_counter()
    dense = DenseIndex.build(vectors, kind="auto")  # the same rule `qa index` applies at this size
    dense.save(build / DENSE_FILE)
    log(f"dense index ({dense.kind}) in {time.perf_counter() - started:.1f} s")
    rng = np.random.default_rng(5)
    picks = vectors[rng.choice(n, RECALL_QUERIES, replace=False)]
    queries = picks + rng.standard_normal(picks.shape).astype(np.float32) * 0.05
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = {"base_vectors": base_kind, **dense_recall(vectors, dense, queries.astype(np.float32))}
    log(f"dense recall: {recall}")
    dense_kind = dense.kind
    del dense, vectors

    lexical_from_tokens(main, extra, tokens).save(build / LEXICAL_DIR)
    started = time.perf_counter()
    articles, chunks = write_records(build / RECORDS_FILE, *_synthetic_records(n, sentences, main, extra))
    log(f"records ({articles:,} articles, {chunks:,} chunks) in {time.perf_counter() - started:.1f} s")
    (build / KEYS_FILE).write_text("".join(f"{row:032x}\n" for row in range(n)), encoding="ascii")
    manifest = {
        "format_version": FORMAT_VERSION,
        "build_id": build_id,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "model": "multilingual-e5-small",
        "model_id": "multilingual-e5-small|passage: ",
        "dim": DIM,
        "counts": {"articles": articles, "chunks": n, "problems": 0},
        "corpus": "synthetic (benchmarks/memory.py)",
        "corpus_fingerprint": f"synthetic-{n}",
        "dense": {"file": DENSE_FILE, "kind": dense_kind, "metric": "inner_product"},
        "lexical": {"dir": LEXICAL_DIR, "tokenizer": TOKENIZER},
    }
    (build / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    (index_dir / RECALL_FILE).write_text(json.dumps(recall, indent=2), encoding="utf-8")
    fsync_tree(build)
    point_current_at(index_dir, build_id)
    return index_dir


def status_mb(pid: int, field: str) -> float:
    """A memory field (VmHWM, VmRSS) of a process from /proc, in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def record_reads(index_dir: Path, reads: int = 2000) -> dict[str, Any]:
    """Microseconds per chunk read and per article read from the index's records file (random rows,
    new tables so nothing is cached), and the seconds `load_index` takes, in this process."""
    import random

    from qa.index.record_store import ArticleTable, ChunkTable
    from qa.index.store import load_index

    started = time.perf_counter()
    index = load_index(index_dir)
    load_s = time.perf_counter() - started
    store = index.chunks.store
    chunks, articles = ChunkTable(store), ArticleTable(store)
    rows = random.Random(3).sample(range(len(chunks)), min(reads, len(chunks)))
    started = time.perf_counter()
    ids = [chunks[row].article_id for row in rows]
    chunk_us = (time.perf_counter() - started) / len(rows) * 1e6
    started = time.perf_counter()
    for article_id in ids:
        articles[article_id]
    article_us = (time.perf_counter() - started) / len(ids) * 1e6
    store.close()
    return {
        "load_index_s": round(load_s, 3),
        "chunk_read_us": round(chunk_us, 1),
        "article_read_us": round(article_us, 1),
    }


def measure_server(index_dir: Path, questions: list[str]) -> dict[str, Any]:
    """Launch `qa serve`, time /ask over HTTP, read its peak RSS."""
    import httpx

    with serve(index_dir, timeout_s=600) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        pid = server.process.pid
        after_load = status_mb(pid, "VmRSS")
        for question in questions[:3]:
            client.post("/ask", json={"question": question}).raise_for_status()
        timings, retrieve_ms = [], []
        for question in questions:
            started = time.perf_counter()
            response = client.post("/ask", json={"question": question})
            timings.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            retrieve_ms.append(float(response.json().get("timings_ms", {}).get("retrieve", float("nan"))))
        return {
            "ready_s": round(server.ready_s, 1),
            "rss_after_load_mb": after_load,
            "rss_after_requests_mb": status_mb(pid, "VmRSS"),
            "peak_rss_mb": status_mb(pid, "VmHWM"),
            "http_ask": latency_stats(timings),
            "server_retrieve": latency_stats(retrieve_ms),
        }


def main() -> None:
    """Each size: build (once) the index, serve it, measure; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="seeds,100000,1000000", help="'seeds' and/or chunk counts.")
    parser.add_argument("--questions", type=int, default=60, help="RGB questions asked per server.")
    args = parser.parse_args()
    set_threads()
    questions = [row["question"] for row in read_jsonl(RGB_QUESTIONS)][: args.questions]
    rows = []
    for size in args.sizes.split(","):
        if size == "seeds":
            index_dir = seeds_index(load_embedder())
        else:
            index_dir = write_synthetic_index(int(size), CACHE_DIR / f"index-{int(size)}")
        log(f"serving {size}")
        row = {"index": size, **measure_server(index_dir, questions), "records": record_reads(index_dir)}
        if (index_dir / RECALL_FILE).is_file():
            row["dense_recall"] = json.loads((index_dir / RECALL_FILE).read_text(encoding="utf-8"))
        rows.append(row)
        write_result("memory", {"sizes": rows})


if __name__ == "__main__":
    main()
