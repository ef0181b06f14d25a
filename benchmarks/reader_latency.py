"""The ask path with and without the trained reader, warm, in one run, on the seeds and on RGB.

For every question, in turn (the order rotating), `QAService.ask` with the shipped reader and the same
service with no reader (the typed rules), so background load hits both alike. Prints p50/p95 of each
and the reader's cost at p50; writes benchmarks/results/reader_latency.json.

    python benchmarks/reader_latency.py [--rounds 1] [--rgb-questions 200] [--variant 'reader_more=3']
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from _common import (
    DEV_SET,
    RGB_INDEX,
    RGB_QUESTIONS,
    interleaved,
    log,
    open_service,
    parse_settings,
    product_embedder,
    questions_of,
    seeds_index,
    set_threads,
    write_result,
)


def compare(service, questions: list[str], rounds: int, variant: dict | None = None) -> dict:
    """p50/p95 of ask with the reader and without it, interleaved (who goes first alternates); with
    `variant` (answer settings), a third leg: the reader with those settings, in the same rotation."""
    calls = {"reader": service.ask, "rules": replace(service, reader=None).ask}
    if variant:
        answer = replace(service.settings.answer, **variant)
        calls["variant"] = replace(
            service, settings=service.settings.model_copy(update={"answer": answer})
        ).ask
    stats = interleaved(calls, questions, rounds)
    with_reader, without = stats["reader"], stats["rules"]
    figures = {
        "questions": len(questions),
        "with_reader": with_reader,
        "rules_only": without,
        "reader_cost_p50_ms": round(with_reader["p50_ms"] - without["p50_ms"], 1),
        "reader_cost_p95_ms": round(with_reader["p95_ms"] - without["p95_ms"], 1),
    }
    if variant:
        figures["variant"] = {"settings": variant, **stats["variant"]}
        figures["variant_cost_p50_ms"] = round(stats["variant"]["p50_ms"] - without["p50_ms"], 1)
    return figures


def main() -> None:
    """Measure on the seeds (dev questions) and on RGB, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--rgb-questions", type=int, default=200)
    parser.add_argument(
        "--variant", default=None, help="Answer settings of a third leg, e.g. 'reader_candidates=4'."
    )
    args = parser.parse_args()
    variant = parse_settings(args.variant) if args.variant else None
    set_threads()
    embedder = product_embedder()
    figures = {}
    for name, index_dir, questions in (
        ("seeds", seeds_index(embedder), questions_of(DEV_SET)),
        ("rgb", RGB_INDEX, questions_of(RGB_QUESTIONS, args.rgb_questions)),
    ):
        log(f"{name}: {len(questions)} questions")
        service = open_service(index_dir, embedder)  # the product's default: the reader on ONNX Runtime
        assert service.reader is not None, "no reader in models/reader/"
        figures[name] = {"reader_backend": service.reader.backend}
        figures[name].update(compare(service, questions, args.rounds, variant))
        print(name, figures[name], flush=True)
    write_result("reader_latency", figures)


if __name__ == "__main__":
    main()
