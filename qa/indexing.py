"""Corpus -> chunks -> dense (FAISS) + lexical (BM25) indexes + manifest, swapped in atomically.

Layout of `index_dir`:

    CURRENT                 the id of the live build (replaced atomically with os.replace)
    builds/<build-id>/      manifest.json, articles.jsonl, chunks.jsonl, vector_keys.txt,
                            dense.faiss, bm25/
    build.lock              held (flock) while a build runs

A build writes a fresh folder, then points CURRENT at it, then deletes the older folders (all but the
new one and the one it replaced, which a reader may still be opening), so a build killed at any moment
leaves the previous index whole. Rebuilds are incremental: a chunk whose
embedded text and model are unchanged reuses its vector from the live build.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from qa.articles import load_articles
from qa.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP_SENTENCES, chunk_article, embedding_text
from qa.dense_index import DenseIndex
from qa.lexical_index import TOKENIZER, LexicalIndex
from qa.records import Article, Chunk, Problem

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
BUILDS_DIR = "builds"
LOCK_FILE = "build.lock"
MANIFEST_FILE = "manifest.json"
ARTICLES_FILE = "articles.jsonl"
CHUNKS_FILE = "chunks.jsonl"
KEYS_FILE = "vector_keys.txt"
DENSE_FILE = "dense.faiss"
LEXICAL_DIR = "bm25"
EMBED_BATCH = 128  # texts handed to the embedder per progress step
LIBRARIES = ("qa", "numpy", "faiss-cpu", "bm25s", "jieba", "sentence-transformers", "torch")


class Embedder(Protocol):
    """What indexing needs from qa.embedding.Embedder."""

    name: str
    dim: int

    def embed_passages(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        ...


class IndexLoadError(RuntimeError):
    """The index cannot be used."""


class IndexMissingError(IndexLoadError):
    """No index has been built in this folder yet."""


class IndexCorruptError(IndexLoadError):
    """The index folder exists but is damaged, from another format, or from another model."""


class IndexBusyError(RuntimeError):
    """Another build of the same index folder is running."""


class EmptyCorpusError(ValueError):
    """The corpus yielded no article to index."""


@dataclass
class BuildReport:
    """What one build did; `embedded` chunks were newly embedded, `reused` kept their old vectors."""

    articles: int
    chunks: int
    embedded: int
    reused: int
    seconds: float
    chunks_per_s: float
    problems: list[Problem] = field(default_factory=list)
    build_id: str = ""
    path: Path | None = None

    def summary(self) -> str:
        """One human line for `qa index`."""
        line = (
            f"Indexed {self.articles} articles as {self.chunks} chunks in {self.seconds:.1f} s "
            f"({self.chunks_per_s:.1f} chunks/s): {self.embedded} embedded, {self.reused} reused"
        )
        if self.problems:
            line += f"; {len(self.problems)} problem(s) skipped"
        if self.path is not None:
            line += f". Index: {self.path}"
        return line


@dataclass
class LoadedIndex:
    """A built index in memory: row i of `chunks` is FAISS row i and BM25 document i."""

    manifest: dict[str, Any]
    articles: dict[str, Article]
    chunks: list[Chunk]
    dense: DenseIndex
    lexical: LexicalIndex
    path: Path


# ---------------------------------------------------------------------------------------------- layout


def _current_build_dir(index_dir: Path) -> Path | None:
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
        build_dir = _current_build_dir(Path(index_dir))
    except IndexCorruptError:
        return False
    return build_dir is not None and (build_dir / MANIFEST_FILE).is_file()


def _fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk so a rename in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durable(path: Path, data: str) -> None:
    """Write a text file and fsync it."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_tree(path: Path) -> None:
    """fsync every file and folder under `path` (files written by FAISS and bm25s included)."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(Path(root) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(root))


def _point_current_at(index_dir: Path, build_id: str) -> None:
    """Atomically make `build_id` the live build (temp file + os.replace)."""
    tmp = index_dir / f".{CURRENT_FILE}.{os.getpid()}.tmp"
    _write_durable(tmp, build_id + "\n")
    os.replace(tmp, index_dir / CURRENT_FILE)
    _fsync_dir(index_dir)


def _remove_other_builds(index_dir: Path, keep: set[str]) -> None:
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
def _build_lock(index_dir: Path) -> Iterator[None]:
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


# ---------------------------------------------------------------------------------------------- build


def _library_versions() -> dict[str, str]:
    """Installed versions of the libraries whose output the index holds."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def corpus_fingerprint(articles: list[Article]) -> str:
    """A hash of every article's contents, independent of file order."""
    digest = hashlib.sha256()
    for line in sorted(json.dumps(asdict(a), ensure_ascii=False, sort_keys=True) for a in articles):
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def vector_key(model: str, text: str) -> str:
    """The cache key of one embedded text: same model and same text give the same vector."""
    return hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()[:32]


