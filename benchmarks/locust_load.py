"""Closed-loop load from Locust (headless) on a real `qa serve` over the seeds index: 1, 5, 20 and 50
users for 60 s each, today's server beside the server the issue measured, in one run.

"issue filed" is the server at commit 21e7969 (2026-11-30 22:30, the last commit before the work on
many readers at once), run from a git worktree over an index built by its own code: the 3x target is
against it. "before" is `qa serve` with `QA_BATCH_WINDOW_MS=0` (each question embedded on its own,
as before the batcher landed); "after" is `qa serve` as shipped. For each user count every server is
fresh, one after the other, so the machine's background load hits them alike. Locust runs as its own
process on the same 2 cores (it takes a share of them: the figures are a floor). Reported per run: answers/s,
p50/p95/p99 ms of the answered questions (Locust's own percentiles; a 503 is counted apart, under
"/ask 503", and its user waits the Retry-After it was given), errors, 503s. "after, --workers 2" is
the shipped server as two processes (`qa serve --workers 2`); "after, e5 on torch" is the shipped server
with `QA_EMBED_BACKEND=torch` (the model run by sentence-transformers instead of ONNX Runtime); "after,
no reader" is the shipped server with `QA_READER_DIR=` (the typed rules give the short answers alone);
"after, reader fp32" reads with the reader's full-precision graph (`QA_READER_INT8=false`).

    python benchmarks/locust_load.py [--users 1,5,20,50] [--seconds 60] [--baseline 21e7969]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from _common import (
    CACHE_DIR,
    DEV_SET,
    MODEL_CACHE,
    PROJECT_ROOT,
    load_embedder,
    log,
    questions_of,
    seeds_index,
    serve,
    write_result,
)

HERE = Path(__file__).parent
BASELINE = "21e7969"  # the server as the issue measured it (2026-11-30)
BASELINE_SETUP = "issue filed (21e7969)"
# name: (environment, qa serve options)
SETUPS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    BASELINE_SETUP: ({}, ()),
    "before (no batcher)": ({"QA_BATCH_WINDOW_MS": "0"}, ()),
    "after (as shipped)": ({}, ()),
    "after, no reader": ({"QA_READER_DIR": ""}, ()),
    "after, reader fp32": ({"QA_READER_INT8": "false"}, ()),
    "after, e5 on torch": ({"QA_EMBED_BACKEND": "torch"}, ()),
    "after, --workers 2": ({}, ("--workers", "2")),
}


def run_locust(url: str, users: int, seconds: int, prefix: Path) -> dict[str, Any]:
    """One headless Locust run; its CSV summary as figures."""
    locust = Path(sys.executable).parent / "locust"
    command = [
        str(locust if locust.exists() else "locust"),
        "-f",
        str(HERE / "locustfile.py"),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{seconds}s",
        "--host",
        url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "30",
    ]
    subprocess.run(
        command, cwd=HERE, check=False, capture_output=True, env={**os.environ, "PYTHONPATH": str(HERE)}
    )
    with open(f"{prefix}_stats.csv", encoding="utf-8") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "/ask")
    errors = 0
    with open(f"{prefix}_failures.csv", encoding="utf-8") as handle:
        for failure in csv.DictReader(handle):
            if "busy 503" not in failure["Error"]:
                errors += int(failure["Occurrences"])
    with open(f"{prefix}_stats.csv", encoding="utf-8") as handle:
        busy = sum(int(r["Request Count"]) for r in csv.DictReader(handle) if r["Name"] == "/ask 503")
    requests = int(row["Request Count"])
    return {
        "answers_per_s": round((requests - errors) / seconds, 2),
        "p50_ms": float(row["50%"]),
        "p95_ms": float(row["95%"]),
        "p99_ms": float(row["99%"]),
        "requests": requests,
        "errors": errors,
        "busy_503": busy,
    }


def baseline_checkout(revision: str) -> tuple[Path, Path]:
    """A git worktree of `revision` and a seeds index built by that version's own `qa index`."""
    root = CACHE_DIR / f"baseline-{revision}"
    if not (root / "qa").is_dir():
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=PROJECT_ROOT, check=False)
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-f", str(root), revision], cwd=PROJECT_ROOT, check=True
        )
    index_dir = CACHE_DIR / f"baseline-{revision}-index"
    if not (index_dir / "CURRENT").is_file():
        env = {**os.environ, "PYTHONPATH": str(root), "QA_MODEL_CACHE_DIR": str(MODEL_CACHE)}
        command = [
            sys.executable,
            "-m",
            "qa",
            "index",
            "--corpus",
            str(root / "seeds"),
            "--index-dir",
            str(index_dir),
        ]
        subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
    return root, index_dir


def main() -> None:
    """Every (users, setup) pair on a fresh server; one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="1,5,20,50", help="Comma-separated user counts.")
    parser.add_argument("--seconds", type=int, default=60, help="Duration of each run.")
    parser.add_argument("--baseline", default=BASELINE, help="Commit of the server to compare with.")
    parser.add_argument("--setups", default="", help="Setup names separated by ';' (default: all).")
    args = parser.parse_args()
    index_dir = seeds_index(load_embedder())
    baseline_root, baseline_index = baseline_checkout(args.baseline)
    chosen = [name for name in SETUPS if not args.setups or name in args.setups.split(";")]
    out = CACHE_DIR / "locust"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    questions = questions_of(DEV_SET)
    rows = []
    for users in [int(u) for u in args.users.split(",")]:
        for setup in chosen:
            env, serve_args = SETUPS[setup]
            old = setup == BASELINE_SETUP
            saved = {key: os.environ.get(key) for key in env}
            os.environ.update(env)
            try:
                with serve(
                    baseline_index if old else index_dir, args=serve_args, root=baseline_root if old else None
                ) as server:
                    for question in questions[:5]:  # warm the caches alike
                        httpx.post(f"{server.url}/ask", json={"question": question}, timeout=120)
                    figures = run_locust(server.url, users, args.seconds, out / f"{users}-{len(rows)}")
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
            row = {"users": users, "setup": setup, **figures}
            log(str(row))
            rows.append(row)
    print("| users | server | answers/s | p50 ms | p95 ms | p99 ms | errors | 503s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['users']} | {r['setup']} | {r['answers_per_s']} | {r['p50_ms']:g} | {r['p95_ms']:g} | "
            f"{r['p99_ms']:g} | {r['errors']} | {r['busy_503']} |"
        )
    write_result("locust_load", {"seconds": args.seconds, "tool": "locust (headless)", "runs": rows})


if __name__ == "__main__":
    main()
