"""Corpus -> articles -> chunks -> dense (FAISS) + lexical (BM25) indexes + manifest, swapped in atomically.

Rebuilds are incremental: a chunk whose embedded text and model are unchanged reuses its vector from
the live build. Where the files go and how the swap works is `qa.index.store`.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from qa.index.dense import DenseIndex
from qa.index.embedding import PassageEmbedder
from qa.index.lexical import TOKENIZER, LexicalIndex
from qa.index.record_store import write_records
from qa.index.sentences import (
    SENTENCES_FILE,
    TAGS_FILE,
    SentenceVectors,
    chunk_sentences,
    write_sentence_tags,
)
from qa.index.store import (
    BUILDS_DIR,
    DENSE_FILE,
    FORMAT_VERSION,
    KEYS_FILE,
    LEXICAL_DIR,
    MANIFEST_FILE,
    RECORDS_FILE,
    IndexCorruptError,
    IndexLoadError,
    build_lock,
    current_build_dir,
    fsync_dir,
    fsync_tree,
    point_current_at,
    remove_other_builds,
    write_durable,
)
from qa.ingest.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP_SENTENCES, chunk_article, embedding_text
from qa.ingest.corpus import read_aliases
from qa.ingest.segment import SegmentSettings, load_articles
from qa.records import Article, Chunk, Problem

EMBED_BATCH = 128  # texts handed to the embedder per progress step
LIBRARIES = ("qa", "numpy", "faiss-cpu", "bm25s", "jieba", "sentence-transformers", "torch")


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
    unchanged: bool = False  # nothing changed: the live build stays, no model was loaded
    device: str | None = None  # the torch device the chunks were embedded on (None: no model loaded)
    location: str = ""  # where a store other than the local folder put it (Milvus URI and collection)
    sentences_embedded: int = 0  # distinct sentences newly embedded (`qa.index.sentences`)

    def summary(self) -> str:
        """One human line for `qa index`."""
        if self.unchanged:
            return (
                f"Nothing changed: {self.articles} articles, {self.chunks} chunks already indexed "
                f"(checked in {self.seconds:.1f} s). Index: {self.location or self.path}"
            )
        line = (
            f"Indexed {self.articles} articles as {self.chunks} chunks in {self.seconds:.1f} s "
            f"({self.chunks_per_s:.1f} chunks/s"
            + (f" on {self.device}" if self.device else "")
            + f"): {self.embedded} embedded, {self.reused} reused"
            + (f" (and {self.sentences_embedded} sentences embedded)" if self.sentences_embedded else "")
        )
        if self.problems:
            line += f"; {len(self.problems)} problem(s) skipped"
        if self.path is not None or self.location:
            line += f". Index: {self.location or self.path}"
        return line


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


def _model_id(embedder: PassageEmbedder) -> str:
    """Model name plus passage prefix when the embedder exposes one: both change the vectors."""
    prompt = getattr(embedder, "passage_prompt", None)
    return embedder.name if prompt is None else f"{embedder.name}|{prompt}"


def _previous_vectors(index_dir: Path, dim: int) -> dict[str, np.ndarray]:
    """Vectors of the live build keyed by vector key; empty when there is none or it is unreadable."""
    try:
        build_dir = current_build_dir(index_dir)
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


def _previous_sentences(index_dir: Path) -> dict[str, np.ndarray]:
    """Sentence vectors of the live build keyed by vector key (views into its memory map); empty when it
    has none or they are unreadable."""
    try:
        build_dir = current_build_dir(index_dir)
        sentences = SentenceVectors.load(build_dir) if build_dir is not None else None
    except (OSError, IndexLoadError, ValueError):
        return {}
    return sentences.by_key() if sentences is not None else {}


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


def _embed(embedder: PassageEmbedder, texts: list[str], progress: bool) -> np.ndarray:
    """Embed texts shortest-first in batches (less padding), with one tqdm bar over all of them.

    An embedder that spreads a whole corpus over workers itself (`qa.index.ray_build.RayEmbedder`)
    offers `embed_corpus(texts, progress)`, and gets all the texts in one call.
    """
    embed_corpus = getattr(embedder, "embed_corpus", None)
    if embed_corpus is not None:
        return np.asarray(embed_corpus(texts, progress), dtype=np.float32).reshape(len(texts), embedder.dim)
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with tqdm(total=len(texts), desc="Embedding", unit="text", disable=not progress) as bar:
        for begin in range(0, len(order), EMBED_BATCH):
            rows = order[begin : begin + EMBED_BATCH]
            batch = embedder.embed_passages([texts[i] for i in rows], batch_size=32, progress=False)
            vectors[rows] = np.asarray(batch, dtype=np.float32)
            bar.update(len(rows))
    return vectors


@dataclass
class _Corpus:
    """The corpus read for one build: unique articles, their chunks, the texts to embed, what was skipped."""

    path: Path
    articles: list[Article]
    chunks: list[Chunk]
    texts: list[str]
    problems: list[Problem]
    max_chars: int
    overlap: int
    aliases: dict[str, list[str]]
    segment: SegmentSettings


@dataclass
class _Vectors:
    """One vector per chunk, its cache key, and how many were newly embedded."""

    model_id: str
    keys: list[str]
    vectors: np.ndarray
    embedded: int
    reused: int
    sentences: SentenceVectors | None = None  # None: not asked for (the answer step embeds at ask time)
    sentences_embedded: int = 0


def _read_corpus(corpus: Path, max_chars: int | None, segment: SegmentSettings | None) -> _Corpus:
    """Load the articles of `corpus`, drop repeated ids, cut chunks; EmptyCorpusError when nothing is left.

    None takes the default chunk size and segmentation settings.
    """
    segment = segment or SegmentSettings()
    loaded, problems = load_articles(corpus, segment)
    return corpus_of(corpus, loaded, problems, max_chars, segment)


def chunk_articles(articles: list[Article], max_chars: int, overlap: int) -> tuple[list[Chunk], list[str]]:
    """Every article's chunks, in article order, and the text each chunk is embedded as (in this process)."""
    chunks: list[Chunk] = []
    texts: list[str] = []
    for article in articles:
        for chunk in chunk_article(article, max_chars, overlap):
            chunks.append(chunk)
            texts.append(embedding_text(chunk, article))
    return chunks, texts


