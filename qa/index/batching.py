"""QueryBatcher: concurrent callers' questions share one `embed_queries` forward pass.

The server answers each request in its own thread. Each thread hands its texts to the batcher and
blocks; one worker thread takes every submission waiting in the queue (up to `max_texts` texts), runs
ONE `embed_queries` call on all of them and gives each caller exactly its own rows, in order.

The worker never waits for a caller it does not know is coming. A caller announces itself with
`expecting()` before the cheap work that precedes its embedding (the service does it around
retrieval); while an announced caller has not submitted yet, the worker holds the batch open for at
most `window_ms`. A lone caller is therefore never delayed, and under load the batches also grow on
their own while the previous forward pass runs.

If a batched call raises, each submission is retried alone, so a failing question fails only its
own caller (its exception is raised in its own thread).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from qa.index.embedding import QueryEmbedder


@dataclass
class _Submission:
    """One caller's texts and, once the worker is done, its rows or its error."""

    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    vectors: np.ndarray | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class BatchStats:
    """Counters since the batcher started."""

    batches: int = 0  # embed_queries calls on behalf of callers (retries not counted)
    submissions: int = 0  # callers served
    texts: int = 0  # texts embedded
    largest: int = 0  # most submissions in one batch
    waited: int = 0  # batches held open for an announced caller
    retried: int = 0  # batches whose call raised and were retried one submission at a time

    @property
    def mean_submissions(self) -> float | None:
        """Callers per batch on average; None before the first batch."""
        return round(self.submissions / self.batches, 2) if self.batches else None


class QueryBatcher:
    """An `embed_queries` that gathers concurrent callers into one call of the wrapped embedder."""

    def __init__(self, embedder: QueryEmbedder, window_ms: float = 3.0, max_texts: int = 32) -> None:
        """Start the worker; `window_ms` bounds the wait for announced callers, `max_texts` a batch."""
        if window_ms < 0:
            raise ValueError(f"window_ms must be at least 0, got {window_ms}")
        if max_texts < 1:
            raise ValueError(f"max_texts must be at least 1, got {max_texts}")
        self.embedder = embedder
        self.window_s = window_ms / 1000
        self.max_texts = max_texts
        self._cond = threading.Condition()
        self._pending: deque[_Submission] = deque()
        self._expected = 0  # callers inside expecting() that have not submitted yet
        self._local = threading.local()
        self._closed = False
        self._counts = dict.fromkeys(BatchStats.__dataclass_fields__, 0)
        self._worker = threading.Thread(target=self._run, name="qa-query-batcher", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------------------------- callers
    @contextmanager
    def expecting(self) -> Iterator[None]:
        """Announce that this thread is about to call `embed_queries`, so a batch may wait for it."""
        if getattr(self._local, "expected", False):  # already announced (nested): count it once
            yield
            return
        with self._cond:
            self._expected += 1
        self._local.expected = True
        try:
            yield
        finally:
            if self._local.expected:  # left without submitting (no texts, an error before it)
                self._local.expected = False
                with self._cond:
                    self._expected -= 1
                    self._cond.notify_all()

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Unit float32 vectors (n, dim) of `texts`, computed in a batch with other callers' texts."""
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not a single string")
        submission = _Submission(list(texts))
        with self._cond:
            if getattr(self._local, "expected", False):
                self._local.expected = False
                self._expected -= 1
            closed = self._closed
            if not closed and submission.texts:
                self._pending.append(submission)
            self._cond.notify_all()  # a new submission, or one caller less to wait for
        if closed or not submission.texts:
            return self.embedder.embed_queries(submission.texts)  # nothing to share, or shutting down
        submission.done.wait()
        if submission.error is not None:
            raise submission.error
        assert submission.vectors is not None
        return submission.vectors

    @property
    def stats(self) -> BatchStats:
        """A snapshot of the counters."""
        with self._cond:
            return BatchStats(**self._counts)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the worker once the submissions already queued are answered; later calls run directly."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join(timeout)

    # ------------------------------------------------------------------------------------- worker
    def _run(self) -> None:
        """Gather a batch, embed it, hand out the rows; until closed and drained."""
        while True:
            batch = self._gather()
            if batch is None:
                return
            try:
                self._embed(batch)
            finally:
                for submission in batch:  # never leave a caller blocked, whatever happened
                    if not submission.done.is_set():
                        if submission.vectors is None and submission.error is None:
                            submission.error = RuntimeError("the query batcher failed to embed this batch")
                        submission.done.set()

    def _gather(self) -> list[_Submission] | None:
        """The next batch: what is queued, plus announced callers arriving within the window."""
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            batch = [self._pending.popleft()]
            size = len(batch[0].texts)
            deadline = None
            while True:
                while self._pending and size + len(self._pending[0].texts) <= self.max_texts:
                    batch.append(self._pending.popleft())
                    size += len(batch[-1].texts)
                full = bool(self._pending) or size >= self.max_texts
                if full or self._expected == 0 or self._closed or self.window_s == 0:
                    break
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.window_s
                    self._counts["waited"] += 1
                if now >= deadline:
                    break
                self._cond.wait(deadline - now)
            self._counts["batches"] += 1
            self._counts["submissions"] += len(batch)
            self._counts["texts"] += size
            self._counts["largest"] = max(self._counts["largest"], len(batch))
            return batch

    def _embed(self, batch: list[_Submission]) -> None:
        """One call for the whole batch; if it raises, one call per submission."""
        try:
            vectors = self._call([text for submission in batch for text in submission.texts])
        except Exception as error:
            if len(batch) == 1:
                batch[0].error = error
                batch[0].done.set()
                return
            with self._cond:
                self._counts["retried"] += 1
            for submission in batch:
                try:
                    submission.vectors = self._call(submission.texts)
                except Exception as own_error:
                    submission.error = own_error
                submission.done.set()
            return
        start = 0
        for submission in batch:
            end = start + len(submission.texts)
            submission.vectors = vectors[start:end].copy()
            start = end
            submission.done.set()

    def _call(self, texts: list[str]) -> np.ndarray:
        """The wrapped embedder's vectors, checked to hold one row per text."""
        vectors = np.asarray(self.embedder.embed_queries(texts), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise RuntimeError(f"the embedder returned {vectors.shape} for {len(texts)} texts")
        return vectors
