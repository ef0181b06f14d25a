"""News reading practice for the reader, from half of RGB; the other half stays unseen for scoring.

The shipped reader learned on Wikipedia paragraphs (DRCD, CMRC 2018) and reads news badly: on RGB its
short answers hold the accepted answer about half the time. RGB (`../shared/eval-external/`, CC
BY-NC-SA 4.0) is the only Chinese news QA we may train on (reader issue: "train and calibrate only on
data we ship with its license ... RGB"). This script splits it so the figures stay honest:

- Questions that share a gold passage, or an accepted answer, are one *topic*; topics (not rows) are
  split by a hash of their first question id, half to training, half to scoring. A scored question
  never shares a gold passage or an answer with a trained one.
- Each training question becomes SQuAD 2.0 examples: each gold passage with the accepted answer as
  written there (the span from the first to the last answer part when all parts sit within
  `LIST_SPAN` characters, else the first part found), and up to `NEGATIVES` passages the product
  retrieves for it that hold no accepted answer (`is_impossible`, the "not here" position).
- Of the topics never trained on, half calibrate the answer step's numbers (questions-calibrate) and
  half are only scored (questions-report); both are written in RGB's own format for `qa eval`.

- With `--sentences`, each training question also becomes sentence examples, read the way the answer
  step reads (one sentence with the question): the sentences of the passages the product retrieves
  that hold an accepted answer, and the `SENTENCE_NEGATIVES` that cover most of the question's words
  without one (the near misses the answer step must pass over).
- With `--reading`, the same, read the way the answer step reads since 2026-12-02: a sentence with
  the next one when both fit in `reader_context` characters, and each part of a two-part question
  asked alone ("腾讯2022年全年营收是多少？") with that part's answer (the answer groups in the order of
  the parts), the other part's answer sentence among its near misses.

    python benchmarks/news_reader_data.py [--out /tmp/qa-bench/news-reader] [--sentences] [--reading]

Writes OUT/train/rgb-news.json (SQuAD 2.0, for `qa reader train --data`), with --sentences
OUT/train-sentences/rgb-news-sentences.json, with --reading
OUT/train-reading/rgb-news-reading.json, and OUT/questions-{train,calibrate,report,test}.jsonl
(test = calibrate + report).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from _common import CACHE_DIR, RGB_CORPUS, RGB_INDEX, RGB_QUESTIONS, log, open_service, product_embedder

from qa.answer.compose import next_sentence_end
from qa.answer.extraction import coverage, question_parts
from qa.answer.rerank import question_terms
from qa.answer.settings import AnswerSettings
from qa.index.store import LoadedIndex
from qa.text import normalise, sentence_spans

_RGB_HALF = (
    "RGB (Chen et al., AAAI 2024; `../shared/eval-external`), zh_refine + zh_int, the half of its topics "
    "`benchmarks/news_reader_data.py` trains on, as SQuAD 2.0 "
)
_NON_COMMERCIAL = "; CC BY-NC-SA 4.0: non-commercial use only"
SOURCE = (
    _RGB_HALF
    + "(gold passages with the answer, retrieved passages without it as impossible questions)"
    + _NON_COMMERCIAL
)
TRAIN_SHARE = 0.5  # share of topics trained on (by hash) ...
CALIBRATE_SHARE = 0.25  # ... and the next share calibrates the answer step's numbers; the rest is scored
LIST_SPAN = 60  # answer parts this close together are labelled as one span (a list of names)
NEGATIVES = 3  # retrieved passages without the answer, per question, labelled "not here"
SENTENCE_POSITIVES = 3  # --sentences: sentences holding an answer, per question ...
SENTENCE_NEGATIVES = 4  # ... and sentences without one that cover most of the question, per question
SENTENCE_SOURCE = (
    _RGB_HALF
    + "sentences (sentences of retrieved passages with the answer, and near misses without it)"
    + _NON_COMMERCIAL
)
READING_SOURCE = (
    _RGB_HALF
    + "reading units (a sentence with the next one when both are short; each part of a two-part "
    + "question asked alone)"
    + _NON_COMMERCIAL
)
RETRIEVED = 10  # how many passages are retrieved per question to find those negatives
SENTENCE_PASSAGES = 5  # --sentences: the first passages whose sentences are labelled


def topics(questions: list[dict]) -> list[list[dict]]:
    """Questions grouped so that two sharing a gold passage or an accepted answer are in one group."""
    parent = list(range(len(questions)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, question in enumerate(questions):
        keys = [f"doc:{d}" for d in question.get("doc_ids", [])]
        keys += [f"answer:{normalise(a)}" for group in _groups(question) for a in group if normalise(a)]
        for key in keys:
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    grouped: dict[int, list[dict]] = {}
    for i, question in enumerate(questions):
        grouped.setdefault(find(i), []).append(question)
    return list(grouped.values())


def _groups(question: dict) -> list[list[str]]:
    """The question's answer parts, each a list of alternatives."""
    return question.get("answer_groups") or [question.get("answers", [])]


