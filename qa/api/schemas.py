"""Pydantic models at the edge of the API: what a request may carry in, what a response carries out.

Requests forbid unknown fields and are strict about types, so a typo or a wrong type is a clear 4xx
instead of a silently ignored value. Responses mirror the dataclasses of `qa.records`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qa.answer.settings import TOP_K_MAX
from qa.feedback import (
    MAX_ANSWER_CHARS,
    MAX_CITATIONS,
    MAX_COMMENT_CHARS,
    MAX_QUESTION_CHARS,
    MAX_QUOTE_CHARS,
    MAX_SHORT_ANSWER_CHARS,
)

ISO_DATE = r"^\d{4}(-\d{2}(-\d{2})?)?$"
SESSION_ID = r"^[A-Za-z0-9_-]{1,64}$"


class _In(BaseModel):
    """Base of request bodies: unknown fields are refused, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class FiltersIn(_In):
    """Optional restrictions on the passages searched."""

    date_from: Annotated[str | None, Field(pattern=ISO_DATE, examples=["2020-09"])] = None
    date_to: Annotated[str | None, Field(pattern=ISO_DATE, examples=["2020-11-30"])] = None
    source: Annotated[str | None, Field(max_length=200, description="Substring of the source name.")] = None


class AskIn(_In):
    """One question, optionally inside a conversation (`session_id`) with per-call overrides."""

    # The length limit is a setting (max_question_chars): qa.api.deps.ask_body checks it against the
    # app's settings, and create_app writes the number into the app's OpenAPI schema.
    question: Annotated[
        str,
        Field(
            min_length=1,
            pattern=r"\S",
            description="The question, 1 to QA_MAX_QUESTION_CHARS characters, not only spaces.",
            examples=["市公安局创文指挥部的指挥长是谁？"],
        ),
    ]
    session_id: Annotated[
        str | None,
        Field(pattern=SESSION_ID, description="Returned by an earlier answer; continues that conversation."),
    ] = None
    top_k: Annotated[
        int | None, Field(ge=1, le=TOP_K_MAX, description=f"Passages to return (1 to {TOP_K_MAX}).")
    ] = None
    filters: FiltersIn | None = None

    @field_validator("top_k", mode="before")
    @classmethod
    def _integral_float_is_int(cls, value: object) -> object:
        """JSON has one number type: 5.0 is the integer 5 (5.5, "5" and true stay refused)."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        """A question of spaces only is no question."""
        if not value.strip():
            raise ValueError("the question is empty (only spaces)")
        return value


class CitationOut(BaseModel):
    """A verbatim quote, `article.text[start:end] == quote`, shown as [n] in the answer."""

    n: int
    article_id: str
    title: str
    date: str
    source: str
    quote: str
    start: int
    end: int
    note: str = Field("", description='Remark after a further quote ("（2021-01-05的报道）"); "" if none.')
    answer_start: int | None = Field(
        None, description="Where the short answer sits in the article (inside this quote); null if not here."
    )
    answer_end: int | None = None


class PassageOut(BaseModel):
    """A retrieved passage, in rank order."""

    article_id: str
    title: str
    text: str
    score: float
    chunk_id: str = ""
    date: str = ""
    source: str = ""


class AnswerOut(BaseModel):
    """The answer object: the same JSON as `qa ask --json`."""

    question: str
    answer: str
    short_answer: str | None
    short_answer_date: str = Field("", description='Date shown beside the short answer; "" when none.')
    abstained: bool
    citations: list[CitationOut] = []
    passages: list[PassageOut] = []
    session_id: str | None = None
    session_reset: bool = Field(
        False,
        description="True when the request's session_id is one this server no longer holds (restarted, "
        "expired or evicted): the question was answered as the start of a new conversation.",
    )
    resolved_question: str | None = None
    timings_ms: dict[str, float] = {}


class ArticleOut(BaseModel):
    """A whole article, for the source viewer."""

    id: str
    title: str
    text: str
    date: str = ""
    source: str = ""
    byline: str = ""
    subtitle: str = ""
    kind: Literal["article", "photo"] = Field(
        default="article", description="'photo': a photo with its caption, printed as an item of its own."
    )
    untitled: bool = Field(
        default=False, description="True when the page printed no headline: `title` is a placeholder."
    )


class HealthOut(BaseModel):
    """Whether the server can answer: `ready` only once an index is loaded."""

    status: Literal["ready", "loading", "error"]
    detail: str
    max_question_chars: int = Field(
        description="The longest question this server accepts (QA_MAX_QUESTION_CHARS); the page reads it."
    )


class StatsOut(BaseModel):
    """What the live index holds and how it was built."""

    model_config = ConfigDict(extra="allow")

    articles: int
    chunks: int
    model: str = ""
    device: str = Field(default="", description="Where the models run: cpu, cuda, cuda:N or mps.")
    embed_backend: str = Field(
        default="", description="What runs the embedding model: onnx (ONNX Runtime) or torch."
    )
    reader_backend: str | None = Field(
        default=None,
        description="What runs the trained reader: onnx (ONNX Runtime) or torch; null when none is loaded.",
    )
    store: str = Field(default="local", description="Where the index lives: local, or milvus URI COLLECTION.")
    dim: int | None = None
    built_at: str | None = None
    corpus_fingerprint: str | None = None
    questions_in_flight: int = Field(default=0, description="Questions being answered (or waiting) now.")
    questions_refused_busy: int = Field(
        default=0, description="Questions refused with 503 because QA_MAX_IN_FLIGHT were already in flight."
    )
    query_batches: int = Field(
        default=0, description="Embedding batches the query batcher ran (0 when QA_BATCH_WINDOW_MS=0)."
    )
    query_batch_mean_size: float | None = Field(
        default=None, description="Questions per embedding batch on average; null before the first batch."
    )


class ExampleOut(BaseModel):
    """A question the corpus can answer, for the empty chat screen."""

    question: str
    article_id: str
    title: str


class ExamplesOut(BaseModel):
    """A few example questions derived from the live index."""

    examples: list[ExampleOut]


class RebuildStatusOut(BaseModel):
    """Progress of the latest (re)build: idle, running (with its phase), succeeded or failed."""

    model_config = ConfigDict(frozen=True)  # also the index manager's own record, copied on each change

    state: Literal["idle", "running", "succeeded", "failed"]
    phase: str = ""
    reason: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    elapsed_s: float | None = None
    summary: str | None = None
    articles: int | None = None
    chunks: int | None = None
    embedded: int | None = None
    reused: int | None = None
    problems: list[str] = []
    error: str | None = None


class UploadOut(BaseModel):
    """Files written into the corpus, and the rebuild they started."""

    saved: list[str]
    rebuild: RebuildStatusOut


class FieldError(BaseModel):
    """One refused field of a request."""

    field: str
    message: str


class ErrorOut(BaseModel):
    """Every error response: a sentence for a person, and the refused fields when there are any."""

    detail: str
    errors: list[FieldError] = []


# ------------------------------------------------------------------------------------------ feedback
# The limits are qa.feedback's (see there why they are these numbers), so whatever the schema accepts is
# stored.


class FeedbackCitationIn(_In):
    """A citation of the judged answer: where its quote is in which article."""

    article_id: Annotated[str, Field(min_length=1, max_length=200)]
    start: Annotated[int, Field(ge=0)]
    end: Annotated[int, Field(ge=0)]
    quote: Annotated[str | None, Field(max_length=MAX_QUOTE_CHARS)] = None

    @model_validator(mode="after")
    def _end_after_start(self) -> FeedbackCitationIn:
        """A span cannot end before it starts."""
        if self.end < self.start:
            raise ValueError("a citation's end must not be before its start")
        return self


class FeedbackIn(_In):
    """A reader's verdict on one answer: 有用 (`useful`) or 没用 (`not_useful`), with an optional comment."""

    question: Annotated[
        str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S", description="As asked.")
    ]
    resolved_question: Annotated[
        str | None,
        Field(max_length=MAX_QUESTION_CHARS, description="The follow-up as the server rewrote it."),
    ] = None
    answer: Annotated[
        str,
        Field(min_length=1, max_length=MAX_ANSWER_CHARS, pattern=r"\S", description="The answer text."),
    ]
    short_answer: Annotated[str | None, Field(max_length=MAX_SHORT_ANSWER_CHARS)] = None
    citations: Annotated[list[FeedbackCitationIn], Field(max_length=MAX_CITATIONS)] = []
    verdict: Literal["useful", "not_useful"]
    comment: Annotated[
        str | None,
        Field(max_length=MAX_COMMENT_CHARS, description="What was wrong or missing (optional)."),
    ] = None
    session_id: Annotated[str | None, Field(pattern=SESSION_ID)] = None


class FeedbackCreatedOut(BaseModel):
    """The id the feedback was stored under."""

    id: int


class FeedbackCitationOut(BaseModel):
    """A stored citation."""

    article_id: str
    start: int
    end: int
    quote: str = ""


class FeedbackOut(BaseModel):
    """One stored verdict."""

    id: int
    time: str = Field(description="When it was received, ISO 8601 in UTC.")
    question: str
    resolved_question: str | None = None
    answer: str
    short_answer: str | None = None
    citations: list[FeedbackCitationOut] = []
    verdict: Literal["useful", "not_useful"]
    comment: str = ""
    session_id: str | None = None


class FeedbackListOut(BaseModel):
    """A page of feedback, newest first."""

    total: int
    items: list[FeedbackOut]
