"""Stage 2 of retrieval as data: named steps, each `(pool, scores) -> scores`, run in order.

Stage 1 (`qa.answer.retrieve`) fuses dense and BM25 scores over a pool of candidate chunks; each step
here then adds what the corpus itself says about a candidate: how much of the question its best
sentence covers, a year match, an answer of the asked type, agreement with the other candidates, a
vote over their typed answers, and a hedge that keeps the dense retriever's first choice in the top
five. `RetrievalSettings.steps` names the steps that run, so an ablation is a changed tuple
(`qa eval --without agreement`). Their figures are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from qa.answer.extraction import (
    Aliases,
    TextCache,
    WeighedTerm,
    covered_share,
    question_type,
    typed_answer,
    weigh_terms,
)
from qa.answer.settings import RetrievalSettings
from qa.index.lexical import query_tokens, tokenize
from qa.index.store import LoadedIndex
from qa.ingest.chunking import embedding_text
from qa.records import Chunk
from qa.text import normalise, sentence_spans, years

if TYPE_CHECKING:
    from qa.index.milvus import MilvusIndex


def question_terms(index: LoadedIndex | MilvusIndex, question: str) -> dict[str, float]:
    """The question's content words with their IDF weight (words the corpus never uses weigh most)."""
    vocabulary = index.vocabulary
    return {word: vocabulary.idf.get(word, vocabulary.max_idf) for word in query_tokens(question)}


def best_sentence(chunk: Chunk, weighed: tuple[float, list[WeighedTerm]]) -> tuple[float, int, int]:
    """(coverage, start, end) of the chunk sentence covering most question weight, in article offsets;
    `weighed` is the question's `weigh_terms(terms, aliases)`, prepared once for all the chunks."""
    best = (0.0, chunk.start, chunk.end)
    text = chunk.text
    for start, end in sentence_spans(text):
        score = covered_share(text[start:end].lower(), weighed)
        if score > best[0]:
            best = (score, chunk.start + start, chunk.start + end)
    return best


def typed_evidence(
    text: str,
    kind: str,
    question: str,
    terms: dict[str, float],
    cache: TextCache | None = None,
    aliases: Aliases | None = None,
) -> tuple[float, str] | None:
    """(score, answer) of the best answer of type `kind` in any sentence of `text`, or None when none.

    Same-topic passages that never state the number, date or name asked for lose to the one that does.
    """
    found = [
        answer
        for start, end in sentence_spans(text)
        if (answer := typed_answer(kind, text[start:end], question, terms, cache, aliases)) is not None
    ]
    return max(found, key=lambda answer: answer[0], default=None)


@dataclass
class Pool:
    """The fused candidates of one search: `rows[i]` is a chunk row of the index, scored by stage 1."""

    index: LoadedIndex | MilvusIndex
    question: str
    rows: list[int]
    dense_rank: dict[int, int]
    settings: RetrievalSettings
    cache: TextCache | None = None

    @cached_property
    def terms(self) -> dict[str, float]:
        """The question's words with their IDF weight."""
        return question_terms(self.index, self.question)

    @cached_property
    def kind(self) -> str:
        """What the question asks for: number, date, person, place, list or fact."""
        return question_type(self.question)

    def chunk(self, i: int) -> Chunk:
        """The chunk of candidate `i`."""
        return self.index.chunks[self.rows[i]]

    def typed(self, i: int) -> tuple[float, str] | None:
        """The best answer of the asked type in candidate `i`, or None."""
        chunk = self.chunk(i)
        return typed_evidence(
            chunk.text, self.kind, self.question, self.terms, self.cache, self.index.aliases
        )


