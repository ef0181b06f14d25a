"""Are the stage-2 retrieval settings tuned to RGB? Tune on 200 RGB questions, score on the other 200.

Every setting of a grid over the three stage-2 knobs (agreement weight, vote weight, the dense hedge
on/off) ranks all 400 questions once; then, for 5 random splits and both halves of each, the setting
best on the tuning half (hit@1 + hit@5, the shipped one on ties) is scored on the held-out half.
Needs the RGB index (`QA_BENCH_RGB_INDEX`, default /tmp/rgb-index); about 10 minutes on 2 cores, so
`run_all.py` does not run it.

    python benchmarks/heldout.py [--splits 5]
"""

from __future__ import annotations

import argparse
import itertools
import random
import time

import numpy as np
from _common import (
    DEPTH,
    RGB_INDEX,
    RGB_QUESTIONS,
    first_relevant,
    load_embedder,
    log,
    open_service,
    read_jsonl,
    set_threads,
    unique,
    write_result,
)

AGREEMENT = (0.0, 1.0, 2.0, 2.5, 3.0, 4.0)
VOTE = (0.0, 0.2, 0.4, 0.6)
HEDGE = (5, 10**6)  # keep the dense first choice in the top 5, or never


def gold_ranks(service, rows: list[dict], setting: tuple[float, float, int]) -> np.ndarray:
    """1-based rank of the first gold article per question among the top 10 (DEPTH + 1 when absent)."""
    from qa.answer.retrieve import retrieve
    from qa.answer.settings import RetrievalSettings

    agreement, vote, hedge = setting
    settings = RetrievalSettings(agreement_weight=agreement, vote_weight=vote, keep_dense_within=hedge)
    ranks = []
    for row in rows:
        hits = retrieve(service.index, service.embedder, row["question"], k=DEPTH, settings=settings)
        articles = unique([h.chunk.article_id for h in hits])
        ranks.append(first_relevant(articles, set(row["doc_ids"]).__contains__) or DEPTH + 1)
    return np.array(ranks)


def main() -> None:
    """Rank every question under every setting, then cross-validate the choice of setting."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=5, help="Random 200/200 splits (each used both ways).")
    args = parser.parse_args()
    set_threads()
    from qa.answer.settings import RetrievalSettings

    defaults = RetrievalSettings()
    shipped = (defaults.agreement_weight, defaults.vote_weight, defaults.keep_dense_within)
    service = open_service(RGB_INDEX, load_embedder())
    rows = read_jsonl(RGB_QUESTIONS)
    grid = list(itertools.product(AGREEMENT, VOTE, HEDGE))
    started = time.perf_counter()
    ranks = {}
    for setting in grid:
        ranks[setting] = gold_ranks(service, rows, setting)
        log(f"{setting}: hit@1 {(ranks[setting] <= 1).mean():.4f} hit@5 {(ranks[setting] <= 5).mean():.4f}")

    def objective(setting: tuple, part: np.ndarray) -> tuple[float, bool]:
        r = ranks[setting][part]
        return float((r <= 1).mean() + (r <= 5).mean()), setting == shipped

    rng = random.Random(0)
    held: list[dict] = []
    for _ in range(args.splits):
        order = list(range(len(rows)))
        rng.shuffle(order)
        halves = [np.array(order[: len(rows) // 2]), np.array(order[len(rows) // 2 :])]
        for tune, test in (halves, halves[::-1]):
            best = max(grid, key=lambda s, tune=tune: objective(s, tune))
            r = ranks[best][test]
            held.append(
                {"setting": list(best), "hit@1": float((r <= 1).mean()), "hit@5": float((r <= 5).mean())}
            )
    h1, h5 = [h["hit@1"] for h in held], [h["hit@5"] for h in held]
    write_result(
        "heldout",
        {
            "questions": len(rows),
            "settings": len(grid),
            "shipped": list(shipped),
            "shipped_all": {
                "hit@1": round(float((ranks[shipped] <= 1).mean()), 4),
                "hit@5": round(float((ranks[shipped] <= 5).mean()), 4),
            },
            "stage2_off_all": {
                "hit@1": round(float((ranks[(0.0, 0.0, 10**6)] <= 1).mean()), 4),
                "hit@5": round(float((ranks[(0.0, 0.0, 10**6)] <= 5).mean()), 4),
            },
            "held_out": {
                "hit@1_mean": round(float(np.mean(h1)), 4),
                "hit@1_range": [min(h1), max(h1)],
                "hit@5_mean": round(float(np.mean(h5)), 4),
                "hit@5_range": [min(h5), max(h5)],
                "shipped_picked": sum(h["setting"] == list(shipped) for h in held),
                "halves": len(held),
            },
            "seconds": round(time.perf_counter() - started),
        },
    )


if __name__ == "__main__":
    main()
