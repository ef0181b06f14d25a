"""Locust users for `benchmarks/locust_load.py`: each one asks the dev questions back to back (closed
loop: no wait between an answer and the next question), a chat's turns one by one. A 503 (the server's
back-pressure) is counted as its own failure kind, "busy 503", apart from real errors."""

from __future__ import annotations

import itertools
import random

from _common import DEV_SET, questions_of
from locust import HttpUser, constant, task

QUESTIONS = questions_of(DEV_SET)


class Reader(HttpUser):
    """One reader at the chat: a question as soon as the previous answer is in."""

    wait_time = constant(0)

    def on_start(self) -> None:
        """Each user starts at its own place in the question list."""
        self.questions = itertools.islice(itertools.cycle(QUESTIONS), random.randrange(len(QUESTIONS)), None)

    @task
    def ask(self) -> None:
        """POST /ask one question; 200 with citations is a success, 503 a refusal, anything else an error."""
        question = next(self.questions)
        with self.client.post("/ask", json={"question": question}, name="/ask", catch_response=True) as reply:
            if reply.status_code == 503:
                reply.failure("busy 503")
            elif reply.status_code != 200:
                reply.failure(f"HTTP {reply.status_code}")
            else:
                reply.success()
