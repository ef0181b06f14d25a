"""Where the time goes: pyinstrument over the ask path and the build path, biggest costs listed.

- ask: `QAService.ask` on the dev questions (seeds index) and on RGB questions (10k chunks), warm;
- build: `build_index` from scratch over the first --passages RGB passages;
- the query embedding alone with 1 vs 2 torch threads (the ask path's biggest cost).
Each profile's text tree is saved as results/profile_<name>.txt; the figures list, per path, the
functions with the most self time (time spent in the function itself) and the pipeline steps'
cumulative shares.

    python benchmarks/profile_paths.py [--passages 1000]
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections import defaultdict
from typing import Any

from _common import (
    CACHE_DIR,
    DEV_SET,
    RESULTS_DIR,
    RGB_INDEX,
    RGB_QUESTIONS,
    load_embedder,
    log,
    open_service,
    read_jsonl,
    seeds_index,
    set_threads,
    write_result,
)

# Functions whose cumulative time is worth naming (a step of the pipeline or a library hot spot).
STEPS = (
    "embed_queries",
    "embed_passages",
    "encode",
    "retrieve",
    "search",
    "question_terms",
    "best_sentence",
    "answer_question",
    "resolve_followup",
    "load_articles",
    "chunk_article",
    "build",
    "save",
    "tokenize",
    "_fsync_tree",
    "write_records",
    "forward",
)


def summarise(session, top: int = 12) -> dict[str, Any]:
    """Self time per function (top n) and cumulative time of the named steps, as shares of the total."""
    root = session.root_frame()
    total = root.time or 1e-9
    self_time: dict[str, float] = defaultdict(float)
    cumulative: dict[str, float] = defaultdict(float)

    def label(frame) -> str:
        """function (file:line) of a frame."""
        path = (frame.file_path_short or "").split("site-packages/")[-1]
        return f"{frame.function} ({path}:{frame.line_no})"

    def walk(frame, active: frozenset[str]) -> None:
        name = frame.function or "?"
        own = frame.time - sum(child.time for child in frame.children)
        for child in frame.children:  # pyinstrument puts a function's own time in a "[self]" child
            if child.function == "[self]":
                own += child.time
        self_time[label(frame)] += max(own, 0.0)
        if name in STEPS and name not in active:  # count a recursive step once
            cumulative[name] += frame.time
            active = active | {name}
        for child in frame.children:
            if child.function != "[self]":
                walk(child, active)

    walk(root, frozenset())
    ranked = sorted(self_time.items(), key=lambda item: -item[1])[:top]
    return {
        "total_s": round(total, 2),
        "self_time": [
            {"function": f, "seconds": round(s, 3), "share": round(s / total, 3)} for f, s in ranked
        ],
        "steps": {k: round(v / total, 3) for k, v in sorted(cumulative.items(), key=lambda item: -item[1])},
    }


def profile(name: str, work) -> dict[str, Any]:
    """Run `work()` under pyinstrument; save the text tree; return the summary."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    work()
    session = profiler.stop()
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"profile_{name}.txt").write_text(
        profiler.output_text(unicode=True, color=False, show_all=False), encoding="utf-8"
    )
    return summarise(session)


def query_embedding_by_threads(embedder, questions: list[str]) -> dict[str, Any]:
    """p50/p95 of embedding one question with 1 and with 2 torch threads (same questions, interleaved)."""
    import torch
    from _common import latency_stats

    timings: dict[int, list[float]] = {1: [], 2: []}
    embedder.embed_queries(questions[:2])
    for question in questions:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            started = time.perf_counter()
            embedder.embed_queries([question])
            timings[threads].append((time.perf_counter() - started) * 1000)
    set_threads()
    return {f"{threads}_thread": latency_stats(ms) for threads, ms in timings.items()}


def main() -> None:
    """Profile the three runs; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=1000, help="RGB passages for the build profile.")
    args = parser.parse_args()
    set_threads()
    from build_throughput import subset_corpus

    from qa.index.build import build_index

    embedder = load_embedder()
    figures: dict[str, Any] = {}

    dev = [row["question"] for row in read_jsonl(DEV_SET) if row.get("question")]
    figures["query_embedding_threads"] = query_embedding_by_threads(embedder, dev)
    service = open_service(seeds_index(embedder), embedder)
    for question in dev[:3]:
        service.ask(question)
    log(f"profiling ask on {len(dev)} dev questions")
    figures["ask_seeds"] = profile("ask_seeds", lambda: [service.ask(q) for q in dev])
    figures["ask_seeds"]["questions"] = len(dev)

    if (RGB_INDEX / "CURRENT").exists():
        rgb = [row["question"] for row in read_jsonl(RGB_QUESTIONS)][:100]
        service = open_service(RGB_INDEX, embedder)
        for question in rgb[:3]:
            service.ask(question)
        log(f"profiling ask on {len(rgb)} RGB questions")
        figures["ask_rgb"] = profile("ask_rgb", lambda: [service.ask(q) for q in rgb])
        figures["ask_rgb"]["questions"] = len(rgb)

    corpus = subset_corpus(args.passages)
    index_dir = CACHE_DIR / "profile-build-index"
    shutil.rmtree(index_dir, ignore_errors=True)
    log(f"profiling a build of {args.passages} passages")
    figures["build"] = profile("build", lambda: build_index(corpus, index_dir, embedder, progress=False))
    shutil.rmtree(index_dir, ignore_errors=True)
    write_result("profile", figures)


if __name__ == "__main__":
    main()
