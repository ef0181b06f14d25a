"""BM25 over jieba words: build once from chunk texts, save/load as arrays + JSON (no pickle).

Documents are tokenised here (jieba search mode, lower-cased, punctuation and a few function words
dropped) and handed to bm25s as ids + vocabulary, so bm25s never splits Chinese on spaces. Every
document keeps its row even when it has no tokens, so row i is always chunk i. Each document's set
of word ids is kept too (two flat arrays), so retrieval can compare the words of its candidates
without running jieba again.

A loaded index reads the big arrays (posting lists, document words) by slices with `os.pread`
(`NpyReader`), not through memory maps: a memory-mapped page a search touches stays in the process's
resident set (with the pages the kernel maps around it), which at 1M chunks added ~0.9 GiB to the
server after 60 questions; read pages stay in the OS cache instead, shared and evictable
(benchmarks/RESULTS.md, *Memory*). Scores are the same sums bm25s computes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import bm25s
import jieba
import numpy as np

jieba.setLogLevel(logging.WARNING)

FORMAT_VERSION = 1
PARAMS_FILE = "qa_lexical.json"
DOC_WORDS_FILE = "qa_doc_words.npy"  # the word ids of every document, documents one after another
DOC_STARTS_FILE = "qa_doc_starts.npy"  # where document i's ids start in DOC_WORDS_FILE (n + 1 offsets)
TOKENIZER = "jieba.cut_for_search+lower"

# Function words and question words that match almost every passage.
_STOPWORD_TEXT = """
的 了 是 在 和 与 及 或 也 都 就 而 并 又 被 把 将 对 从 向 为 以 于 之 其 这 那 此 该 个 着 过 吗 呢 吧 啊
有 有关 什么 哪些 哪个 哪里 哪 多少 几 怎么 怎样 如何 为什么 是否 谁 请问
a an the of to in and or is are was what which who how
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _is_word(token: str) -> bool:
    """True if the token has at least one letter, digit or CJK character (not just punctuation/space)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in token)


def tokenize(text: str) -> list[str]:
    """Split text into lower-cased jieba search-mode words, without punctuation, spaces or stopwords."""
    return [
        token
        for token in (t.strip().lower() for t in jieba.cut_for_search(text))
        if token and token not in STOPWORDS and _is_word(token)
    ]


QUERY_TOKENS_CACHED = 4096  # a question and its parts are tokenised by BM25 and by each stage-2 step


_LETTERS_OR_DIGITS = re.compile(r"[a-z]+|[0-9]+")


@lru_cache(maxsize=QUERY_TOKENS_CACHED)
def query_tokens(text: str) -> tuple[str, ...]:
    """`tokenize` of a question, remembered: the search and the re-scoring steps all need its words.

    A word of letters and digits ("cvpr2022", "gpt4") also brings its pieces ("cvpr", "2022"): jieba
    keeps it whole in the question, but a passage that writes "CVPR 2022" or "GPT-4" is indexed as
    the two pieces. The whole word stays, for passages that write it as one."""
    words = list(question_words(text))
    return tuple(words + word_pieces(words))


@lru_cache(maxsize=QUERY_TOKENS_CACHED)
def question_words(text: str) -> tuple[str, ...]:
    """`tokenize` of a question, remembered: `query_tokens` and the Milvus store's lexical search (which
    sends its own analyzer the question plus `word_pieces`) cut it once between them."""
    return tuple(tokenize(text))


def word_pieces(words: list[str]) -> list[str]:
    """The letter and digit pieces of the words that mix them ("gpt4" -> "gpt", "4"), each once,
    leaving out those already among `words`."""
    pieces: list[str] = []
    for word in words:
        found = _LETTERS_OR_DIGITS.findall(word)
        if len(found) > 1 and "".join(found) == word:
            pieces += [p for p in found if p not in words and p not in pieces]
    return pieces


class NpyReader:
    """A 1-D .npy file read by slices (`reader[a:b]`) with os.pread, never mapped into memory.

    Safe across threads (pread keeps no file position) and across a fork.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _fortran, dtype = read_header(handle)
            self.offset = handle.tell()
        if len(shape) != 1 or dtype.hasobject:
            raise ValueError(f"{self.path} is not a flat array of numbers (shape {shape}, dtype {dtype})")
        self.dtype, self.length = np.dtype(dtype), int(shape[0])
        self._fd = os.open(self.path, os.O_RDONLY)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Number of elements."""
        return self.length

    def __getitem__(self, where: slice) -> np.ndarray:
        """Elements [start, stop) as a new array (a slice with step 1 only)."""
        if not isinstance(where, slice) or where.step not in (None, 1):
            raise TypeError("NpyReader reads contiguous slices only")
        start, stop, _ = where.indices(self.length)
        if stop <= start:
            return np.zeros(0, dtype=self.dtype)
        size = self.dtype.itemsize
        wanted, position = (stop - start) * size, self.offset + start * size
        data = os.pread(self._fd, wanted, position)
        while len(data) < wanted:  # a short read: ask for the rest
            more = os.pread(self._fd, wanted - len(data), position + len(data))
            if not more:
                raise OSError(f"{self.path} ends before element {stop}")
            data += more
        return np.frombuffer(data, dtype=self.dtype)

    def close(self) -> None:
        """Close the file (later reads fail)."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __del__(self) -> None:
        """Close the file with the reader."""
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            os.close(fd)


