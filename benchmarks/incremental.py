"""Incremental rebuild: time to rebuild after nothing changed and after one article changed.

Two corpora, each copied under /tmp first so nothing in the repository is touched: the seeds (OCR
pages) and the first --passages RGB passages (a JSONL export). For each: a build from scratch, a
rebuild with nothing changed, and a rebuild after one article's text changed (one sentence added);
in-process (`build_index` with the model loaded) and as a user runs it (`qa index`, a new process
that also loads the model).

    python benchmarks/incremental.py [--passages 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from _common import (
    CACHE_DIR,
    MODEL_CACHE,
    PROJECT_ROOT,
    SEEDS_DIR,
    THREADS,
    load_embedder,
    log,
    set_threads,
    write_result,
)
from build_throughput import subset_corpus

EDIT = "本报记者补充说明，相关工作仍在推进中。"


def edit_seeds_page(corpus: Path) -> str:
    """Add one sentence to one paragraph of one page (one article changes); returns the file name."""
    page = sorted(corpus.glob("*.txt"))[0]
    lines = page.read_text(encoding="utf-8").split("\n")
    longest = max(range(len(lines)), key=lambda i: len(lines[i]))
    lines[longest] = lines[longest] + EDIT
    page.write_text("\n".join(lines), encoding="utf-8")
    return page.name


def edit_jsonl_row(corpus: Path, row: int = 100) -> str:
    """Add one sentence to one passage of the JSONL export; returns its id."""
    path = corpus / "corpus.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows[row]["text"] += EDIT
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return rows[row]["id"]


def cli_index(corpus: Path, index_dir: Path) -> float:
    """Wall seconds of `qa index --quiet` in a fresh process (model load included)."""
    env = {**os.environ, "QA_MODEL_CACHE_DIR": str(MODEL_CACHE), "QA_THREADS": str(THREADS)}
    qa = PROJECT_ROOT / ".venv" / "bin" / "qa"
    started = time.perf_counter()
    subprocess.run(
        [str(qa), "index", "--corpus", str(corpus), "--index-dir", str(index_dir), "--quiet"],
        env=env,
        check=True,
        capture_output=True,
    )
    return round(time.perf_counter() - started, 2)


def steps(embedder, source: Path, name: str, edit) -> dict[str, Any]:
    """Scratch build, unchanged rebuild, one-article rebuild (in-process and CLI) of a copy of `source`."""
    from qa.index.build import build_index

    corpus = CACHE_DIR / f"incremental-{name}-corpus"
    index_dir = CACHE_DIR / f"incremental-{name}-index"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(index_dir, ignore_errors=True)
    shutil.copytree(source, corpus)

    def timed(label: str) -> dict[str, Any]:
        report = build_index(corpus, index_dir, embedder, progress=False)
        log(f"{name} {label}: {report.summary()}")
        return {"seconds": round(report.seconds, 2), "chunks": report.chunks, "embedded": report.embedded}

    figures = {"scratch": timed("scratch"), "unchanged": timed("unchanged")}
    figures["unchanged"]["cli_seconds"] = cli_index(corpus, index_dir)
    figures["edited"] = edit(corpus)
    figures["one_article_changed"] = timed("one article changed")
    edit(corpus)  # the same article changes once more, this time rebuilt through the CLI
    figures["one_article_changed"]["cli_seconds"] = cli_index(corpus, index_dir)
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(index_dir, ignore_errors=True)
    return figures


def main() -> None:
    """Both corpora; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=2000, help="RGB passages in the second corpus.")
    args = parser.parse_args()
    set_threads()
    embedder = load_embedder()
    embedder.embed_passages(["预热"])
    figures = {
        "seeds": steps(embedder, SEEDS_DIR, "seeds", edit_seeds_page),
        f"rgb_{args.passages}": steps(
            embedder, subset_corpus(args.passages), f"rgb{args.passages}", edit_jsonl_row
        ),
    }
    figures["note"] = (
        "cli_seconds: the same rebuild as `qa index` in a new process (start + model load included)"
    )
    write_result("incremental", figures)


if __name__ == "__main__":
    main()
