"""Sentence vectors two ways: each sentence embedded alone (what the index stores) vs pooled from its
chunk's own forward pass ("late chunking", arXiv:2409.04701, free at index time).

Two measurements, in one run:
- RGB (a set nobody tuned for): for each question whose top-3 retrieved chunks hold a gold answer, does
  the sentence with the highest cosine hold it? (How well each way picks the quote.)
- The dev set's English questions: the best sentence's cosine, which decides abstention (min_dense),
  and whether that sentence holds the evidence.

    python benchmarks/late_chunking.py [--rgb-questions 150]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from _common import (
    DEV_SET,
    RGB_INDEX,
    RGB_QUESTIONS,
    load_embedder,
    log,
    read_jsonl,
    seeds_index,
    write_result,
)

from qa.answer.retrieve import retrieve
from qa.index.store import LoadedIndex, load_index
from qa.ingest.chunking import embedding_text
from qa.text import has_cjk, sentence_spans


def late_vectors(embedder: Any, index: LoadedIndex, chunk: Any) -> np.ndarray:
    """The chunk's sentences' vectors pooled from one pass over its embedded text."""
    import torch

    text = embedding_text(chunk, index.articles[chunk.article_id])
    shift = len(text) - len(chunk.text) + len(embedder.passage_prompt)
    model = embedder.model
    features = model.tokenizer(
        embedder.passage_prompt + text,
        truncation=True,
        max_length=model.max_seq_length,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    offsets = features.pop("offset_mapping")[0].numpy()
    with torch.inference_mode():
        tokens = model(dict(features))["token_embeddings"][0].numpy()
    vectors = []
    for start, end in sentence_spans(chunk.text):
        inside = (
            (offsets[:, 1] > start + shift) & (offsets[:, 0] < end + shift) & (offsets[:, 1] > offsets[:, 0])
        )
        vector = tokens[inside].mean(axis=0) if inside.any() else np.zeros(embedder.dim)
        vectors.append(vector / (np.linalg.norm(vector) or 1.0))
    return np.array(vectors, dtype=np.float32)


def best_sentences(
    embedder: Any, index: LoadedIndex, question: str, hits: list[Any]
) -> dict[str, tuple[float, str]]:
    """Each way's best sentence among the sentences of `hits` (the top-3 chunks): (cosine, sentence)."""
    query = embedder.embed_queries([question])[0]
    best: dict[str, tuple[float, str]] = {}
    for hit in hits:
        sentences = [hit.chunk.text[s:e] for s, e in sentence_spans(hit.chunk.text)]
        if not sentences:
            continue
        ways = {"alone": embedder.embed_passages(sentences), "late": late_vectors(embedder, index, hit.chunk)}
        for way, vectors in ways.items():
            cosines = vectors @ query
            top = int(cosines.argmax())
            if way not in best or cosines[top] > best[way][0]:
                best[way] = (float(cosines[top]), sentences[top])
    return best


def main() -> None:
    """Both measurements; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rgb-questions", type=int, default=150, help="RGB questions (0: skip RGB).")
    args = parser.parse_args()
    embedder = load_embedder()
    figures: dict[str, Any] = {}
    if args.rgb_questions:
        index = load_index(RGB_INDEX)
        picked = {"alone": 0, "late": 0}
        counted, started = 0, time.perf_counter()
        for row in read_jsonl(RGB_QUESTIONS)[: args.rgb_questions]:
            answers = [
                a for group in row.get("answer_groups") or [[a] for a in row["answers"]] for a in group
            ]
            hits = retrieve(index, embedder, row["question"], k=5)[:3]
            if not any(a in hit.chunk.text for hit in hits for a in answers):
                continue
            best = best_sentences(embedder, index, row["question"], hits)
            counted += 1
            for way, (_, sentence) in best.items():
                picked[way] += any(a in sentence for a in answers)
        figures["rgb"] = {"questions": counted, "best_sentence_holds_answer": picked}
        log(
            f"RGB: of {counted} questions, the best sentence holds the answer: {picked} "
            f"({time.perf_counter() - started:.0f} s)"
        )
    index = load_index(seeds_index(embedder))
    english = []
    for row in read_jsonl(DEV_SET):
        if "question" not in row or has_cjk(row["question"]):
            continue
        hits = retrieve(index, embedder, row["question"], k=5)[:3]
        best = best_sentences(embedder, index, row["question"], hits)
        evidence = row.get("evidence") or []
        english.append(
            {
                "id": row.get("id"),
                "answerable": row.get("answerable"),
                **{
                    way: {"cosine": round(c, 3), "holds_evidence": any(e[:8] in s for e in evidence)}
                    for way, (c, s) in best.items()
                },
            }
        )
        log(str(english[-1]))
    figures["dev_english"] = english
    write_result("late_chunking", figures)


if __name__ == "__main__":
    main()
