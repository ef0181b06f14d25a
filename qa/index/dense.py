"""FAISS inner-product search over normalised chunk vectors (cosine similarity); row i is chunk i.

`kind="flat"` is exact; `kind="ivf"` (IVF-flat: k-means cells, `nprobe` of them searched) keeps
p50 in single-digit milliseconds at 1M chunks with recall@10 >= 0.95 against flat; `kind="ivf-sq8"`
is the same with each vector stored in 8 bits per dimension (a quarter of the bytes: 0.37 GiB instead
of 1.5 GiB at 1M); `kind="hnsw"` is there too, but its build at 1M does not fit a 2-core budget.
`kind="auto"` (what `qa index` uses) picks flat below AUTO_FLAT_MAX chunks and IVF-SQ8 from there on.
An IVF index is memory-mapped on load (its lists stay in the file; only the cells a search probes
are read), so it loads in milliseconds and workers share its pages. The figures are in
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

KINDS = ("auto", "flat", "ivf", "ivf-sq8", "hnsw")
HNSW_NEIGHBOURS = 32
AUTO_FLAT_MAX = 100_000  # exact search below this many chunks (flat p50 stays well under 120 ms)
IVF_TRAIN_PER_CELL = 40  # training sample: this many vectors per cell (FAISS wants >= 39)
IVF_MIN_PROBES = 32  # recall@10 >= 0.95 at 100k and 1M real e5 vectors (benchmarks/RESULTS.md)


def auto_kind(n: int) -> str:
    """The index type for n vectors: exact "flat" below AUTO_FLAT_MAX, "ivf-sq8" from there on (the
    8-bit vectors keep a 1M-chunk server under 2 GiB; recall in benchmarks/RESULTS.md)."""
    return "flat" if n < AUTO_FLAT_MAX else "ivf-sq8"


def ivf_params(n: int) -> tuple[int, int]:
    """(nlist, nprobe) for n vectors: about sqrt(n) cells, 1/16 of them (at least 32) searched."""
    nlist = 2 ** max(0, round(math.log2(math.sqrt(max(n, 1)))))
    while nlist > 1 and n < IVF_TRAIN_PER_CELL * nlist:
        nlist //= 2
    return nlist, min(nlist, max(IVF_MIN_PROBES, nlist // 16))


def _as_matrix(vectors: np.ndarray, name: str) -> np.ndarray:
    """A C-contiguous float32 (n, d) copy-if-needed of `vectors`, or a clear error."""
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, dim), got shape {matrix.shape}")
    return matrix


def _trained_ivf(matrix: np.ndarray, sq8: bool = False) -> faiss.Index:
    """An empty IVF index (flat lists, or 8-bit scalar-quantised ones) trained on a fixed sample of
    `matrix`, nprobe set by ivf_params."""
    n, dim = matrix.shape
    nlist, nprobe = ivf_params(n)
    if sq8:
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dim), dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
    else:
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = min(n, IVF_TRAIN_PER_CELL * nlist)
    rows = np.sort(np.random.default_rng(0).choice(n, sample, replace=False)) if sample < n else slice(None)
    index.train(matrix[rows])
    index.nprobe = nprobe
    return index


@dataclass
class DenseIndex:
    """A FAISS index of unit vectors searched by inner product."""

    index: faiss.Index
    kind: str = "flat"

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "flat") -> DenseIndex:
        """Index the (n, dim) float32 vectors, row i = vector i; kind "auto" chooses by size."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        matrix = _as_matrix(vectors, "vectors")
        dim = matrix.shape[1]
        if dim == 0:
            raise ValueError("vectors must have at least one dimension")
        if kind == "auto":
            kind = auto_kind(len(matrix))
        if kind == "flat":
            index: faiss.Index = faiss.IndexFlatIP(dim)
        elif kind in ("ivf", "ivf-sq8"):
            index = _trained_ivf(matrix, sq8=kind == "ivf-sq8")
        else:
            index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.add(matrix)
        if kind in ("ivf", "ivf-sq8"):
            index.make_direct_map()  # so vectors() and reconstruct(row) work; saved with the index
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
        """Read an index written by `save`; an IVF index's lists are memory-mapped, not read."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no dense index at {path}")
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        if isinstance(index, faiss.IndexHNSW):
            kind = "hnsw"
        elif isinstance(index, faiss.IndexIVFScalarQuantizer):
            kind = "ivf-sq8"  # nprobe and the direct map are stored in the file
        elif isinstance(index, faiss.IndexIVF):
            kind = "ivf"
        else:
            kind = "flat"
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
