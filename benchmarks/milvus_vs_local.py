"""The Milvus store against the local one, in one run: hit@1, hit@5, MRR@10 and p50/p95 latency of
`qa eval` on RGB (../shared/eval-external) with the same model, settings and answer step.

Both stores index the same passages: the whole RGB corpus, or with `--passages N` a slice of it (the
gold passages of the chosen questions first, then other passages up to N; only questions whose gold
passages are all in the slice are asked). The local index is built into a folder, the Milvus one into a
milvus-lite file (or `--milvus-uri http://host:19530`); the Milvus build takes the local index's vectors
(as `qa index` does when QA_INDEX_DIR holds a local build), so RGB is embedded once (~13 min on 2 CPU
cores); a rerun reuses the vectors of the indexes it left in $QA_BENCH_CACHE/milvus-vs-local-*/ (an
RGB index built by `qa index` can be copied there as `index/` to skip the embedding). The two stores
are asked one after the other (the load average is in the result file).

    python benchmarks/milvus_vs_local.py --passages 300 --questions 40     # a slice: a few minutes
    python benchmarks/milvus_vs_local.py                                   # all of RGB: ~20 min
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from _common import (
    CACHE_DIR,
    MODEL_CACHE,
    RGB_CORPUS,
    RGB_QUESTIONS,
    load_embedder,
    log,
    read_jsonl,
    write_result,
)


def rgb_slice(passages: int | None, questions: int | None, folder: Path) -> tuple[Path, Path]:
    """A corpus folder and a questions file holding the slice asked for (all of RGB when both are None)."""
    corpus_rows = read_jsonl(RGB_CORPUS)
    question_rows = read_jsonl(RGB_QUESTIONS)
    if questions is not None:
        question_rows = question_rows[:questions]
    if passages is not None:
        gold = [doc for row in question_rows for doc in row.get("doc_ids", [])]
        wanted = list(dict.fromkeys(gold))[:passages]
        others = [row["id"] for row in corpus_rows if row["id"] not in set(wanted)]
        keep = set(wanted + others[: max(0, passages - len(wanted))])
        corpus_rows = [row for row in corpus_rows if row["id"] in keep]
        question_rows = [row for row in question_rows if set(row.get("doc_ids", [])) <= keep]
    shutil.rmtree(folder / "corpus", ignore_errors=True)  # the indexes stay: a rerun reuses their vectors
    (folder / "corpus").mkdir(parents=True)
    corpus = folder / "corpus" / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in corpus_rows), encoding="utf-8"
    )
    asked = folder / "questions.jsonl"
    asked.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in question_rows), encoding="utf-8"
    )
    log(f"{len(corpus_rows)} passages, {len(question_rows)} questions")
    return folder / "corpus", asked


def evaluate(service: Any, questions: Path) -> dict[str, Any]:
    """`qa eval`'s retrieval, answer and latency figures of one service on the questions."""
    from qa.evaluation import run_eval

    report = run_eval(service, questions)
    keys = ("hit@1", "hit@5", "mrr@10", "answer_accuracy", "latency_p50_ms", "latency_p95_ms")
    return {key: report.get(key) for key in keys} | {"questions": report.get("questions")}


def main() -> None:
    """Build both stores over the same passages, evaluate both, write results/milvus_vs_local.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=None, help="Index a slice of this many passages.")
    parser.add_argument("--questions", type=int, default=None, help="Ask only the first N questions.")
    parser.add_argument("--milvus-uri", default=None, help="Milvus URI (default: a milvus-lite file).")
    args = parser.parse_args()

    from qa.service import QAService, rebuild_index
    from qa.settings import Settings

    folder = CACHE_DIR / f"milvus-vs-local-{args.passages or 'all'}"
    corpus, questions = rgb_slice(args.passages, args.questions, folder)
    embedder = load_embedder()
    base = Settings(
        corpus_dir=corpus, index_dir=folder / "index", model_cache_dir=MODEL_CACHE, reader_dir=None
    )
    stores = {
        "local": base,
        "milvus": base.model_copy(
            update={"store": "milvus", "milvus_uri": args.milvus_uri or str(folder / "milvus.db")}
        ),
    }
    builds, services = {}, {}
    for name, settings in stores.items():
        log(f"building the {name} store")
        report = rebuild_index(settings, progress=False, embedder=embedder)
        builds[name] = {"seconds": round(report.seconds, 1), "chunks": report.chunks}
        services[name] = QAService.load(settings, embedder=embedder)
    figures = {}
    for name, service in services.items():
        log(f"asking the {name} store")
        figures[name] = evaluate(service, questions)
    write_result(
        "milvus_vs_local",
        {"passages": args.passages or "all", "builds": builds, "stores": figures},
    )


if __name__ == "__main__":
    main()