def topic_split(topic: list[dict]) -> str:
    """train, calibrate or report, by a stable hash of the topic's smallest question id."""
    first = min(q["id"] for q in topic)
    place = int.from_bytes(hashlib.sha1(first.encode()).digest()[:4], "big") / 2**32
    if place < TRAIN_SHARE:
        return "train"
    return "calibrate" if place < TRAIN_SHARE + CALIBRATE_SHARE else "report"


def answer_span(text: str, groups: list[list[str]]) -> tuple[int, int] | None:
    """Where the accepted answer is written in `text`: all parts as one span when they sit close
    together, else the first part found; None when no part is there."""
    found = []
    for group in groups:
        places = [(text.find(a), len(a)) for a in group if a and text.find(a) >= 0]
        if places:
            start, length = min(places)
            found.append((start, start + length))
    if not found:
        return None
    start, end = min(s for s, _ in found), max(e for _, e in found)
    if len(found) == len(groups) and end - start <= LIST_SPAN:
        return start, end
    return min(found)


def squad_examples(question: dict, passages: dict[str, str], retrieved: list[str]) -> list[dict]:
    """SQuAD 2.0 paragraphs for one question: its gold passages with the answer, then negatives."""
    groups = _groups(question)
    paragraphs = []
    for n, doc in enumerate(question.get("doc_ids", [])):
        span = answer_span(passages[doc], groups)
        if span is None:
            continue
        text = passages[doc][span[0] : span[1]]
        qa = {"id": f"{question['id']}-{n}", "question": question["question"], "is_impossible": False}
        qa["answers"] = [{"text": text, "answer_start": span[0]}]
        paragraphs.append({"context": passages[doc], "qas": [qa]})
    accepted = [normalise(a) for group in groups for a in group if normalise(a)]
    negatives = [d for d in retrieved if not any(a in normalise(passages[d]) for a in accepted)]
    for n, doc in enumerate(negatives[:NEGATIVES]):
        qa = {"id": f"{question['id']}-no{n}", "question": question["question"], "is_impossible": True}
        paragraphs.append({"context": passages[doc], "qas": [{**qa, "answers": []}]})
    return paragraphs


def reading_units(text: str, context: int) -> list[tuple[int, int]]:
    """The spans the answer step reads in `text`: each sentence, with the next one when both fit in
    `context` characters (`AnswerSettings.reader_context`; the answer step's own `next_sentence_end`)."""
    return [(start, next_sentence_end(text, start, end, context)) for start, end in sentence_spans(text)]


def sentence_examples(
    question: dict,
    texts: list[str],
    terms: dict[str, float],
    context: int = 0,
    groups: list[list[str]] | None = None,
    tag: str = "s",
) -> list[dict]:
    """SQuAD 2.0 paragraphs of one sentence each (with its next one, by `context`): retrieved
    sentences holding an accepted answer (of `groups`, by default the question's), then the sentences
    without one that cover most of the question's words."""
    groups = groups or _groups(question)
    accepted = [normalise(a) for group in groups for a in group if normalise(a)]
    positives, negatives, seen = [], [], set()
    for text in texts:
        for start, end in reading_units(text, context):
            sentence = text[start:end].strip()
            if len(sentence) < 8 or normalise(sentence) in seen:
                continue
            seen.add(normalise(sentence))
            span = answer_span(sentence, groups)
            if span is not None:
                positives.append((sentence, span))
            elif not any(a in normalise(sentence) for a in accepted):
                negatives.append((coverage(sentence, terms), sentence))
    paragraphs = []
    for n, (sentence, span) in enumerate(positives[:SENTENCE_POSITIVES]):
        qa = {"id": f"{question['id']}-{tag}{n}", "question": question["question"], "is_impossible": False}
        qa["answers"] = [{"text": sentence[span[0] : span[1]], "answer_start": span[0]}]
        paragraphs.append({"context": sentence, "qas": [qa]})
    negatives.sort(key=lambda pair: -pair[0])
    for n, (_, sentence) in enumerate(negatives[:SENTENCE_NEGATIVES]):
        qa = {"id": f"{question['id']}-{tag}no{n}", "question": question["question"], "is_impossible": True}
        paragraphs.append({"context": sentence, "qas": [{**qa, "answers": []}]})
    return paragraphs


