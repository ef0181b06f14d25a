"""Example questions for the empty chat screen, derived from the loaded corpus (never hard-coded).

A clause that ends in a number with its unit ("全市规模以上工业增加值累计增长8.3%") becomes a question
("全市规模以上工业增加值累计增长多少？"); a candidate is kept only when the service answers it, citing
the article it came from, so every example shown really works.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from qa.answer.chat import SessionStore
from qa.records import Article
from qa.text import CJK, UNITS

if TYPE_CHECKING:
    from qa.service import QAService

_CLAUSE = re.compile(r"[^，。；！？：,;!?\n]+")
_AT_END = re.compile(rf"(?:近|约|超过|逾|达|共)?(\d+(?:\.\d+)?)\s*(?:万|亿)?\s*(?:多|余)?\s*({UNITS})$")
_BAD_START = (
    "其中",
    "其",
    "该",
    "这",
    "此",
    "同比",
    "比",
    "较",
    "他",
    "她",
    "并",
    "和",
    "与",
    "而",
    "但",
    "占",
    "为",
    "约",
)
MAX_TRIES = 40


def _clean(clause: str) -> str:
    """A clause without surrounding quotes, brackets and spaces."""
    return clause.strip().strip("“”\"'‘’（）()《》 　").replace(" ", "")


def candidate_questions(article: Article) -> Iterator[tuple[str, str]]:
    """(question, the number that answers it) for numbers the article states at the end of a clause."""
    for match in _CLAUSE.finditer(article.text):
        clause = _clean(match.group())
        found = _AT_END.search(clause)
        if found is None:
            continue
        head = clause[: found.start()]
        if not 6 <= len(head) <= 26 or head.startswith(_BAD_START) or re.search(r"\d|该|其|此|这", head):
            continue
        if len(CJK.findall(head)) < len(head) - 1:
            continue
        number, unit = found.group(1), found.group(2)
        yield (f"{head}多少？" if unit in ("%", "％", "个百分点") else f"{head}多少{unit}？"), number


def _round_robin(articles: list[Article]) -> Iterator[tuple[Article, tuple[str, str]]]:
    """Candidates taken one article at a time, so the examples span the corpus."""
    generators = [(a, candidate_questions(a)) for a in articles]
    while generators:
        alive = []
        for article, questions in generators:
            question = next(questions, None)
            if question is not None:
                alive.append((article, questions))
                yield article, question
        generators = alive


def example_questions(service: QAService, limit: int = 8) -> list[dict[str, str]]:
    """Up to `limit` questions the service answers right (the stated number, citing the article they were
    made from), at most one per article."""
    articles = sorted(service.index.articles.values(), key=lambda a: (a.date, a.id))
    service = replace(service, sessions=SessionStore())  # trial questions stay out of the readers' sessions
    chosen: list[dict[str, str]] = []
    used: set[str] = set()
    for tries, (article, (question, number)) in enumerate(_round_robin(articles)):
        if len(chosen) >= limit or tries >= MAX_TRIES:
            break
        if article.id in used:
            continue
        answer = service.ask(question)
        if answer.abstained or number not in (answer.short_answer or ""):
            continue
        if not answer.citations or answer.citations[0].article_id != article.id:
            continue
        used.add(article.id)
        chosen.append({"question": question, "article_id": article.id, "title": article.title})
    return chosen
