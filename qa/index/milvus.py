"""Milvus as the index store (`QA_STORE=milvus`): the same code path for milvus-lite (a local file) and a
Milvus 2.5+ server or cluster (`http://host:19530`).

One index is two collections of one *colour* (`<name>_blue` or `<name>_green`) and an alias `<name>` on
the live one:

    <name>_<colour>         one row per chunk: chunk id, article id, offsets, text, title, date (as
                            integer days for range filters), source, the e5 vector, the words our
                            tokenizer found, and a sparse BM25 field that Milvus' own BM25 function makes
                            from the title + text with its jieba analyzer
    <name>_<colour>_docs    the articles (JSON, in pieces under Milvus' 64 KB VARCHAR limit, with a
                            fingerprint each), the manifest and the vocabulary stage 2 weighs words with

A rebuild brings the *other* colour up to date article by article (chunks of a new or changed article
are deleted and inserted, those of a removed article deleted; vectors of unchanged texts are copied from
the live collection, not re-embedded), writes its manifest, then moves the alias. A build that dies
half-way leaves the alias on the collection that was whole; the next build finishes the job.

`MilvusIndex` is what `qa.answer.retrieve` searches: dense and BM25 candidates (date and source filters
pushed down as scalar filters), cosines, the chunk and article lookups (fetched on demand, cached
bounded; the corpus is not held in memory), and the vocabulary. Stage 2 and the answer step run on it
unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import string
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.index.build import (
    BuildReport,
    _contents,
    _Corpus,
    _embed,
    _library_versions,
    _model_id,
    _previous_vectors,
    _read_corpus,
    report_if_unchanged,
    vector_key,
)
from qa.index.dense import AUTO_FLAT_MAX
from qa.index.embedding import PassageEmbedder
from qa.index.errors import MilvusConfigError
from qa.index.lexical import STOPWORDS, TOKENIZER, Vocabulary, question_words, tokenize, word_pieces
from qa.index.record_store import LRUCache
from qa.index.store import FORMAT_VERSION, FilterSpec, IndexCorruptError, IndexMissingError
from qa.ingest.segment import SegmentSettings
from qa.records import Article, Chunk
from qa.text import Tags

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger("qa.index.milvus")

COLOURS = ("blue", "green")
# Milvus' BM25 tokenises as our local BM25 does (`qa.index.lexical.tokenize`): jieba's search mode, lower
# case, no punctuation, the same stopwords; and scores with bm25s' k1 and b. The jieba tokenizer with
# these options works on milvus-lite 3.2 and the server ({"type": "chinese"} does not exist in lite).
# Milvus' removepunct keeps some symbols (a "-" became a token every English question matched), which
# our tokenizer drops as tokens with no letter or digit: those symbols are stop words here.
SYMBOLS = set(string.punctuation) | set("，。、；：？！“”‘’（）《》〈〉【】〔〕—–…·～￥％＋－＝／＼｜")
ANALYZER = {
    "tokenizer": {"type": "jieba", "mode": "search", "hmm": True},
    "filter": ["lowercase", "removepunct", {"type": "stop", "stop_words": sorted(STOPWORDS | SYMBOLS)}],
}
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s' defaults, which the local store uses
VARCHAR_MAX = 65535  # Milvus' VARCHAR limit, in bytes
PIECE_CHARS = 16_000  # characters per stored piece of a long JSON body: at most 4 bytes each < VARCHAR_MAX
MAX_WORDS = 4096  # Milvus' ARRAY capacity limit; a 250-character chunk has far fewer distinct words
MAX_WORD_CHARS = 64
WRITE_BATCH = 500  # rows per insert/upsert call
LOOKUP_BATCH = 500  # ids per `in [...]` query
ROW_CACHE = 50_000  # chunk rows kept in memory (search results and lookups), least recently used dropped
ARTICLE_CACHE = 5_000
INSTALL_HINT = "install them with `.venv/bin/pip install -e '.[milvus]'`"
ROW_FIELDS = [
    "row", "chunk_id", "article_id", "start", "end", "text", "date", "source", "day_low", "day_high", "words",
]  # fmt: skip


# ------------------------------------------------------------------------------------------ connection


def connect(uri: str) -> MilvusClient:
    """A client for `uri` (a local .db path = milvus-lite, or http://host:19530); a sentence when it fails."""
    try:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException
    except ImportError:
        raise MilvusConfigError(
            f"QA_STORE=milvus needs the optional packages pymilvus and milvus-lite: {INSTALL_HINT}."
        ) from None
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)  # its failures reach the user as our sentences
    # milvus-lite's in-process gRPC server logs a traceback for each RPC it lacks (a query iterator asks
    # for a timestamp first, then goes on without one)
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    remote = re.match(r"^(https?|tcp|grpc)://", uri) is not None
    if not remote:
        path = Path(uri).expanduser()
        try:
            import milvus_lite  # noqa: F401  (pymilvus opens a local file through it)
        except ImportError:
            raise MilvusConfigError(
                f"QA_MILVUS_URI={uri} is a local file, which needs the optional package milvus-lite: "
                f"{INSTALL_HINT}."
            ) from None
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = str(path)
    try:
        # a server that does not answer in 10 s is reported; milvus-lite starts its own process, which on
        # a busy machine took longer than that (a test failed to connect under load)
        return MilvusClient(uri=uri, timeout=10 if remote else 60)
    except (MilvusException, OSError, ValueError) as error:
        reason = getattr(error, "message", None) or str(error)
        if remote:
            raise MilvusConfigError(
                f"Cannot reach Milvus at QA_MILVUS_URI={uri} ({reason}): start the server, or point "
                "QA_MILVUS_URI at a local file such as /tmp/qa.db to use milvus-lite."
            ) from None
        raise MilvusConfigError(f"Cannot open the milvus-lite file QA_MILVUS_URI={uri} ({reason}).") from None