def reading_examples(question: dict, texts: list[str], index: LoadedIndex, context: int) -> list[dict]:
    """Sentence examples read as the answer step reads them now: with the next sentence, and, for a
    two-part question whose answer has a group per part, each part asked alone with its own group."""
    paragraphs = sentence_examples(
        question, texts, question_terms(index, question["question"]), context, tag="r"
    )
    parts, groups = question_parts(question["question"]), _groups(question)
    if parts and len(parts) == len(groups):
        for i, (part, group) in enumerate(zip(parts, groups, strict=True)):
            asked = {**question, "question": part}
            terms = question_terms(index, part)
            paragraphs += sentence_examples(asked, texts, terms, context, [group], tag=f"p{i}-")
    return paragraphs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CACHE_DIR / "news-reader")
    parser.add_argument("--sentences", action="store_true", help="Also write sentence examples.")
    parser.add_argument("--reading", action="store_true", help="Also write reading units and parts.")
    args = parser.parse_args()
    context = AnswerSettings().reader_context
    questions = [json.loads(line) for line in RGB_QUESTIONS.read_text(encoding="utf-8").splitlines()]
    passages = {}
    for line in RGB_CORPUS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        passages[row["id"]] = row["text"]
    split = {q["id"]: topic_split(topic) for topic in topics(questions) for q in topic}
    parts = {
        name: [q for q in questions if split[q["id"]] == name] for name in ("train", "calibrate", "report")
    }
    trained = parts["train"]
    log(f"{len(questions)} questions: " + ", ".join(f"{len(v)} to {k}" for k, v in parts.items()))
    service = open_service(RGB_INDEX, product_embedder())
    data, sentences, reading = [], [], []
    for question in trained:
        answer = service.ask(question["question"], top_k=RETRIEVED)
        retrieved = [p.article_id for p in answer.passages if p.article_id in passages]
        paragraphs = squad_examples(question, passages, list(dict.fromkeys(retrieved)))
        if paragraphs:
            data.append({"title": question["id"], "paragraphs": paragraphs})
        texts = [p.text for p in answer.passages[:SENTENCE_PASSAGES]]
        if args.sentences:
            terms = question_terms(service.index, question["question"])
            paragraphs = sentence_examples(question, texts, terms)
            if paragraphs:
                sentences.append({"title": question["id"], "paragraphs": paragraphs})
        if args.reading:
            paragraphs = reading_examples(question, texts, service.index, context)
            if paragraphs:
                reading.append({"title": question["id"], "paragraphs": paragraphs})
    (args.out / "train").mkdir(parents=True, exist_ok=True)
    squad = {"version": "v2.0", "source": SOURCE, "data": data}
    (args.out / "train" / "rgb-news.json").write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    if args.sentences:
        (args.out / "train-sentences").mkdir(parents=True, exist_ok=True)
        squad = {"version": "v2.0", "source": SENTENCE_SOURCE, "data": sentences}
        text = json.dumps(squad, ensure_ascii=False)
        (args.out / "train-sentences" / "rgb-news-sentences.json").write_text(text, encoding="utf-8")
    if args.reading:
        (args.out / "train-reading").mkdir(parents=True, exist_ok=True)
        squad = {"version": "v2.0", "source": READING_SOURCE, "data": reading}
        text = json.dumps(squad, ensure_ascii=False)
        (args.out / "train-reading" / "rgb-news-reading.json").write_text(text, encoding="utf-8")
    for name, rows in parts.items():
        text = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in rows)
        (args.out / f"questions-{name}.jsonl").write_text(text, encoding="utf-8")
    test = [q for q in questions if split[q["id"]] != "train"]  # calibrate + report: never trained on
    text = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in test)
    (args.out / "questions-test.jsonl").write_text(text, encoding="utf-8")
    counts = [qa["is_impossible"] for d in data for p in d["paragraphs"] for qa in p["qas"]]
    log(f"wrote {args.out}: {len(counts) - sum(counts)} answer examples, {sum(counts)} negatives")


if __name__ == "__main__":
    main()
