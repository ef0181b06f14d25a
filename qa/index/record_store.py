"""Article and chunk records in one SQLite file per build, read on demand instead of held in memory.

`records.sqlite` has an `articles` table (row, id, every `Article` field) and a `chunks` table keyed
by row (row i is FAISS row i and BM25 document i). A loaded index opens it read-only and immutable
(builds never change once live), one connection per thread, and reads a record when retrieval asks
for it, behind a small LRU cache: at 1M chunks the serving process holds no per-record Python
object, and loading takes milliseconds instead of parsing two JSONL files (benchmarks/RESULTS.md).
SQLite was picked over Arrow or hand-rolled memory-mapped arrays because it is in the standard
library, keeps variable-length text without offsets of our own, and looks articles up by id.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

from qa.index.errors import IndexCorruptError
from qa.records import Article, Chunk

RECORDS_FORMAT = 1
CHUNK_CACHE = 4096  # chunks kept decoded (a question touches a few hundred candidates)
ARTICLE_CACHE = 1024  # articles kept decoded (their texts are the larger records)
_WRITE_BATCH = 10_000
_REBUILD = ": run `qa index` to rebuild"

_ARTICLE_FIELDS = ("id", "title", "text", "date", "source", "byline", "subtitle", "kind", "untitled")
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE articles (
    row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL, text TEXT NOT NULL,
    date TEXT NOT NULL, source TEXT NOT NULL, byline TEXT NOT NULL, subtitle TEXT NOT NULL,
    kind TEXT NOT NULL, untitled INTEGER NOT NULL
);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY, id TEXT NOT NULL, article_id TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL
);
"""
_DATE_INDEX = "CREATE INDEX articles_by_date ON articles (date, id)"


class RecordsError(IndexCorruptError):
    """The records file is missing, damaged or of another format; the message ends with what to do."""


def _article_row(row: int, article: Article) -> tuple[Any, ...]:
    """One `articles` row of an Article."""
    return (row, *(getattr(article, name) for name in _ARTICLE_FIELDS[:-1]), int(article.untitled))


def _article(values: tuple[Any, ...]) -> Article:
    """The Article of one `articles` row (without its row number)."""
    fields = dict(zip(_ARTICLE_FIELDS, values, strict=True))
    fields["untitled"] = bool(fields["untitled"])
    return Article(**fields)


