"""Calibrate the reader's numbers in AnswerSettings on one split of a questions file, report on the other.

    .venv/bin/python benchmarks/calibrate_reader.py --index-dir /tmp/rgb-index \
        --questions ../shared/eval-external/questions.jsonl --split even   # calibrate
    ... --split odd --only 'reader_weight=0.3,reader_margin=0'            # report, one setting

Rows are split by position (even / odd), so the split that chose a setting is never the one its figure
is reported on. The reader's verdict on a (question, sentence) pair is memoised across settings, so a
grid costs one reading of each sentence plus the rules per setting. Prints one line per setting:
answer accuracy, short answers shown, shown-and-wrong, EM/F1 (CMRC rules), abstention figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from _common import parse_settings

from qa.answer.extraction import is_compound
from qa.answer.reader import Reader, Span
from qa.evaluation import read_questions, run_eval
from qa.service import QAService
from qa.settings import Settings

GRID = {
    "reader_candidates": [1, 2, 3],
    "reader_margin": [-5.0, 0.0],
    "reader_typed_slack": [0.0, 1.0, 2.0, 4.0, 8.0, 100.0],
}
SLACK_ONLY = {"reader_typed_slack": [0.0, 2.0, 4.0, 8.0, 100.0]}  # --grid slack: a new reader's recheck
CHOOSE = {  # --grid choose: how many sentences the reader reads, and how much its verdict moves the quote
    "reader_candidates": [1, 2, 3, 4],
    "reader_weight": [0.0, 0.2, 0.5, 1.0],
}

QUOTES = {  # --grid quotes: when a second quote joins the first, and the penalty for a sentence's other year
    "second_quote_ratio": [0.5, 0.6, 0.7, 0.8],
    "max_quotes": [2, 3],
    "year_clash": [0.0, 0.4],
}

MORE = {  # --grid more: the second look (off, then when it runs and what it takes to move the quote)
    "reader_more": [0, 3],
    "reader_more_below": [0.0, 2.0, 4.0],
    "reader_more_sure": [2.0, 4.0, 6.0],
}

CONTEXT = {"reader_context": [0, 50, 65, 80, 100, 140]}  # --grid context: read the next sentence too
DENSE = {"dense_weight": [0.0, 0.25, 0.5, 1.0, 2.0]}  # --grid dense: the sentence's cosine in its score
PARTS = {  # --grid parts: the reader asked each part of a two-part question alone
    "part_reader_candidates": [0, 1, 2, 3],
    "part_reader_sure": [-2.0, 0.0, 2.0],
}
FARTHER = {  # --grid farther: when the reader, unsure of everything it read, reads farther articles
    "reader_far_articles": [0, 3, 5, 7],
    "reader_far_below": [-2.0, 0.0, 2.0],
    "reader_far_sure": [2.0, 4.0, 6.0],
}
PARTS_FARTHER = {"part_far_below": [0.0, 1.0, 2.0, 3.0, 4.0, 6.0]}  # --grid parts-farther (with --two-part)
OFF_KIND = {"reader_off_kind": [0.0, 3.0, 6.0, 12.0, 30.0]}  # --grid off-kind
FAR_QUOTE = {"reader_far_quote": [-2.0, 0.0, 2.0, 4.0]}  # --grid far-quote (4.0 = reader_far_sure: off)
RESCUE = {"reader_rescue_margin": [2.0, 3.0, 4.0, 6.0, 99.0]}  # --grid rescue (99: off)
UNSURE = {"unsure_more_quotes": [0, 1, 2], "unsure_quote_ratio": [0.3, 0.4, 0.5, 0.6]}  # --grid unsure
FAR_SENTENCES = {"reader_far_sentences": [1, 2, 3]}  # --grid far-sentences
ASKING = {"asking_penalty": [0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 1.0]}  # --grid asking: sentences that ask
REPEAT = {"repeat_overlap": [1.01, 0.9, 0.8, 0.7, 0.6]}  # --grid repeat: when a further quote is a reprint

GRIDS = {
    "slack": SLACK_ONLY,
    "choose": CHOOSE,
    "quotes": QUOTES,
    "more": MORE,
    "context": CONTEXT,
    "dense": DENSE,
    "repeat": REPEAT,
    "parts": PARTS,
    "farther": FARTHER,
    "parts-farther": PARTS_FARTHER,
    "off-kind": OFF_KIND,
    "far-quote": FAR_QUOTE,
    "unsure": UNSURE,
    "rescue": RESCUE,
    "asking": ASKING,
    "far-sentences": FAR_SENTENCES,
}


class MemoEmbedder:
    """The embedder, with each batch of question vectors computed once (retrieval does not depend on
    the answer settings, so every setting of the grid asks for the same ones)."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.memo: dict[tuple[str, ...], Any] = {}

    def embed_queries(self, texts: list[str]) -> Any:
        """Like Embedder.embed_queries, remembered per list of texts."""
        key = tuple(texts)
        if key not in self.memo:
            self.memo[key] = self.embedder.embed_queries(texts)
        return self.memo[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.embedder, name)


