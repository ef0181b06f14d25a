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

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from qa.records import Chunk
from qa.text import Tags, pos_tags, sentence_spans

SENTENCES_FILE = "sentences.npy"
SENTENCE_KEYS_FILE = "sentence_keys.txt"
SENTENCE_REFS_FILE = "sentence_refs.npy"
SENTENCE_ROWS_FILE = "sentence_rows.npy"
TAGS_FILE = "sentence_tags.sqlite"
_TAGS_SCHEMA = "CREATE TABLE sentence_tags (key INTEGER PRIMARY KEY, tags TEXT NOT NULL)"
_TAGS_BATCH = 500  # keys looked up in the previous build per query
_WORD_END, _PAIR_END = "\x1e", "\x1f"  # control characters jieba never returns inside a word
STORED_DTYPE = np.float16  # cosine error ~1e-5 on 384 dimensions, half the disk of float32


def chunk_sentences(chunk: Chunk) -> list[str]:
    """The sentences of a chunk that get a vector, in `sentence_spans` order."""
    return [chunk.text[start:end] for start, end in sentence_spans(chunk.text)]


def tag_key(sentence: str) -> int:
    """A sentence's key in the tags table: 64 bits of its BLAKE2b hash (a signed SQLite integer)."""
    digest = hashlib.blake2b(sentence.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def encode_tags(tags: Tags) -> str:
    """One sentence's tags as one string (word, flag, word, flag, ... with control separators)."""
    return _PAIR_END.join(f"{word}{_WORD_END}{flag}" for word, flag in tags)


def decode_tags(text: str) -> Tags:
    """The tags `encode_tags` wrote."""
    if not text:
        return ()
    return tuple(tuple(pair.split(_WORD_END, 1)) for pair in text.split(_PAIR_END))  # type: ignore[misc]


def write_sentence_tags(
    path: Path, chunks: list[Chunk], previous: Path | None = None, progress: bool = False
) -> tuple[int, int]:
    """jieba's POS tags of every distinct sentence of `chunks` into a new SQLite file at `path`, taken
    from the `previous` build's file where it has them; returns (tagged now, reused).

    The person and place finders of the answer step read them instead of running jieba's tagger at
    ask time (~0.8 ms a sentence, ~30 sentences a question).
    """
    wanted: dict[int, str] = {}
    for chunk in chunks:
        for sentence in chunk_sentences(chunk):
            wanted.setdefault(tag_key(sentence), sentence)
    known = SentenceTags(previous).lookup(list(wanted)) if previous is not None and previous.is_file() else {}
    connection = sqlite3.connect(path)
    try:
        connection.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _TAGS_SCHEMA)
        rows = [(key, known[key]) for key in wanted if key in known]
        connection.executemany("INSERT INTO sentence_tags VALUES (?, ?)", rows)
        fresh = [(key, sentence) for key, sentence in wanted.items() if key not in known]
        batch: list[tuple[int, str]] = []
        for key, sentence in tqdm(fresh, desc="Tagging", unit="sentence", disable=not progress):
            batch.append((key, encode_tags(pos_tags(sentence))))
            if len(batch) >= 10_000:
                connection.executemany("INSERT INTO sentence_tags VALUES (?, ?)", batch)
                batch = []
        connection.executemany("INSERT INTO sentence_tags VALUES (?, ?)", batch)
        connection.commit()
    finally:
        connection.close()
    return len(fresh), len(rows)


