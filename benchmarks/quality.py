"""Quality side by side: hit@1/3/5 and MRR@10 for ours vs the LangChain-Chatchat peer.

Two question sets, both pipelines on the same corpus with the same embedding model:
- dev: tests/data/dev.jsonl over the seeds. A retrieved passage is relevant when it contains one of
  the question's verbatim `evidence` strings (single-turn answerable questions only).
- RGB: ../shared/eval-external/questions.jsonl over its 10,585 passages (our index at /tmp/rgb-index).
  Relevant = a gold passage id (ours: the article id of each passage; peer: the source doc id).

The peer's own output is its fused top-3 (hit@1, hit@3 of the recipe as deployed); hit@5 and MRR@10
fuse the same two retrievers at depth 10 with LangChain's own weighted reciprocal rank.

    python benchmarks/quality.py [--rgb-limit 400]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from _common import (
    DEPTH,
    DEV_SET,
    RGB_INDEX,
    RGB_QUESTIONS,
    first_relevant,
    load_embedder,
    log,
    open_service,
    read_jsonl,
    seeds_index,
    set_threads,
    unique,
    write_result,
)
from peer import Peer, build_peer, e5_embeddings, rgb_documents, seeds_documents


def rank_metrics(ranks: list[int | None]) -> dict[str, float]:
    """hit@1/3/5/10 and MRR@10 from first-relevant ranks."""
    n = len(ranks) or 1
    figures = {f"hit@{k}": round(sum(1 for r in ranks if r and r <= k) / n, 4) for k in (1, 3, 5, 10)}
    figures["mrr@10"] = round(sum(1 / r for r in ranks if r) / n, 4)
    figures["questions"] = len(ranks)
    return figures


def dev_questions() -> list[dict[str, Any]]:
    """Single-turn answerable dev questions with verbatim evidence."""
    return [row for row in read_jsonl(DEV_SET) if row.get("answerable") and row.get("evidence")]


def contains_evidence(evidence: list[str]) -> Callable[[str], bool]:
    """A test: does a passage text contain one of the evidence strings?"""
    return lambda text: any(piece in text for piece in evidence)


def ours_dev(service, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Our service on the dev set: rank of the first passage holding the evidence."""
    ranks = []
    for row in questions:
        passages = service.ask(row["question"], top_k=DEPTH).passages
        ranks.append(first_relevant([p.text for p in passages], contains_evidence(row["evidence"])))
    return rank_metrics(ranks)


def peer_eval(
    peer: Peer, questions: list[dict[str, Any]], key: Callable, relevant: Callable
) -> dict[str, Any]:
    """The peer: recipe top-3 figures and depth-10 figures."""
    top3_ranks, deep_ranks = [], []
    for row in questions:
        top3, deep = peer.ranked(row["question"], DEPTH)
        test = relevant(row)
        top3_ranks.append(first_relevant(key(top3), test, 3))
        deep_ranks.append(first_relevant(key(deep), test))
    recipe = rank_metrics(top3_ranks)
    return {
        "top3_recipe": {k: recipe[k] for k in ("hit@1", "hit@3", "questions")},
        **rank_metrics(deep_ranks),
    }


def ours_rgb(service, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Our service on RGB: rank of the first gold passage among the distinct article ids returned."""
    ranks = []
    for row in questions:
        passages = service.ask(row["question"], top_k=DEPTH * 2).passages
        ids = unique([p.article_id for p in passages])
        gold = set(row["doc_ids"])
        ranks.append(first_relevant(ids, gold.__contains__))
    return rank_metrics(ranks)


def main() -> None:
    """Run both pipelines on both sets; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rgb-limit", type=int, default=400, help="Only the first N RGB questions.")
    parser.add_argument("--skip-rgb", action="store_true", help="Dev set only.")
    args = parser.parse_args()
    set_threads()
    embedder = load_embedder()
    figures: dict[str, Any] = {"depth": DEPTH}

    log("dev: ours")
    dev = dev_questions()
    service = open_service(seeds_index(embedder), embedder)
    started = time.perf_counter()
    figures["dev"] = {"ours": ours_dev(service, dev)}
    figures["dev"]["ours"]["seconds"] = round(time.perf_counter() - started, 1)
    log("dev: peer")
    peer = build_peer(seeds_documents(), e5_embeddings(embedder))
    figures["dev"]["peer"] = peer_eval(
        peer,
        dev,
        key=lambda docs: [d.page_content for d in docs],
        relevant=lambda row: contains_evidence(row["evidence"]),
    )
    figures["dev"]["peer"]["chunks"] = peer.chunks
    write_result("quality", figures)

    if args.skip_rgb or not (RGB_INDEX / "CURRENT").exists():
        log(f"RGB skipped (no index at {RGB_INDEX})")
        return
    rgb = read_jsonl(RGB_QUESTIONS)[: args.rgb_limit]
    log(f"RGB: ours ({len(rgb)} questions)")
    service = open_service(RGB_INDEX, embedder)
    figures["rgb"] = {"ours": ours_rgb(service, rgb)}
    log("RGB: peer (build, cached vectors after the first run)")
    peer = build_peer(rgb_documents(), e5_embeddings(embedder, cache_name="rgb", reuse_index=RGB_INDEX))
    figures["rgb"]["peer"] = peer_eval(
        peer,
        rgb,
        key=lambda docs: unique([d.metadata["doc_id"] for d in docs]),
        relevant=lambda row: set(row["doc_ids"]).__contains__,
    )
    figures["rgb"]["peer"]["chunks"] = peer.chunks
    write_result("quality", figures)


if __name__ == "__main__":
    main()
