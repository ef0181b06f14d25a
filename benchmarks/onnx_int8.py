"""ONNX Runtime with int8 dynamic quantisation: speed-up of the embedding step and its effect on hit@5.

sentence-transformers' own `backend="onnx"` needs `optimum`, whose current release pins
transformers < 5 (it would downgrade the product's transformers), so the same thing is done by
hand: `torch.onnx.export` of the model's transformer, `onnxruntime.quantization.quantize_dynamic`
(int8 weights, QInt8 — what `export_dynamic_quantized_onnx_model` runs), mean pooling and
normalisation in numpy. `OnnxEmbedder` has the product's Embedder interface, so the real build and
the real service run on it unchanged. Measured: forward rate (torch fp32 vs ONNX fp32 vs ONNX int8)
on the same pre-tokenised chunks, cosine agreement with torch, and hit@1/5 + MRR@10 on the dev set
(seeds) and on RGB (a full RGB index built with the int8 model, --rgb).

    python benchmarks/onnx_int8.py [--passages 1000] [--rgb]
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    CACHE_DIR,
    RGB_CORPUS,
    RGB_INDEX,
    RGB_QUESTIONS,
    SEEDS_DIR,
    THREADS,
    load_embedder,
    log,
    open_service,
    read_jsonl,
    seeds_index,
    set_threads,
    write_result,
)

BATCH = 32


def export_onnx(embedder, folder: Path) -> tuple[Path, Path]:
    """(fp32 model.onnx, int8 model_int8.onnx) of the embedder's transformer, exported once."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32, int8 = folder / "model.onnx", folder / "model_int8.onnx"
    if fp32.exists() and int8.exists():
        return fp32, int8
    folder.mkdir(parents=True, exist_ok=True)

    class LastHidden(torch.nn.Module):
        """The transformer with positional (input_ids, attention_mask) -> last_hidden_state."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    sample = embedder.model.tokenizer(
        ["passage: 许昌", "passage: 今年前8个月"], padding=True, return_tensors="pt"
    )
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        LastHidden(embedder.model[0].auto_model.eval()),
        (sample["input_ids"], sample["attention_mask"]),
        str(fp32),
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return fp32, int8


def session(path: Path, threads: int = THREADS):
    """An onnxruntime CPU session with the product's thread count."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass
