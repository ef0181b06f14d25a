"""Memory and end-to-end latency of the real `qa serve`: on the seeds index and on product-format
indexes of 100k and 1M synthetic chunks.

The big indexes are written in the product's own on-disk layout (qa.index.store: CURRENT, builds/<id>/
manifest.json, articles.jsonl, chunks.jsonl, vector_keys.txt, dense.faiss, bm25/) from the same
synthetic corpus as scale.py (real RGB sentences, vectors from real e5 vectors), so the server loads
and searches them exactly as it would a real archive; the dense index is built by the product's
`DenseIndex.build(kind="auto")`, the rule `qa index` applies (IVF-flat from 100k chunks).
Measured per index: seconds from launch to the first answer, p50/p95 of `POST /ask` (RGB questions,
warm), and the server's peak RSS (VmHWM) and RSS after the requests.

    python benchmarks/memory.py [--sizes seeds,100000,1000000] [--questions 60]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

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


def write_synthetic_index(n: int, index_dir: Path) -> Path:
    """A product-format index of n synthetic chunks (4 per article); reused when already there."""
    from qa.index.dense import DenseIndex
    from qa.index.lexical import TOKENIZER
    from qa.index.store import BUILDS_DIR, CURRENT_FILE, FORMAT_VERSION, index_exists

    if index_exists(index_dir):
        return index_dir
    shutil.rmtree(index_dir, ignore_errors=True)
    log(f"writing a {n:,}-chunk product index (once)")
    sentences, tokens = sentence_pool()
    base, _ = base_vectors(len(sentences))
    vectors, main, extra = synthetic_corpus(n, base, len(sentences))
    build_id = f"synthetic-{n}"
    build = index_dir / BUILDS_DIR / build_id
    build.mkdir(parents=True)

    dense = DenseIndex.build(vectors, kind="auto")  # the same rule `qa index` applies at this size
    dense.save(build / "dense.faiss")
    dense_kind = dense.kind
    del dense, vectors

    lexical_from_tokens(main, extra, tokens).save(build / "bm25")
    articles = 0
    with (
        open(build / "chunks.jsonl", "w", encoding="utf-8") as chunks_out,
        open(build / "articles.jsonl", "w", encoding="utf-8") as articles_out,
        open(build / "vector_keys.txt", "w", encoding="ascii") as keys_out,
    ):
        for first in range(0, n, CHUNKS_PER_ARTICLE):
            article_id = f"syn-{first // CHUNKS_PER_ARTICLE:07d}"
            text, spans = "", []
            for row in range(first, min(first + CHUNKS_PER_ARTICLE, n)):
                piece = "".join(sentences[main[row]]) + sentences[extra[row]][0]
                spans.append((row, len(text), len(text) + len(piece), piece))
                text += piece
            for row, start, end, piece in spans:
                chunk = {"id": f"{article_id}-{row}", "article_id": article_id, "start": start, "end": end}
                chunks_out.write(json.dumps({**chunk, "text": piece}, ensure_ascii=False) + "\n")
                keys_out.write(f"{row:032x}\n")
            article = {"id": article_id, "title": "", "text": text, "date": "", "source": "synthetic"}
            articles_out.write(json.dumps(article, ensure_ascii=False) + "\n")
            articles += 1
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
        "dense": {"file": "dense.faiss", "kind": dense_kind, "metric": "inner_product"},
        "lexical": {"dir": "bm25", "tokenizer": TOKENIZER},
    }
    (build / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    (index_dir / CURRENT_FILE).write_text(build_id + "\n", encoding="utf-8")
    return index_dir


def status_mb(pid: int, field: str) -> float:
    """A memory field (VmHWM, VmRSS) of a process from /proc, in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


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
        rows.append({"index": size, **measure_server(index_dir, questions)})
        write_result("memory", {"sizes": rows})


if __name__ == "__main__":
    main()
