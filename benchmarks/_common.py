"""What every benchmark script shares: paths, timing percentiles, RSS, the machine line, result files.

Each script is run on its own (`python benchmarks/<name>.py`), prints its figures and writes them to
`benchmarks/results/<name>.json`; `run_all.py` runs them all and renders RESULTS.md from those files.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
if str(PROJECT_ROOT) not in sys.path:  # `python benchmarks/x.py` from anywhere imports the local qa
    sys.path.insert(0, str(PROJECT_ROOT))

RESULTS_DIR = BENCH_DIR / "results"
CACHE_DIR = Path(os.environ.get("QA_BENCH_CACHE", "/tmp/qa-bench"))
SEEDS_DIR = PROJECT_ROOT / "seeds"
DEV_SET = PROJECT_ROOT / "tests" / "data" / "dev.jsonl"
EXTERNAL = PROJECT_ROOT.parent / "shared" / "eval-external"
RGB_CORPUS = EXTERNAL / "corpus.jsonl"
RGB_QUESTIONS = EXTERNAL / "questions.jsonl"
RGB_INDEX = Path(os.environ.get("QA_BENCH_RGB_INDEX", "/tmp/rgb-index"))
MODEL = "multilingual-e5-small"
MODEL_CACHE = Path(os.environ.get("QA_MODEL_CACHE_DIR", Path.home() / ".cache" / "qa-models"))
THREADS = int(os.environ.get("QA_THREADS", "2"))


def set_threads(threads: int = THREADS) -> None:
    """Pin torch and FAISS to the same thread count the product uses (Settings.threads)."""
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency_stats(ms: list[float]) -> dict[str, float]:
    """p50/p95/mean/n of a list of millisecond timings."""
    return {
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
        "n": len(ms),
    }


def time_each(call: Callable[[Any], object], items: Iterable[Any], warmup: int = 3) -> list[float]:
    """Milliseconds of `call(item)` per item, after `warmup` untimed calls on the first items."""
    items = list(items)
    for item in items[:warmup]:
        call(item)
    timings = []
    for item in items:
        started = time.perf_counter()
        call(item)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def interleaved(calls: dict[str, Callable[[str], object]], questions: list[str], rounds: int) -> dict:
    """Time every call on every question, rotating which goes first; 3 warm-up questions untimed."""
    names = list(calls)
    for question in questions[:3]:
        for call in calls.values():
            call(question)
    timings: dict[str, list[float]] = {name: [] for name in names}
    turn = 0
    for _ in range(rounds):
        for question in questions:
            order = names[turn % len(names) :] + names[: turn % len(names)]
            turn += 1
            for name in order:
                started = time.perf_counter()
                calls[name](question)
                timings[name].append((time.perf_counter() - started) * 1000)
    return {name: latency_stats(ms) for name, ms in timings.items()}


def rss_mb() -> float:
    """Current resident set size of this process in MiB."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident set size (VmHWM) of a process in MiB; this process by default."""
    path = f"/proc/{pid}/status" if pid else "/proc/self/status"
    with open(path, encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_average() -> tuple[float, float, float]:
    """The 1/5/15-minute load averages (other agents share this machine)."""
    return os.getloadavg()


def machine() -> dict[str, Any]:
    """Where and when the figures were taken."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": THREADS,
        "python": platform.python_version(),
        "load_avg": [round(x, 2) for x in load_average()],
    }


def write_result(name: str, figures: dict[str, Any]) -> Path:
    """Save one script's figures (plus the machine line) as results/<name>.json and print them."""
    RESULTS_DIR.mkdir(exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), **figures}
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(payload, ensure_ascii=False, indent=2))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every non-blank line of a JSONL file."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def questions_of(path: Path, limit: int | None = None) -> list[str]:
    """The questions of a JSONL file (a chat's turns one by one), at most `limit`."""
    found = [turn["question"] for row in read_jsonl(path) for turn in row.get("turns", [row])]
    return found[:limit] if limit else found


DEPTH = 10  # retrieval depth the quality figures look at (hit@10, MRR@10)


def first_relevant(items: list[Any], relevant: Callable[[Any], bool], depth: int = DEPTH) -> int | None:
    """1-based rank of the first relevant item in the top `depth`, None if none is."""
    for rank, item in enumerate(items[:depth], start=1):
        if relevant(item):
            return rank
    return None


