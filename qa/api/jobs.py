"""The live service and the one background (re)build at a time, without FastAPI.

Startup and every rebuild run the same job in a thread: build the index (when asked to), load a new
`QAService` carrying the old one's chat sessions over, then swap the reference on the app's state.
Requests that already hold the old service finish with it; the next request gets the new one.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from qa.api.schemas import RebuildStatusOut
from qa.index.batching import QueryBatcher
from qa.index.embedding import Embedder
from qa.index.errors import IndexLoadError, SetupError
from qa.index.onnx_encoder import OnnxEmbedder
from qa.index.store import current_build_dir
from qa.service import QAService, index_ready, load_embedder, rebuild_index
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.answer.reader import Reader  # imports torch: only when a reader is configured

log = logging.getLogger("qa.api")

SHUTDOWN_WAIT_S = 10.0  # at shutdown, how long the job thread is waited for (a build is not: it goes on)
FOLLOW_CHECK_S = 1.0  # how often (at most) a request compares the index's CURRENT with the served build


class HoldsService(Protocol):
    """Where the live service is kept (the app's `state`): requests read it, a finished job swaps it."""

    service: QAService | None


def _now() -> str:
    """UTC time as ISO 8601 seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _error_text(error: BaseException) -> str:
    """One line a person can read: the message, else the exception's name."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text or type(error).__name__


class IndexManager:
    """Owns `state.service` (None until the first load) and runs builds one at a time in a thread."""

    def __init__(
        self,
        settings: Settings,
        state: HoldsService,
        embedder: Embedder | OnnxEmbedder | None = None,
        reader: Reader | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.embedder = embedder
        self.reader = reader
        self.batcher: QueryBatcher | None = None  # made with the first service; shared by its successors
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._status = RebuildStatusOut(state="idle")
        self._examples: tuple[QAService, list[dict[str, str]]] | None = None
        self._examples_lock = threading.Lock()
        self._closing = threading.Event()  # set at shutdown: the example questions stop being tried
        self._checked_at = 0.0  # when CURRENT was last compared with the served build
        state.service = None

    # ------------------------------------------------------------------------------------- status
    @property
    def service(self) -> QAService | None:
        """The live QAService, or None while the first load is still running (or failed).

        Another process may have made another build live (`qa index`, or a sibling worker of `qa serve
        --workers N` that ran POST /index/rebuild): at most once a second this looks at the index's
        CURRENT and, when it names another build, loads that one in the background (no build)."""
        self._follow_live_build()
        return self.state.service

    def _follow_live_build(self) -> None:
        """Start a load-and-swap job when the local index's live build is not the one being served."""
        now = time.monotonic()
        if now - self._checked_at < FOLLOW_CHECK_S or self.settings.store != "local":
            return
        self._checked_at = now
        service = self.state.service
        if service is None or self.running:
            return
        try:
            live = current_build_dir(Path(self.settings.index_dir))
        except (OSError, IndexLoadError):
            return
        if live is not None and live.name != Path(service.index.path).name:
            log.info("The live build is now %s (built elsewhere): loading it", live.name)
            self.start("follow", build=False)

    def status(self) -> RebuildStatusOut:
        """The latest job's status, with the elapsed time of a running one."""
        with self._lock:
            status = self._status
            if status.state == "running":
                status = status.model_copy(update={"elapsed_s": round(time.monotonic() - self._started, 1)})
            return status

    @property
    def running(self) -> bool:
        """True while a job is building or loading."""
        return self.status().state == "running"

    def _update(self, **changes: Any) -> None:
        """Change fields of the status under the lock."""
        with self._lock:
            self._status = self._status.model_copy(update=changes)

    # ------------------------------------------------------------------------------------- jobs
    def start(self, reason: str, build: bool = True) -> bool:
        """Start a job in a thread (build when `build`, then load and swap); False if one is running."""
        with self._lock:
            if self._status.state == "running":
                return False
            self._started = time.monotonic()
            self._status = RebuildStatusOut(
                state="running", phase="starting", reason=reason, started_at=_now()
            )
            self._thread = threading.Thread(
                target=self._run, args=(reason, build), name=f"qa-{reason}", daemon=True
            )
            self._thread.start()
            return True

    def start_initial_load(self) -> None:
        """At startup: build the index first when none exists (first start), then load it."""
        build = not index_ready(self.settings)
        if build:
            log.info(
                "No index in %s: building one from %s first",
                self.settings.index_dir,
                self.settings.corpus_dir,
            )
        self.start("startup", build=build)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the running job ends; True when none is running any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def _run(self, reason: str, build: bool) -> None:
        """The job: build (optional), load a new service with the old sessions, swap, record the outcome."""
        try:
            if build:
                self._build(progress=reason == "startup")
            self._load_and_swap()
            self.examples(limit=1)  # computed now, so the page's first visit does not wait for them
        except Exception as error:  # any failure is reported on /index/status and /health, never raised
            if isinstance(error, SetupError):  # a setting it cannot meet: the sentence
                log.error("The %s job failed: %s", reason, error)
            else:
                log.exception("The %s job failed", reason)
            self._update(
                state="failed",
                finished_at=_now(),
                elapsed_s=round(time.monotonic() - self._started, 1),
                error=_error_text(error),
            )

    def _build(self, progress: bool) -> None:
        """Load the model once (shared by the build and the service), rebuild the index, record its report."""
        if self.embedder is None:
            self._update(phase="loading the model")
            self.embedder = load_embedder(self.settings)
        self._update(phase="building the index")
        log.info("Building the index of %s into %s", self.settings.corpus_dir, self.settings.index_dir)
        report = rebuild_index(self.settings, progress=progress, embedder=self.embedder)
        log.info("%s", report.summary())
        for problem in report.problems:
            log.warning("corpus problem: %s", problem)
        self._update(
            summary=report.summary(),
            articles=report.articles,
            chunks=report.chunks,
            embedded=report.embedded,
            reused=report.reused,
            problems=[str(p) for p in report.problems][:200],
        )

    def _load_and_swap(self) -> None:
        """Load a new service carrying the old one's chat sessions, then make it the live one."""
        self._update(phase="loading the index")
        old = self.state.service
        sessions = old.sessions if old is not None else None
        new = QAService.load(
            self.settings, embedder=self.embedder, sessions=sessions, reader=self.reader, batcher=self.batcher
        )
        self.embedder, self.reader = new.embedder, new.reader
        if new.batcher is None and self.settings.batch_window_ms > 0:
            self.batcher = new.batcher = QueryBatcher(
                new.embedder, self.settings.batch_window_ms, self.settings.batch_max
            )
        self.state.service = new  # the swap: requests in flight keep the old object
        log.info("Index loaded from %s; now answering from it", self.settings.index_dir)
        stats = new.stats()
        self._update(
            state="succeeded",
            phase="swapped",
            finished_at=_now(),
            elapsed_s=round(time.monotonic() - self._started, 1),
            articles=stats.get("articles", self._status.articles),
            chunks=stats.get("chunks", self._status.chunks),
        )

    def close(self) -> None:
        """At shutdown: stop trying example questions, wait for the job thread a moment, stop the
        query batcher (questions still asked then embed without it).

        A daemon thread killed inside a native call at exit (an ONNX Runtime run) aborts the process
        ("terminate called without an active exception"); the example questions are asked in the job
        thread right after a load, so they stop first and the thread is given time to leave.
        """
        self._closing.set()
        self.wait(SHUTDOWN_WAIT_S)
        if self.batcher is not None:
            self.batcher.close()

    # ------------------------------------------------------------------------------------- examples
    def examples(self, limit: int) -> list[dict[str, str]]:
        """Example questions for the live service, computed once per loaded service."""
        from qa.api.examples import example_questions

        service = self.state.service
        if service is None:
            return []
        with self._examples_lock:
            cached = self._examples
            if cached is None or cached[0] is not service:
                try:
                    cached = (service, example_questions(service, limit=8, stop=self._closing.is_set))
                except Exception:  # examples are a nicety: never let them break a load or a request
                    log.exception("Could not derive example questions")
                    cached = (service, [])
                self._examples = cached
        return cached[1][:limit]
