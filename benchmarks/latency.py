"""Query latency side by side, warm, in one run: ours (in-process and over HTTP) vs the peer.

For every question, in turn: our `QAService.ask` in this process (as `qa serve` runs it, e5 on ONNX
Runtime, and the same service with e5 on torch), our real `qa serve` (uvicorn on
127.0.0.1) through `POST /ask`, our retrieval step alone (`qa.answer.retrieve.retrieve`, what the peer's
output compares to: passages, no answer), and the peer's `EnsembleRetriever.invoke` (top-3).
The order rotates per question so background load hits all of them alike. Two corpora: the seeds with
the dev questions, and RGB (10,585 passages) with its questions (in-process only).
Ratios are peer p50 / ours p50 (> 1: ours is faster).

    python benchmarks/latency.py [--rounds 2] [--rgb-questions 150]
"""

from __future__ import annotations

import argparse
from typing import Any

from _common import (
    DEV_SET,
    RGB_INDEX,
    RGB_QUESTIONS,
    interleaved,
    load_embedder,
    log,
    open_service,
    product_embedder,
    read_jsonl,
    seeds_index,
    serve,
    set_threads,
    write_result,
)
from peer import build_peer, e5_embeddings, rgb_documents, seeds_documents


def ratios(stats: dict[str, dict[str, float]], ours: list[str]) -> dict[str, float]:
    """peer p50 / ours p50 and peer p95 / ours p95 for each of our variants."""
    peer = stats["peer"]
    return {
        f"peer_over_{name}_{q}": round(peer[f"{q}_ms"] / stats[name][f"{q}_ms"], 2)
        for name in ours
        for q in ("p50", "p95")
    }


def main() -> None:
    """Measure both corpora; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="Passes over the dev questions.")
    parser.add_argument("--questions", type=int, default=0, help="Only the first N dev questions (0: all).")
    parser.add_argument("--rgb-questions", type=int, default=150, help="RGB questions timed (0: skip RGB).")
    args = parser.parse_args()
    set_threads()
    import httpx

    from qa.answer.retrieve import retrieve
    from qa.index.store import load_index

    embedder = load_embedder()
    figures: dict[str, Any] = {"rounds": args.rounds}

    questions = [row["question"] for row in read_jsonl(DEV_SET) if row.get("question")]
    questions = questions[: args.questions] if args.questions else questions
    product = product_embedder()  # what `qa serve` runs: e5 on ONNX Runtime on this CPU
    index_dir = seeds_index(embedder)
    service = open_service(index_dir, product)
    on_torch = open_service(index_dir, embedder)  # the same service, its model run by torch
    index = load_index(index_dir)
    peer = build_peer(seeds_documents(), e5_embeddings(embedder))
    log(f"seeds: {len(questions)} questions x {args.rounds} rounds, server starting")
    with serve(index_dir) as server, httpx.Client(base_url=server.url, timeout=60) as client:

        def over_http(question: str) -> None:
            response = client.post("/ask", json={"question": question})
            response.raise_for_status()

        stats = interleaved(
            {
                "ours_inprocess": service.ask,
                "ours_inprocess_torch": on_torch.ask,
                "ours_http": over_http,
                "ours_retrieval": lambda q: retrieve(index, product, q, k=5),
                "peer": peer.ensemble.invoke,
            },
            questions,
            args.rounds,
        )
    ours = ["ours_inprocess", "ours_inprocess_torch", "ours_http", "ours_retrieval"]
    figures["seeds"] = {"questions": len(questions), "server_ready_s": round(server.ready_s, 1), **stats}
    figures["seeds"]["ratios"] = ratios(stats, ours)
    write_result("latency", figures)

    if args.rgb_questions and (RGB_INDEX / "CURRENT").exists():
        rgb = [row["question"] for row in read_jsonl(RGB_QUESTIONS)][: args.rgb_questions]
        log(f"RGB: {len(rgb)} questions, peer build (cached vectors after the first run)")
        service = open_service(RGB_INDEX, product)
        on_torch = open_service(RGB_INDEX, embedder)
        index = load_index(RGB_INDEX)
        peer = build_peer(rgb_documents(), e5_embeddings(embedder, cache_name="rgb", reuse_index=RGB_INDEX))
        stats = interleaved(
            {
                "ours_inprocess": service.ask,
                "ours_inprocess_torch": on_torch.ask,
                "ours_retrieval": lambda q: retrieve(index, product, q, k=5),
                "peer": peer.ensemble.invoke,
            },
            rgb,
            1,
        )
        figures["rgb"] = {
            "questions": len(rgb),
            "chunks": len(index.chunks),
            "peer_chunks": peer.chunks,
            **stats,
        }
        figures["rgb"]["ratios"] = ratios(stats, ["ours_inprocess", "ours_inprocess_torch", "ours_retrieval"])
        write_result("latency", figures)


if __name__ == "__main__":
    main()
