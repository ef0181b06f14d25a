"""Fit the sure-enough score of read short answers (AnswerSettings.sure_*) on calibration questions.

A short answer is shown in large red type; one that holds no accepted answer misleads more than none
(the quotes still answer). For every short answer the product would show (the score turned off), this
records what the score reads (`answer_question(explain=...)`: the reader's margin on the quoted
sentence, how many other read sentences gave the same answer, whether the question asks several
things), then fits a logistic regression (numpy, L2) of
"holds an accepted answer" on them, and picks the lowest threshold at which no calibration set shows
more than --target of its short answers wrong (the reader issue asks for 25%) -- counted with a margin
for sampling error: the one-sided upper Wilson bound at --confidence (90%) of each set's wrong share,
since a set of ~80 shown answers measures that share only to +-0.05 (fitted on the point estimate
alone, the threshold kept 0.18 and 0.25 wrong on the calibration sets and 0.28 on the report topics).
Thresholds are tried in steps of 0.01, and the fit is made for each margin cap of --caps (a margin
past the cap counts as the cap); the cap whose threshold shows the most short answers is kept: with
the cap at 10 a sentence no other read sentence agrees with could never score above 0.71, so a
0.05 step from 0.70 to 0.75 hid six in seven of the held-out split's short answers at once.
Prints the weights and the trade-off curve per set; report on other questions with `qa eval` after
setting them.

    python benchmarks/calibrate_gate.py \
        --set /tmp/rgb-index:/tmp/qa-bench/news-reader/questions-calibrate.jsonl \
        --set /tmp/qa-bench/reader-heldout/index:/tmp/qa-bench/reader-heldout/questions.jsonl:even
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path
from statistics import NormalDist

import numpy as np
from _common import log, product_embedder, wilson_bounds, write_result

from qa.evaluation import holds_any_answer, read_questions
from qa.service import QAService
from qa.settings import Settings

FEATURES = ("sure_margin", "sure_agree", "sure_compound")
L2 = 1.0  # ridge on the weights (not the intercept): a few hundred rows, keep the fit tame


def gate_rows(service: QAService, questions: Path, split: str) -> list[dict]:
    """What the sure-enough score reads, and the verdict, for every short answer the product would show
    on `questions` (rows of `split`), asked through the service as a user would ask them."""
    rows = []
    for i, row in enumerate(read_questions(questions)):
        if split != "all" and (i % 2 == 0) != (split == "even"):
            continue
        accepted, groups = row.get("answers", []), row.get("answer_groups")
        if not (accepted or groups) or row.get("answerable") is False:
            continue
        explain: dict = {}
        answer = service.ask(row["question"], top_k=10, explain=explain)
        if answer.abstained or not answer.short_answer or not explain:
            continue
        rows.append({**explain, "right": holds_any_answer(answer.short_answer, accepted, groups)})
    return rows


def wilson_upper(wrong: float, shown: int, confidence: float) -> float:
    """The one-sided upper Wilson bound at `confidence` of a share `wrong` measured on `shown` answers."""
    if shown == 0:
        return 0.0
    return wilson_bounds(wrong, shown, NormalDist().inv_cdf(confidence))[1]


def design(rows: list[dict], cap: float) -> np.ndarray:
    """The feature matrix in the order of FEATURES, as `short_answer_confidence` computes them."""
    return np.array(
        [[max(-cap, min(cap, r["margin"])), math.log1p(r["agree"]), float(r["compound"])] for r in rows]
    )


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, steps: int = 50) -> tuple[float, np.ndarray]:
    """Intercept and weights of an L2-penalised logistic regression, by Newton's method."""
    a = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(a.shape[1])
    penalty = np.diag([0.0] + [l2] * x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-a @ w))
        gradient = a.T @ (p - y) + penalty @ w
        hessian = a.T @ (a * (p * (1 - p))[:, None]) + penalty
        w -= np.linalg.solve(hessian, gradient)
    return float(w[0]), w[1:]


THRESHOLDS = np.round(np.arange(0.0, 0.991, 0.01), 2)  # sure_min tried, finely: the curve has cliffs


