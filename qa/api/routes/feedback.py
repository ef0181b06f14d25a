"""POST /feedback (a reader's 有用 / 没用 on an answer) and GET /feedback (the admin reads them back)."""

from __future__ import annotations

import sqlite3
import threading
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError

from qa.api.deps import AdminDep
from qa.api.schemas import ErrorOut, FeedbackCreatedOut, FeedbackIn, FeedbackListOut, FeedbackOut
from qa.feedback import FeedbackStore

router = APIRouter(prefix="/feedback", tags=["feedback"])

_opening = threading.Lock()
UNAVAILABLE = {
    503: {"model": ErrorOut, "description": "The feedback file beside the index cannot be opened or written."}
}


def _unavailable(error: sqlite3.Error) -> HTTPException:
    """The refusal when SQLite fails (a read-only or full disk, a locked file)."""
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        detail=f"Feedback cannot be stored or read right now ({error}); try again later.",
        headers={"Retry-After": "30"},
    )


def get_store(request: Request) -> FeedbackStore:
    """The app's feedback store beside its index, opened (and its table created) on first use."""
    state = request.app.state
    with _opening:
        store = getattr(state, "feedback", None)
        if store is None:
            try:
                store = FeedbackStore.beside(state.settings.index_dir)
            except (sqlite3.Error, OSError) as error:
                raise _unavailable(sqlite3.Error(str(error))) from error
            state.feedback = store
    return store


StoreDep = Annotated[FeedbackStore, Depends(get_store)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackCreatedOut,
    responses={
        400: {"model": ErrorOut, "description": "The body is not valid JSON."},
        413: {"model": ErrorOut, "description": "The body is too large."},
        422: {"model": ErrorOut, "description": "A field is missing, unknown, of a wrong type or too long."},
        **UNAVAILABLE,
    },
    summary="Say whether an answer was useful",
)
def add_feedback(body: FeedbackIn, store: StoreDep) -> FeedbackCreatedOut:
    """Store the verdict with the question, the resolved question, the answer and its citations."""
    try:
        new_id = store.add(body.model_dump())
    except sqlite3.Error as error:
        raise _unavailable(error) from error
    except ValueError as error:  # what the schema cannot express (e.g. text that cannot be UTF-8)
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body",), "msg": str(error), "ctx": {"error": str(error)}}]
        ) from error
    return FeedbackCreatedOut(id=new_id)


@router.get(
    "",
    response_model=FeedbackListOut,
    responses={
        401: {"model": ErrorOut, "description": "No admin token was sent."},
        403: {"model": ErrorOut, "description": "The admin token is wrong, or admin endpoints are disabled."},
        422: {"model": ErrorOut, "description": "limit or offset is out of range."},
        **UNAVAILABLE,
    },
    dependencies=[AdminDep],
    summary="The stored feedback, newest first (admin token required)",
)
def list_feedback(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Records to return.")] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Records to skip (newest first).")] = 0,
) -> FeedbackListOut:
    """Each record: time, question, resolved question, answer, short answer, citations, verdict, comment."""
    try:
        total = store.count()
        items = store.list(limit, offset)
    except sqlite3.Error as error:
        raise _unavailable(error) from error
    return FeedbackListOut(total=total, items=[FeedbackOut.model_validate(item) for item in items])
