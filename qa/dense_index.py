"""FAISS inner-product search over normalised chunk vectors (cosine similarity); row i is chunk i.

`kind="flat"` is exact and right for up to a few hundred thousand chunks on a CPU; `kind="hnsw"` is
there for bigger corpora (approximate, no training step).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

KINDS = ("flat", "hnsw")
HNSW_NEIGHBOURS = 32


def _as_matrix(vectors: np.ndarray, name: str) -> np.ndarray:
    """A C-contiguous float32 (n, d) copy-if-needed of `vectors`, or a clear error."""
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, dim), got shape {matrix.shape}")
    return matrix


@dataclass
class DenseIndex:
    """A FAISS index of unit vectors searched by inner product."""

    index: faiss.Index
    kind: str = "flat"

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "flat") -> DenseIndex:
        """Index the (n, dim) float32 vectors, row i = vector i."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        matrix = _as_matrix(vectors, "vectors")
        dim = matrix.shape[1]
        if dim == 0:
            raise ValueError("vectors must have at least one dimension")
        if kind == "flat":
            index: faiss.Index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.add(matrix)
        return cls(index=index, kind=kind)

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.index.d)

    def __len__(self) -> int:
        """Number of indexed vectors."""
        return int(self.index.ntotal)

    def vectors(self) -> np.ndarray:
        """All stored vectors, row i = vector i (used to reuse unchanged chunks on a rebuild)."""
        if len(self) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.index.reconstruct_n(0, len(self))

    def save(self, path: Path) -> None:
        """Write the index to one file."""
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        """Read an index written by `save`."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no dense index at {path}")
        index = faiss.read_index(str(path))
        kind = "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat"
        return cls(index=index, kind=kind)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-`k` (scores, rows) per query row, best first; k is capped at the index size."""
        if k <= 0:
            raise ValueError("k must be positive")
        matrix = _as_matrix(queries, "queries")
        if matrix.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {matrix.shape[1]}, the index has {self.dim}")
        k = min(k, len(self))
        if k == 0:
            return np.zeros((len(matrix), 0), np.float32), np.zeros((len(matrix), 0), np.int64)
        scores, rows = self.index.search(matrix, k)
        return scores, rows