def fit_at_cap(
    sets: dict[str, list[dict]], rows: list[dict], y: np.ndarray, cap: float, target: float, confidence: float
) -> dict:
    """The logistic fitted with margins clipped at `cap`, its trade-off curve per set, and the lowest
    threshold at which no set's upper bound of the wrong share exceeds `target`."""
    bias, weights = fit_logistic(design(rows, cap), y)
    scored = {  # each set's probabilities and verdicts, once: only the threshold moves below
        spec: (
            1 / (1 + np.exp(-(bias + design(found, cap) @ weights))),
            np.array([r["right"] for r in found], dtype=bool),
        )
        for spec, found in sets.items()
    }
    curve = []
    for threshold in THRESHOLDS:
        point: dict = {"sure_min": float(threshold)}
        for spec, (p, right) in scored.items():
            shown = p >= threshold
            wrong = float(1 - right[shown].mean()) if shown.any() else 0.0
            point[spec] = {
                "kept": int(shown.sum()),
                "of": len(right),
                "shown_and_wrong": round(wrong, 4),
                "upper_bound": round(wilson_upper(wrong, int(shown.sum()), confidence), 4),
            }
        curve.append(point)
    chosen = next((c for c in curve if all(c[spec]["upper_bound"] <= target for spec in sets)), curve[-1])
    fitted = {
        "sure_bias": round(bias, 3),
        **{k: round(float(w), 3) for k, w in zip(FEATURES, weights, strict=True)},
        "sure_margin_cap": cap,
        "sure_min": chosen["sure_min"],
    }
    shown = sum(chosen[spec]["kept"] for spec in sets)
    wrong = round(sum(chosen[spec]["kept"] * chosen[spec]["shown_and_wrong"] for spec in sets))
    return {"fitted": fitted, "curve": curve, "shown": shown, "wrong": wrong}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--set",
        action="append",
        required=True,
        help="INDEX_DIR:QUESTIONS[:even|odd|all], repeat for several calibration sets",
    )
    parser.add_argument("--target", type=float, default=0.25, help="Highest shown-and-wrong share allowed.")
    parser.add_argument(
        "--confidence",
        type=float,
        default=0.9,
        help="The target must hold for the upper bound at this confidence (0.5: the point estimate).",
    )
    parser.add_argument(
        "--caps",
        type=lambda text: [float(c) for c in text.split(",")],
        default=[10.0, 12.0, 15.0, 20.0],
        help="Margin caps tried (comma-separated); the one showing the most short answers is kept.",
    )
    args = parser.parse_args()
    embedder = product_embedder()
    sets: dict[str, list[dict]] = {}
    for spec in args.set:
        index_dir, questions, *rest = spec.split(":")
        settings = Settings(index_dir=Path(index_dir))
        settings = settings.model_copy(update={"answer": replace(settings.answer, sure_min=0.0)})
        service = QAService.load(settings, embedder=embedder)
        sets[spec] = gate_rows(service, Path(questions), rest[0] if rest else "all")
        log(f"{spec}: {len(sets[spec])} short answers, {sum(not r['right'] for r in sets[spec])} wrong")
    rows = [r for found in sets.values() for r in found]
    y = np.array([float(r["right"]) for r in rows])
    fits = [fit_at_cap(sets, rows, y, cap, args.target, args.confidence) for cap in args.caps]
    # the cap whose threshold shows the most short answers on the calibration sets (fewer wrong on a tie)
    best = max(fits, key=lambda f: (f["shown"], -f["wrong"]))
    fitted, curve = best["fitted"], best["curve"]
    for fit in fits:
        log(
            f"cap {fit['fitted']['sure_margin_cap']}: sure_min {fit['fitted']['sure_min']}, "
            f"{fit['shown']} shown, {fit['wrong']} wrong"
        )
    counts = {"rows": len(rows), "wrong": int((1 - y).sum())}
    write_result(
        "calibrate_gate",
        {
            "sets": args.set,
            "target": args.target,
            "confidence": args.confidence,
            **counts,
            "fitted": fitted,
            "curve": curve,
        },
    )


if __name__ == "__main__":
    main()
