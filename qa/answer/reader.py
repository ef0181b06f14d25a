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
from pathlib import Path
from typing import Any

import torch

from qa.answer.spans import (
    QUERY_PREFIX,
    READER_CONFIG,
    READER_SHARD,
    READER_WEIGHTS,
    Span,
    best_span,
    collect_spans,
    reader_weight_files,
    span_score,
)


class ReaderHead(torch.nn.Module):
    """Start and end logits from each token's final state."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(hidden_size, 2)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, hidden) -> (batch, tokens, 2)."""
        return self.proj(hidden)


class ReaderFromVectors(torch.nn.Module):
    """The whole reader from token vectors: (inputs_embeds, attention_mask) -> start/end logits; what
    the ONNX export traces, since the word vectors are looked up outside the graph."""

    def __init__(self, model: Any, head: ReaderHead) -> None:
        super().__init__()
        self.model, self.head = model, head

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, hidden) vectors and (batch, tokens) mask -> (batch, tokens, 2) logits."""
        return self.head(
            self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
        )


def load_base(model_dir: Path, attention: str = "sdpa") -> tuple[Any, Any]:
    """The converted e5 transformer (no pooling) and its tokenizer, from the sentence-transformers folder
    (`attention` "eager" writes attention out, as the ONNX export needs it to fuse it)."""
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation=attention)
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


def trained_weights(folder: Path) -> dict[str, torch.Tensor]:
    """A reader folder's trained layers and head (fp16 on disk) as fp32 tensors, by module name."""
    from safetensors.torch import load_file

    files = reader_weight_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder} holds no reader weights ({READER_WEIGHTS})")
    return {name: tensor.float() for path in files for name, tensor in load_file(str(path)).items()}


class Reader:
    """A loaded span reader; `read` scores a batch of passages for one question in one forward pass."""

    backend = "torch"

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
        attention: str = "sdpa",
    ) -> Reader:
        """Join the trained top layers and head in `folder` with the e5 weights in `model_dir`.

        `int8` quantises the linear layers for the CPU (faster; calibrated with it on); `threads` 0
        leaves torch's default. `word_embeddings`, the same frozen matrix already loaded by the
        embedder, is shared instead of kept twice (384 MB for e5-small). `device` is a resolved torch
        device (`qa.index.device.resolve_device`); int8 applies on the CPU only (torch's dynamic
        quantisation has no GPU kernels).
        """

        folder = Path(folder)
        config = json.loads((folder / READER_CONFIG).read_text(encoding="utf-8"))
        model, tokenizer = load_base(model_dir, attention)
        head = ReaderHead(model.config.hidden_size)
        frozen = int(config["frozen_layers"])
        trained = torch.nn.ModuleDict(
            {"layers": torch.nn.ModuleList(model.encoder.layer[frozen:]), "head": head}
        )
        trained.load_state_dict(trained_weights(folder), strict=True)
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
    def read(
        self,
        question: str,
        passages: Sequence[str],
        proposed: Sequence[tuple[int, int] | None] | None = None,
    ) -> list[Span | None]:
        """The best span of each passage (None for an empty one), all passages in one batch.

        `proposed` optionally names one span per passage (character offsets, e.g. the typed rules'
        answer); the reader's score for it comes back in `Span.proposed`, so both can be weighed.
        """
        rows: list[tuple[int, list[int], list[tuple[int, int] | None]]] = []
        for p, passage in enumerate(passages):
            if passage.strip():
                for ids, offsets in encode_pairs(self.tokenizer, question, passage, self.max_length, 0):
                    rows.append((p, ids, offsets))
        if not rows:
            return [None] * len(passages)
        pad = self.model.config.pad_token_id
        width = max(len(ids) for _, ids, _ in rows)
        ids = torch.tensor([r[1] + [pad] * (width - len(r[1])) for r in rows])
        device = self.model.device
        ids = ids.to(device)
        mask = ids.ne(pad).long()
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        logits = self.head(hidden).float().cpu().numpy()
        return collect_spans(
            [(p, offsets) for p, _, offsets in rows], logits, len(passages), proposed, self.max_answer_tokens
        )


__all__ = [
    "QUERY_PREFIX",
    "READER_CONFIG",
    "READER_SHARD",
    "READER_WEIGHTS",
    "Reader",
    "ReaderFromVectors",
    "ReaderHead",
    "Span",
    "best_span",
    "encode_pairs",
    "reader_weight_files",
    "span_score",
]
