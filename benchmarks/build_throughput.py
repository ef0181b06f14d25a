"""Build throughput: chunks/s of the product's build vs the model's own forward-pass rate, same chunks.

The corpus is the first --passages RGB passages (a JSONL export, as `qa index` reads it). Measured:
- pipeline: `qa.index.build.build_index` from scratch (read, clean, chunk, embed, FAISS, BM25, write);
- sentence-transformers `encode` on the exact texts the build embedded (prompt included, batch 32);
- the raw forward pass: the same texts tokenised beforehand, length-sorted batches of 32, only
  `model(**batch)` timed (plus mean pooling) — the physical limit of this model on this CPU.
The goal is pipeline >= 80% of the raw rate. The peer's build over the same passages is timed too.

    python benchmarks/build_throughput.py [--passages 2000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from _common import CACHE_DIR, RGB_CORPUS, load_embedder, log, read_jsonl, set_threads, write_result

BATCH = 32


def subset_corpus(passages: int) -> Path:
    """A folder holding the first `passages` RGB passages as one JSONL export."""
    folder = CACHE_DIR / f"rgb-{passages}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corpus.jsonl"
    if not path.exists():
        rows = read_jsonl(RGB_CORPUS)[:passages]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return folder


def embedded_texts(build_dir: Path) -> list[str]:
    """The exact texts the build embedded (chunk text with its headline/date context)."""
    from qa.index.record_store import ArticleTable, ChunkTable, RecordStore
    from qa.index.store import RECORDS_FILE
    from qa.ingest.chunking import embedding_text

    records = RecordStore(build_dir / RECORDS_FILE)
    articles = ArticleTable(records)
    texts = [embedding_text(chunk, articles[chunk.article_id]) for chunk in ChunkTable(records)]
    records.close()
    return texts


def tokenized_batches(embedder, texts: list[str], batch: int = BATCH) -> list[dict[str, Any]]:
    """Length-sorted, padded batches of the prompted texts, as the model's own tokenizer makes them."""
    tokenizer = embedder.model.tokenizer
    prompted = [embedder.passage_prompt + t for t in texts]
    lengths = [
        len(ids)
        for ids in tokenizer(prompted, truncation=True, max_length=embedder.max_seq_length)["input_ids"]
    ]
    order = sorted(range(len(prompted)), key=lambda i: lengths[i])
    return [
        tokenizer(
            [prompted[i] for i in order[begin : begin + batch]],
            padding=True,
            truncation=True,
            max_length=embedder.max_seq_length,
            return_tensors="pt",
        )
        for begin in range(0, len(order), batch)
    ]


def raw_forward_rate(embedder, batches: list[dict[str, Any]]) -> dict[str, float]:
    """Chunks/s of the bare transformer forward + mean pooling on pre-tokenised batches."""
    import torch

    model = embedder.model[0].auto_model.eval()
    with torch.inference_mode():
        model(**{k: v[:4] for k, v in batches[0].items()})  # warm-up
        started = time.perf_counter()
        count = 0
        for batch in batches:
            hidden = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
            count += len(batch["input_ids"])
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "chunks_per_s": round(count / seconds, 1)}


def main() -> None:
    """Time the three rates (and the peer's build) on the same chunks; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=2000, help="RGB passages in the corpus.")
    parser.add_argument("--skip-peer", action="store_true", help="Do not time the peer's build.")
    args = parser.parse_args()
    set_threads()
    from qa.index.build import build_index

    embedder = load_embedder()
    corpus = subset_corpus(args.passages)
    index_dir = CACHE_DIR / f"throughput-index-{args.passages}"
    shutil.rmtree(index_dir, ignore_errors=True)
    embedder.embed_passages(["预热"] * 8)  # warm the model and jieba's dictionary before timing
    from qa.index.lexical import tokenize

    tokenize("预热")

    log(f"pipeline build of {args.passages} passages")
    report = build_index(corpus, index_dir, embedder, progress=False)
    pipeline = {
        "articles": report.articles,
        "chunks": report.chunks,
        "seconds": round(report.seconds, 2),
        "chunks_per_s": round(report.chunks_per_s, 1),
    }
    texts = embedded_texts(report.path)

    log("sentence-transformers encode on the same texts")
    started = time.perf_counter()
    embedder.embed_passages(texts, batch_size=BATCH)
    st_seconds = time.perf_counter() - started
    encode = {"seconds": round(st_seconds, 2), "chunks_per_s": round(len(texts) / st_seconds, 1)}

    log("raw forward pass on the same texts")
    tokenize_started = time.perf_counter()
    batches = tokenized_batches(embedder, texts)
    tokenize_s = time.perf_counter() - tokenize_started
    raw = raw_forward_rate(embedder, batches)

    figures: dict[str, Any] = {
        "corpus": f"first {args.passages} RGB passages",
        "batch": BATCH,
        "pipeline": pipeline,
        "sentence_transformers_encode": encode,
        "raw_forward": {**raw, "tokenize_s": round(tokenize_s, 2)},
        "pipeline_share_of_raw": round(pipeline["chunks_per_s"] / raw["chunks_per_s"], 3),
        "encode_share_of_raw": round(encode["chunks_per_s"] / raw["chunks_per_s"], 3),
    }
    if not args.skip_peer:
        from peer import build_peer, e5_embeddings

        log("peer build over the same passages")
        rows = read_jsonl(corpus / "corpus.jsonl")
        peer = build_peer([(r["id"], r["text"]) for r in rows], e5_embeddings(embedder))
        figures["peer"] = {
            "chunks": peer.chunks,
            "seconds": round(peer.build_s, 2),
            "chunks_per_s": round(peer.chunks / peer.build_s, 1),
            **peer.timings,
        }
    shutil.rmtree(index_dir, ignore_errors=True)
    write_result("build_throughput", figures)


if __name__ == "__main__":
    main()
