"""The span reader: multilingual-e5-small with trained top layers and a start/end head.

It reads `"query: " + question` with a candidate passage (a sentence or two of a retrieved chunk)
and scores every span of the passage; the first token's start+end score is "the answer is not
here". The shipped folder (`models/reader/`) holds only the trained top layers and the head;
`Reader.load` joins them with the converted e5 weights (the same folder the embedder uses), so
nothing is downloaded and the repo carries tens of MB, not hundreds. `qa reader train` makes it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

READER_WEIGHTS = "reader.safetensors"
READER_CONFIG = "reader.json"
QUERY_PREFIX = "query: "  # e5's query prompt: the reader starts from e5, so it reads questions the same way


class ReaderHead(torch.nn.Module):
    """Start and end logits from each token's final state."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(hidden_size, 2)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, hidden) -> (batch, tokens, 2)."""
        return self.proj(hidden)


def load_base(model_dir: Path) -> tuple[Any, Any]:
    """The converted e5 transformer (no pooling) and its tokenizer, from the sentence-transformers folder."""
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="sdpa")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model.eval()
    return model, tokenizer


def top_layer_mask(base: Any, hidden: torch.Tensor, mask: torch.Tensor) -> Any:
    """The attention mask the model's own layers expect, for calling them one by one."""
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=base.config, inputs_embeds=hidden, attention_mask=mask)


def encode_pairs(
    tokenizer: Any, question: str, passage: str, max_length: int, stride: int
) -> list[tuple[list[int], list[tuple[int, int] | None]]]:
    """Token ids of (query, passage) windows, with each token's character span in the passage (None
    for the question and special tokens). A passage longer than a window gives overlapping windows."""
    encoded = tokenizer(
        QUERY_PREFIX + question,
        passage,
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    windows = []
    for w, ids in enumerate(encoded["input_ids"]):
        sequence = encoded.sequence_ids(w)
        offsets = [
            (int(a), int(b)) if sequence[i] == 1 and b > a else None
            for i, (a, b) in enumerate(encoded["offset_mapping"][w])
        ]
        windows.append((list(ids), offsets))
    return windows


def best_span(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Sequence[tuple[int, int] | None],
    max_tokens: int,
) -> tuple[float, float, int, int] | None:
    """(span score, no-answer score, char start, char end) of the best passage span of at most
    `max_tokens` tokens, or None when the window holds no passage token."""
    inside = np.array([i for i, o in enumerate(offsets) if o is not None])
    if inside.size == 0:
        return None
    starts, ends = start_logits[inside], end_logits[inside]
    scores = starts[:, None] + ends[None, :]
    gap = inside[None, :] - inside[:, None]
    scores = np.where((gap >= 0) & (gap < max_tokens), scores, -np.inf)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    first, last = offsets[int(inside[i])], offsets[int(inside[j])]
    assert first is not None and last is not None
    no_answer = float(start_logits[0] + end_logits[0])
    return float(scores[i, j]), no_answer, first[0], last[1]


@dataclass(frozen=True)
class Span:
    """The reader's best span in one passage: character offsets in it, and how sure it is."""

    passage: int  # index of the passage in the call
    start: int
    end: int
    score: float  # start + end logit of the span
    no_answer: float  # start + end logit of "not in this passage"

    @property
    def margin(self) -> float:
        """How far the span's score beats the passage's no-answer score (> 0: the reader answers)."""
        return self.score - self.no_answer


class Reader:
    """A loaded span reader; `read` scores a batch of passages for one question in one forward pass."""

    def __init__(self, model: Any, tokenizer: Any, head: ReaderHead, config: dict[str, Any]) -> None:
        self.model, self.tokenizer, self.head, self.config = model, tokenizer, head, config
        self.max_length = int(config["max_length"])
        self.max_answer_tokens = int(config["max_answer_tokens"])

    @classmethod
    def load(
        cls,
        folder: Path,
        model_dir: Path,
        int8: bool = True,
        threads: int = 0,
        word_embeddings: torch.nn.Embedding | None = None,
        device: str = "cpu",
    ) -> Reader:
        """Join the trained top layers and head in `folder` with the e5 weights in `model_dir`.

        `int8` quantises the linear layers for the CPU (faster; calibrated with it on); `threads` 0
        leaves torch's default. `word_embeddings`, the same frozen matrix already loaded by the
        embedder, is shared instead of kept twice (384 MB for e5-small). `device` is a resolved torch
        device (`qa.index.device.resolve_device`); int8 applies on the CPU only (torch's dynamic
        quantisation has no GPU kernels).
        """
        from safetensors.torch import load_file

        folder = Path(folder)
        config = json.loads((folder / READER_CONFIG).read_text(encoding="utf-8"))
        model, tokenizer = load_base(model_dir)
        head = ReaderHead(model.config.hidden_size)
        frozen = int(config["frozen_layers"])
        trained = torch.nn.ModuleDict(
            {"layers": torch.nn.ModuleList(model.encoder.layer[frozen:]), "head": head}
        )
        weights = {name: tensor.float() for name, tensor in load_file(str(folder / READER_WEIGHTS)).items()}
        trained.load_state_dict(weights, strict=True)
        model.eval()
        head.eval()
        if int8 and device == "cpu":
            with (
                warnings.catch_warnings()
            ):  # torch.ao's eager quantisation works in 2.13 but warns of its move
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", UserWarning)
                torch.ao.quantization.quantize_dynamic(
                    model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
                )
        own = model.embeddings.word_embeddings
        if word_embeddings is not None and word_embeddings.weight.shape == own.weight.shape:
            model.embeddings.word_embeddings = word_embeddings
        if device != "cpu":
            model.to(device)
            head.to(device)
        if threads:
            torch.set_num_threads(threads)
        return cls(model, tokenizer, head, config)

    @torch.inference_mode()
    def read(self, question: str, passages: Sequence[str]) -> list[Span | None]:
        """The best span of each passage (None for an empty one), all passages in one batch."""
        rows: list[tuple[int, list[int], list[tuple[int, int] | None]]] = []
        for p, passage in enumerate(passages):
            if passage.strip():
                for ids, offsets in encode_pairs(self.tokenizer, question, passage, self.max_length, 0):
                    rows.append((p, ids, offsets))
        found: list[Span | None] = [None] * len(passages)
        if not rows:
            return found
        pad = self.model.config.pad_token_id
        width = max(len(ids) for _, ids, _ in rows)
        ids = torch.tensor([r[1] + [pad] * (width - len(r[1])) for r in rows])
        device = self.model.device
        ids = ids.to(device)
        mask = ids.ne(pad).long()
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        logits = self.head(hidden).float().cpu().numpy()
        for row, (p, _, offsets) in enumerate(rows):
            span = best_span(logits[row, :, 0], logits[row, :, 1], offsets, self.max_answer_tokens)
            if span is None:
                continue
            score, no_answer, start, end = span
            current = found[p]
            if current is None or score - no_answer > current.margin:
                found[p] = Span(p, start, end, score, no_answer)
        return found
