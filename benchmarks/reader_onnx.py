"""The shipped reader's forward pass on ONNX Runtime against torch: speed and agreement (the measurement
that came before `qa.answer.reader_onnx`, the product's ONNX reader, which also fuses attention and
reads one sentence; kept as the recorded study of reading six).

The reader (e5's lower layers + the trained top layers + the start/end head, `models/reader/`) is
loaded as the service loads it (torch, fp32), exported the way `qa.index.onnx_encoder` exports the
embedder (fp32 graph over token vectors, not fused), and both read the same batches of (question,
sentence) windows: 6 candidate sentences of each dev question, as `reader_candidates` does.

    python benchmarks/reader_onnx.py [--questions 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DEV_SET, MODEL_CACHE, THREADS, log, questions_of, set_threads, write_result

from qa.settings import PROJECT_ROOT, Settings

CANDIDATES = 6  # AnswerSettings.reader_candidates: sentences the reader reads per question


def main() -> None:
    """Export the reader, time both engines on the same batches, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=40, help="Dev questions timed.")
    args = parser.parse_args()
    set_threads()
    import onnxruntime as ort
    import torch

    from qa.answer.reader import ReaderFromVectors, encode_pairs
    from qa.index.onnx_encoder import export_over_token_vectors
    from qa.service import QAService, load_reader
    from qa.text import sentence_spans

    settings = Settings(
        reader_dir=PROJECT_ROOT / "models" / "reader", model_cache_dir=MODEL_CACHE, embed_backend="torch"
    )
    reader = load_reader(settings)
    assert reader is not None, "no reader in models/reader"
    model, head, tokenizer = reader.model, reader.head, reader.tokenizer
    words = model.embeddings.word_embeddings.weight.detach().numpy()
    pad = model.config.pad_token_id

    # the windows a question's reader batch holds: its best chunks' first sentences, as the answer step reads
    from _common import open_service, product_embedder, seeds_index

    service: QAService = open_service(seeds_index(product_embedder()), product_embedder())
    batches = []
    for question in questions_of(DEV_SET)[: args.questions]:
        hits = service.ask(question).passages
        sentences = [p.text[a:b] for p in hits for a, b in sentence_spans(p.text)[:2] if b > a][:CANDIDATES]
        rows = [w[0] for s in sentences for w in encode_pairs(tokenizer, question, s, reader.max_length, 0)]
        width = max(len(r) for r in rows)
        ids = np.array([r + [pad] * (width - len(r)) for r in rows], dtype=np.int64)
        batches.append((ids, (ids != pad).astype(np.int64)))

    def run_torch(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            hidden = model(
                input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
            ).last_hidden_state
            return head(hidden).numpy()

    reference = [run_torch(ids, mask) for ids, mask in batches]  # before exporting (export alters the model)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "reader.onnx"
        sample_ids, sample_mask = max(batches, key=lambda b: b[0].shape[0])
        export_over_token_vectors(
            ReaderFromVectors(model, head), words[sample_ids], sample_mask, path, output="logits"
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def run_onnx(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return session.run(
                None, {"inputs_embeds": np.ascontiguousarray(words[ids]), "attention_mask": mask}
            )[0]

        difference = max(
            float(np.abs((run_onnx(ids, mask) - ref) * mask[..., None]).max())
            for (ids, mask), ref in zip(batches, reference, strict=True)
        )
        # a fresh torch reader (the export altered the traced one), then both timed in turn
        reader = load_reader(settings)
        model, head = reader.model, reader.head
        times: dict[str, list[float]] = {"torch": [], "onnx": []}
        for ids, mask in batches[:3]:
            run_torch(ids, mask), run_onnx(ids, mask)
        for i, (ids, mask) in enumerate(batches):
            order = [("torch", run_torch), ("onnx", run_onnx)]
            for name, run in order if i % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                run(ids, mask)
                times[name].append((time.perf_counter() - started) * 1000)
    figures = {
        "questions": len(batches),
        "windows_per_batch_mean": round(float(np.mean([b[0].shape[0] for b in batches])), 1),
        "tokens_per_window_mean": round(float(np.mean([b[0].shape[1] for b in batches])), 1),
        "max_logit_difference": difference,
        **{
            f"{name}_ms": {
                "p50": round(float(np.percentile(t, 50)), 1),
                "p95": round(float(np.percentile(t, 95)), 1),
            }
            for name, t in times.items()
        },
    }
    log(f"reader forward: torch {figures['torch_ms']} vs onnx {figures['onnx_ms']} ms")
    write_result("reader_onnx", figures)


if __name__ == "__main__":
    main()
