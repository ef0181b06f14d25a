"""Example questions for the empty chat screen, derived from the loaded corpus (never hard-coded).

A clause that ends in a number with its unit ("全市规模以上工业增加值累计增长8.3%") becomes a question
("全市规模以上工业增加值累计增长多少？"); a candidate is kept only when the service answers it, citing
the article it came from, so every example shown really works.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
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


def _round_robin(articles: Iterable[Article]) -> Iterator[tuple[Article, tuple[str, str]]]:
    """Candidates taken one article at a time, so the examples span the corpus; the first round reads
    the articles lazily, so a caller that stops early never reads a big archive whole."""
    generators = []
    for article in articles:
        questions = candidate_questions(article)
        question = next(questions, None)
        if question is not None:
            generators.append((article, questions))
            yield article, question
    while generators:
        alive = []
        for article, questions in generators:
            question = next(questions, None)
            if question is not None:
                alive.append((article, questions))
                yield article, question
        generators = alive


def _by_date(articles: Mapping[str, Article]) -> Iterable[Article]:
    """The articles ordered by (date, id): streamed from a store that can (`ArticleTable.in_date_order`),
    else sorted whole."""
    in_date_order = getattr(articles, "in_date_order", None)
    if in_date_order is not None:
        return in_date_order()
    return sorted(articles.values(), key=lambda a: (a.date, a.id))


def example_questions(
    service: QAService, limit: int = 8, stop: Callable[[], bool] | None = None
) -> list[dict[str, str]]:
    """Up to `limit` questions the service answers right (the stated number, citing the article they were
    made from), at most one per article; the ones found so far when `stop()` turns true."""
    articles = _by_date(service.index.articles)
    service = replace(service, sessions=SessionStore())  # trial questions stay out of the readers' sessions
    chosen: list[dict[str, str]] = []
    used: set[str] = set()
    for tries, (article, (question, number)) in enumerate(_round_robin(articles)):
        if len(chosen) >= limit or tries >= MAX_TRIES or (stop is not None and stop()):
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