class OnnxEmbedder:
    """The product's Embedder interface over an ONNX Runtime session (mean pooling, unit vectors)."""

    name: str
    dim: int
    max_seq_length: int
    query_prompt: str
    passage_prompt: str
    tokenizer: Any
    session: Any

    def embed_passages(self, texts: list[str], batch_size: int = BATCH, progress: bool = False) -> np.ndarray:
        """Unit float32 vectors of passages (passage prompt prepended)."""
        return self._encode([self.passage_prompt + t for t in texts], batch_size)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Unit float32 vectors of questions (query prompt prepended)."""
        return self._encode([self.query_prompt + t for t in texts], BATCH)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Length-sorted batches through the session, results back in input order."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for begin in range(0, len(order), batch_size):
            rows = order[begin : begin + batch_size]
            batch = self.tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=self.max_seq_length,
                return_tensors="np",
            )
            vectors[rows] = run_pooled(self.session, batch)
        return vectors


def run_pooled(sess, batch: dict[str, np.ndarray]) -> np.ndarray:
    """One forward pass through an ONNX session, mean-pooled over real tokens and normalised."""
    inputs = {
        "input_ids": batch["input_ids"].astype(np.int64),
        "attention_mask": batch["attention_mask"].astype(np.int64),
    }
    hidden = sess.run(None, inputs)[0]
    mask = inputs["attention_mask"][..., None].astype(np.float32)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def onnx_embedder(embedder, path: Path, label: str) -> OnnxEmbedder:
    """An OnnxEmbedder with the same tokenizer and prompts as `embedder`."""
    return OnnxEmbedder(
        name=f"{embedder.name}-{label}",
        dim=embedder.dim,
        max_seq_length=embedder.max_seq_length,
        query_prompt=embedder.query_prompt,
        passage_prompt=embedder.passage_prompt,
        tokenizer=embedder.model.tokenizer,
        session=session(path),
    )


def forward_rates(embedder, sessions: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    """Chunks/s of torch and each ONNX session on the same pre-tokenised batches."""
    from build_throughput import raw_forward_rate, tokenized_batches

    batches = tokenized_batches(embedder, texts)
    rates: dict[str, Any] = {"torch_fp32": raw_forward_rate(embedder, batches)}
    np_batches = [{k: v.numpy() for k, v in b.items()} for b in batches]
    for name, sess in sessions.items():
        run_pooled(sess, {k: v[:4] for k, v in np_batches[0].items()})  # warm-up
        started = time.perf_counter()
        for batch in np_batches:
            run_pooled(sess, batch)
        seconds = time.perf_counter() - started
        rates[name] = {"seconds": round(seconds, 2), "chunks_per_s": round(len(texts) / seconds, 1)}
    for name in sessions:
        rates[name]["speedup_vs_torch"] = round(
            rates[name]["chunks_per_s"] / rates["torch_fp32"]["chunks_per_s"], 2
        )
    return rates


def agreement(embedder, onnx: OnnxEmbedder, texts: list[str]) -> dict[str, float]:
    """Cosine between torch and ONNX vectors of the same passages (1.0 = identical)."""
    cos = (embedder.embed_passages(texts) * onnx.embed_passages(texts)).sum(1)
    return {"mean_cosine": round(float(cos.mean()), 4), "min_cosine": round(float(cos.min()), 4)}


def main() -> None:
    """Export, time, compare quality; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=1000, help="RGB passages used for the speed test.")
    parser.add_argument("--rgb", action="store_true", help="Also build an int8 RGB index and compare on RGB.")
    args = parser.parse_args()
    set_threads()
    from quality import dev_questions, ours_dev, ours_rgb

    from qa.index.build import build_index
    from qa.index.store import load_index

    embedder = load_embedder()
    log("exporting ONNX fp32 and int8 (once)")
    fp32_path, int8_path = export_onnx(embedder, CACHE_DIR / "onnx")
    int8 = onnx_embedder(embedder, int8_path, "onnx-int8")
    sessions = {"onnx_fp32": session(fp32_path), "onnx_int8": int8.session}

    log("forward rates on the same chunks")
    texts = [row["text"] for row in read_jsonl(RGB_CORPUS)[: args.passages]]
    figures: dict[str, Any] = {
        "speed_corpus": f"first {args.passages} RGB passages (passage prompt, batch {BATCH})",
        "forward": forward_rates(embedder, sessions, texts),
        "agreement_int8_vs_torch": agreement(embedder, int8, texts[:300]),
        "model_mb": {
            "onnx_fp32": round(fp32_path.stat().st_size / 2**20, 1),
            "onnx_int8": round(int8_path.stat().st_size / 2**20, 1),
        },
    }
    write_result("onnx_int8", figures)

    log("dev set: seeds index built with the int8 model")
    dev = dev_questions()
    int8_dir = CACHE_DIR / "seeds-index-int8"
    shutil.rmtree(int8_dir, ignore_errors=True)
    report = build_index(SEEDS_DIR, int8_dir, int8, progress=False)
    figures["dev"] = {
        "torch": ours_dev(open_service(seeds_index(embedder), embedder), dev),
        "onnx_int8": ours_dev(open_service(int8_dir, int8), dev),
        "int8_build_chunks_per_s": round(report.chunks_per_s, 1),
    }
    write_result("onnx_int8", figures)

    if args.rgb and (RGB_INDEX / "CURRENT").exists():
        log("RGB: full index built with the int8 model")
        rgb_dir = CACHE_DIR / "rgb-index-int8"
        if not (rgb_dir / "CURRENT").exists():
            build_index(RGB_CORPUS, rgb_dir, int8, progress=False)
        questions = read_jsonl(RGB_QUESTIONS)
        figures["rgb"] = {
            "torch": ours_rgb(open_service(RGB_INDEX, embedder), questions),
            "onnx_int8": ours_rgb(open_service(rgb_dir, int8), questions),
            "chunks": len(load_index(rgb_dir).chunks),
        }
        write_result("onnx_int8", figures)


if __name__ == "__main__":
    main()
