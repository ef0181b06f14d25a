"""The records that travel between the steps: page -> article -> chunk -> hit -> answer.

Frozen dataclasses with no behaviour beyond small derived properties, so every step can
import them without importing any other step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Page:
    """One OCR'd newspaper page as read from disk (`source` is the file name)."""

    source: str
    text: str


@dataclass(frozen=True)
class Problem:
    """Something in the corpus that could not be used; `line` is 1-based, None for a whole file."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Article:
    """A clean article: the unit a reader opens and a citation points into.

    `id` is stable across rebuilds of the same input; `date` is ISO `YYYY-MM-DD` (or `YYYY-MM`,
    `YYYY`) when the source prints one, else "" (never invented). `source` names the page file
    or the JSONL export's source field.
    """

    id: str
    title: str
    text: str
    date: str = ""
    source: str = ""
    byline: str = ""
    subtitle: str = ""
    # "photo": a photo-news item with its own headline (caption text and credit), not a report.
    kind: Literal["article", "photo"] = "article"
    # True when the page printed no usable headline and `title` is a placeholder (page and date).
    untitled: bool = False


@dataclass(frozen=True)
class Chunk:
    """A few sentences of one article; `text == article.text[start:end]`."""

    id: str
    article_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the ranks each retriever gave it (None = absent)."""

    chunk: Chunk
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    dense_score: float | None = None
    row: int | None = None  # the chunk's row in the index it came from (None: not from an index)


@dataclass(frozen=True)
class Citation:
    """A verbatim quote: `quote == article.text[start:end]`, numbered as [n] in the answer.

    `note` is the remark shown after a further quote that brings another answer, such as
    "（2021-01-05的报道）"; "" when none. `answer_start`/`answer_end` mark the short answer read in
    this quote (article offsets, `start <= answer_start < answer_end <= end`), None when not here.
    """

    n: int
    article_id: str
    title: str
    date: str
    source: str
    quote: str
    start: int
    end: int
    note: str = ""
    answer_start: int | None = None  # the short answer's place in the article, inside [start, end)
    answer_end: int | None = None


@dataclass(frozen=True)
class Passage:
    """A top passage shown to the reader, in rank order."""

    article_id: str
    title: str
    text: str
    score: float
    chunk_id: str = ""
    date: str = ""
    source: str = ""


@dataclass
class Answer:
    """What one question gets back: the same object for `qa ask --json` and `POST /ask`.

    The fields carry the structure (short answer, its date, the quotes with their notes); `answer`
    is the same content as one text, built from them, for printing. `short_answer_date` is the date
    shown beside the short answer ("" when none, e.g. when the question names its year).
    """

    question: str
    answer: str
    short_answer: str | None
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    session_id: str | None = None
    resolved_question: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    short_answer_date: str = ""
