"""The query batcher: concurrent callers share one forward pass of the real e5 model, and get back
exactly what they would have got alone."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.index.batching import QueryBatcher
from qa.settings import PROJECT_ROOT

QUESTIONS = [
    ["市公安局创文指挥部的指挥长是谁？"],
    ["网易和腾讯2022年全年营收分别是多少？", "网易2022年全年营收是多少？", "腾讯2022年全年营收是多少？"],
    ["魏都区委书记是谁？", "魏都区"],
    ["Who won the 2022 World Cup?"],
    ["今年前8个月全市规模以上工业增加值累计增长多少？"],
    ["查处的醉驾有多少起？", "醉驾"],
]
LONG_WINDOW_MS = 60_000  # a window no test may wait out: the batches close because every caller arrived


def submit_together(batcher: QueryBatcher, submissions: list[list[str]]) -> list[Any]:
    """Each submission from its own thread, all announced before any is sent: one batch for them all.

    Returns each thread's vectors, or the exception it raised.
    """
    barrier = threading.Barrier(len(submissions))
    results: list[Any] = [None] * len(submissions)

    def caller(i: int) -> None:
        with batcher.expecting():
            barrier.wait()
            try:
                results[i] = batcher.embed_queries(submissions[i])
            except Exception as error:
                results[i] = error

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(submissions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    return results


@pytest.fixture
def batcher_of(embedder):
    """Make batchers (over the real embedder unless told otherwise) and close them after the test."""
    made: list[QueryBatcher] = []

    def make(window_ms: float = LONG_WINDOW_MS, max_texts: int = 64, over: Any = None) -> QueryBatcher:
        made.append(QueryBatcher(over or embedder, window_ms=window_ms, max_texts=max_texts))
        return made[-1]

    yield make
    for batcher in made:
        batcher.close()


class FailsOn:
    """The real embedder, except that a call whose texts include `bad` raises."""

    def __init__(self, embedder: Any, bad: str) -> None:
        self.embedder, self.bad, self.calls = embedder, bad, 0

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.bad in texts:
            raise ValueError(f"cannot embed {self.bad!r}")
        return self.embedder.embed_queries(texts)


def test_batched_vectors_equal_unbatched_ones(embedder, batcher_of: Callable[..., QueryBatcher]):
    batcher = batcher_of()
    results = submit_together(batcher, QUESTIONS)
    for texts, vectors in zip(QUESTIONS, results, strict=True):
        assert isinstance(vectors, np.ndarray) and vectors.dtype == np.float32
        np.testing.assert_allclose(vectors, embedder.embed_queries(texts), atol=1e-5)
    stats = batcher.stats
    assert stats.batches == 1 and stats.largest == len(QUESTIONS)
    assert stats.texts == sum(map(len, QUESTIONS))


def test_each_caller_gets_its_own_rows_in_order(embedder, batcher_of: Callable[..., QueryBatcher]):
    batcher = batcher_of()
    every_text = [text for texts in QUESTIONS for text in texts]
    alone = {text: embedder.embed_queries([text])[0] for text in every_text}
    results = submit_together(batcher, [*QUESTIONS, []])
    assert batcher.stats.largest == len(QUESTIONS)  # the empty one was answered without the model
    assert results[-1].shape == (0, embedder.dim)
    for texts, vectors in zip(QUESTIONS, results, strict=False):
        assert vectors.shape == (len(texts), embedder.dim)
        for text, row in zip(texts, vectors, strict=True):
            nearest = max(every_text, key=lambda other: float(alone[other] @ row))
            assert nearest == text
            assert float(alone[text] @ row) == pytest.approx(1.0, abs=1e-5)


def test_one_failing_submission_does_not_fail_its_neighbours(
    embedder, batcher_of: Callable[..., QueryBatcher]
):
    bad = "这个问题让模型出错"
    failing = FailsOn(embedder, bad)
    batcher = batcher_of(over=failing)
    submissions = [*QUESTIONS[:3], ["前一个问题", bad], *QUESTIONS[3:]]
    results = submit_together(batcher, submissions)
    assert isinstance(results[3], ValueError) and bad in str(results[3])
    for texts, vectors in zip(submissions, results, strict=True):
        if bad not in texts:
            np.testing.assert_allclose(vectors, embedder.embed_queries(texts), atol=1e-5)
    assert batcher.stats.batches == 1 and batcher.stats.retried == 1
    assert failing.calls == 1 + len(submissions)  # the batch, then each submission alone
    # the batcher keeps serving after a failure
    np.testing.assert_allclose(batcher.embed_queries(QUESTIONS[0]), embedder.embed_queries(QUESTIONS[0]))


def test_a_lone_caller_is_not_delayed_by_the_window(
    service, embedder, batcher_of: Callable[..., QueryBatcher]
):
    batcher = batcher_of()  # a one-minute window, never waited out
    for texts in QUESTIONS[:3]:
        with batcher.expecting():
            batcher.embed_queries(texts)
        batcher.embed_queries(texts)  # unannounced: never waited for either
    with pytest.raises(KeyError), batcher.expecting():
        raise KeyError("a question that fails before its embedding")  # withdraws its announcement
    batcher.embed_queries(QUESTIONS[0])
    lone = replace(service, batcher=batcher)
    lone.ask("魏都区委书记是谁？")
    stats = batcher.stats
    assert stats.waited == 0  # no batch was held open: nobody else was on the way
    assert stats.batches == stats.submissions == 8 and stats.largest == 1


def test_close_answers_what_was_queued_and_then_embeds_directly(
    embedder, batcher_of: Callable[..., QueryBatcher]
):
    batcher = batcher_of()
    batcher.close()
    np.testing.assert_allclose(batcher.embed_queries(QUESTIONS[1]), embedder.embed_queries(QUESTIONS[1]))
    assert batcher.stats.batches == 0


def test_concurrent_asks_through_the_api_give_the_sequential_answers(settings, embedder, reader):
    lines = (PROJECT_ROOT / "tests" / "data" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines[:8]]
    app = create_app(settings.model_copy(update={"batch_window_ms": 50}), embedder=embedder, reader=reader)
    with TestClient(app) as client:
        assert app.state.index.wait(600), "the index did not load"
        assert app.state.index.service.batcher is app.state.index.batcher is not None

        def ask(question: str) -> dict[str, Any]:
            response = client.post("/ask", json={"question": question})
            assert response.status_code == 200, response.text
            body = response.json()
            return {key: body[key] for key in ("answer", "short_answer", "abstained", "citations")}

        alone = [ask(q) for q in questions]
        before = app.state.index.batcher.stats
        with ThreadPoolExecutor(len(questions)) as pool:
            together = list(pool.map(ask, questions))
        assert together == alone
        after = app.state.index.batcher.stats
        assert after.submissions - before.submissions == len(questions)
        stats = client.get("/stats").json()
        assert stats["query_batches"] == after.batches
        assert stats["query_batch_mean_size"] == after.mean_submissions
    assert not app.state.index.batcher._worker.is_alive()  # the lifespan closed it