def corpus_of(
    corpus: Path,
    loaded: list[Article],
    problems: list[Problem],
    max_chars: int | None,
    segment: SegmentSettings,
    chunk_all: Callable[[list[Article], int, int], tuple[list[Chunk], list[str]]] = chunk_articles,
) -> _Corpus:
    """The `_Corpus` of articles already loaded from `corpus`: repeated ids dropped, aliases read, chunks
    cut by `chunk_all` (the Ray build passes one that runs as parallel tasks)."""
    max_chars, overlap = max_chars or DEFAULT_MAX_CHARS, DEFAULT_OVERLAP_SENTENCES
    aliases, alias_problems = read_aliases(corpus)
    articles, duplicates = _unique_articles(loaded)
    problems = [*problems, *alias_problems, *duplicates]
    if not articles:
        details = "; ".join(str(p) for p in problems[:5])
        raise EmptyCorpusError(f"no articles found in {corpus}" + (f" ({details})" if details else ""))
    chunks, texts = chunk_all(articles, max_chars, overlap)
    if not chunks:
        raise EmptyCorpusError(f"the articles in {corpus} have no text to index")
    return _Corpus(corpus, articles, chunks, texts, problems, max_chars, overlap, aliases, segment)


def unchanged_build(
    corpus: Path,
    index_dir: Path,
    model_id: str,
    max_chars: int | None = None,
    segment: SegmentSettings | None = None,
) -> BuildReport | None:
    """The live build's report when it was made from this very corpus with these settings, else None.

    Same articles (fingerprint), model and passage prompt (`model_id`), chunking, segmentation and
    aliases mean a rebuild would write the same index: `qa index` then needs no model at all.
    """
    started = time.perf_counter()
    corpus, index_dir = Path(corpus), Path(index_dir)
    try:
        build_dir = current_build_dir(index_dir)
        manifest = json.loads((build_dir / MANIFEST_FILE).read_text(encoding="utf-8")) if build_dir else None
    except (OSError, ValueError, IndexCorruptError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        return None
    try:
        read = _read_corpus(corpus, max_chars, segment)
    except EmptyCorpusError:
        return None
    return report_if_unchanged(read, manifest, model_id, started, build_dir.name, path=build_dir)


def report_if_unchanged(
    read: _Corpus,
    manifest: dict[str, Any],
    model_id: str,
    started: float,
    build_id: str,
    path: Path | None = None,
    location: str = "",
) -> BuildReport | None:
    """The report of a rebuild that would change nothing (the live manifest records this corpus, model
    and settings), for any store; None when something differs."""
    if any(manifest.get(key) != value for key, value in _contents(read, model_id).items()):
        return None
    return BuildReport(
        articles=len(read.articles),
        chunks=len(read.chunks),
        embedded=0,
        reused=len(read.chunks),
        seconds=time.perf_counter() - started,
        chunks_per_s=0.0,
        problems=read.problems,
        build_id=str(manifest.get("build_id", build_id)),
        path=path,
        unchanged=True,
        location=location,
    )


def _chunk_vectors(
    index_dir: Path,
    embedder: PassageEmbedder,
    texts: list[str],
    progress: bool,
    chunks: list[Chunk] | None = None,
) -> _Vectors:
    """Vectors of `texts`: reused from the live build where model and text match, embedded otherwise.

    With `chunks` (chunk i is embedded as texts[i]) each distinct sentence of the chunks gets a vector
    too (`qa.index.sentences`), reused the same way; chunks and sentences are embedded in one pass.
    """
    model_id = _model_id(embedder)
    keys = [vector_key(model_id, text) for text in texts]
    known = _previous_vectors(index_dir, embedder.dim)
    missing: dict[str, str] = {}
    for key, text in zip(keys, texts, strict=True):
        if key not in known:
            missing.setdefault(key, text)
    sentence_keys: list[list[str]] = []
    known_sentences: dict[str, np.ndarray] = {}
    missing_sentences: dict[str, str] = {}
    if chunks is not None:
        known_sentences = _previous_sentences(index_dir)
        for chunk in chunks:
            sentences = chunk_sentences(chunk)
            sentence_keys.append([vector_key(model_id, sentence) for sentence in sentences])
            for key, sentence in zip(sentence_keys[-1], sentences, strict=True):
                if key not in known_sentences:
                    missing_sentences.setdefault(key, sentence)
    fresh = _embed(embedder, [*missing.values(), *missing_sentences.values()], progress)
    known.update(zip(missing, fresh[: len(missing)], strict=True))
    known_sentences.update(zip(missing_sentences, fresh[len(missing) :], strict=True))
    vectors = np.stack([known[key] for key in keys]).astype(np.float32)
    reused = sum(1 for key in keys if key not in missing)
    sentences = (
        SentenceVectors.of_chunks(sentence_keys, known_sentences, embedder.dim)
        if chunks is not None
        else None
    )
    return _Vectors(
        model_id,
        keys,
        vectors,
        embedded=len(missing),
        reused=reused,
        sentences=sentences,
        sentences_embedded=len(missing_sentences),
    )


def _write_build(
    build_dir: Path, read: _Corpus, vectors: _Vectors, previous: Path | None = None, progress: bool = False
) -> DenseIndex:
    """Write the dense and lexical indexes, the records (articles, chunks), vector keys, sentence vectors
    and sentence tags into a new `build_dir`; tags are reused from the `previous` build's folder."""
    build_dir.mkdir()
    dense = DenseIndex.build(vectors.vectors, kind="auto")  # flat, or IVF at >= 100k chunks
    dense.save(build_dir / DENSE_FILE)
    LexicalIndex.build(read.texts).save(build_dir / LEXICAL_DIR)
    write_records(build_dir / RECORDS_FILE, read.articles, read.chunks)
    if vectors.sentences is not None:
        vectors.sentences.save(build_dir)
    write_sentence_tags(
        build_dir / TAGS_FILE, read.chunks, previous / TAGS_FILE if previous else None, progress
    )
    (build_dir / KEYS_FILE).write_text("".join(f"{key}\n" for key in vectors.keys), encoding="utf-8")
    return dense


def _contents(read: _Corpus, model_id: str) -> dict[str, Any]:
    """The manifest entries that decide what a build holds: equal entries mean an equal index."""
    return {
        "model_id": model_id,
        "counts": {
            "articles": len(read.articles),
            "chunks": len(read.chunks),
            "problems": len(read.problems),
        },
        "corpus_fingerprint": corpus_fingerprint(read.articles),
        "chunking": {"max_chars": read.max_chars, "overlap_sentences": read.overlap},
        "segmentation": asdict(read.segment),
        "aliases": read.aliases,
    }


def _manifest(
    build_id: str,
    read: _Corpus,
    embedder: PassageEmbedder,
    model_id: str,
    dense: DenseIndex,
    sentences: SentenceVectors | None = None,
) -> dict[str, Any]:
    """The manifest.json of one build: what it holds, what made it, and the settings it was cut with."""
    return {
        "format_version": FORMAT_VERSION,
        "build_id": build_id,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": embedder.name,
        "dim": int(embedder.dim),
        "device": getattr(embedder, "device", None),
        "corpus": str(read.path),
        **_contents(read, model_id),
        "dense": {"file": DENSE_FILE, "kind": dense.kind, "metric": "inner_product"},
        "lexical": {"dir": LEXICAL_DIR, "tokenizer": TOKENIZER},
        "sentences": (
            {"file": SENTENCES_FILE, "distinct": len(sentences.vectors), "dtype": "float16"}
            if sentences is not None
            else None
        ),
        "libraries": _library_versions(),
    }


def _live_build(index_dir: Path) -> Path | None:
    """The live build's folder, or None (none yet, or CURRENT damaged: the next build replaces it)."""
    try:
        return current_build_dir(index_dir)
    except IndexCorruptError:
        return None


def _make_live(index_dir: Path, build_dir: Path) -> None:
    """Flush `build_dir` to disk, point CURRENT at it, and remove builds older than the one it replaces."""
    fsync_tree(build_dir)
    fsync_dir(build_dir.parent)
    previous = _live_build(index_dir)  # a damaged CURRENT is simply replaced
    point_current_at(index_dir, build_dir.name)
    # The build that was live a moment ago stays until the next build, so a reader that read the
    # old CURRENT just before the swap can still open its files.
    remove_other_builds(index_dir, keep={build_dir.name, previous.name if previous else build_dir.name})


def build_index(
    corpus: Path,
    index_dir: Path,
    embedder: PassageEmbedder,
    progress: bool = True,
    max_chars: int | None = None,
    segment: SegmentSettings | None = None,
) -> BuildReport:
    """Build both indexes for `corpus` into a new build folder of `index_dir` and make it live.

    `segment` are the settings pages are cut into articles with (defaults when None); the manifest
    records them, with the chunking settings and the corpus's aliases.
    """
    started = time.perf_counter()
    read = _read_corpus(Path(corpus), max_chars, segment)
    return write_index(read, index_dir, embedder, progress, started)


def write_index(
    read: _Corpus,
    index_dir: Path,
    embedder: PassageEmbedder,
    progress: bool = True,
    started: float | None = None,
) -> BuildReport:
    """Embed what the live build lacks of an already read corpus, write a new build and make it live.

    `build_index` reads the corpus in this process; `qa.index.ray_build` reads it in Ray tasks and
    hands the same `_Corpus` here. `started` is when the build began (for chunks/s), now when None.
    """
    started = time.perf_counter() if started is None else started
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    (index_dir / BUILDS_DIR).mkdir(exist_ok=True)
    with build_lock(index_dir):
        vectors = _chunk_vectors(index_dir, embedder, read.texts, progress, read.chunks)
        build_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        build_dir = index_dir / BUILDS_DIR / build_id
        dense = _write_build(build_dir, read, vectors, _live_build(index_dir), progress)
        manifest = _manifest(build_id, read, embedder, vectors.model_id, dense, vectors.sentences)
        write_durable(build_dir / MANIFEST_FILE, json.dumps(manifest, ensure_ascii=False, indent=2))
        _make_live(index_dir, build_dir)

    seconds = time.perf_counter() - started
    return BuildReport(
        articles=len(read.articles),
        chunks=len(read.chunks),
        embedded=vectors.embedded,
        reused=vectors.reused,
        seconds=seconds,
        chunks_per_s=len(read.chunks) / seconds if seconds > 0 else 0.0,
        problems=read.problems,
        build_id=build_id,
        path=build_dir,
        device=getattr(embedder, "device", None),
        sentences_embedded=vectors.sentences_embedded,
    )
