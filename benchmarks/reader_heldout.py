"""The reader's held-out split through the whole product: index its documents, ask its questions.

The reader's card reports EM/F1 with the paragraph given. This asks the same unseen questions the way
a user would: the held-out documents of `../shared/reader-data/` (documents whose hash falls in the
held-out share, never trained on; the typed rules were never tuned on them either) become a JSONL
article export, one article per paragraph titled with its document's title; the product indexes it and
answers every question through `qa eval` (retrieval, quote, short answer), once with the typed rules
and once with the shipped reader. Prints a line per setting; writes
benchmarks/results/reader_heldout.json.

    python benchmarks/reader_heldout.py [--questions 400] [--reader models/reader]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from pathlib import Path

from _common import (
    CACHE_DIR,
    PROJECT_ROOT,
    built_index,
    log,
    product_embedder,
    set_threads,
    write_result,
)

from qa.answer.reader_train import Example, TrainSettings, is_heldout, read_training_data
from qa.evaluation import run_eval
from qa.service import QAService, load_reader
from qa.settings import Settings

READER_DATA = PROJECT_ROOT.parent / "shared" / "reader-data"
FIGURES = (
    "hit@1",
    "hit@5",
    "answer_accuracy",
    "short_answer_shown",
    "shown_and_wrong",
    "short_exact_match",
    "short_f1",
    "false_abstention_rate",
    "latency_p50_ms",
    "latency_p95_ms",
)


def _article_id(example: Example) -> str:
    """One id per paragraph: its source file and a hash of its text."""
    digest = hashlib.sha1(example.context.encode("utf-8")).hexdigest()[:12]
    return f"{Path(example.source).stem}-{digest}"


def write_split(examples: list[Example], folder: Path, limit: int | None) -> tuple[Path, Path]:
    """The held-out paragraphs as an article export (corpus/heldout.jsonl) and its questions (RGB's
    format: `answers` any-of, `doc_ids` the paragraph), every `len // limit`-th question kept."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    articles: dict[str, dict[str, str]] = {}
    for example in examples:
        articles.setdefault(
            _article_id(example),
            {"id": _article_id(example), "title": example.title, "text": example.context},
        )
    (corpus / "heldout.jsonl").write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles.values()), encoding="utf-8"
    )
    step = max(1, len(examples) // limit) if limit else 1
    asked = examples[::step][:limit] if limit else examples
    questions = folder / "questions.jsonl"
    questions.write_text(
        "".join(
            json.dumps(
                {"id": e.id, "question": e.question, "answers": [e.answer], "doc_ids": [_article_id(e)]},
                ensure_ascii=False,
            )
            + "\n"
            for e in asked
        ),
        encoding="utf-8",
    )
    return corpus, questions


def main() -> None:
    """Build the held-out index (once), then evaluate the rules and the reader on its questions."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=None, help="At most this many, evenly spaced.")
    parser.add_argument("--reader", type=Path, default=PROJECT_ROOT / "models" / "reader")
    args = parser.parse_args()
    set_threads()
    examples = [e for e in read_training_data(READER_DATA) if is_heldout(e, TrainSettings().heldout_share)]
    folder = CACHE_DIR / "reader-heldout"
    corpus, questions = write_split(examples, folder, args.questions)
    log(f"{len(examples)} held-out questions; corpus {corpus}")
    embedder = product_embedder()
    index_dir = built_index(corpus, folder / "index", embedder, "held-out")
    settings = Settings(corpus_dir=corpus, index_dir=index_dir, reader_dir=None)
    rules = QAService.load(settings, embedder=embedder)
    reader = load_reader(settings.model_copy(update={"reader_dir": args.reader}), embedder)
    figures: dict[str, dict[str, float]] = {}
    for name, service in (("rules", rules), ("reader", replace(rules, reader=reader))):
        report = run_eval(service, questions)
        figures[name] = {k: report.get(k) for k in FIGURES}
        print(json.dumps({"setting": name, **figures[name]}, ensure_ascii=False), flush=True)
    write_result("reader_heldout", {"held_out_questions": len(examples), **figures})


if __name__ == "__main__":
    main()
