"""Sentence vectors, embedded once at index time: what an English question's quote is picked by.

Questions with no Chinese pick their quote by the cosine of the question with each sentence of the top
chunks (`qa.answer.compose`), each sentence embedded alone with the passage prompt. Embedding them at
ask time cost 380-1,100 ms per English question on 2 cores (benchmarks/RESULTS.md, *Many readers*);
the build now embeds every distinct sentence once (about 0.9x the time of embedding the chunks) and
the answer step reads the vectors. Pooling each sentence's token vectors from the chunk's own pass
("late chunking", arXiv:2409.04701) would cost nothing at build time, but it moved the English cosines
of three answerable dev questions level with the unanswerable one, which lost two right quotes
(`benchmarks/late_chunking.py` has the comparison).

On disk, in the build folder: `sentences.npy` (float16, one row per distinct sentence),
`sentence_keys.txt` (its vector key per row, so a rebuild reuses them), `sentence_refs.npy` (int32, the
row of each sentence of each chunk, chunks in order and sentences in `sentence_spans` order) and
`sentence_rows.npy` (int64, chunk i's sentences are refs[rows[i]:rows[i + 1]]). Memory-mapped when loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.records import Chunk
from qa.text import sentence_spans

SENTENCES_FILE = "sentences.npy"
SENTENCE_KEYS_FILE = "sentence_keys.txt"
SENTENCE_REFS_FILE = "sentence_refs.npy"
SENTENCE_ROWS_FILE = "sentence_rows.npy"
STORED_DTYPE = np.float16  # cosine error ~1e-5 on 384 dimensions, half the disk of float32


def chunk_sentences(chunk: Chunk) -> list[str]:
    """The sentences of a chunk that get a vector, in `sentence_spans` order."""
    return [chunk.text[start:end] for start, end in sentence_spans(chunk.text)]


def as_stored(vectors: np.ndarray) -> np.ndarray:
    """Vectors rounded as the index stores them, back in float32: a store without sentence vectors
    that embeds them at ask time gets the same cosines as one that read them from disk."""
    return np.asarray(vectors, dtype=STORED_DTYPE).astype(np.float32)


@dataclass
class SentenceVectors:
    """The sentence vectors of one build; `of(row)` is chunk `row`'s (n_sentences, dim) vectors."""

    vectors: np.ndarray  # (distinct sentences, dim) float16
    keys: list[str]  # vector key of each row of `vectors`
    refs: np.ndarray  # int32: row in `vectors` of every sentence of every chunk
    rows: np.ndarray  # int64 (chunks + 1): chunk i's sentences are refs[rows[i]:rows[i + 1]]

    def of(self, row: int) -> np.ndarray:
        """Chunk `row`'s sentence vectors in `sentence_spans` order, as float32."""
        return self.vectors[self.refs[int(self.rows[row]) : int(self.rows[row + 1])]].astype(np.float32)

    def __len__(self) -> int:
        """Number of chunks."""
        return len(self.rows) - 1

    def by_key(self) -> dict[str, np.ndarray]:
        """Every stored vector by its key (views, nothing copied): what a rebuild may reuse."""
        return {key: self.vectors[i] for i, key in enumerate(self.keys)}

    @classmethod
    def of_chunks(
        cls, chunk_keys: list[list[str]], vectors: dict[str, np.ndarray], dim: int
    ) -> SentenceVectors:
        """The store of chunks whose sentences have keys `chunk_keys`, with each key's vector in `vectors`."""
        keys = list(dict.fromkeys(key for keys in chunk_keys for key in keys))
        position = {key: i for i, key in enumerate(keys)}
        refs = np.array([position[key] for keys in chunk_keys for key in keys], dtype=np.int32)
        rows = np.concatenate([[0], np.cumsum([len(keys) for keys in chunk_keys])]).astype(np.int64)
        matrix = np.stack([vectors[key] for key in keys]) if keys else np.zeros((0, dim))
        return cls(np.ascontiguousarray(matrix, dtype=STORED_DTYPE), keys, refs, rows)

    def save(self, build_dir: Path) -> None:
        """Write the four files into `build_dir`."""
        np.save(build_dir / SENTENCES_FILE, self.vectors)
        (build_dir / SENTENCE_KEYS_FILE).write_text(
            "".join(f"{key}\n" for key in self.keys), encoding="utf-8"
        )
        np.save(build_dir / SENTENCE_REFS_FILE, self.refs)
        np.save(build_dir / SENTENCE_ROWS_FILE, self.rows)

    @classmethod
    def load(cls, build_dir: Path) -> SentenceVectors | None:
        """The build's sentence vectors (memory-mapped); None for a build written without them, a
        ValueError when the files disagree."""
        if not (build_dir / SENTENCES_FILE).is_file():
            return None
        vectors = np.load(build_dir / SENTENCES_FILE, mmap_mode="r")
        keys = (build_dir / SENTENCE_KEYS_FILE).read_text(encoding="utf-8").split()
        refs = np.load(build_dir / SENTENCE_REFS_FILE, mmap_mode="r")
        rows = np.load(build_dir / SENTENCE_ROWS_FILE)
        ordered = rows.ndim == 1 and len(rows) >= 1 and rows[0] == 0 and not np.any(np.diff(rows) < 0)
        if not ordered or rows[-1] != len(refs) or len(keys) != len(vectors):
            raise ValueError(f"the sentence vector files in {build_dir} disagree")
        if len(refs) and (int(refs.min()) < 0 or int(refs.max()) >= len(vectors)):
            raise ValueError(f"{build_dir / SENTENCE_REFS_FILE} points past {SENTENCES_FILE}")
        return cls(vectors, keys, refs, rows)
