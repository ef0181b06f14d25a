"""Back-pressure: at most `limit` questions are answered (or wait) at once; the next ones get 503 at once.

An unbounded queue turns a burst into minutes of waiting and then timeouts with no answer; a bounded one
tells a client straight away to come back (`Retry-After`), and counts how often it had to.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

QUESTION_PATHS = ("/ask", "/chat/stream")
RETRY_AFTER_S = 1  # one answer takes ~60 ms of CPU, so a second frees a good part of the slots
BUSY = "The server is answering as many questions as it can right now; ask again in a moment."


@dataclass
class Admission:
    """Questions in flight and refused; touched only on the event loop, so no lock is needed."""

    limit: int
    in_flight: int = 0
    refused: int = 0

    def __post_init__(self) -> None:
        """A limit below one would refuse every question."""
        if self.limit < 1:
            raise ValueError(f"the in-flight limit must be at least 1, got {self.limit}")

    def try_enter(self) -> bool:
        """Take a slot, or count a refusal when all are taken."""
        if self.in_flight >= self.limit:
            self.refused += 1
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        """Give a slot back (the answer was sent, or the client went away)."""
        self.in_flight -= 1


class AdmitQuestions:
    """ASGI middleware: POSTs to the question paths take a slot of `admission` for their whole response
    (a stream included) or get 503 with Retry-After and a sentence."""

    def __init__(self, app: ASGIApp, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Admit, refuse, or pass other requests through untouched."""
        asks = scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in QUESTION_PATHS
        if not asks:
            await self.app(scope, receive, send)
            return
        if not self.admission.try_enter():
            headers = {"Retry-After": str(RETRY_AFTER_S)}
            await JSONResponse({"detail": BUSY, "errors": []}, status_code=503, headers=headers)(
                scope, receive, send
            )
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.leave()