@dataclass
class Postings:
    """BM25 posting lists read from a bm25s folder by slices: each word's documents and their scores."""

    indptr: np.ndarray
    indices: NpyReader
    data: NpyReader
    num_docs: int

    @classmethod
    def open(cls, directory: Path, bm25: bm25s.BM25) -> Postings | None:
        """The posting lists of a saved bm25s index, or None when its files are not there as expected."""
        indices, data = directory / "indices.csc.index.npy", directory / "data.csc.index.npy"
        if not (indices.exists() and data.exists()) or bm25.nonoccurrence_array is not None:
            return None
        return cls(
            np.asarray(bm25.scores["indptr"]),
            NpyReader(indices),
            NpyReader(data),
            int(bm25.scores["num_docs"]),
        )

    def scores(self, ids: list[int], dtype: np.dtype) -> np.ndarray:
        """BM25 score of every document for the word ids: bm25s's `get_scores_from_ids`, read by slices."""
        scores = np.zeros(self.num_docs, dtype=dtype)
        for i in ids:
            start, end = int(self.indptr[i]), int(self.indptr[i + 1])
            np.add.at(scores, self.indices[start:end], self.data[start:end])
        return scores


@dataclass(frozen=True)
class Vocabulary:
    """Numbers about the index's words that re-scoring reads often, computed once per loaded index."""

    idf: dict[str, float]  # BM25 IDF of every vocabulary word
    max_idf: float  # the IDF of a word no document holds: what an unseen question word weighs
    idf_by_id: np.ndarray  # IDF by vocabulary id
    long_word: np.ndarray  # True for words of two or more characters (single characters say little)


