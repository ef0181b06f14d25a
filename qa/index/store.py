"""The index on disk: the folder layout, the atomic `CURRENT` swap, the build lock, and loading.

Layout of `index_dir`:

    CURRENT                 the id of the live build (replaced atomically with os.replace)
    builds/<build-id>/      manifest.json, records.sqlite (articles and chunks, `qa.index.record_store`),
                            vector_keys.txt, dense.faiss, bm25/, and the sentence vectors
                            (sentences.npy, sentence_keys.txt, sentence_refs/rows.npy: `qa.index.sentences`)
                            and their jieba POS tags (sentence_tags.sqlite)
    build.lock              held (flock) while a build runs

A build (`qa.index.build`) writes a fresh folder, then points CURRENT at it, then deletes the older
folders (all but the new one and the one it replaced, which a reader may still be opening), so a build
killed at any moment leaves the previous index whole. A loaded index keeps its records, its IVF lists
and its BM25 arrays on disk (SQLite, memory maps) and reads what a question touches, so at 1M chunks
the serving process stays small and loads in seconds (benchmarks/RESULTS.md, *Memory*).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.index.dense import DenseIndex
from qa.index.errors import IndexCorruptError, IndexLoadError, IndexMissingError  # noqa: F401 (re-exported)
from qa.index.lexical import LexicalIndex, Vocabulary
from qa.index.record_store import ArticleTable, ChunkTable, RecordStore
from qa.index.sentences import TAGS_FILE, SentenceTags, SentenceVectors
from qa.records import Article
from qa.text import Tags

FORMAT_VERSION = 4  # 4: sentence tags; 3: sentence vectors; 2: records.sqlite; 1: .jsonl records
CURRENT_FILE = "CURRENT"
BUILDS_DIR = "builds"
LOCK_FILE = "build.lock"
MANIFEST_FILE = "manifest.json"
RECORDS_FILE = "records.sqlite"
KEYS_FILE = "vector_keys.txt"
DENSE_FILE = "dense.faiss"
LEXICAL_DIR = "bm25"


class IndexBusyError(RuntimeError):
    """Another build of the same index folder is running."""


class FilterSpec(Protocol):
    """Date and source restrictions of a search (`qa.answer.retrieve.Filters`)."""

    date_from: str | None
    date_to: str | None
    source: str | None

    def allows(self, article: Article) -> bool:
        """True when the article passes."""
        ...


@dataclass
class LoadedIndex:
    """A built index, opened: row i of `chunks` is FAISS row i and BM25 document i.

    `chunks` and `articles` read their records from the build's records.sqlite when asked for
    (`ChunkTable`, `ArticleTable`: a sequence and a read-only mapping, cached and bounded).

    Retrieval and stage 2 reach it only through `chunks`, `articles`, `aliases`, `manifest` and the
    methods below, which `qa.index.milvus.MilvusIndex` offers too: that is the seam between the answer
    step and the store.
    """

    manifest: dict[str, Any]
    articles: ArticleTable
    chunks: ChunkTable
    dense: DenseIndex
    lexical: LexicalIndex
    path: Path
    sentences: SentenceVectors | None = None
    tags: SentenceTags | None = None

    @cached_property
    def aliases(self) -> dict[str, tuple[str, ...]]:
        """The corpus's own names for things ("许昌" -> "我市", "本市"), from its aliases file."""
        return {word: tuple(names) for word, names in self.manifest.get("aliases", {}).items()}

    # Filters are checked on the pooled candidates (`allows`), so the pool is made deeper when filtering.
    filters_pushed_down = False

    def dense_search(
        self, query: np.ndarray, k: int, filters: FilterSpec | None = None
    ) -> list[tuple[int, float]]:
        """The `k` rows nearest the (1, dim) query vector, best first, as (row, cosine); filters unused."""
        scores, rows = self.dense.search(query, k)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def lexical_search(
        self, question: str, k: int, filters: FilterSpec | None = None
    ) -> list[tuple[int, float]]:
        """The `k` best rows by BM25 over the question's words, as (row, score); filters unused."""
        return self.lexical.search(question, k)

    def cosines(self, query: np.ndarray, rows: list[int]) -> dict[int, float]:
        """Cosine of the query with each row's stored vector (for candidates FAISS did not rank)."""
        return {row: float(np.dot(self.dense.index.reconstruct(int(row)), query)) for row in rows}

    def sentence_vectors(self, row: int) -> np.ndarray | None:
        """Unit vectors of chunk `row`'s sentences in `sentence_spans` order, embedded at index time;
        None for an index built without them."""
        return None if self.sentences is None else self.sentences.of(row)

    def stored_tags(self, sentence: str) -> Tags | None:
        """jieba's POS tags of one of the index's sentences, made at build time; None when not stored."""
        return None if self.tags is None else self.tags.get(sentence)

    def allows(self, row: int, filters: FilterSpec) -> bool:
        """True when the article of chunk `row` passes the filters."""
        return filters.allows(self.articles[self.chunks[row].article_id])

    @property
    def vocabulary(self) -> Vocabulary:
        """IDF of every word of the corpus (stage 2 weighs question words with it)."""
        return self.lexical.vocabulary

    @property
    def word_ids(self) -> dict[str, int]:
        """Vocabulary id of every word."""
        return self.lexical.bm25.vocab_dict

    def words_of(self, row: int) -> np.ndarray | None:
        """The distinct word ids of chunk `row`, or None for an index built without them."""
        return self.lexical.words_of(row)


