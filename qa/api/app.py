"""The FastAPI app: the lifespan loads (or first builds) the index, routers answer, the page is served at /.

Every error reaches the client as `{"detail": "<a sentence>", "errors": [...]}` with a 4xx status; a
bug inside the server is a 500 with a generic sentence, never a stack trace (that goes to the log).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from qa.api.admission import Admission, AdmitQuestions
from qa.api.jobs import IndexManager
from qa.api.routes import admin, articles, ask, feedback, system, web
from qa.api.routes.admin import UPLOAD_BODY_LIMIT
from qa.index.embedding import Embedder
from qa.index.onnx_encoder import OnnxEmbedder
from qa.service import QuestionError
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.answer.reader import Reader  # imports torch: only when a reader is configured

log = logging.getLogger("qa.api")

BODY_LIMIT = 64 * 1024  # bytes, every route but /documents; a 2,000-character question is ~8 KB of JSON

# Readable names for what a pattern-checked field must look like.
_PATTERN_HINTS = {
    "date_from": "must look like YYYY, YYYY-MM or YYYY-MM-DD",
    "date_to": "must look like YYYY, YYYY-MM or YYYY-MM-DD",
    "session_id": "must be 1 to 64 letters, digits, '-' or '_' (use the session_id of an earlier answer)",
}
_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "dict_type": "a JSON object",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "list_type": "a list",
}


# ------------------------------------------------------------------------------------------ body size


def _too_large(limit: int) -> str:
    """The sentence for a body over the limit."""
    return f"The request body is too large: at most {limit // 1024} KB is accepted here."


class DeclaredSizeLimit:
    """Answer 413 in JSON when Content-Length already says the body is too large (bodies without one,
    or that lie, are cut while they arrive by FastAPI's `max_body_size`)."""

    def __init__(self, app: ASGIApp, default: int, limits: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse up front, or pass the request on untouched."""
        if scope["type"] == "http":
            limit = self.limits.get(scope["path"], self.default)
            declared = Headers(scope=scope).get("content-length")
            code, detail = 0, ""
            if declared is not None and not declared.strip().isdigit():
                code, detail = 400, "The Content-Length header is not a number."
            elif declared is not None and int(declared) > limit:
                code, detail = 413, _too_large(limit)
            if code:
                await JSONResponse(_error_body(detail), status_code=code)(scope, receive, send)
                return
        await self.app(scope, receive, send)


# Only our own origin: no inline script or style, no framing, no third-party anything (the page and the
# offline /docs load every file from this server).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Add `SECURITY_HEADERS` to every HTTP response (streamed ones included), leaving the body untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response's start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ------------------------------------------------------------------------------------------ errors


def _field(loc: tuple[Any, ...]) -> str:
    """`body.filters.date_from` -> `filters.date_from`; the whole body is `body`."""
    parts = (
        [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path") else [str(p) for p in loc]
    )
    return ".".join(parts) or "body"


def describe_error(error: dict[str, Any]) -> tuple[str, str]:
    """(field, sentence) for one pydantic error, worded for a person, never echoing the input."""
    kind = error.get("type", "")
    loc = tuple(error.get("loc", ()))
    field = _field(loc)
    ctx = error.get("ctx") or {}
    leaf = str(loc[-1]) if loc else field
    if kind == "json_invalid":
        return "body", f"The request body is not valid JSON ({ctx.get('error', 'cannot be parsed')})."
    if kind == "missing":
        if field == "body":
            return field, 'The request body is missing: send a JSON object such as {"question": "…"}.'
        return field, f"'{field}' is required."
    if kind == "extra_forbidden":
        return field, f"'{field}' is not a field this endpoint knows."
    if kind in _TYPE_NAMES:
        if field == "body":
            return field, f"The request body must be {_TYPE_NAMES[kind]}."
        return field, f"'{field}' must be {_TYPE_NAMES[kind]}."
    if kind == "string_too_short" and leaf == "question":
        return field, "The question is empty."
    if kind == "string_too_long":
        return field, f"'{field}' is too long: at most {ctx.get('max_length')} characters."
    if kind == "string_pattern_mismatch" and leaf == "question":
        return field, "The question is empty (only spaces)."
    if kind == "string_pattern_mismatch":
        return field, f"'{field}' {_PATTERN_HINTS.get(leaf, 'has the wrong form')}."
    if kind == "value_error":
        message = str(ctx.get("error") or error.get("msg", "")).removeprefix("Value error, ")
        return field, f"{message[:1].upper()}{message[1:]}."
    return field, f"'{field}': {error.get('msg', 'invalid value')}."


def _error_body(detail: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The one shape of every error response."""
    return {"detail": detail, "errors": errors or []}


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """400 for a body that is not JSON, else 422, with each refused field in a sentence."""
    assert isinstance(exc, RequestValidationError)
    described = [describe_error(dict(e)) for e in exc.errors()]
    errors = [{"field": f, "message": m} for f, m in described[:10]]
    code = 400 if any(e.get("type") == "json_invalid" for e in exc.errors()) else 422
    detail = " ".join(dict.fromkeys(m for _f, m in described[:5]))
    return JSONResponse(_error_body(detail, errors), status_code=code)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """HTTPException -> its status and detail in the common shape."""
    assert isinstance(exc, StarletteHTTPException)
    detail = str(exc.detail)
    if exc.status_code == status.HTTP_413_CONTENT_TOO_LARGE:
        detail = _too_large(request.scope.get(MAX_BODY_SIZE_SCOPE_KEY, BODY_LIMIT))
    elif exc.status_code == status.HTTP_404_NOT_FOUND and detail == "Not Found":
        detail = f"There is nothing at {request.url.path}; the API is described at /docs."
    elif exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        allowed = (exc.headers or {}).get("Allow", "")
        detail = f"{request.method} is not allowed on {request.url.path}" + (
            f"; use {allowed}." if allowed else "."
        )
    return JSONResponse(_error_body(detail), status_code=exc.status_code, headers=exc.headers)


async def _question_error(request: Request, exc: Exception) -> JSONResponse:
    """A question the service refuses (empty, too long) -> 422."""
    return JSONResponse(_error_body(f"The question cannot be asked: {exc}."), status_code=422)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: log the trace, tell the client only that it happened."""
    log.exception("Unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        _error_body("Something went wrong on the server; the error has been logged."), status_code=500
    )


# ------------------------------------------------------------------------------------------ app


def _configure_logging() -> None:
    """Show the qa.* info lines (index build at first start, swaps) next to uvicorn's."""
    logger = logging.getLogger("qa")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start loading the index in the background (building the seeds index first if none exists);
    at shutdown, stop the query batcher."""
    app.state.index.start_initial_load()
    yield
    app.state.index.close()


def _document_settings(app: FastAPI, settings: Settings) -> None:
    """Write the question limit of `settings` into the app's OpenAPI schema (static AskIn cannot know it)."""
    generate = app.openapi
    limit = settings.max_question_chars

    def openapi() -> dict[str, Any]:
        schema = generate()
        question = schema["components"]["schemas"]["AskIn"]["properties"]["question"]
        question["maxLength"] = limit
        question["description"] = f"The question, 1 to {limit:,} characters, not only spaces."
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | OnnxEmbedder | None = None,
    reader: Reader | None = None,
) -> FastAPI:
    """The app over `settings` (default: read from the environment now); `embedder` and `reader` share
    loaded models (tests; else they are loaded with the index)."""
    settings = settings if settings is not None else Settings()
    _configure_logging()
    app = FastAPI(
        title="qa — questions over a Chinese newspaper archive",
        version="0.1.0",
        summary="Extractive answers with verbatim, checkable quotes; no LLM.",
        lifespan=_lifespan,
        docs_url=None,  # served by routes/web.py from a packaged Swagger UI, so it works offline
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.index = IndexManager(settings, app.state, embedder=embedder, reader=reader)
    app.state.admission = Admission(settings.max_in_flight)
    app.add_middleware(DeclaredSizeLimit, default=BODY_LIMIT, limits={"/documents": UPLOAD_BODY_LIMIT})
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(QuestionError, _question_error)
    app.add_exception_handler(Exception, _unexpected_error)
    for module in (ask, articles, system, admin, feedback, web):
        app.include_router(module.router, max_body_size=BODY_LIMIT)  # /documents sets its own, larger
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")
    app.mount("/static", StaticFiles(directory=web.WEB_DIR), name="static")
    app.add_middleware(AdmitQuestions, admission=app.state.admission)
    app.add_middleware(SecurityHeaders)
    _document_settings(app, settings)
    return app