class MemoReader:
    """A Reader whose verdict per (question, passage) is computed once and then remembered."""

    def __init__(self, reader: Reader) -> None:
        self.reader, self.config = reader, reader.config
        self.memo: dict[tuple[str, str, tuple[int, int] | None], Span | None] = {}

    def read(
        self, question: str, passages: list[str], proposed: list[tuple[int, int] | None] | None = None
    ) -> list[Span | None]:
        """Like Reader.read; unseen (passage, proposed span) pairs are read in one batch."""
        asked = list(zip(passages, proposed or [None] * len(passages), strict=True))
        missing = [pair for pair in dict.fromkeys(asked) if (question, *pair) not in self.memo]
        if missing:
            spans = self.reader.read(question, [p for p, _ in missing], [s for _, s in missing])
            for pair, span in zip(missing, spans, strict=True):
                self.memo[(question, *pair)] = span
        found = []
        for i, pair in enumerate(asked):
            span = self.memo[(question, *pair)]
            found.append(None if span is None else replace(span, passage=i))
        return found


def split_file(questions: Path, split: str, folder: Path, two_part: bool = False) -> Path:
    """The even, odd or all rows of `questions` (only those asking several things, with `two_part`),
    written to a file in `folder`."""
    rows = read_questions(questions)
    keep = [r for i, r in enumerate(rows) if split == "all" or (i % 2 == 0) == (split == "even")]
    if two_part:
        keep = [r for r in keep if is_compound(r.get("question", ""))]
    path = folder / f"{questions.stem}-{split}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep), encoding="utf-8")
    return path


def settings_grid(only: str | None, grid: dict[str, list[Any]] = GRID) -> list[dict[str, Any]]:
    """Every combination of `grid`, or the one setting written as 'name=value,name=value'."""
    if only:
        return [parse_settings(only)]
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def main() -> None:
    """Run the grid (or one setting) on the chosen split and print a line of figures per setting."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--split", choices=["even", "odd", "all"], default="even")
    parser.add_argument("--only", default=None, help="One setting, e.g. 'reader_weight=0.3,reader_margin=0'.")
    parser.add_argument("--no-reader", action="store_true", help="The typed rules, for comparison.")
    parser.add_argument(
        "--two-part", action="store_true", help="Only the questions asking several things (--grid parts)."
    )
    parser.add_argument(
        "--grid",
        choices=["full", *GRIDS],
        default="full",
        help="slack: the slack alone; choose: reader_candidates x reader_weight; quotes, more, context, "
        "dense, repeat, parts, farther, parts-farther, off-kind, far-quote, unsure, rescue: the grids of the "
        "same names in capitals.",
    )
    args = parser.parse_args()
    base = Settings(index_dir=args.index_dir)
    if args.no_reader:
        base = base.model_copy(update={"reader_dir": None})
    service = QAService.load(base)
    if service.reader is not None:
        service.reader = MemoReader(service.reader)  # type: ignore[assignment]
    service.embedder = MemoEmbedder(service.embedder)  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as folder:
        path = split_file(args.questions, args.split, Path(folder), args.two_part)
        grid = GRIDS.get(args.grid, GRID)
        for values in settings_grid(args.only, grid) if not args.no_reader else [{}]:
            answer = replace(base.answer, **values)
            trial = replace(service, settings=base.model_copy(update={"answer": answer}))
            report = run_eval(trial, path)
            figures = {
                k: report[k]
                for k in (
                    "answer_accuracy",
                    "short_answer_shown",
                    "shown_and_wrong",
                    "shown_and_incomplete",
                    "short_exact_match",
                    "short_f1",
                    "false_abstention_rate",
                    "abstention_accuracy",
                    "latency_p50_ms",
                )
            }
            print(json.dumps({"split": args.split, **values, **figures}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