def unique(ids: list[str]) -> list[str]:
    """Ids in first-seen order without repeats (several chunks of one document count once)."""
    return list(dict.fromkeys(ids))


def load_embedder():
    """The product's embedder (multilingual-e5-small from the local model cache)."""
    from qa.index.embedding import Embedder

    return Embedder.load(MODEL, cache_dir=MODEL_CACHE)


def product_embedder():
    """The embedder `qa serve` loads by default here: e5 on ONNX Runtime (qa.service.load_embedder)."""
    from qa.service import load_embedder as load_default
    from qa.settings import Settings

    return load_default(Settings(model=MODEL, model_cache_dir=MODEL_CACHE, threads=THREADS))


def parse_settings(text: str) -> dict[str, int | float]:
    """Settings written as 'name=value,name=value' (a value with '.' or 'e' is a float, else an int)."""
    return {
        k: float(v) if "." in v or "e" in v else int(v) for k, v in (p.split("=") for p in text.split(","))
    }


def wilson_bounds(share: float, n: int, z: float) -> tuple[float, float]:
    """The Wilson score bounds of a share measured on `n` items (n > 0), `z` standard errors wide."""
    centre = share + z * z / (2 * n)
    spread = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n)


def wilson_interval(share: float, n: int, confidence: float = 0.95) -> list[float]:
    """The two-sided Wilson interval of a share measured on `n` questions: on RGB's 98 report topics
    one question is 0.01 of accuracy, and the interval says how much of a difference is noise."""
    if n == 0:
        return [0.0, 1.0]
    low, high = wilson_bounds(share, n, statistics.NormalDist().inv_cdf(0.5 + confidence / 2))
    return [round(low, 3), round(high, 3)]


def log(message: str) -> None:
    """Progress to stderr, so stdout stays the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def built_index(corpus: Path, index_dir: Path, embedder, name: str) -> Path:
    """`index_dir`, built by the product from `corpus` unless it loads (built once, reused after; built
    again when this code reads another index format)."""
    from qa.index.build import build_index
    from qa.index.store import IndexLoadError, load_index

    try:
        load_index(index_dir)
    except IndexLoadError:
        log(f"building the {name} index (once)")
        build_index(corpus, index_dir, embedder, progress=False)
    return index_dir


def seeds_index(embedder) -> Path:
    """A seeds index built by the product under the bench cache (see built_index)."""
    return built_index(SEEDS_DIR, CACHE_DIR / "seeds-index", embedder, "seeds")


def open_service(index_dir: Path, embedder):
    """The product's QAService over `index_dir`, sharing an already loaded embedder."""
    from qa.service import QAService
    from qa.settings import Settings

    settings = Settings(corpus_dir=SEEDS_DIR, index_dir=index_dir, model_cache_dir=MODEL_CACHE)
    return QAService.load(settings, embedder=embedder)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running `qa serve`: its base URL, its process, and seconds from launch to first answer."""

    url: str
    process: subprocess.Popen
    ready_s: float


@contextlib.contextmanager
def serve(
    index_dir: Path, timeout_s: float = 300.0, args: tuple[str, ...] = (), root: Path | None = None
) -> Iterator[Server]:
    """Run the real `qa serve` (uvicorn) on 127.0.0.1 over `index_dir` until it answers /ask; `args` are
    more `qa serve` options (e.g. ("--workers", "2")); `root` is another checkout of the project to
    run instead of this one (an older version, for a before/after table)."""
    import httpx

    port = free_port()
    env = {**os.environ, "QA_MODEL_CACHE_DIR": str(MODEL_CACHE), "QA_THREADS": str(THREADS)}
    if root is not None:
        env["PYTHONPATH"] = str(root)
    command = [
        str(PROJECT_ROOT / ".venv" / "bin" / "qa"),
        "serve",
        "--index-dir",
        str(index_dir),
        "--port",
        str(port),
        *args,
    ]
    if root is not None or not Path(command[0]).exists():
        command = [sys.executable, "-m", "qa", *command[1:]]
    started = time.perf_counter()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    log_path = CACHE_DIR / f"serve-{port}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=log_file, cwd=root or PROJECT_ROOT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"qa serve exited: {log_path.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.post(f"{base}/ask", json={"question": "许昌"}, timeout=60).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - started > timeout_s:
                raise RuntimeError(f"qa serve did not answer within {timeout_s} s")
            time.sleep(0.5)
        yield Server(url=base, process=process, ready_s=time.perf_counter() - started)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()