def _live_collection(client: MilvusClient, name: str) -> str | None:
    """The collection the alias `name` points at, or None when there is no such alias."""
    if name not in client.list_aliases().get("aliases", []):
        return None
    return str(client.describe_alias(name)["collection_name"])


def milvus_index_exists(uri: str, name: str) -> bool:
    """True when the alias `name` exists at `uri` (False, not an error, when Milvus cannot be reached:
    the load that follows says why)."""
    try:
        client = connect(uri)
    except MilvusConfigError:
        return False
    try:
        return _live_collection(client, name) is not None
    finally:
        client.close()


def _docs(collection: str) -> str:
    """The articles-and-metadata collection that goes with chunk collection `collection`."""
    return f"{collection}_docs"


# ------------------------------------------------------------------------------------------ schema


def _chunk_schema(client: MilvusClient, dim: int) -> Any:
    """The chunk collection's schema, with the BM25 function that fills `sparse` from `search_text`."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    schema.add_field("chunk_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("article_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field(
        "search_text",
        DataType.VARCHAR,
        max_length=VARCHAR_MAX,
        enable_analyzer=True,
        analyzer_params=ANALYZER,
    )
    schema.add_field("title", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("date", DataType.VARCHAR, max_length=64)
    schema.add_field(
        "day_low", DataType.INT64
    )  # YYYYMMDD of the first day the article's date covers; 0: none
    schema.add_field("day_high", DataType.INT64)  # ... and of its last day
    schema.add_field("source", DataType.VARCHAR, max_length=4096)
    schema.add_field("source_key", DataType.VARCHAR, max_length=4096)  # lower-cased, for `like`
    schema.add_field("vector_key", DataType.VARCHAR, max_length=64)
    schema.add_field(
        "words", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=MAX_WORDS, max_length=256
    )
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["search_text"],
            output_field_names=["sparse"],
        )
    )
    return schema


def _create_collections(client: MilvusClient, collection: str, dim: int, expected_chunks: int) -> None:
    """Create an empty chunk collection and its docs collection, indexed."""
    from pymilvus import DataType

    schema = _chunk_schema(client, dim)
    index = client.prepare_index_params()
    # exact search while it is cheap, as the local store does; Milvus' own choice above that
    kind = "FLAT" if expected_chunks < AUTO_FLAT_MAX else "AUTOINDEX"
    index.add_index(field_name="dense", index_type=kind, metric_type="IP")
    index.add_index(
        field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25_PARAMS
    )
    client.create_collection(collection, schema=schema, index_params=index)

    docs = client.create_schema(auto_id=False)
    docs.add_field("key", DataType.VARCHAR, is_primary=True, max_length=2048)
    docs.add_field("kind", DataType.VARCHAR, max_length=16)  # "article" or "meta"
    docs.add_field("name", DataType.VARCHAR, max_length=1024)  # the article id, or the meta entry's name
    docs.add_field("part", DataType.INT64)
    docs.add_field("fingerprint", DataType.VARCHAR, max_length=64)
    docs.add_field("body", DataType.VARCHAR, max_length=VARCHAR_MAX)
    docs.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
    docs_index = client.prepare_index_params()
    docs_index.add_index(field_name="unused", index_type="FLAT", metric_type="IP")
    client.create_collection(_docs(collection), schema=docs, index_params=docs_index)


def _drop_collections(client: MilvusClient, collection: str) -> None:
    """Drop a chunk collection and its docs collection, where they exist."""
    for name in (collection, _docs(collection)):
        if client.has_collection(name):
            client.drop_collection(name)


# ------------------------------------------------------------------------------------------ rows


def day_bounds(date: str) -> tuple[int, int]:
    """(first, last) day an ISO date prefix covers as YYYYMMDD integers; (0, 0) for no or another date."""
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", date or ""):
        return 0, 0
    low = date + "0000-01-01"[len(date) :]
    high = date + "9999-12-31"[len(date) :]
    return int(low.replace("-", "")), int(high.replace("-", ""))


def row_id(chunk_id: str) -> int:
    """A chunk's int64 primary key: the first 63 bits of a hash of its id (stable across builds)."""
    return int.from_bytes(hashlib.sha256(chunk_id.encode()).digest()[:8], "big") >> 1


