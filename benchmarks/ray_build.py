"""The Ray build against the local build on the same corpus, in one run: chunks/s of each (the engine's
overhead), the Ray build's stages, and the rate of one embedding actor, from which RESULTS.md puts on
paper what N GPU workers would do.

Both build RGB (../shared/eval-external/corpus.jsonl) from scratch into fresh folders: first the local
build (`build_index`, one process, torch on 2 threads), then `qa index --ray auto`'s path
(`rebuild_index(..., ray_address="auto")`: a local Ray with one single-threaded actor per CPU). The
two indexes are then compared (same chunks, cosine of the vectors).

    python benchmarks/ray_build.py                     # all of RGB: ~25 min on 2 CPU cores
    python benchmarks/ray_build.py --passages 1000     # a slice: a few minutes
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import asdict
from typing import Any

import numpy as np
from _common import CACHE_DIR, MODEL_CACHE, RGB_CORPUS, load_average, log, write_result


def main() -> None:
    """Build the corpus both ways, compare, write results/ray_build.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=None, help="Build only the first N RGB passages.")
    parser.add_argument("--actors", type=int, default=None, help="Embedding actors (default: one per CPU).")
    args = parser.parse_args()

    from qa.index import ray_build
    from qa.index.build import build_index
    from qa.index.embedding import Embedder
    from qa.index.store import load_index
    from qa.service import rebuild_index
    from qa.settings import Settings

    folder = CACHE_DIR / f"ray-build-{args.passages or 'all'}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "corpus").mkdir(parents=True)
    lines = RGB_CORPUS.read_text(encoding="utf-8").splitlines(keepends=True)
    lines = lines[: args.passages] if args.passages else lines
    (folder / "corpus" / "corpus.jsonl").write_text("".join(lines), encoding="utf-8")
    settings = Settings(
        corpus_dir=folder / "corpus", index_dir=folder / "ray", model_cache_dir=MODEL_CACHE, threads=2
    )
    figures: dict[str, Any] = {"passages": len(lines), "load_before": load_average()}

    log("local build")
    started = time.perf_counter()
    embedder = Embedder.load(cache_dir=MODEL_CACHE, threads=2)
    model_load = time.perf_counter() - started
    local = build_index(settings.corpus_dir, folder / "local", embedder, progress=False)
    total = time.perf_counter() - started
    figures["local"] = {
        "chunks": local.chunks,
        "seconds": round(total, 1),
        "model_load_s": round(model_load, 1),
        "chunks_per_s": round(local.chunks / total, 2),
    }
    log(f"local: {figures['local']}")
    del embedder

    log("ray build")
    stages: dict[str, float] = {}
    timed = {"segment_pages_ray": "cut_pages_s", "chunk_articles_ray": "cut_chunks_s"}
    originals = {name: getattr(ray_build, name) for name in timed}

    def timer(name: str):
        def run(*a: Any, **k: Any) -> Any:
            began = time.perf_counter()
            try:
                return originals[name](*a, **k)
            finally:
                stages[timed[name]] = round(time.perf_counter() - began, 2)

        return run

    for name in timed:
        setattr(ray_build, name, timer(name))
    embed_corpus = ray_build.RayEmbedder.embed_corpus
    arrivals: list[tuple[float, int]] = []

    def timed_embed(self: Any, texts: list[str], progress: bool = False) -> np.ndarray:
        began = time.perf_counter()
        original_tqdm = ray_build.tqdm

        class Bar(original_tqdm):  # every batch that comes back: when, and how many
            def update(self, n: int = 1) -> bool | None:
                arrivals.append((time.perf_counter() - began, n))
                return super().update(n)

        ray_build.tqdm = Bar
        try:
            return embed_corpus(self, texts, progress)
        finally:
            ray_build.tqdm = original_tqdm
            stages["embed_s"] = round(time.perf_counter() - began, 2)

    ray_build.RayEmbedder.embed_corpus = timed_embed
    started = time.perf_counter()
    report = rebuild_index(settings, progress=False, ray_address="auto", ray_actors=args.actors)
    total = time.perf_counter() - started
    first_at, first_n = arrivals[0] if arrivals else (0.0, 0)
    last_at = arrivals[-1][0] if arrivals else 0.0
    actors = int(report.device.split()[1]) if report.device else 1
    steady = (report.embedded - first_n) / (last_at - first_at) if last_at > first_at else 0.0
    figures["ray"] = {
        "chunks": report.chunks,
        "seconds": round(total, 1),
        "chunks_per_s": round(report.chunks / total, 2),
        "device": report.device,
        "stages": stages,
        "first_batch_after_s": round(first_at, 1),  # Ray Data start + actors loading their models
        "steady_chunks_per_s": round(steady, 2),
        "per_actor_chunks_per_s": round(steady / actors, 2),
    }
    figures["ray_vs_local_throughput"] = round(
        figures["ray"]["chunks_per_s"] / figures["local"]["chunks_per_s"], 3
    )
    log(f"ray: {figures['ray']}")

    local_index, ray_index = load_index(folder / "local"), load_index(folder / "ray")
    same = all(
        asdict(local_index.chunks[i]) == asdict(ray_index.chunks[i]) for i in range(len(local_index.chunks))
    )
    cosines = np.sum(local_index.dense.vectors() * ray_index.dense.vectors(), axis=1)
    figures["same_chunks"] = same and len(local_index.chunks) == len(ray_index.chunks)
    figures["min_cosine"] = round(float(cosines.min()), 5)
    figures["load_after"] = load_average()
    write_result("ray_build", figures)


if __name__ == "__main__":
    main()
