"""POST /ask (one JSON answer) and POST /chat/stream (the same answer as Server-Sent Events)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import asdict

from fastapi import APIRouter
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from qa.answer.retrieve import Filters
from qa.api.deps import AskBody, ServiceDep
from qa.api.schemas import AnswerOut, AskIn, ErrorOut, FiltersIn
from qa.records import Answer
from qa.service import QAService, QuestionError

router = APIRouter(tags=["ask"])

ERRORS = {
    400: {"model": ErrorOut, "description": "The body is not valid JSON."},
    413: {"model": ErrorOut, "description": "The body is too large."},
    422: {
        "model": ErrorOut,
        "description": "A field is missing, unknown, of the wrong type or out of range.",
    },
    503: {
        "model": ErrorOut,
        "description": "The index is not loaded yet, or QA_MAX_IN_FLIGHT questions are already being "
        "answered (see Retry-After).",
    },
}
# Pieces of the answer text sent as `token` events: citation markers whole, else a few characters.
_PIECE = re.compile(r"\[\d+\]|[^\[]{1,8}|\[")


def _filters(filters: FiltersIn | None) -> Filters | None:
    """The retrieval filters of a request, None when none is set."""
    if filters is None:
        return None
    return Filters(date_from=filters.date_from, date_to=filters.date_to, source=filters.source)


def _session_reset(service: QAService, body: AskIn) -> bool:
    """True when the request continues a session this server no longer holds (restarted, expired or
    evicted): the question is then answered without the earlier turns, and the answer says so."""
    return body.session_id is not None and body.session_id not in service.sessions


def _answer_out(answer: Answer, session_reset: bool) -> AnswerOut:
    """The response model of an answer."""
    return AnswerOut.model_validate({**asdict(answer), "session_reset": session_reset})


def _ask(service: QAService, body: AskIn) -> Answer:
    """One call of the service with the request's fields."""
    return service.ask(
        body.question, session_id=body.session_id, top_k=body.top_k, filters=_filters(body.filters)
    )


@router.post("/ask", response_model=AnswerOut, responses=ERRORS, summary="Answer one question")
def ask(body: AskBody, service: ServiceDep) -> AnswerOut:
    """The answer with its short answer, verbatim quotes (with offsets), passages and timings."""
    session_reset = _session_reset(service, body)
    return _answer_out(_ask(service, body), session_reset)


def answer_pieces(text: str) -> list[str]:
    """The answer text cut into the pieces streamed one by one (joined they give the text back)."""
    return _PIECE.findall(text)


async def _events(service: QAService, body: AskIn) -> AsyncIterator[ServerSentEvent]:
    """status, then the answer text in pieces, then the citations, then `done` with the whole answer."""
    yield ServerSentEvent(event="status", data=json.dumps({"stage": "searching"}))
    session_reset = _session_reset(service, body)
    try:
        answer = await run_in_threadpool(_ask, service, body)
    except QuestionError as error:
        yield ServerSentEvent(event="error", data=json.dumps({"detail": str(error)}, ensure_ascii=False))
        return
    payload = _answer_out(answer, session_reset)
    yield ServerSentEvent(
        event="meta",
        data=json.dumps(
            {
                "session_id": answer.session_id,
                "session_reset": session_reset,
                "resolved_question": answer.resolved_question,
                "abstained": answer.abstained,
                "short_answer": answer.short_answer,
                "short_answer_date": answer.short_answer_date,
            },
            ensure_ascii=False,
        ),
    )
    for piece in answer_pieces(answer.answer):
        yield ServerSentEvent(event="token", data=json.dumps({"text": piece}, ensure_ascii=False))
    citations = [c.model_dump() for c in payload.citations]
    yield ServerSentEvent(event="citations", data=json.dumps(citations, ensure_ascii=False))
    yield ServerSentEvent(event="done", data=payload.model_dump_json())


@router.post(
    "/chat/stream",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": (
                "Server-Sent Events: `status`, `meta` (session id, session_reset, abstained, short answer "
                "and its date), `token` (the answer text in pieces), `citations` (quotes with their notes), "
                "then `done` with the whole answer object; `error` if the question is refused."
            ),
            "content": {"text/event-stream": {"schema": {}}},
        },
        **ERRORS,
    },
    summary="Answer one question as a stream of events",
)
async def chat_stream(body: AskBody, service: ServiceDep) -> EventSourceResponse:
    """The same answer as POST /ask, streamed for the chat page."""
    return EventSourceResponse(_events(service, body), ping=15)