def _quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value, ensure_ascii=False)


def _in(field: str, values: Iterable[Any]) -> str:
    """`field in [...]` for a filter expression."""
    return f"{field} in [{', '.join(_quote(v) if isinstance(v, str) else str(int(v)) for v in values)}]"


def _pieces(body: str) -> list[str]:
    """A long text cut into pieces that each fit a VARCHAR field (at least one piece)."""
    return [body[i : i + PIECE_CHARS] for i in range(0, len(body), PIECE_CHARS)] or [""]


def _doc_rows(kind: str, name: str, body: str, fingerprint: str = "") -> list[dict[str, Any]]:
    """The docs-collection rows of one article or meta entry."""
    return [
        {
            "key": f"{kind}:{name}:{part}",
            "kind": kind,
            "name": name,
            "part": part,
            "fingerprint": fingerprint,
            "body": piece,
            "unused": [1.0, 0.0],
        }
        for part, piece in enumerate(_pieces(body))
    ]


def _joined(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The bodies of docs rows, pieces joined in order, by name."""
    parts: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        parts.setdefault(row["name"], []).append((int(row["part"]), row["body"]))
    return {name: "".join(body for _, body in sorted(pieces)) for name, pieces in parts.items()}


def _query_all(client: MilvusClient, collection: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
    """Every row matching `expr` (paged with an iterator, so no result-size limit applies)."""
    rows: list[dict[str, Any]] = []
    iterator = client.query_iterator(collection, batch_size=1000, filter=expr, output_fields=fields)
    try:
        while batch := iterator.next():
            rows.extend(batch)
    finally:
        iterator.close()
    return rows


def _read_meta(client: MilvusClient, collection: str, name: str) -> Any:
    """A meta entry (JSON) of the docs collection of `collection`, or None when it is not there."""
    rows = client.query(
        _docs(collection),
        filter=f'kind == "meta" and name == {_quote(name)}',
        output_fields=["name", "part", "body"],
        limit=16_384,
    )
    body = _joined(rows).get(name)
    return None if body is None else json.loads(body)


def _write_meta(client: MilvusClient, collection: str, name: str, value: Any) -> None:
    """Replace a meta entry of the docs collection of `collection`."""
    client.delete(_docs(collection), filter=f'kind == "meta" and name == {_quote(name)}')
    rows = _doc_rows("meta", name, json.dumps(value, ensure_ascii=False))
    for begin in range(0, len(rows), WRITE_BATCH):
        client.insert(_docs(collection), rows[begin : begin + WRITE_BATCH])


# ------------------------------------------------------------------------------------------ build


def _article_fingerprint(article: Article, model_id: str, read: _Corpus) -> str:
    """What decides an article's rows: its contents, the model and the chunking (a change re-writes it)."""
    key = json.dumps(
        [asdict(article), model_id, read.max_chars, read.overlap], ensure_ascii=False, sort_keys=True
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _vectors_from(client: MilvusClient, collection: str | None, keys: list[str]) -> dict[str, np.ndarray]:
    """Vectors stored in `collection` under these vector keys (unchanged texts are not embedded again)."""
    found: dict[str, np.ndarray] = {}
    if collection is None or not keys:
        return found
    for begin in range(0, len(keys), LOOKUP_BATCH):
        batch = keys[begin : begin + LOOKUP_BATCH]
        for row in client.query(
            collection, filter=_in("vector_key", batch), output_fields=["vector_key", "dense"]
        ):
            found[row["vector_key"]] = np.asarray(row["dense"], dtype=np.float32)
    return found


def _chunk_row(
    chunk: Chunk, article: Article, text: str, key: str, vector: np.ndarray, words: list[str]
) -> dict:
    """The Milvus row of one chunk."""
    low, high = day_bounds(article.date)
    kept = [w for w in dict.fromkeys(words) if len(w) <= MAX_WORD_CHARS][:MAX_WORDS]
    return {
        "row": row_id(chunk.id),
        "chunk_id": chunk.id,
        "article_id": chunk.article_id,
        "start": chunk.start,
        "end": chunk.end,
        "text": chunk.text,
        "search_text": text,
        "title": article.title,
        "date": article.date,
        "day_low": low,
        "day_high": high,
        "source": article.source,
        "source_key": article.source.lower(),
        "vector_key": key,
        "words": kept,
        "dense": vector.tolist(),
    }


class MilvusBuild:
    """One rebuild of a Milvus index: `write()` brings the standby colour up to date, `make_live()` moves
    the alias onto it. `build_milvus_index` runs both; a test can stop between them."""

    def __init__(
        self,
        client: MilvusClient,
        name: str,
        read: _Corpus,
        embedder: PassageEmbedder,
        uri: str,
        local_index: Path | None = None,
    ) -> None:
        self.client, self.name, self.read, self.embedder, self.uri = client, name, read, embedder, uri
        # a local index of the same corpus lends its vectors: moving to Milvus re-embeds nothing
        self.local_vectors = _previous_vectors(Path(local_index), embedder.dim) if local_index else {}
        self.model_id = _model_id(embedder)
        self.live = _live_collection(client, name)
        self.target = f"{name}_{COLOURS[1] if self.live == f'{name}_{COLOURS[0]}' else COLOURS[0]}"
        self.build_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.embedded = 0

    def _prepare_target(self) -> dict[str, str]:
        """Make sure the standby collections exist with this model's dimension; their article fingerprints."""
        client, target = self.client, self.target
        if client.has_collection(target) and client.has_collection(_docs(target)):
            client.load_collection(target)
            client.load_collection(_docs(target))
            manifest = _read_meta(client, target, "manifest") or {}
            if manifest.get("dim") in (None, self.embedder.dim) and manifest.get("format_version") in (
                None,
                FORMAT_VERSION,
            ):
                rows = _query_all(
                    client, _docs(target), 'kind == "article" and part == 0', ["name", "fingerprint"]
                )
                return {row["name"]: row["fingerprint"] for row in rows}
        _drop_collections(client, target)
        _create_collections(client, target, self.embedder.dim, len(self.read.chunks))
        return {}

    def write(self, progress: bool = False) -> None:
        """Bring the standby collection to this corpus: changed and new articles rewritten, removed ones
        deleted, then the vocabulary and the manifest (the alias does not move)."""
        read, client, target = self.read, self.client, self.target
        stored = self._prepare_target()
        by_article: dict[str, list[int]] = {}
        for i, chunk in enumerate(read.chunks):
            by_article.setdefault(chunk.article_id, []).append(i)
        fingerprints = {a.id: _article_fingerprint(a, self.model_id, read) for a in read.articles}
        changed = [a for a in read.articles if stored.get(a.id) != fingerprints[a.id]]
        removed = sorted(set(stored) - set(fingerprints))
        words = [tokenize(text) for text in read.texts]
        for begin in range(0, len(changed), WRITE_BATCH):
            self._rewrite(changed[begin : begin + WRITE_BATCH], by_article, fingerprints, words, progress)
        for begin in range(0, len(removed), LOOKUP_BATCH):
            batch = removed[begin : begin + LOOKUP_BATCH]
            client.delete(target, filter=_in("article_id", batch))
            client.delete(_docs(target), filter=f'kind == "article" and {_in("name", batch)}')
        df = Counter(word for doc in words for word in set(doc))
        _write_meta(client, target, "vocabulary", {"num_docs": len(read.texts), "df": dict(df)})
        _write_meta(client, target, "manifest", self.manifest())
        client.flush(target)
        client.flush(_docs(target))

    def _rewrite(
        self,
        articles: list[Article],
        by_article: dict[str, list[int]],
        fingerprints: dict[str, str],
        words: list[list[str]],
        progress: bool,
    ) -> None:
        """Replace the chunks and the stored record of these articles in the standby collection."""
        read, client, target = self.read, self.client, self.target
        rows = [i for a in articles for i in by_article.get(a.id, [])]
        keys = [vector_key(self.model_id, read.texts[i]) for i in rows]
        known = {key: self.local_vectors[key] for key in keys if key in self.local_vectors}
        known.update(_vectors_from(client, self.live, sorted(set(keys) - set(known))))
        if len(known) < len(set(keys)):
            known.update(_vectors_from(client, target, sorted(set(keys) - set(known))))
        missing = {key: read.texts[i] for key, i in zip(keys, rows, strict=True) if key not in known}
        fresh = _embed(self.embedder, list(missing.values()), progress)
        known.update(zip(missing, fresh, strict=True))
        self.embedded += len(missing)
        by_id = {a.id: a for a in articles}
        ids = [a.id for a in articles]
        client.delete(target, filter=_in("article_id", ids))
        client.delete(_docs(target), filter=f'kind == "article" and {_in("name", ids)}')
        chunk_rows = [
            _chunk_row(
                read.chunks[i], by_id[read.chunks[i].article_id], read.texts[i], key, known[key], words[i]
            )
            for key, i in zip(keys, rows, strict=True)
        ]
        for begin in range(0, len(chunk_rows), WRITE_BATCH):
            client.insert(target, chunk_rows[begin : begin + WRITE_BATCH])
        doc_rows = [
            row
            for a in articles
            for row in _doc_rows(
                "article", a.id, json.dumps(asdict(a), ensure_ascii=False), fingerprints[a.id]
            )
        ]
        for begin in range(0, len(doc_rows), WRITE_BATCH):
            client.insert(_docs(target), doc_rows[begin : begin + WRITE_BATCH])

    def manifest(self) -> dict[str, Any]:
        """The manifest of this build, as the local store writes it, plus where it lives."""
        return {
            "format_version": FORMAT_VERSION,
            "build_id": self.build_id,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": self.embedder.name,
            "dim": int(self.embedder.dim),
            "device": getattr(self.embedder, "device", None),
            "corpus": str(self.read.path),
            **_contents(self.read, self.model_id),
            "store": {"kind": "milvus", "uri": self.uri, "collection": self.target, "alias": self.name},
            "dense": {"field": "dense", "metric": "inner_product"},
            "lexical": {"field": "sparse", "function": "BM25", "analyzer": ANALYZER, "weights": TOKENIZER},
            "libraries": _library_versions(),
        }

    def make_live(self) -> None:
        """Point the alias at the freshly written collection (one call: readers see old or new, not half)."""
        self.client.load_collection(self.target)
        self.client.load_collection(_docs(self.target))
        if self.live is None:
            if self.name in self.client.list_collections():
                raise MilvusConfigError(
                    f"QA_MILVUS_COLLECTION={self.name} is an existing collection, not an alias this program "
                    "made: choose another name."
                )
            self.client.create_alias(self.target, self.name)
        else:
            self.client.alter_alias(self.target, self.name)


def milvus_unchanged_build(
    corpus: Path,
    uri: str,
    name: str,
    model_id: str,
    max_chars: int | None = None,
    segment: SegmentSettings | None = None,
) -> BuildReport | None:
    """The live Milvus build's report when it was made from this corpus with these settings, else None."""
    started = time.perf_counter()
    client = connect(uri)
    try:
        live = _live_collection(client, name)
        if live is None:
            return None
        client.load_collection(_docs(live))
        manifest = _read_meta(client, live, "manifest")
    finally:
        client.close()
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        return None
    read = _read_corpus(Path(corpus), max_chars, segment)
    return report_if_unchanged(
        read, manifest, model_id, started, "", location=f"Milvus {uri}, collection {live} (alias {name})"
    )


def build_milvus_index(
    corpus: Path,
    uri: str,
    name: str,
    embedder: PassageEmbedder,
    progress: bool = True,
    max_chars: int | None = None,
    segment: SegmentSettings | None = None,
    local_index: Path | None = None,
) -> BuildReport:
    """Build (incrementally) the Milvus index of `corpus` behind the alias `name`, then make it live.

    Vectors of unchanged texts come from the live collection, or from the local index in `local_index`
    when there is one (so switching QA_STORE to milvus embeds nothing the local build already did).
    """
    started = time.perf_counter()
    read = _read_corpus(Path(corpus), max_chars, segment)
    return write_milvus_index(read, uri, name, embedder, progress, local_index, started)


def write_milvus_index(
    read: _Corpus,
    uri: str,
    name: str,
    embedder: PassageEmbedder,
    progress: bool = True,
    local_index: Path | None = None,
    started: float | None = None,
) -> BuildReport:
    """Bring the Milvus index behind `name` to an already read corpus and make it live (the Ray build
    reads the corpus in Ray tasks and hands it here)."""
    started = time.perf_counter() if started is None else started
    client = connect(uri)
    try:
        build = MilvusBuild(client, name, read, embedder, uri, local_index)
        build.write(progress)
        build.make_live()
    finally:
        client.close()
    seconds = time.perf_counter() - started
    return BuildReport(
        articles=len(read.articles),
        chunks=len(read.chunks),
        embedded=build.embedded,
        reused=len(read.chunks) - build.embedded,
        seconds=seconds,
        chunks_per_s=len(read.chunks) / seconds if seconds > 0 else 0.0,
        problems=read.problems,
        build_id=build.build_id,
        path=None,
        device=getattr(embedder, "device", None),
        location=f"Milvus {uri}, collection {build.target} (alias {name})",
    )


# ------------------------------------------------------------------------------------------ serving


class _Chunks(Sequence[Chunk]):
    """`index.chunks[row]` over Milvus: the chunk with primary key `row`, fetched when not cached."""

    def __init__(self, index: MilvusIndex, count: int) -> None:
        self.index, self.count = index, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, row: Any) -> Any:
        data = self.index.row(int(row))
        return Chunk(
            id=data["chunk_id"],
            article_id=data["article_id"],
            start=int(data["start"]),
            end=int(data["end"]),
            text=data["text"],
        )


class _Articles(Mapping[str, Article]):
    """`index.articles` over Milvus: an article fetched by id when asked for (cached, bounded)."""

    def __init__(self, index: MilvusIndex, count: int) -> None:
        self.index, self.count = index, count
        self._cache = LRUCache(ARTICLE_CACHE)

    def __len__(self) -> int:
        return self.count

    def prefetch(self, article_ids: Iterable[str]) -> None:
        """Read the articles not cached yet by primary key, in one query per batch (a search calls it
        for the articles of its hits: one article at a time was 16 queries per RGB question, ~0.5 s)."""
        missing = [name for name in dict.fromkeys(article_ids) if self._cache.get(name) is None]
        for begin in range(0, len(missing), LOOKUP_BATCH):
            keys = [f"article:{name}:0" for name in missing[begin : begin + LOOKUP_BATCH]]
            for row in self.index.client.query(
                _docs(self.index.collection), filter=_in("key", keys), output_fields=["name", "body"]
            ):
                if len(row["body"]) < PIECE_CHARS:  # the whole article is this one piece
                    self._cache.put(row["name"], Article(**json.loads(row["body"])))

    def __getitem__(self, article_id: str) -> Article:
        cached = self._cache.get(article_id)
        if cached is None:
            self.prefetch([article_id])
            cached = self._cache.get(article_id)
        if cached is not None:
            return cached
        rows = self.index.client.query(
            _docs(self.index.collection),
            filter=f'kind == "article" and name == {_quote(article_id)}',
            output_fields=["name", "part", "body"],
            limit=16_384,
        )
        body = _joined(rows).get(article_id)
        if body is None:
            raise KeyError(article_id)
        article = Article(**json.loads(body))
        self._cache.put(article_id, article)
        return article

    def __iter__(self) -> Iterator[str]:
        for row in self._all(["name", "part"]):
            if int(row["part"]) == 0:
                yield row["name"]

    def _all(self, fields: list[str]) -> list[dict[str, Any]]:
        return _query_all(self.index.client, _docs(self.index.collection), 'kind == "article"', fields)

    def items(self) -> list[tuple[str, Article]]:  # type: ignore[override]
        """Every article, read in pages (for `qa eval` and the example questions; not on the answer path)."""
        bodies = _joined(self._all(["name", "part", "body"]))
        return [(name, Article(**json.loads(body))) for name, body in bodies.items()]

    def values(self) -> list[Article]:  # type: ignore[override]
        """Every article (see `items`)."""
        return [article for _, article in self.items()]


class MilvusIndex:
    """The live Milvus index, searched by `qa.answer.retrieve` exactly where it searches a `LoadedIndex`."""

    filters_pushed_down = True

    def __init__(self, client: MilvusClient, name: str, collection: str, manifest: dict[str, Any], uri: str):
        self.client, self.name, self.collection, self.manifest, self.uri = (
            client,
            name,
            collection,
            manifest,
            uri,
        )
        counts = manifest.get("counts", {})
        self.chunks = _Chunks(self, int(counts.get("chunks", 0)))
        self.articles = _Articles(self, int(counts.get("articles", 0)))
        self._rows = LRUCache(ROW_CACHE)
        self.path = f"{uri}#{collection}"

    @classmethod
    def open(cls, uri: str, name: str, model: str | None = None) -> MilvusIndex:
        """The index behind alias `name` at `uri`; with `model`, refuse one embedded by another model."""
        client = connect(uri)
        collection = _live_collection(client, name)
        if collection is None:
            client.close()
            raise IndexMissingError(
                f"no index called {name!r} in Milvus at {uri}: run `qa index` to build one"
            )
        client.load_collection(collection)
        client.load_collection(_docs(collection))
        manifest = _read_meta(client, collection, "manifest")
        if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
            client.close()
            raise IndexCorruptError(
                f"the Milvus collection {collection} has no manifest of format {FORMAT_VERSION}: "
                "run `qa index` to rebuild"
            )
        if model is not None and manifest.get("model") != model:
            client.close()
            raise IndexCorruptError(
                f"the Milvus index {name!r} was embedded with {manifest.get('model')!r}, not {model!r}: "
                "run `qa index` to rebuild it with this model"
            )
        return cls(client, name, collection, manifest, uri)

    # ---------------------------------------------------------------------------------- vocabulary
    @cached_property
    def aliases(self) -> dict[str, tuple[str, ...]]:
        """The corpus's own names for things, from the manifest."""
        return {word: tuple(names) for word, names in self.manifest.get("aliases", {}).items()}

    @cached_property
    def _vocabulary(self) -> tuple[Vocabulary, dict[str, int]]:
        """Our tokenizer's vocabulary with BM25 IDFs (as bm25s computes them) and the word ids."""
        stored = _read_meta(self.client, self.collection, "vocabulary") or {"num_docs": 0, "df": {}}
        words = list(stored["df"])
        df = np.array([stored["df"][w] for w in words], dtype=np.float64)
        n = max(int(stored["num_docs"]), 1)
        idf_by_id = np.log(1 + (n - df + 0.5) / (df + 0.5))
        vocabulary = Vocabulary(
            idf={w: float(idf_by_id[i]) for i, w in enumerate(words)},
            max_idf=float(np.log(1 + (n + 0.5) / 0.5)),
            idf_by_id=idf_by_id,
            long_word=np.array([len(w) >= 2 for w in words], dtype=bool),
        )
        return vocabulary, {w: i for i, w in enumerate(words)}

    @property
    def vocabulary(self) -> Vocabulary:
        """IDF of every word of the corpus (stage 2 weighs question words with it)."""
        return self._vocabulary[0]

    @property
    def word_ids(self) -> dict[str, int]:
        """Vocabulary id of every word."""
        return self._vocabulary[1]

    def words_of(self, row: int) -> np.ndarray | None:
        """The distinct word ids of chunk `row` (title and text, as BM25 indexed them)."""
        ids = self.word_ids
        return np.array(sorted({ids[w] for w in self.row(row)["words"] if w in ids}), dtype=np.int64)

    def sentence_vectors(self, row: int) -> np.ndarray | None:
        """None: the collection keeps no sentence vectors, so the answer step embeds them at ask time."""
        return None

    def stored_tags(self, sentence: str) -> Tags | None:
        """None: the collection keeps no POS tags, so the answer step runs jieba's tagger."""
        return None

    # ---------------------------------------------------------------------------------- rows
    def row(self, row: int) -> dict[str, Any]:
        """The stored fields of chunk `row` (no vectors), from the cache or Milvus."""
        cached = self._rows.get(row)
        if cached is None:
            self._fetch([row])
            cached = self._rows.get(row)
            if cached is None:
                raise KeyError(row)
        return cached

    def _fetch(self, rows: list[int]) -> None:
        """Read these chunk rows into the cache."""
        for begin in range(0, len(rows), LOOKUP_BATCH):
            batch = rows[begin : begin + LOOKUP_BATCH]
            for data in self.client.query(
                self.collection, filter=_in("row", batch), output_fields=ROW_FIELDS
            ):
                self._rows.put(int(data["row"]), dict(data))

    def _keep(self, hits: list[dict[str, Any]]) -> None:
        """Cache the rows a search returned, and their articles (re-scoring and quoting read them)."""
        for hit in hits:
            entity = hit.get("entity", {})
            self._rows.put(int(hit["row"] if "row" in hit else hit["id"]), {"row": hit.get("row"), **entity})
        self.articles.prefetch(hit.get("entity", {}).get("article_id", "") for hit in hits)

    # ---------------------------------------------------------------------------------- search
    def dense_search(
        self, query: np.ndarray, k: int, filters: FilterSpec | None = None
    ) -> list[tuple[int, float]]:
        """The `k` chunks nearest the (1, dim) query vector, best first, as (row, cosine)."""
        vector = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        return self._search("dense", vector, "IP", k, filters)

    def lexical_search(
        self, question: str, k: int, filters: FilterSpec | None = None
    ) -> list[tuple[int, float]]:
        """The `k` best chunks by Milvus' BM25 over the question's jieba words, as (row, score); the
        pieces of a word mixing letters and digits ("gpt4" -> "gpt", "4") are searched too, as the
        local BM25 does (`query_tokens`)."""
        if not question.strip():
            return []
        pieces = word_pieces(list(question_words(question)))
        query = " ".join([question, *pieces])
        # milvus-lite reports BM25 as a negated distance, the server as a positive score
        hits = self._search("sparse", query, "BM25", k, filters)
        return [(row, abs(distance)) for row, distance in hits if abs(distance) > 0]

    def _search(
        self, field: str, data: Any, metric: str, k: int, filters: FilterSpec | None
    ) -> list[tuple[int, float]]:
        """One search of `field` (its rows kept for later reads), as (row, distance) best first."""
        hits = self.client.search(
            self.collection,
            data=[data],
            anns_field=field,
            limit=k,
            filter=filter_expression(filters),
            output_fields=ROW_FIELDS,
            search_params={"metric_type": metric},
        )[0]
        self._keep(hits)
        return [(int(hit["row"] if "row" in hit else hit["id"]), float(hit["distance"])) for hit in hits]

    def hybrid_search(
        self, query: np.ndarray, question: str, k: int, filters: FilterSpec | None = None, rrf_k: int = 60
    ) -> list[tuple[int, float]]:
        """Milvus' own dense + BM25 hybrid search fused by its RRFRanker (no stage 2): (row, score)."""
        from pymilvus import AnnSearchRequest, RRFRanker

        expr = filter_expression(filters)
        requests = [
            AnnSearchRequest(
                data=[np.asarray(query, dtype=np.float32).reshape(-1).tolist()],
                anns_field="dense",
                param={"metric_type": "IP"},
                limit=k,
                expr=expr,
            ),
            AnnSearchRequest(
                data=[question], anns_field="sparse", param={"metric_type": "BM25"}, limit=k, expr=expr
            ),
        ]
        hits = self.client.hybrid_search(
            self.collection, requests, RRFRanker(rrf_k), limit=k, output_fields=ROW_FIELDS
        )[0]
        self._keep(hits)
        return [(int(hit["row"] if "row" in hit else hit["id"]), float(hit["distance"])) for hit in hits]

    def cosines(self, query: np.ndarray, rows: list[int]) -> dict[int, float]:
        """Cosine of the query with each chunk's stored vector (candidates the dense search did not rank)."""
        found: dict[int, float] = {}
        for begin in range(0, len(rows), LOOKUP_BATCH):
            batch = rows[begin : begin + LOOKUP_BATCH]
            for data in self.client.query(
                self.collection, filter=_in("row", batch), output_fields=["row", "dense"]
            ):
                found[int(data["row"])] = float(np.dot(np.asarray(data["dense"], dtype=np.float32), query))
        return found

    def allows(self, row: int, filters: FilterSpec) -> bool:
        """True when chunk `row`'s article passes the filters (checked on the cached row, no article read)."""
        data = self.row(row)
        return filters.allows(
            Article(id=data["article_id"], title="", text="", date=data["date"], source=data["source"])
        )

    def close(self) -> None:
        """Close the connection."""
        self.client.close()


def filter_expression(filters: FilterSpec | None) -> str:
    """The Milvus scalar filter for date and source filters ('' for none).

    Dates overlap as `Filters.allows` has them (an article dated 2023-05 passes a filter from
    2023-05-20); the source is a case-insensitive substring, left to the exact check after the search
    when it holds a character `like` treats specially.
    """
    if filters is None:
        return ""
    parts = []
    if filters.date_from or filters.date_to:
        parts.append("day_low > 0")
    if filters.date_from:
        parts.append(f"day_high >= {day_bounds(filters.date_from)[0]}")
    if filters.date_to:
        parts.append(f"day_low <= {day_bounds(filters.date_to)[1]}")
    if filters.source and not re.search(r'[%_"\\]', filters.source):
        parts.append(f'source_key like "%{filters.source.lower()}%"')
    return " and ".join(parts)
