"""Dependencies shared by the routes: the live service, the index manager, the settings, the checked
question body, the admin check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from qa.api.jobs import IndexManager
from qa.api.schemas import AskIn
from qa.service import QAService
from qa.settings import Settings

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="The operator's token (env QA_ADMIN_TOKEN), sent as `Authorization: Bearer <token>`.",
)


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


def get_manager(request: Request) -> IndexManager:
    """The manager of the live service and of rebuilds."""
    return request.app.state.index


def get_service(request: Request) -> QAService:
    """The live service, taken once per request so a swap mid-request cannot mix two indexes (the
    manager also notices here when another process made a new build live)."""
    manager: IndexManager = request.app.state.index
    service = manager.service
    if service is None:
        current = manager.status()
        if current.state == "failed":
            detail = f"The index could not be loaded: {current.error}"
        else:
            detail = "The index is still loading; try again in a moment (see GET /health)."
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=detail, headers={"Retry-After": "5"})
    return service


def ask_body(body: AskIn, settings: SettingsDep) -> AskIn:
    """The question body, refused like any too-long field when it exceeds the app's `max_question_chars`."""
    limit = settings.max_question_chars
    if len(body.question) > limit:
        raise RequestValidationError(
            [
                {
                    "type": "string_too_long",
                    "loc": ("body", "question"),
                    "msg": f"String should have at most {limit} characters",
                    "ctx": {"max_length": limit},
                }
            ]
        )
    return body


def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse unless the request carries the operator's admin token (401 none, 403 wrong or disabled)."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="This endpoint needs the admin token: send 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    expected = request.app.state.settings.admin_token
    if expected is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="Admin endpoints are disabled on this server: the operator has not set QA_ADMIN_TOKEN.",
        )
    if not secrets.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="The admin token is wrong.")


SettingsDep = Annotated[Settings, Depends(get_settings)]
ManagerDep = Annotated[IndexManager, Depends(get_manager)]
ServiceDep = Annotated[QAService, Depends(get_service)]
AskBody = Annotated[AskIn, Depends(ask_body)]
AdminDep = Depends(require_admin)
