"""A reader folder through the whole product on every set the reader issue is judged on, in one run.

What a session that trains a new reader (on a lent accelerator: scripts/device-train-reader.sh) runs
first, to see it beside the shipped one: RGB's calibrate and report topics
(`benchmarks/news_reader_data.py`), the reader's held-out split in even and odd rows
(`benchmarks/reader_heldout.py` builds its index) and the dev set over the seeds. The calibrate topics
and the even rows are where settings are chosen; the report topics, the odd rows and dev are only
scored. Prints one line per set; writes benchmarks/results/reader_sets.json.

    python benchmarks/reader_sets.py [--reader models/reader] [--seeds-index embeddings]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from _common import (
    CACHE_DIR,
    DEV_SET,
    PROJECT_ROOT,
    RGB_INDEX,
    log,
    product_embedder,
    wilson_interval,
    write_result,
)
from calibrate_reader import split_file

from qa.evaluation import run_eval
from qa.service import QAService, load_reader
from qa.settings import Settings

FIGURES = (
    "hit@5",
    "answer_accuracy",
    "short_answer_shown",
    "shown_and_wrong",
    "short_exact_match",
    "short_f1",
    "abstention_accuracy",
    "false_abstention_rate",
)


def main() -> None:
    """Ask every set's questions with the reader in --reader and print a line of figures per set."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reader", type=Path, default=PROJECT_ROOT / "models" / "reader")
    parser.add_argument("--rgb-index", type=Path, default=RGB_INDEX)
    parser.add_argument("--news", type=Path, default=CACHE_DIR / "news-reader", help="news_reader_data's")
    parser.add_argument("--heldout", type=Path, default=CACHE_DIR / "reader-heldout", help="reader_heldout's")
    parser.add_argument("--seeds-index", type=Path, default=PROJECT_ROOT / "embeddings")
    args = parser.parse_args()
    embedder = product_embedder()
    reader = load_reader(Settings(reader_dir=args.reader), embedder)
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        heldout, rows = args.heldout / "questions.jsonl", Path(folder)
        sets = [
            ("rgb calibrate topics (choose)", args.rgb_index, args.news / "questions-calibrate.jsonl"),
            ("rgb report topics", args.rgb_index, args.news / "questions-report.jsonl"),
            ("held-out even rows (choose)", args.heldout / "index", split_file(heldout, "even", rows)),
            ("held-out odd rows", args.heldout / "index", split_file(heldout, "odd", rows)),
            ("dev, seeds", args.seeds_index, DEV_SET),
        ]
        for name, index_dir, questions in sets:
            service = QAService.load(Settings(index_dir=index_dir, reader_dir=None), embedder=embedder)
            report = run_eval(replace(service, reader=reader), questions)
            figures[name] = {k: report.get(k) for k in FIGURES}
            if report.get("answer_accuracy") is not None:  # how far a set this size can tell two figures
                figures[name]["answer_accuracy_95"] = wilson_interval(
                    report["answer_accuracy"], report["answerable"]
                )
            log(f"{name}: {json.dumps(figures[name])}")
    write_result("reader_sets", {"reader": str(args.reader), "sets": figures})


if __name__ == "__main__":
    main()