@dataclass
class LexicalIndex:
    """A bm25s index whose row i is document i of the texts it was built from."""

    bm25: bm25s.BM25
    num_docs: int
    doc_words: np.ndarray | NpyReader | None = None
    doc_starts: np.ndarray | None = None
    postings: Postings | None = None  # set on load: the posting lists read by slices

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        """Index the texts (one row each, empty texts included) with BM25."""
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(token, len(vocab)) for token in tokenize(text)] for text in texts]
        if not vocab:  # bm25s needs one column; a token no query can produce
            vocab[""] = 0
        bm25 = bm25s.BM25()
        with np.errstate(invalid="ignore", divide="ignore"):  # a corpus of only empty texts
            bm25.index((ids, vocab), create_empty_token=False, show_progress=False)
        unique = [sorted(set(doc)) for doc in ids]
        starts = np.zeros(len(unique) + 1, dtype=np.int64)
        starts[1:] = np.cumsum([len(doc) for doc in unique])
        words = np.fromiter((i for doc in unique for i in doc), dtype=np.int32, count=int(starts[-1]))
        return cls(bm25=bm25, num_docs=len(texts), doc_words=words, doc_starts=starts)

    def save(self, directory: Path) -> None:
        """Write the bm25s arrays and our own params (tokenizer, row count) into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.bm25.save(str(directory), show_progress=False)
        if self.doc_words is not None and self.doc_starts is not None:
            np.save(directory / DOC_WORDS_FILE, self.doc_words)
            np.save(directory / DOC_STARTS_FILE, self.doc_starts)
        params = {"format_version": FORMAT_VERSION, "tokenizer": TOKENIZER, "num_docs": self.num_docs}
        (directory / PARAMS_FILE).write_text(json.dumps(params, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> LexicalIndex:
        """Read an index written by `save`; refuses one written with another tokenizer or format.

        With `mmap` (what serving uses) the big arrays stay on disk and are read by slices when a
        search needs them; without it they are read whole."""
        directory = Path(directory)
        params_path = directory / PARAMS_FILE
        if not params_path.exists():
            raise FileNotFoundError(f"no lexical index in {directory} ({PARAMS_FILE} missing)")
        params = json.loads(params_path.read_text(encoding="utf-8"))
        if params.get("format_version") != FORMAT_VERSION or params.get("tokenizer") != TOKENIZER:
            raise ValueError(
                f"lexical index in {directory} was written with format {params.get('format_version')}, "
                f"tokenizer {params.get('tokenizer')!r}; this code reads {FORMAT_VERSION}, {TOKENIZER!r}"
            )
        bm25 = bm25s.BM25.load(str(directory), mmap=mmap, show_progress=False)
        words: np.ndarray | NpyReader | None = None
        starts = None
        if (directory / DOC_WORDS_FILE).exists() and (directory / DOC_STARTS_FILE).exists():
            # Indexes built before these files existed still load; retrieval then tokenises instead.
            words = NpyReader(directory / DOC_WORDS_FILE) if mmap else np.load(directory / DOC_WORDS_FILE)
            starts = np.load(directory / DOC_STARTS_FILE)  # 8 bytes a document
        postings = Postings.open(directory, bm25) if mmap else None
        return cls(
            bm25=bm25, num_docs=int(params["num_docs"]), doc_words=words, doc_starts=starts, postings=postings
        )

    @cached_property
    def vocabulary(self) -> Vocabulary:
        """IDF of every vocabulary word (by word and by id) and which ids are long words."""
        n = max(self.num_docs, 1)
        df = np.diff(np.asarray(self.bm25.scores["indptr"]))
        idf_by_id = np.log(1 + (n - df + 0.5) / (df + 0.5))
        long_word = np.zeros(len(df), dtype=bool)
        idf: dict[str, float] = {}
        for word, i in self.bm25.vocab_dict.items():
            if i < len(df):
                long_word[i] = len(word) >= 2
                idf[word] = float(idf_by_id[i])
        return Vocabulary(
            idf=idf, max_idf=math.log(1 + (n + 0.5) / 0.5), idf_by_id=idf_by_id, long_word=long_word
        )

    def words_of(self, row: int) -> np.ndarray | None:
        """The distinct word ids of document `row` (vocabulary ids), or None for an index without them."""
        if self.doc_words is None or self.doc_starts is None:
            return None
        return np.asarray(self.doc_words[int(self.doc_starts[row]) : int(self.doc_starts[row + 1])])

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """The top `k` (row, score) pairs for the query, best first; only rows sharing a word with it."""
        if k <= 0:
            raise ValueError("k must be positive")
        vocab = self.bm25.vocab_dict
        ids = sorted({vocab[token] for token in query_tokens(query) if token in vocab})
        if not ids or self.num_docs == 0:
            return []
        if self.postings is not None:
            scores = self.postings.scores(ids, np.dtype(self.bm25.dtype))
        else:
            scores = self.bm25.get_scores_from_ids(ids)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # best first, ties by row
        return [(int(row), float(scores[row])) for row in top if scores[row] > 0]