def _batches(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    """Rows in lists of _WRITE_BATCH, so a 1M-chunk build never holds all its rows as tuples."""
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _WRITE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def write_records(path: Path, articles: Iterable[Article], chunks: Iterable[Chunk]) -> tuple[int, int]:
    """Write the articles (in order) and the chunks (row i = i-th chunk) to a new SQLite file.

    Returns (articles, chunks) written. Iterables are consumed once, so a large build can stream them.
    The caller fsyncs the build folder; the file is complete only once this returns.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists; records are written once per build")
    connection = sqlite3.connect(path)
    try:
        connection.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        counts = [0, 0]
        for batch in _batches(_article_row(i, a) for i, a in enumerate(articles)):
            connection.executemany(f"INSERT INTO articles VALUES ({', '.join('?' * 10)})", batch)
            counts[0] += len(batch)
        for batch in _batches((i, c.id, c.article_id, c.start, c.end, c.text) for i, c in enumerate(chunks)):
            connection.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)", batch)
            counts[1] += len(batch)
        connection.execute(_DATE_INDEX)
        connection.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("format", str(RECORDS_FORMAT)), ("articles", str(counts[0])), ("chunks", str(counts[1]))],
        )
        connection.commit()
    finally:
        connection.close()
    return counts[0], counts[1]


def _storable(key: object) -> bool:
    """True for a str SQLite can take as a parameter (a lone surrogate, e.g. from a fuzzed URL, cannot)."""
    if not isinstance(key, str):
        return False
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class LRUCache:
    """Values by key, the least recently used dropped past `size`; safe across threads (the record
    caches of both stores: these tables, and the Milvus store's rows and articles)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The cached value, or None."""
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        """Keep a value as the most recently used, dropping the oldest past the bound."""
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)


class RecordStore:
    """A read-only `records.sqlite`: one connection per thread, opened on the thread's first read."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise RecordsError(f"no records file at {self.path}" + _REBUILD)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        meta = dict(self.query("SELECT key, value FROM meta"))
        if meta.get("format") != str(RECORDS_FORMAT):
            raise RecordsError(
                f"{self.path} has records format {meta.get('format')!r}, not {RECORDS_FORMAT}" + _REBUILD
            )
        self.article_count = self._count("articles", meta)
        self.chunk_count = self._count("chunks", meta)
        self.close()  # threads open their own on first read (none is carried across a fork, either)

    def _count(self, table: str, meta: dict[str, str]) -> int:
        """Rows of `table` (0..n-1), checked against the count the writer recorded."""
        (last,) = self.query(f"SELECT max(row) FROM {table}")[0]  # O(log n): row is the rowid
        count = 0 if last is None else int(last) + 1
        if str(count) != meta.get(table):
            raise RecordsError(
                f"{self.path} holds {count} {table}, its header says {meta.get(table)}" + _REBUILD
            )
        return count

    def _connection(self) -> sqlite3.Connection:
        """This thread's read-only connection (immutable: no locks, the file never changes)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False
            )
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """All rows of one read; a damaged file raises RecordsError."""
        try:
            return self._connection().execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise RecordsError(f"cannot read {self.path}: {error}" + _REBUILD) from error

    def stream(self, sql: str, batch: int = 1000) -> Iterator[tuple[Any, ...]]:
        """Rows of one read in batches (for scans over every record), on a connection of its own."""
        try:
            connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
            try:
                cursor = connection.execute(sql)
                while rows := cursor.fetchmany(batch):
                    yield from rows
            finally:
                connection.close()
        except sqlite3.Error as error:
            raise RecordsError(f"cannot read {self.path}: {error}" + _REBUILD) from error

    def close(self) -> None:
        """Close every thread's connection (a later read opens a new one)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()


class ChunkTable(Sequence[Chunk]):
    """`index.chunks`: chunk `row` read from the records file when asked for (cached, bounded)."""

    def __init__(self, store: RecordStore, cache_size: int = CHUNK_CACHE) -> None:
        self.store = store
        self._cache = LRUCache(cache_size)

    def __len__(self) -> int:
        """Number of chunks (= FAISS rows = BM25 documents)."""
        return self.store.chunk_count

    @overload
    def __getitem__(self, row: int) -> Chunk: ...

    @overload
    def __getitem__(self, row: slice) -> list[Chunk]: ...

    def __getitem__(self, row: int | slice) -> Chunk | list[Chunk]:
        """The chunk at `row` (negative rows count from the end), or a list for a slice."""
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"chunk row {row} out of range (0..{len(self) - 1})")
        chunk = self._cache.get(row)
        if chunk is None:
            found = self.store.query(
                'SELECT id, article_id, start, "end", text FROM chunks WHERE row = ?', (row,)
            )
            if not found:
                raise RecordsError(f"{self.store.path} has no chunk row {row}" + _REBUILD)
            chunk = Chunk(*found[0])
            self._cache.put(row, chunk)
        return chunk

    def __iter__(self) -> Iterator[Chunk]:
        """Every chunk in row order, streamed (not cached)."""
        for values in self.store.stream('SELECT id, article_id, start, "end", text FROM chunks ORDER BY row'):
            yield Chunk(*values)


class ArticleTable(Mapping[str, Article]):
    """`index.articles`: an article read by id from the records file when asked for (cached, bounded).

    Iteration (ids, `items()`, `values()`) streams the table in build order, for `qa eval` and tests;
    nothing on the answer path iterates it.
    """

    def __init__(self, store: RecordStore, cache_size: int = ARTICLE_CACHE) -> None:
        self.store = store
        self._cache = LRUCache(cache_size)

    def __len__(self) -> int:
        """Number of articles."""
        return self.store.article_count

    def __getitem__(self, article_id: str) -> Article:
        """The article with this id; KeyError when there is none (or the id is not valid UTF-8 text)."""
        if not _storable(article_id):
            raise KeyError(article_id)
        article = self._cache.get(article_id)
        if article is None:
            found = self.store.query(
                f"SELECT {', '.join(_ARTICLE_FIELDS)} FROM articles WHERE id = ?", (article_id,)
            )
            if not found:
                raise KeyError(article_id)
            article = _article(found[0])
            self._cache.put(article_id, article)
        return article

    def __contains__(self, article_id: object) -> bool:
        """True when an article has this id."""
        if not _storable(article_id):
            return False
        if self._cache.get(article_id) is not None:
            return True
        return bool(self.store.query("SELECT 1 FROM articles WHERE id = ?", (article_id,)))

    def __iter__(self) -> Iterator[str]:
        """Article ids in build order, streamed."""
        for (article_id,) in self.store.stream("SELECT id FROM articles ORDER BY row"):
            yield article_id

    def items(self) -> _StreamedItems:  # type: ignore[override]
        """(id, article) in build order, streamed in one read (not one read per article)."""
        return _StreamedItems(self)

    def values(self) -> _StreamedValues:  # type: ignore[override]
        """Every article in build order, streamed in one read."""
        return _StreamedValues(self)

    def in_date_order(self) -> Iterator[Article]:
        """Every article ordered by (date, id), streamed from the date index (example questions read
        only the first few dozen)."""
        columns = ", ".join(_ARTICLE_FIELDS)
        for values in self.store.stream(f"SELECT {columns} FROM articles ORDER BY date, id"):
            yield _article(values)


class _StreamedItems:
    """`ArticleTable.items()`: a sized, re-iterable view that reads the table in one pass per iteration."""

    def __init__(self, table: ArticleTable) -> None:
        self.table = table

    def __len__(self) -> int:
        """Number of articles."""
        return len(self.table)

    def __iter__(self) -> Iterator[tuple[str, Article]]:
        """(id, article) in build order."""
        for values in self.table.store.stream(
            f"SELECT {', '.join(_ARTICLE_FIELDS)} FROM articles ORDER BY row"
        ):
            article = _article(values)
            yield article.id, article


class _StreamedValues:
    """`ArticleTable.values()`: a sized, re-iterable view of every article in build order."""

    def __init__(self, table: ArticleTable) -> None:
        self.table = table

    def __len__(self) -> int:
        """Number of articles."""
        return len(self.table)

    def __iter__(self) -> Iterator[Article]:
        """Every article in build order."""
        for _, article in _StreamedItems(self.table):
            yield article
