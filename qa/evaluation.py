"""`qa eval`: retrieval (hit@1/3/5, MRR@10 at article level), answer accuracy, abstention, latency.

Reads two formats, row by row:
- ours (tests/data/dev.jsonl): `question`, `answers` (any-of), optional `answer_groups`, `evidence`
  (verbatim substrings of the seeds; mapped to article ids by a whitespace- and punctuation-blind
  substring match, so gold labels never depend on generated ids), `answerable`; or `turns` for a chat.
- RGB (eval-external/questions.jsonl): `question`, `answers`, `answer_groups` (all groups must match),
  `doc_ids` (gold article ids).
Chunks are mapped back to their article ids, duplicates dropped, before ranking metrics.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qa.records import Answer
from qa.text import char_f1, exact_match, normalise

K_VALUES = (1, 3, 5)
MRR_AT = 10


def read_questions(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The rows of a questions JSONL file (blank lines skipped), at most `limit`."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from error
            if limit is not None and len(rows) >= limit:
                break
    return rows


def answer_matches(answer_text: str, answers: list[str], groups: list[list[str]] | None) -> bool:
    """RGB rule: every group has an alternative in the answer; else any accepted string is in it."""
    text = normalise(answer_text)
    if groups:
        return all(any(normalise(alt) in text for alt in group if normalise(alt)) for group in groups)
    return any(normalise(a) in text for a in answers if normalise(a))


def accepted_alternatives(answers: list[str], groups: list[list[str]] | None) -> list[str]:
    """Every accepted string: the answers and each alternative of each part."""
    return [*answers, *(alt for group in groups or [] for alt in group)]


def holds_any_answer(answer_text: str, answers: list[str], groups: list[list[str]] | None) -> bool:
    """Whether the text holds at least one accepted answer: any alternative of any part, or any
    accepted string. A short answer without one is wrong; with some parts but not all, incomplete."""
    text = normalise(answer_text)
    return any(normalise(alt) in text for alt in accepted_alternatives(answers, groups) if normalise(alt))


def _gold_articles(service: Any, evidence: list[str], cache: dict[str, str]) -> list[str]:
    """Ids of the articles whose text (or title) contains any evidence string."""
    if not cache:
        for article_id, article in service.index.articles.items():
            cache[article_id] = normalise(article.title + "\n" + article.text)
    wanted = [normalise(e) for e in evidence if normalise(e)]
    return [aid for aid, text in cache.items() if any(e in text for e in wanted)]


def _ranked_articles(answer: Answer) -> list[str]:
    """Article ids of the answer's passages in rank order, each once."""
    return list(dict.fromkeys(p.article_id for p in answer.passages))


