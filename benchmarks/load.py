"""Closed-loop load on a real `qa serve`, with the query batcher off and on, side by side in one run.

For each client count, each setting of `QA_BATCH_WINDOW_MS` gets its own fresh `qa serve` over the
seeds index; N client threads each ask the dev questions back to back for `--seconds` (a new question
as soon as the previous answer arrives). Reported: answers/s, p50/p95/p99 ms, errors, 503s, and the
server's own count of embedding batches and questions per batch (from /stats).

    python benchmarks/load.py [--clients 1,5,20] [--seconds 30] [--windows 0,3]
"""

from __future__ import annotations

import argparse
import itertools
import os
import threading
import time
from typing import Any

import httpx
from _common import DEV_SET, load_embedder, log, percentile, questions_of, seeds_index, serve, write_result


def closed_loop(url: str, questions: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """`clients` threads asking back to back for `seconds`; throughput, latency and failures."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(offset: int) -> None:
        asked = itertools.islice(itertools.cycle(questions), offset, None)
        with httpx.Client(base_url=url, timeout=120) as http:
            for question in asked:
                if time.perf_counter() >= stop_at:
                    return
                started = time.perf_counter()
                try:
                    code = str(http.post("/ask", json={"question": question}).status_code)
                except httpx.HTTPError as error:
                    code = type(error).__name__
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    statuses[code] = statuses.get(code, 0) + 1
                    if code == "200":
                        latencies.append(elapsed)

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i * 7,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    answered = statuses.get("200", 0)
    return {
        "answers_per_s": round(answered / wall, 2),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "answers": answered,
        "busy_503": statuses.get("503", 0),
        "errors": sum(n for code, n in statuses.items() if code not in ("200", "503")),
    }


def batch_counts(url: str) -> tuple[int, float]:
    """(embedding batches, questions embedded through the batcher) so far, from the server's /stats."""
    stats = httpx.get(f"{url}/stats", timeout=30).json()
    batches = stats.get("query_batches", 0)
    return batches, batches * (stats.get("query_batch_mean_size") or 0)


def main() -> None:
    """Run every (clients, window) pair on its own fresh server and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,5,20", help="Comma-separated client counts.")
    parser.add_argument("--seconds", type=float, default=30.0, help="Duration of each run.")
    parser.add_argument("--windows", default="0,3", help="QA_BATCH_WINDOW_MS values (0 = batching off).")
    args = parser.parse_args()
    questions = questions_of(DEV_SET)  # a chat's turns are asked one by one, each in a fresh session
    index_dir = seeds_index(load_embedder())
    rows = []
    for clients in [int(c) for c in args.clients.split(",")]:
        for window in args.windows.split(","):
            os.environ["QA_BATCH_WINDOW_MS"] = window
            with serve(index_dir) as server:
                for question in questions[:5]:  # warm the caches alike
                    httpx.post(f"{server.url}/ask", json={"question": question}, timeout=120)
                before = batch_counts(server.url)
                figures = closed_loop(server.url, questions, clients, args.seconds)
                after = batch_counts(server.url)
            batches = after[0] - before[0]
            row = {
                "clients": clients,
                "batch_window_ms": float(window),
                **figures,
                "query_batches": batches,
                "questions_per_batch": round((after[1] - before[1]) / batches, 2) if batches else None,
            }
            log(str(row))
            rows.append(row)
    print("| clients | window ms | answers/s | p50 | p95 | p99 | errors | 503s | questions/batch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['clients']} | {r['batch_window_ms']:g} | {r['answers_per_s']} | {r['p50_ms']} | "
            f"{r['p95_ms']} | {r['p99_ms']} | {r['errors']} | {r['busy_503']} | {r['questions_per_batch']} |"
        )
    write_result("load", {"seconds": args.seconds, "runs": rows})


if __name__ == "__main__":
    main()