def current_build_dir(index_dir: Path) -> Path | None:
    """The folder CURRENT points at, or None when there is no CURRENT file."""
    try:
        build_id = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not build_id or "/" in build_id or build_id.startswith("."):
        raise IndexCorruptError(f"{index_dir / CURRENT_FILE} holds an invalid build id {build_id!r}")
    return index_dir / BUILDS_DIR / build_id


def index_exists(index_dir: Path) -> bool:
    """True when `index_dir` holds a live build with a manifest (it may still fail to load)."""
    try:
        build_dir = current_build_dir(Path(index_dir))
    except IndexCorruptError:
        return False
    return build_dir is not None and (build_dir / MANIFEST_FILE).is_file()


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk so a rename in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(path: Path, data: str) -> None:
    """Write a text file and fsync it."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def fsync_tree(path: Path) -> None:
    """fsync every file and folder under `path` (files written by FAISS and bm25s included)."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(Path(root) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(root))


def point_current_at(index_dir: Path, build_id: str) -> None:
    """Atomically make `build_id` the live build (temp file + os.replace)."""
    tmp = index_dir / f".{CURRENT_FILE}.{os.getpid()}.tmp"
    write_durable(tmp, build_id + "\n")
    os.replace(tmp, index_dir / CURRENT_FILE)
    fsync_dir(index_dir)


def remove_other_builds(index_dir: Path, keep: set[str]) -> None:
    """Delete build folders not in `keep` (older builds, leftovers of killed builds) and stray temp files."""
    for child in (index_dir / BUILDS_DIR).iterdir():
        if child.name in keep:
            continue
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
    for stray in index_dir.glob(f".{CURRENT_FILE}.*.tmp"):
        stray.unlink(missing_ok=True)


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the index folder for the whole build (released if the process dies)."""
    with open(index_dir / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise IndexBusyError(
                f"another build of {index_dir} is running; try again when it ends"
            ) from error
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_index(index_dir: Path, model: str | None = None) -> LoadedIndex:
    """Load the live build of `index_dir`; with `model`, refuse an index embedded by another model."""
    index_dir = Path(index_dir)
    build_dir = current_build_dir(index_dir)
    if build_dir is None:
        raise IndexMissingError(f"no index in {index_dir}: run `qa index` to build one")
    manifest_path = build_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise IndexCorruptError(
            f"{index_dir / CURRENT_FILE} points at {build_dir.name}, which has no {MANIFEST_FILE}: "
            "run `qa index` to rebuild"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise IndexCorruptError(f"cannot read {manifest_path}: {error}; run `qa index` to rebuild") from error
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise IndexCorruptError(
            f"{manifest_path} has format version {found!r}, this code reads {FORMAT_VERSION}: "
            "run `qa index` to rebuild"
        )
    if model is not None and manifest.get("model") != model:
        raise IndexCorruptError(
            f"the index in {index_dir} was embedded with {manifest.get('model')!r}, not {model!r}: "
            "run `qa index` to rebuild it with this model"
        )
    try:
        records = RecordStore(build_dir / RECORDS_FILE)
        articles, chunks = ArticleTable(records), ChunkTable(records)
        dense = DenseIndex.load(build_dir / DENSE_FILE)
        lexical = LexicalIndex.load(build_dir / LEXICAL_DIR)
        sentences = SentenceVectors.load(build_dir)
    except IndexCorruptError:
        raise
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
        raise IndexCorruptError(
            f"cannot load the index in {build_dir}: {error}; run `qa index` to rebuild"
        ) from error
    counts = manifest.get("counts", {})
    sizes = {
        "manifest chunks": counts.get("chunks"),
        "records chunks": len(chunks),
        "dense rows": len(dense),
        "bm25 docs": lexical.num_docs,
    }
    if sentences is not None:
        sizes["sentence vector chunks"] = len(sentences)
    if len(set(sizes.values())) != 1 or counts.get("articles") != len(articles):
        raise IndexCorruptError(f"index parts in {build_dir} disagree ({sizes}); run `qa index` to rebuild")
    if dense.dim != manifest.get("dim"):
        raise IndexCorruptError(
            f"dense index dim {dense.dim} != manifest dim {manifest.get('dim')} in {build_dir}"
        )
    return LoadedIndex(
        manifest=manifest,
        articles=articles,
        chunks=chunks,
        dense=dense,
        lexical=lexical,
        path=build_dir,
        sentences=sentences,
        tags=SentenceTags(build_dir / TAGS_FILE) if (build_dir / TAGS_FILE).is_file() else None,
    )
