"""GET /health, /stats, /examples: is the server ready, what does it hold, what can one ask it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from qa.api.deps import ManagerDep, ServiceDep
from qa.api.schemas import ErrorOut, ExamplesOut, HealthOut, StatsOut

router = APIRouter(tags=["system"])
NOT_READY = {503: {"model": ErrorOut, "description": "The index is not loaded yet."}}


@router.get(
    "/health",
    response_model=HealthOut,
    responses={
        503: {"model": HealthOut, "description": "Not ready: the index is loading, or failed to load."}
    },
    summary="Readiness",
)
def health(manager: ManagerDep) -> JSONResponse:
    """200 `ready` once an index is loaded; 503 `loading` (first start, building) or `error` before that."""
    limit = manager.settings.max_question_chars
    if manager.service is not None:
        stats = manager.service.stats()
        body = HealthOut(
            status="ready",
            detail=f"{stats['articles']} articles, {stats['chunks']} chunks loaded",
            max_question_chars=limit,
        )
        return JSONResponse(body.model_dump(), status_code=200)
    current = manager.status()
    if current.state == "failed":
        detail = f"The index could not be loaded: {current.error}"
        body = HealthOut(status="error", detail=detail, max_question_chars=limit)
    else:
        detail = f"Not ready yet: {current.phase or 'starting'}."
        body = HealthOut(status="loading", detail=detail, max_question_chars=limit)
    return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})


@router.get("/stats", response_model=StatsOut, responses=NOT_READY, summary="What the live index holds")
def stats(service: ServiceDep, request: Request) -> StatsOut:
    """Articles, chunks, model, build time and corpus fingerprint of the live index; questions in flight
    and how many were refused because the server was busy."""
    admission = request.app.state.admission
    load = {"questions_in_flight": admission.in_flight, "questions_refused_busy": admission.refused}
    return StatsOut.model_validate({**service.stats(), **load})


@router.get(
    "/examples",
    response_model=ExamplesOut,
    responses={**NOT_READY, 422: {"model": ErrorOut, "description": "`limit` is not 1 to 8."}},
    summary="Example questions",
)
def examples(
    service: ServiceDep,
    manager: ManagerDep,
    limit: Annotated[int, Query(ge=1, le=8, description="How many questions.")] = 4,
) -> ExamplesOut:
    """A few questions derived from the corpus that the live index answers, for the empty chat screen."""
    del service  # required only so the route answers 503 until an index is loaded
    return ExamplesOut.model_validate({"examples": manager.examples(limit)})
