"""Locust users for `benchmarks/locust_load.py`: each one asks the dev questions back to back (closed
loop: no wait between an answer and the next question), a chat's turns one by one. A 503 (the server's
back-pressure) is counted under its own name, "/ask 503", apart from answers and real errors, and the
user then waits the Retry-After the server sent (at most 5 s), as a polite client does."""

from __future__ import annotations

import itertools
import random
import time

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
                reply.request_meta["name"] = "/ask 503"  # counted apart: the answered row stays answers only
                reply.failure("busy 503")
                retry = reply.headers.get("Retry-After", "1")
                time.sleep(min(5.0, float(retry) if retry.replace(".", "", 1).isdigit() else 1.0))
            elif reply.status_code != 200:
                reply.failure(f"HTTP {reply.status_code}")
            else:
                reply.success()