def _model_id(embedder: Embedder) -> str:
    """Model name plus passage prefix when the embedder exposes one: both change the vectors."""
    prompt = getattr(embedder, "passage_prompt", None)
    return embedder.name if prompt is None else f"{embedder.name}|{prompt}"


def _previous_vectors(index_dir: Path, dim: int) -> dict[str, np.ndarray]:
    """Vectors of the live build keyed by vector key; empty when there is none or it is unreadable."""
    try:
        build_dir = _current_build_dir(index_dir)
        if build_dir is None:
            return {}
        keys = (build_dir / KEYS_FILE).read_text(encoding="utf-8").split()
        dense = DenseIndex.load(build_dir / DENSE_FILE)
    except (OSError, IndexLoadError, RuntimeError, ValueError):
        return {}
    if dense.dim != dim or len(dense) != len(keys):
        return {}
    vectors = dense.vectors()
    return {key: vectors[row] for row, key in enumerate(keys)}


def _unique_articles(articles: list[Article]) -> tuple[list[Article], list[Problem]]:
    """Drop articles whose id was already seen, reporting each as a problem."""
    seen: set[str] = set()
    kept: list[Article] = []
    problems: list[Problem] = []
    for article in articles:
        if article.id in seen:
            problems.append(
                Problem(article.source or article.id, None, f"duplicate article id {article.id}; skipped")
            )
            continue
        seen.add(article.id)
        kept.append(article)
    return kept, problems


def _embed(embedder: Embedder, texts: list[str], progress: bool) -> np.ndarray:
    """Embed texts shortest-first in batches (less padding), with one tqdm bar over all of them."""
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with tqdm(total=len(texts), desc="Embedding", unit="chunk", disable=not progress) as bar:
        for begin in range(0, len(order), EMBED_BATCH):
            rows = order[begin : begin + EMBED_BATCH]
            batch = embedder.embed_passages([texts[i] for i in rows], batch_size=32, progress=False)
            vectors[rows] = np.asarray(batch, dtype=np.float32)
            bar.update(len(rows))
    return vectors


def _write_jsonl(path: Path, records: list[Any]) -> None:
    """One JSON object per line, UTF-8."""
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")


