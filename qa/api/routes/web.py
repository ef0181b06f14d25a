"""GET /: the chat page; GET /docs: the interactive API docs. Their files come from /static (the `web/`
folder, no build step) and /static/swagger (Swagger UI from the `swagger-ui-bundle` package): no CDN."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from qa.settings import PROJECT_ROOT

WEB_DIR = PROJECT_ROOT / "web"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    """The single page of the chat."""
    return FileResponse(WEB_DIR / "index.html", media_type="text/html; charset=utf-8")


@router.get("/docs")
def docs() -> FileResponse:
    """Swagger UI over /openapi.json, every file served from here (works with the network cut)."""
    return FileResponse(WEB_DIR / "docs.html", media_type="text/html; charset=utf-8")
