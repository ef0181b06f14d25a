"""GET /articles/{article_id}: the whole article a citation points into, for the source viewer."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from qa.api.deps import ServiceDep
from qa.api.schemas import ArticleOut, ErrorOut

router = APIRouter(prefix="/articles", tags=["articles"])


@router.get(
    "/{article_id}",
    response_model=ArticleOut,
    responses={
        404: {"model": ErrorOut, "description": "No article has this id."},
        422: {"model": ErrorOut, "description": "The id is too long."},
        503: {"model": ErrorOut, "description": "The index is not loaded yet."},
    },
    summary="One whole article",
)
def get_article(
    article_id: Annotated[
        str, Path(max_length=200, description="An `article_id` from a citation or passage.")
    ],
    service: ServiceDep,
) -> ArticleOut:
    """Title, date, source, byline and the whole text of one article."""
    article = service.article(article_id)
    if article is None:
        shown = article_id if len(article_id) <= 80 else article_id[:80] + "…"
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"No article with id {shown!r} in the index (it may have been removed by a rebuild).",
        )
    return ArticleOut.model_validate(asdict(article))
