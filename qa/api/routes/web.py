"""GET /: the chat page; its script and style are served from /static (the `web/` folder, no build step)."""

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