class SentenceTags:
    """A build's `sentence_tags.sqlite`, read-only: `get(sentence)` is its stored tags or None.

    One connection per thread (immutable: no locks), opened on the thread's first read.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            uri = f"{self.path.resolve().as_uri()}?mode=ro&immutable=1"
            connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._local.connection = connection
        return connection

    def get(self, sentence: str) -> Tags | None:
        """The stored tags of `sentence`, or None when the build has none for it (or cannot read them)."""
        try:
            row = (
                self._connection()
                .execute("SELECT tags FROM sentence_tags WHERE key = ?", (tag_key(sentence),))
                .fetchone()
            )
        except sqlite3.Error:
            return None
        return decode_tags(row[0]) if row is not None else None

    def lookup(self, keys: list[int]) -> dict[int, str]:
        """The encoded tags of those `keys` the file holds (what a rebuild reuses); {} when unreadable."""
        found: dict[int, str] = {}
        try:
            for begin in range(0, len(keys), _TAGS_BATCH):
                part = keys[begin : begin + _TAGS_BATCH]
                marks = ", ".join("?" * len(part))
                sql = f"SELECT key, tags FROM sentence_tags WHERE key IN ({marks})"
                found.update(self._connection().execute(sql, part).fetchall())
        except sqlite3.Error:
            return {}
        return found

    def __iter__(self) -> Iterator[int]:
        """Every stored key (for tests and checks)."""
        return (key for (key,) in self._connection().execute("SELECT key FROM sentence_tags"))


def as_stored(vectors: np.ndarray) -> np.ndarray:
    """Vectors rounded as the index stores them, back in float32: a store without sentence vectors
    that embeds them at ask time gets the same cosines as one that read them from disk."""
    return np.asarray(vectors, dtype=STORED_DTYPE).astype(np.float32)


@dataclass
class SentenceVectors:
    """The sentence vectors of one build; `of(row)` is chunk `row`'s (n_sentences, dim) vectors.

    Loaded, nothing but the small header of each file is read: vectors, refs and rows are memory maps,
    and the keys (needed only by a rebuild) stay on disk until `by_key` asks for them.
    """

    vectors: np.ndarray  # (distinct sentences, dim) float16
    refs: np.ndarray  # int32: row in `vectors` of every sentence of every chunk
    rows: np.ndarray  # int64 (chunks + 1): chunk i's sentences are refs[rows[i]:rows[i + 1]]
    keys: list[str] | Path  # vector key of each row of `vectors`, or the file that lists them

    def of(self, row: int) -> np.ndarray:
        """Chunk `row`'s sentence vectors in `sentence_spans` order, as float32 (a ValueError when the
        files point past the vectors: a damaged build)."""
        refs = np.asarray(self.refs[int(self.rows[row]) : int(self.rows[row + 1])])
        if len(refs) and (int(refs.min()) < 0 or int(refs.max()) >= len(self.vectors)):
            raise ValueError(f"sentence refs of chunk {row} point past the stored vectors")
        return self.vectors[refs].astype(np.float32)

    def __len__(self) -> int:
        """Number of chunks."""
        return len(self.rows) - 1

    def by_key(self) -> dict[str, np.ndarray]:
        """Every stored vector by its key (views, nothing copied): what a rebuild may reuse."""
        keys = self.keys if isinstance(self.keys, list) else self.keys.read_text(encoding="utf-8").split()
        if len(keys) != len(self.vectors):
            raise ValueError(f"{SENTENCE_KEYS_FILE} lists {len(keys)} keys for {len(self.vectors)} vectors")
        return {key: self.vectors[i] for i, key in enumerate(keys)}

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
        return cls(np.ascontiguousarray(matrix, dtype=STORED_DTYPE), refs, rows, keys)

    def save(self, build_dir: Path) -> None:
        """Write the four files into `build_dir`."""
        keys = self.keys if isinstance(self.keys, list) else list(self.by_key())
        np.save(build_dir / SENTENCES_FILE, self.vectors)
        (build_dir / SENTENCE_KEYS_FILE).write_text("".join(f"{k}\n" for k in keys), encoding="utf-8")
        np.save(build_dir / SENTENCE_REFS_FILE, self.refs)
        np.save(build_dir / SENTENCE_ROWS_FILE, self.rows)

    @classmethod
    def load(cls, build_dir: Path) -> SentenceVectors | None:
        """The build's sentence vectors (memory-mapped); None for a build written without them, a
        ValueError when the files' sizes disagree."""
        if not (build_dir / SENTENCES_FILE).is_file():
            return None
        vectors = np.load(build_dir / SENTENCES_FILE, mmap_mode="r")
        refs = np.load(build_dir / SENTENCE_REFS_FILE, mmap_mode="r")
        rows = np.load(build_dir / SENTENCE_ROWS_FILE, mmap_mode="r")
        if rows.ndim != 1 or len(rows) < 1 or rows[0] != 0 or rows[-1] != len(refs) or vectors.ndim != 2:
            raise ValueError(f"the sentence vector files in {build_dir} disagree")
        if not (build_dir / SENTENCE_KEYS_FILE).is_file():
            raise ValueError(f"{build_dir / SENTENCE_KEYS_FILE} is missing")
        return cls(vectors, refs, rows, build_dir / SENTENCE_KEYS_FILE)