def build_index(
    corpus: Path,
    index_dir: Path,
    embedder: Embedder,
    progress: bool = True,
    max_chars: int | None = None,
) -> BuildReport:
    """Build both indexes for `corpus` into a new build folder of `index_dir` and make it live."""
    started = time.perf_counter()
    corpus, index_dir = Path(corpus), Path(index_dir)
    max_chars = max_chars or DEFAULT_MAX_CHARS
    overlap = DEFAULT_OVERLAP_SENTENCES

    loaded, problems = load_articles(corpus)
    articles, duplicates = _unique_articles(loaded)
    problems = [*problems, *duplicates]
    if not articles:
        details = "; ".join(str(p) for p in problems[:5])
        raise EmptyCorpusError(f"no articles found in {corpus}" + (f" ({details})" if details else ""))
    by_id = {article.id: article for article in articles}
    chunks = [chunk for article in articles for chunk in chunk_article(article, max_chars, overlap)]
    if not chunks:
        raise EmptyCorpusError(f"the articles in {corpus} have no text to index")
    texts = [embedding_text(chunk, by_id[chunk.article_id]) for chunk in chunks]

    index_dir.mkdir(parents=True, exist_ok=True)
    (index_dir / BUILDS_DIR).mkdir(exist_ok=True)
    with _build_lock(index_dir):
        model_id = _model_id(embedder)
        keys = [vector_key(model_id, text) for text in texts]
        known = _previous_vectors(index_dir, embedder.dim)
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in known:
                missing.setdefault(key, text)
        fresh = _embed(embedder, list(missing.values()), progress)
        known.update(zip(missing, fresh, strict=True))
        vectors = np.stack([known[key] for key in keys]).astype(np.float32)
        reused = sum(1 for key in keys if key not in missing)

        build_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        build_dir = index_dir / BUILDS_DIR / build_id
        build_dir.mkdir()
        dense = DenseIndex.build(vectors, kind="auto")  # flat, or IVF at >= 100k chunks
        dense.save(build_dir / DENSE_FILE)
        LexicalIndex.build(texts).save(build_dir / LEXICAL_DIR)
        _write_jsonl(build_dir / ARTICLES_FILE, articles)
        _write_jsonl(build_dir / CHUNKS_FILE, chunks)
        (build_dir / KEYS_FILE).write_text("".join(f"{key}\n" for key in keys), encoding="utf-8")
        manifest = {
            "format_version": FORMAT_VERSION,
            "build_id": build_id,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": embedder.name,
            "model_id": model_id,
            "dim": int(embedder.dim),
            "counts": {"articles": len(articles), "chunks": len(chunks), "problems": len(problems)},
            "corpus": str(corpus),
            "corpus_fingerprint": corpus_fingerprint(articles),
            "chunking": {"max_chars": max_chars, "overlap_sentences": overlap},
            "dense": {"file": DENSE_FILE, "kind": dense.kind, "metric": "inner_product"},
            "lexical": {"dir": LEXICAL_DIR, "tokenizer": TOKENIZER},
            "libraries": _library_versions(),
        }
        _write_durable(build_dir / MANIFEST_FILE, json.dumps(manifest, ensure_ascii=False, indent=2))
        _fsync_tree(build_dir)
        _fsync_dir(build_dir.parent)
        try:
            previous = _current_build_dir(index_dir)
        except IndexCorruptError:  # a damaged CURRENT is simply replaced
            previous = None
        _point_current_at(index_dir, build_id)
        # The build that was live a moment ago stays until the next build, so a reader that read the
        # old CURRENT just before the swap can still open its files.
        _remove_other_builds(index_dir, keep={build_id, previous.name if previous else build_id})

    seconds = time.perf_counter() - started
    return BuildReport(
        articles=len(articles),
        chunks=len(chunks),
        embedded=len(missing),
        reused=reused,
        seconds=seconds,
        chunks_per_s=len(chunks) / seconds if seconds > 0 else 0.0,
        problems=problems,
        build_id=build_id,
        path=build_dir,
    )


# ---------------------------------------------------------------------------------------------- load


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL file as a dict."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_index(index_dir: Path, model: str | None = None) -> LoadedIndex:
    """Load the live build of `index_dir`; with `model`, refuse an index embedded by another model."""
    index_dir = Path(index_dir)
    build_dir = _current_build_dir(index_dir)
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
        articles = {row["id"]: Article(**row) for row in _read_jsonl(build_dir / ARTICLES_FILE)}
        chunks = [Chunk(**row) for row in _read_jsonl(build_dir / CHUNKS_FILE)]
        dense = DenseIndex.load(build_dir / DENSE_FILE)
        lexical = LexicalIndex.load(build_dir / LEXICAL_DIR)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
        raise IndexCorruptError(
            f"cannot load the index in {build_dir}: {error}; run `qa index` to rebuild"
        ) from error
    counts = manifest.get("counts", {})
    sizes = {
        "manifest chunks": counts.get("chunks"),
        "chunks.jsonl": len(chunks),
        "dense rows": len(dense),
        "bm25 docs": lexical.num_docs,
    }
    if len(set(sizes.values())) != 1 or counts.get("articles") != len(articles):
        raise IndexCorruptError(f"index parts in {build_dir} disagree ({sizes}); run `qa index` to rebuild")
    if dense.dim != manifest.get("dim"):
        raise IndexCorruptError(
            f"dense index dim {dense.dim} != manifest dim {manifest.get('dim')} in {build_dir}"
        )
    return LoadedIndex(
        manifest=manifest, articles=articles, chunks=chunks, dense=dense, lexical=lexical, path=build_dir
    )
