"""What a span reader's logits mean, without torch: the best span of a window, the score of a given
span, and one Span per passage. Shared by the torch reader (`qa.answer.reader`) and the ONNX Runtime
reader (`qa.answer.reader_onnx`), so both turn the same logits into the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

READER_WEIGHTS = "reader.safetensors"  # a reader folder: the trained layers and head ...
READER_SHARD = "reader-{:02d}.safetensors"  # ... or these, numbered, when they come in several files
READER_CONFIG = "reader.json"  # ... and its recipe and figures
QUERY_PREFIX = "query: "  # e5's query prompt: the reader starts from e5, so it reads questions the same way
Offsets = list[tuple[int, int] | None]  # each token's character span in the passage (None: not passage)


def reader_weight_files(folder: Path) -> list[Path]:
    """A reader folder's weight files: the one READER_WEIGHTS, else its numbered shards (a reader
    trained on an accelerator comes back in files small enough to fetch); empty when it has neither."""
    single = Path(folder) / READER_WEIGHTS
    if single.is_file():
        return [single]
    return sorted(Path(folder).glob(READER_SHARD.replace("{:02d}", "[0-9][0-9]")))


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


def span_score(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Sequence[tuple[int, int] | None],
    start: int,
    end: int,
) -> float | None:
    """The reader's start+end score of the characters [start, end) of the passage: the logits of the
    tokens holding its first and last character; None when the window does not hold both."""
    first = next((i for i, o in enumerate(offsets) if o is not None and o[0] <= start < o[1]), None)
    last = next((i for i, o in enumerate(offsets) if o is not None and o[0] < end <= o[1]), None)
    if first is None or last is None or last < first:
        return None
    return float(start_logits[first] + end_logits[last])


@dataclass(frozen=True)
class Span:
    """The reader's best span in one passage: character offsets in it, and how sure it is."""

    passage: int  # index of the passage in the call
    start: int
    end: int
    score: float  # start + end logit of the span
    no_answer: float  # start + end logit of "not in this passage"
    proposed: float | None = None  # start + end logit of the span proposed for this passage, if any

    @property
    def margin(self) -> float:
        """How far the span's score beats the passage's no-answer score (> 0: the reader answers)."""
        return self.score - self.no_answer


def collect_spans(
    rows: Sequence[tuple[int, Offsets]],
    logits: np.ndarray,
    passages: int,
    proposed: Sequence[tuple[int, int] | None] | None,
    max_tokens: int,
) -> list[Span | None]:
    """One Span per passage from a batch's (batch, tokens, 2) start/end logits: the best-margin span
    over the passage's windows (`rows` names each window's passage and offsets), with the score of the
    span `proposed` for that passage, if any; None for a passage with no window."""
    found: list[Span | None] = [None] * passages
    scored: dict[int, float] = {}
    for row, (p, offsets) in enumerate(rows):
        starts, ends = logits[row, :, 0], logits[row, :, 1]
        wanted = proposed[p] if proposed is not None else None
        if wanted is not None:
            value = span_score(starts, ends, offsets, *wanted)
            if value is not None and value > scored.get(p, -np.inf):
                scored[p] = value
        span = best_span(starts, ends, offsets, max_tokens)
        if span is None:
            continue
        score, no_answer, start, end = span
        current = found[p]
        if current is None or score - no_answer > current.margin:
            found[p] = Span(p, start, end, score, no_answer)
    return [None if span is None else replace(span, proposed=scored.get(span.passage)) for span in found]