def top(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the `n` best scores, best first (ties keep pool order)."""
    return np.argsort(-scores, kind="stable")[:n]


def sentence_step(pool: Pool, scores: np.ndarray) -> np.ndarray:
    """Add how much of the question's weight the chunk's best single sentence covers."""
    weighed = weigh_terms(pool.terms, pool.index.aliases)
    covered = np.array([best_sentence(pool.chunk(i), weighed)[0] for i in range(len(pool.rows))])
    return scores + (pool.settings.sentence_weight * covered).astype(scores.dtype)


def year_step(pool: Pool, scores: np.ndarray) -> np.ndarray:
    """Add a bonus when a year the question names is the article's year."""
    asked = years(pool.question)
    if not asked:
        return scores
    articles = pool.index.articles
    dated = [
        (article := articles.get(pool.chunk(i).article_id)) is not None and article.date[:4] in asked
        for i in range(len(pool.rows))
    ]
    return scores + pool.settings.year_bonus * np.array(dated, dtype=scores.dtype)


def typed_step(pool: Pool, scores: np.ndarray) -> np.ndarray:
    """Lift the best candidates that hold an answer of the asked type (number, date, person, place, list)."""
    if pool.kind == "fact":
        return scores
    settings, scores = pool.settings, scores.copy()
    for i in top(scores, settings.typed_pool):
        typed = pool.typed(int(i))
        if typed is not None:
            placed = min(max(typed[0], 0.0), settings.typed_context_cap)
            scores[i] += settings.typed_bonus + settings.typed_context_weight * placed
    return scores


def agreement(index: LoadedIndex | MilvusIndex, rows: list[int], question: str) -> np.ndarray:
    """How much each candidate's words recur among the other candidates, relative to the pool's average.

    Words of the question are left out (every candidate shares them), as are one-character words; each
    candidate is an IDF-weighted, length-normalised bag of words, and its score is the mean cosine with
    the others. Passages that state the answer tend to say the same things (the answer and the words
    around it) while same-topic passages that miss it each wander off in their own direction.
    """
    if len(rows) < 3:
        return np.zeros(len(rows), dtype=np.float32)
    vocabulary = index.vocabulary
    vocab = index.word_ids
    asked = np.array(sorted({vocab[w] for w in query_tokens(question) if w in vocab}), dtype=np.int64)
    bags = []
    for row in rows:
        ids = index.words_of(row)
        if ids is None:  # an index built before word ids were stored: tokenise what BM25 indexed
            chunk = index.chunks[row]
            text = embedding_text(chunk, index.articles[chunk.article_id])
            ids = np.array(sorted({vocab[w] for w in tokenize(text) if w in vocab}))
        bags.append(np.asarray(ids, dtype=np.int64))
    # all candidates' words at once: long words the question does not use, each in its candidate's row
    owner = np.repeat(np.arange(len(rows)), [len(ids) for ids in bags])
    ids = np.concatenate(bags)
    known = ids < len(vocabulary.long_word)
    owner, ids = owner[known], ids[known]
    kept = vocabulary.long_word[ids] & ~np.isin(ids, asked)
    owner, ids = owner[kept], ids[kept]
    words, where = np.unique(ids, return_inverse=True)
    matrix = np.zeros((len(rows), len(words)), dtype=np.float32)
    matrix[owner, where] = vocabulary.idf_by_id[ids]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms > 0, norms, 1.0)
    similarity = matrix @ matrix.T
    np.fill_diagonal(similarity, 0.0)
    mean = similarity.sum(axis=1) / (len(rows) - 1)
    return mean - mean.mean()


def agreement_step(pool: Pool, scores: np.ndarray) -> np.ndarray:
    """Lift the candidates whose words recur among the best others (see `agreement`)."""
    scores = scores.copy()
    best = top(scores, pool.settings.agreement_pool)
    scores[best] += pool.settings.agreement_weight * agreement(
        pool.index, [pool.rows[i] for i in best], pool.question
    )
    return scores


def answer_votes(answers: dict[int, str], weights: dict[int, float]) -> dict[int, float]:
    """Each candidate's share of the vote for its own answer, votes weighted by candidate score.

    An answer several good passages state is more likely the one asked for than one a single passage has.
    """
    totals: dict[str, float] = {}
    for i, answer in answers.items():
        totals[answer] = totals.get(answer, 0.0) + max(weights[i], 0.0)
    whole = sum(totals.values())
    if whole <= 0:
        return {i: 0.0 for i in answers}
    return {i: totals[answer] / whole for i, answer in answers.items()}


def vote_step(pool: Pool, scores: np.ndarray) -> np.ndarray:
    """The typed answers of the best candidates vote; each gains its own answer's share of the vote."""
    if pool.kind == "fact":
        return scores
    answers = {}
    for i in top(scores, pool.settings.vote_pool):
        typed = pool.typed(int(i))
        if typed is not None:
            answers[int(i)] = normalise(typed[1])
    scores = scores.copy()
    for i, share in answer_votes(answers, {i: float(scores[i]) for i in answers}).items():
        scores[i] += pool.settings.vote_weight * share
    return scores


def hedge_step(pool: Pool, scores: np.ndarray) -> np.ndarray:
    """However the steps before re-scored, the embedding's own best match stays in the top few."""
    within = pool.settings.keep_dense_within
    first_dense = next((i for i, r in enumerate(pool.rows) if pool.dense_rank.get(r) == 0), None)
    if first_dense is None or len(pool.rows) <= within:
        return scores
    scores = scores.copy()
    floor = float(np.sort(scores)[::-1][within - 1])
    scores[first_dense] = max(float(scores[first_dense]), floor + 1e-6)
    return scores


Step = Callable[[Pool, np.ndarray], np.ndarray]

# Every stage-2 step by name, in the order they run (named in `RERANK_STEPS`, which settings validate).
STEPS: dict[str, Step] = {
    "sentence": sentence_step,
    "year": year_step,
    "typed": typed_step,
    "agreement": agreement_step,
    "vote": vote_step,
    "hedge": hedge_step,
}


def rerank(pool: Pool, scores: np.ndarray, steps: tuple[str, ...]) -> np.ndarray:
    """Run the named steps, in `STEPS` order, over the stage-1 scores of the pool."""
    for name, step in STEPS.items():
        if name in steps:
            scores = step(pool, scores)
    return scores