def _items(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(id, turns) per row; a single question is a chat of one turn."""
    return [(str(row.get("id", i)), row.get("turns", [row])) for i, row in enumerate(rows)]


@dataclass
class _Tally:
    """Running counts of one evaluation; `report` turns them into figures."""

    hits: dict[int, int] = field(default_factory=lambda: {k: 0 for k in K_VALUES})
    reciprocal: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    answerable: int = 0
    correct: int = 0
    false_abstentions: int = 0
    unanswerable: int = 0
    abstained_right: int = 0
    unmapped: int = 0
    short_asked: int = 0
    short_right: int = 0  # stricter: the short answer alone holds the accepted string (every part)
    short_wrong: int = 0  # the short answer holds no accepted answer at all (no part of it)
    short_em: float = 0.0  # CMRC 2018 rules over every answerable question (no short answer: 0)
    short_f1: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)
    by_kind: dict[str, list[int]] = field(default_factory=dict)

    def unanswerable_turn(self, qid: str, answer: Answer) -> None:
        """Count a question the corpus cannot answer: only an abstention is right."""
        self.unanswerable += 1
        self.abstained_right += answer.abstained
        if not answer.abstained:
            self.failures.append(
                {"id": qid, "why": "answered an unanswerable question", "answer": answer.answer[:120]}
            )

    def answerable_turn(self, qid: str, turn: dict[str, Any], answer: Answer, kind: str) -> None:
        """Count an answerable question: is an accepted answer in the reply, and in the short answer?"""
        accepted, groups = turn.get("answers", []), turn.get("answer_groups")
        self.answerable += 1
        ok = not answer.abstained and answer_matches(answer.answer, accepted, groups)
        self.correct += ok
        if not answer.abstained and answer.short_answer is not None:
            self.short_asked += 1
            self.short_right += answer_matches(answer.short_answer, accepted, groups)
            self.short_wrong += not holds_any_answer(answer.short_answer, accepted, groups)
            alternatives = accepted_alternatives(accepted, groups)
            self.short_em += exact_match(answer.short_answer, alternatives)
            self.short_f1 += char_f1(answer.short_answer, alternatives)
        self.false_abstentions += answer.abstained
        right, asked = self.by_kind.setdefault(kind, [0, 0])
        self.by_kind[kind] = [right + ok, asked + 1]
        if not ok:
            self.failures.append(
                {
                    "id": qid,
                    "why": "abstained" if answer.abstained else "answer string missing",
                    "question": turn["question"],
                    "resolved": answer.resolved_question,
                    "short_answer": answer.short_answer,
                    "expected": turn.get("answers"),
                }
            )

    def ranking(self, gold: set[str], answer: Answer) -> None:
        """Count where the first gold article ranks among the answer's passages."""
        if not gold:
            self.unmapped += 1
            return
        ranked = _ranked_articles(answer)
        first = next((i for i, aid in enumerate(ranked[:MRR_AT]) if aid in gold), None)
        for k in K_VALUES:
            self.hits[k] += first is not None and first < k
        self.reciprocal.append(0.0 if first is None else 1.0 / (first + 1))

    def report(self) -> dict[str, Any]:
        """The figures `format_report` prints."""
        ranked, answerable, unanswerable = len(self.reciprocal), self.answerable, self.unanswerable
        lat = np.array(self.latencies) if self.latencies else np.zeros(1)

        def share(part: int | float, whole: int) -> float | None:
            return round(part / whole, 4) if whole else None

        return {
            "questions": answerable + unanswerable,
            "answerable": answerable,
            "unanswerable": unanswerable,
            "ranked": ranked,
            "unmapped_gold": self.unmapped,
            **{f"hit@{k}": share(self.hits[k], ranked) for k in K_VALUES},
            f"mrr@{MRR_AT}": share(float(np.sum(self.reciprocal)), ranked),
            "answer_accuracy": share(self.correct, answerable),
            "short_answer_accuracy": share(self.short_right, self.short_asked),
            "short_answers": self.short_asked,
            "short_answer_shown": share(self.short_asked, answerable),
            "shown_and_wrong": share(self.short_wrong, self.short_asked),
            "shown_and_incomplete": share(
                self.short_asked - self.short_right - self.short_wrong, self.short_asked
            ),
            "short_exact_match": share(self.short_em, answerable),
            "short_f1": share(self.short_f1, answerable),
            "abstention_accuracy": share(self.abstained_right, unanswerable),
            "false_abstention_rate": share(self.false_abstentions, answerable),
            "latency_p50_ms": round(float(np.percentile(lat, 50)), 1),
            "latency_p95_ms": round(float(np.percentile(lat, 95)), 1),
            "accuracy_by_kind": {k: round(v[0] / v[1], 4) for k, v in sorted(self.by_kind.items())},
            "failures": self.failures,
        }


def _is_answerable(turn: dict[str, Any]) -> bool:
    """A turn is answerable unless marked otherwise, and only when it names an accepted answer."""
    return turn.get("answerable", True) and bool(turn.get("answers") or turn.get("answer_groups"))


def run_eval(service: Any, questions_path: Path, limit: int | None = None) -> dict[str, Any]:
    """Ask every question (chats in one session each) and compute the figures `format_report` prints.

    The report also records the settings the answers were produced with.
    """
    tally, cache = _Tally(), {}
    for item_id, turns in _items(read_questions(Path(questions_path), limit)):
        session_id = None
        for t, turn in enumerate(turns):
            qid = item_id if len(turns) == 1 else f"{item_id}#{t + 1}"
            started = time.perf_counter()
            answer = service.ask(turn["question"], session_id=session_id, top_k=MRR_AT)
            tally.latencies.append((time.perf_counter() - started) * 1000)
            session_id = answer.session_id
            if not _is_answerable(turn):
                tally.unanswerable_turn(qid, answer)
                continue
            kind = turn.get("kind") or ("chat" if len(turns) > 1 else "question")
            tally.answerable_turn(qid, turn, answer, kind)
            gold = turn.get("doc_ids") or _gold_articles(service, turn.get("evidence", []), cache)
            tally.ranking(set(gold), answer)
    manifest = service.index.manifest
    built_with = {key: manifest[key] for key in ("chunking", "segmentation") if key in manifest}
    reader = service.reader.config.get("figures", {}).get("heldout") if service.reader else None
    return {
        **tally.report(),
        "reader": {"dir": str(service.settings.reader_dir), "heldout": reader} if service.reader else None,
        "settings": {**service.settings.layer_settings(), **built_with},
    }


def format_report(report: dict[str, Any]) -> str:
    """The figures as a short human-readable table, failures listed after."""

    def show(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = [
        f"questions {report['questions']} (answerable {report['answerable']}, "
        f"unanswerable {report['unanswerable']})",
        f"hit@1 {show(report['hit@1'])}  hit@3 {show(report['hit@3'])}  hit@5 {show(report['hit@5'])}  "
        f"MRR@{MRR_AT} {show(report[f'mrr@{MRR_AT}'])}",
        f"answer accuracy {show(report['answer_accuracy'])}  (short answer alone right: "
        f"{show(report.get('short_answer_accuracy'))} of {report.get('short_answers', 0)} given)",
        f"short answers: shown for {show(report.get('short_answer_shown'))} of answerable, "
        f"shown and wrong {show(report.get('shown_and_wrong'))} (no accepted answer), incomplete "
        f"{show(report.get('shown_and_incomplete'))} (some parts); "
        f"EM {show(report.get('short_exact_match'))} "
        f"F1 {show(report.get('short_f1'))} (CMRC 2018 rules, over all answerable)",
        f"abstention accuracy {show(report['abstention_accuracy'])}  "
        f"false-abstention rate {show(report['false_abstention_rate'])}",
        f"latency p50 {report['latency_p50_ms']} ms  p95 {report['latency_p95_ms']} ms",
    ]
    steps = report.get("settings", {}).get("retrieval", {}).get("steps")
    if steps is not None:
        lines.append(f"stage-2 steps: {', '.join(steps) or 'none'}")
    reader = report.get("reader")
    lines.append(f"reader: {reader['dir']}" if reader else "reader: none (typed rules)")
    if report.get("unmapped_gold"):
        lines.append(f"warning: {report['unmapped_gold']} question(s) whose evidence matched no article")
    if report.get("accuracy_by_kind"):
        lines.append(
            "accuracy by kind: " + ", ".join(f"{k} {v:.2f}" for k, v in report["accuracy_by_kind"].items())
        )
    if report.get("failures"):
        lines.append(f"failures ({len(report['failures'])}):")
        for failure in report["failures"][:30]:
            lines.append("  " + json.dumps(failure, ensure_ascii=False))
    return "\n".join(lines)
