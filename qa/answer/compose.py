"""Extractive answers: a short answer, then verbatim quotes with [n] citations, or an honest abstention.

No LLM: the best sentence among the retrieved chunks is the one that covers most of the question's IDF
weight (plus small bonuses for holding an answer of the asked type and for a year match). The trained
reader (when one is loaded, the default) reads that sentence and the next best few, and the sentence its
verdict favours is quoted first; its best span there is the short answer, unless the typed rules' answer
there scores nearly as well with the reader (`_read_candidates`). When it is sure of none of them, it
reads the best sentence of a few farther articles too (`_read_farther`). Without a reader the short
answer is pulled from the sentence by type: 多少/几 -> a number with its unit, 谁 -> a person (jieba
`nr` or the name after a role word), 哪里/哪个县 -> a place, 什么时候/哪一年 -> a date, 哪些 -> the
listed items. A question asking several things at once ("A和B分别…", "男女…", two question clauses) gets
up to three quotes: with a reader, the sentence it reads each part from, asked the part alone
(`_read_for_parts`, farther down when unsure of a part); then ones chosen for the question words the
earlier ones miss; and one short answer per part (RGB answer accuracy 0.69 -> 0.75; its two-part
questions 0.28 -> 0.52). A further quote never reprints a chosen one (`repeat_overlap`). Every citation
is checked against the article text before the answer is returned. When the best evidence covers too
little of the question, the answer says so and shows the closest passages.

Every number of this step is a field of `AnswerSettings`; the steps of `answer_question` are
`_score_candidates` -> `_best_candidate` (or abstain) -> [`_read_candidates` -> `_read_farther` ->
`_reader_abstains`] -> [`_read_for_parts`] -> `_choose_quotes` -> `_short_answer` (or `_read_parts`) ->
[`short_answer_confidence`: a read short answer is shown only when sure enough] -> `_assemble`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from qa.answer.extraction import (
    Aliases,
    TextCache,
    asking_phrases,
    asks,
    coverage,
    covered_share,
    fits_kind,
    is_compound,
    question_parts,
    question_type,
    typed_answer,
    weigh_terms,
)
from qa.answer.rerank import question_terms
from qa.answer.settings import AnswerSettings
from qa.index.embedding import Embedder, QueryEmbedder
from qa.index.sentences import as_stored
from qa.index.store import LoadedIndex
from qa.records import Answer, Article, Citation, Hit, Passage
from qa.text import SENTENCE_CLOSERS, SENTENCE_END, has_cjk, normalise, sentence_spans, years

if TYPE_CHECKING:
    from qa.answer.reader import Reader, Span  # imports torch: only when a reader is configured

ABSTAIN_TEXT = "资料库中没有找到这个问题的答案（现有报道不包含相关内容）。以下是最接近的段落，仅供参考。"


@dataclass(frozen=True)
class _Asked:
    """The question and what answering needs to know about it."""

    text: str
    terms: dict[str, float]  # question words -> IDF weight
    kind: str  # number, person, place, date, list or fact
    years: set[str]
    chinese: bool
    compound: bool
    aliases: Aliases
    parts: tuple[str, ...] = ()  # one question per thing asked (`question_parts`), or none
    asking: tuple[str, ...] = ()  # the question's asking words in their context (`asking_phrases`)

    @classmethod
    def of(cls, question: str, index: LoadedIndex) -> _Asked:
        """Analyse a question against the index's vocabulary and aliases."""
        return cls(
            text=question,
            terms=question_terms(index, question),
            kind=question_type(question),
            years=years(question),
            chinese=has_cjk(question),
            compound=is_compound(question),
            aliases=index.aliases,
            parts=tuple(question_parts(question)),
            asking=asking_phrases(question),
        )


@dataclass(frozen=True)
class _Candidate:
    """A sentence that may answer the question, with where it is and how well it matches."""

    hit_rank: int
    article: Article
    start: int
    end: int
    score: float
    short: str | None
    typed: float = 0.0  # how well the short answer sits among the question's words
    span: tuple[int, int] | None = None  # the reader's short answer in the article, inside [start, end)
    margin: float | None = None  # the reader's span score minus its no-answer score (None: not read)


@dataclass(frozen=True)
class _Evidence:
    """The scored candidate sentences and the figures the abstention decision reads."""

    candidates: list[_Candidate]
    best_chunk_coverage: float  # Chinese questions: the best chunk's coverage (headline included)
    top_dense: float  # questions with no Chinese: the best sentence's (or chunk's) cosine


_POINTS_BACK = re.compile(r"\s*(这|该|其|此|上述|他|她|它)")


def _quote_span(article: Article, start: int, end: int, look_back: int) -> tuple[int, int]:
    """Trim whitespace and extend a sentence that opens with 这/该/其 or 他/她/它 back over the sentence
    it points to: "他的喜剧不如普劳图斯的滑稽有趣" does not say whose comedies."""
    text = article.text
    if _POINTS_BACK.match(text, start, end):
        previous = text[max(0, start - look_back) : start].rstrip().rstrip("。")
        cut = max(previous.rfind("\n"), previous.rfind("。"))
        start = max(0, start - look_back) + cut + 1
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _citation(n: int, article: Article, start: int, end: int, note: str = "") -> Citation:
    """A citation whose quote is checked to be exactly the article's text at [start, end)."""
    quote = article.text[start:end]
    citation = Citation(
        n=n,
        article_id=article.id,
        title=article.title,
        date=article.date,
        source=article.source,
        quote=quote,
        start=start,
        end=end,
        note=note,
    )
    if not quote or article.text[citation.start : citation.end] != citation.quote:
        raise AssertionError(f"citation [{n}] does not match article {article.id} at {start}:{end}")
    return citation


def _passages(hits: list[Hit], index: LoadedIndex) -> list[Passage]:
    """The retrieved chunks as passages in rank order."""
    passages = []
    for hit in hits:
        article = index.articles.get(hit.chunk.article_id)
        passages.append(
            Passage(
                article_id=hit.chunk.article_id,
                title=article.title if article else "",
                text=hit.chunk.text,
                score=round(hit.score, 4),
                chunk_id=hit.chunk.id,
                date=article.date if article else "",
                source=article.source if article else "",
            )
        )
    return passages


def _sentence_similarities(
    question: str,
    hits: list[Hit],
    index: LoadedIndex,
    embedder: Embedder,
    queries: QueryEmbedder,
    embed_missing: bool = True,
) -> dict[tuple[int, int], float]:
    """Cosine of the question with each sentence of `hits`, keyed by (hit rank, offset in chunk).

    Used for questions with no Chinese, where word overlap cannot pick the sentence. The sentence
    vectors were embedded at index time (`qa.index.sentences`); a store without them has them embedded
    now (unless not `embed_missing`: then those sentences have none), rounded as the index stores them
    so both give the same cosines.
    """
    query = np.asarray(queries.embed_queries([question])[0], dtype=np.float32)
    similarities: dict[tuple[int, int], float] = {}
    missing: list[tuple[int, list[tuple[int, int]], list[str]]] = []
    for rank, hit in enumerate(hits):
        spans = sentence_spans(hit.chunk.text)
        stored = _stored_sentence_vectors(index, hit)
        if stored is None or len(stored) != len(spans):
            missing.append((rank, spans, [hit.chunk.text[s:e] for s, e in spans]))
            continue
        for (start, _), cosine in zip(spans, stored @ query, strict=True):
            similarities[(rank, start)] = float(cosine)
    texts = [sentence for _, _, sentences in missing for sentence in sentences]
    if texts and embed_missing:
        cosines = iter(as_stored(embedder.embed_passages(texts)) @ query)
        for rank, spans, _ in missing:
            for start, _ in spans:
                similarities[(rank, start)] = float(next(cosines))
    return similarities


def _stored_sentence_vectors(index: LoadedIndex, hit: Hit) -> np.ndarray | None:
    """The index's vectors of the hit's sentences, or None (a store or build without them)."""
    if hit.row is None:
        return None
    try:
        return index.sentence_vectors(hit.row)
    except ValueError:  # a damaged file: the answer embeds the sentences now instead
        return None


def _sentence_score(
    asked: _Asked,
    settings: AnswerSettings,
    rank: int,
    sentence: str,
    previous: str,
    chunk_cov: float,
    dense: float,
) -> float:
    """A candidate sentence's score before its typed answer: its words (Chinese) or its cosine (else)."""
    if not asked.chinese:
        return dense + settings.english_rank_weight / (1 + rank)
    return (
        settings.sentence_weight * coverage(sentence, asked.terms, asked.aliases)
        + settings.context_weight * coverage(previous + sentence, asked.terms, asked.aliases)
        + settings.chunk_weight * chunk_cov
        + settings.rank_weight / (1 + rank)
        + settings.dense_weight * dense
    )


def year_fit(asked: set[str], date: str, sentence: str, settings: AnswerSettings) -> float:
    """What a sentence's years add to its score for a question naming the years `asked`: year_bonus
    when its article is of such a year or it writes one, minus year_clash when it writes only other
    years ("2023年春节档…" for a question about 2022's), else nothing."""
    if not asked:
        return 0.0
    written = years(sentence)
    if date[:4] in asked or written & asked:
        return settings.year_bonus
    return -settings.year_clash if written else 0.0


def _candidate(
    asked: _Asked,
    settings: AnswerSettings,
    rank: int,
    article: Article,
    hit: Hit,
    span: tuple[int, int],
    score: float,
    cache: TextCache | None,
) -> _Candidate:
    """One sentence of a hit as a candidate: its score with the typed-answer and year bonuses."""
    s, e = span
    sentence = hit.chunk.text[s:e]
    typed = typed_answer(asked.kind, sentence, asked.text, asked.terms, cache, aliases=asked.aliases)
    if typed is not None:
        score += settings.typed_base + settings.typed_weight * min(typed[0], settings.typed_cap)
    score += year_fit(asked.years, article.date, sentence, settings)
    start, end = _quote_span(article, hit.chunk.start + s, hit.chunk.start + e, settings.look_back)
    short, placed = (typed[1], typed[0]) if typed else (None, 0)
    return _Candidate(rank, article, start, end, score, short, placed)


def _score_candidates(
    asked: _Asked,
    hits: list[Hit],
    index: LoadedIndex,
    settings: AnswerSettings,
    embedder: Embedder | None,
    cache: TextCache | None,
    queries: QueryEmbedder | None = None,
) -> _Evidence:
    """Every sentence of the top hits scored as a candidate quote, with the figures for abstention."""
    top = hits[: settings.sentences_from]
    used = hits[: settings.compound_from if asked.compound else settings.sentences_from]
    if not asked.chinese and embedder:  # the cosine picks the quote
        dense = _sentence_similarities(asked.text, top, index, embedder, queries or embedder)
    elif settings.dense_weight > 0 and embedder:  # ... or adds to its score, where the store keeps vectors
        dense = _sentence_similarities(asked.text, used, index, embedder, queries or embedder, False)
    else:
        dense = {}
    candidates: list[_Candidate] = []
    best_chunk_coverage = 0.0
    for rank, hit in enumerate(used):
        found, chunk_cov = _hit_candidates(asked, rank, hit, index, settings, dense, cache)
        best_chunk_coverage = max(best_chunk_coverage, chunk_cov)
        candidates += found
    top_dense = (
        max(dense.values(), default=0.0) if dense else max((h.dense_score or 0.0 for h in top), default=0.0)
    )
    return _Evidence(candidates, best_chunk_coverage, top_dense)


def _hit_candidates(
    asked: _Asked,
    rank: int,
    hit: Hit,
    index: LoadedIndex,
    settings: AnswerSettings,
    dense: dict[tuple[int, int], float],
    cache: TextCache | None,
) -> tuple[list[_Candidate], float]:
    """Every sentence of the hit at `rank` as a scored candidate, and the chunk's coverage (with the
    article's headline); none when the article is gone from the index."""
    article = index.articles.get(hit.chunk.article_id)
    if article is None:
        return [], 0.0
    chunk_cov = coverage(article.title + "\n" + hit.chunk.text, asked.terms, asked.aliases)
    spans = sentence_spans(hit.chunk.text)
    found: list[_Candidate] = []
    for j, (s, e) in enumerate(spans):
        previous = hit.chunk.text[spans[j - 1][0] : spans[j - 1][1]] if j else ""
        sentence = hit.chunk.text[s:e]
        cosine = dense.get((rank, s), 0.0)
        score = _sentence_score(asked, settings, rank, sentence, previous, chunk_cov, cosine)
        if settings.asking_penalty and asks(sentence, asked.asking):
            score -= settings.asking_penalty
        found.append(_candidate(asked, settings, rank, article, hit, (s, e), score, cache))
    return found, chunk_cov


def _best_candidate(
    asked: _Asked, evidence: _Evidence, settings: AnswerSettings, reading: bool = False
) -> _Candidate | None:
    """The sentence to answer from, or None when the evidence is too weak and the answer abstains.

    A typed question prefers a sentence that holds an answer of its type; a well-placed answer in a
    nearly as good sentence beats a stray one in the best sentence. When a reader will read it
    (`reading`), a typed question without an answer of its type is not refused for that: the reader
    finds answers the typed rules miss, and has its own test of "not here" (`_reader_abstains`).
    """
    candidates = evidence.candidates
    if not candidates:
        return None
    if asked.chinese:
        confident = evidence.best_chunk_coverage >= settings.min_coverage
    else:
        confident = evidence.top_dense >= settings.min_dense
    if not confident:
        return None
    best = max(candidates, key=lambda c: c.score)
    if asked.kind not in ("fact", "list") and best.short is None and asked.chinese:
        typed = [c for c in candidates if c.short is not None]
        if typed and max(c.score for c in typed) >= settings.typed_switch_ratio * best.score:
            best = max(typed, key=lambda c: c.score)
        elif evidence.best_chunk_coverage < settings.min_typed_coverage and not reading:
            return None
    if best.short is not None and best.typed < settings.weak_typed:
        floor = settings.strong_ratio * best.score
        strong = [c for c in candidates if c.short and c.typed >= settings.strong_typed and c.score >= floor]
        if strong:
            best = max(strong, key=lambda c: c.score)
    return best


def _read_candidates(
    asked: _Asked, evidence: _Evidence, first: _Candidate, reader: Reader, settings: AnswerSettings
) -> tuple[_Evidence, _Candidate]:
    """The reader reads `first` (the rules' choice of quote) and the next best candidate sentences,
    `reader_candidates` in all, in one batch; returns the evidence and the sentence to quote first:
    `first` as read, or with a `reader_weight` the read sentence whose score with its bonus is best.

    In each read sentence the short answer is the reader's best span, or the typed rules' answer when
    the reader scores that within `reader_typed_slack` of its own; it is shown when the margin over
    "not here" reaches `reader_margin`. A read sentence's score gains `reader_weight * tanh(margin /
    reader_scale)`. Sentences not read stay candidates for further quotes, with the typed rules'
    answers (never shown: they only tell a quote with another answer), so reading few costs no quotes.
    """
    ranked = [c for c in sorted(evidence.candidates, key=lambda c: -c.score) if c is not first]
    others, unread = _take_distinct(ranked, settings.reader_candidates - 1, {_place(first)})
    read = _read_pool(asked, [first, *others], reader, settings)
    # With a weight, the reader's verdict moves the quote: the read sentence scoring best with its
    # bonus is quoted first (the "the quote is the sentence that holds the span").
    best = max(read, key=lambda c: c.score) if settings.reader_weight > 0 else read[0]
    unsure = _surest_margin(read)
    if settings.reader_more and unsure < settings.reader_more_below:
        more, unread = _take_distinct(unread, settings.reader_more, {_place(c) for c in read})
        again = _read_pool(asked, more, reader, settings) if more else []
        sure = [c for c in again if c.margin is not None and c.margin >= settings.reader_more_sure]
        if sure:
            best = max(sure, key=lambda c: c.margin or 0.0)
        read += again
    return replace(evidence, candidates=read + unread), best


def _read_below_coverage(
    asked: _Asked, evidence: _Evidence, reader: Reader, settings: AnswerSettings
) -> tuple[_Evidence, _Candidate | None]:
    """A question whose words the best passage covers below `min_coverage` (the answer step would
    abstain): the reader reads the best sentences all the same, and when it is sure of one, with a
    margin of `reader_rescue_margin` or more, the answer is given from what it read; else (None) it
    abstains. DRCD/CMRC questions often say in other words what their paragraph says ("全世界有三成五的
    稻米是来自哪边"), which coverage takes for "not in the archive"; the reader does not."""
    first = max(evidence.candidates, key=lambda c: c.score)
    read, best = _read_candidates(asked, evidence, first, reader, settings)
    if _surest_margin(read.candidates) >= settings.reader_rescue_margin:
        return read, best
    return evidence, None


def _surest_margin(candidates: list[_Candidate]) -> float:
    """The highest margin the reader gave any of `candidates` (-inf when it read none of them)."""
    return max((c.margin for c in candidates if c.margin is not None), default=-math.inf)


def _farther_candidates(
    asked: _Asked, hits: list[Hit], index: LoadedIndex, settings: AnswerSettings, cache: TextCache | None
) -> list[_Candidate]:
    """The sentences of the hits after those the candidates come from, up to rank `reader_far_to`."""
    first = settings.compound_from if asked.compound else settings.sentences_from
    found: list[_Candidate] = []
    for rank in range(first, min(len(hits), settings.reader_far_to)):
        found += _hit_candidates(asked, rank, hits[rank], index, settings, {}, cache)[0]
    return found


def _read_farther(
    asked: _Asked,
    evidence: _Evidence,
    best: _Candidate,
    farther: Callable[[], list[_Candidate]],
    reader: Reader,
    settings: AnswerSettings,
) -> tuple[_Evidence, _Candidate, _Candidate | None]:
    """A farther look: when no sentence read so far reaches a margin of `reader_far_below`, the reader
    reads the `reader_far_sentences` best sentences of each of the next hits' articles not yet read (up
    to `reader_far_articles` of the hits before rank `reader_far_to`), in one batch, and the surest of
    them, with at least `reader_far_sure` and more than anything read before, is quoted first. Returns
    the evidence, the sentence to quote first and one to quote second: the surest farther reading
    that, short of that, still reaches `reader_far_quote` and beats everything read before (None when
    there is none).

    The answer is sometimes in the fourth to eighth passage ("小米MIX4采用的是骁龙888Plus…") while the
    first three only talk around it; reading farther every time moved right quotes away on paragraphs
    the reader was already sure of, so it reads farther only when it is unsure of everything.
    `farther()` gives the farther hits' sentences (`_farther_candidates`), scored only when asked for."""
    unsure = _surest_margin(evidence.candidates)
    if settings.reader_far_articles == 0 or unsure >= settings.reader_far_below:
        return evidence, best, None
    seen = {c.article.id for c in evidence.candidates}  # the articles of the hits read from already
    best_of: dict[str, list[_Candidate]] = {}  # each farther article's best sentences, in rank order
    for cand in farther():
        if cand.article.id not in seen:
            best_of.setdefault(cand.article.id, []).append(cand)
    pool: list[_Candidate] = []
    for found in list(best_of.values())[: settings.reader_far_articles]:
        ranked = sorted(found, key=lambda c: -c.score)
        pool += _take_distinct(ranked, settings.reader_far_sentences, set())[0]
    read = _read_pool(asked, pool, reader, settings) if pool else []
    sure = [
        c for c in read if c.margin is not None and c.margin >= settings.reader_far_sure and c.margin > unsure
    ]
    evidence = replace(evidence, candidates=evidence.candidates + read)
    if sure:
        return evidence, max(sure, key=lambda c: c.margin or 0.0), None
    near = [
        c
        for c in read
        if c.span and c.margin is not None and c.margin >= settings.reader_far_quote and c.margin > unsure
    ]
    return evidence, best, max(near, key=lambda c: c.margin or 0.0, default=None)


def _place(cand: _Candidate) -> tuple[str, int, int]:
    """Where a candidate's sentence lies: overlapping chunks give the same sentence more than once."""
    return cand.article.id, cand.start, cand.end


def _take_distinct(
    ranked: list[_Candidate], n: int, taken: set[tuple[str, int, int]]
) -> tuple[list[_Candidate], list[_Candidate]]:
    """The first `n` of `ranked` whose places are not in `taken` (nor repeated), and the rest in order."""
    picked: list[_Candidate] = []
    rest: list[_Candidate] = []
    for cand in ranked:
        if len(picked) < n and _place(cand) not in taken:
            picked.append(cand)
            taken.add(_place(cand))
        else:
            rest.append(cand)
    return picked, rest


def _read_pool(
    asked: _Asked, pool: list[_Candidate], reader: Reader, settings: AnswerSettings
) -> list[_Candidate]:
    """The candidates of `pool` as the reader read them, in one batch: each with its short answer (or
    None), its margin, and its score raised or lowered by the reader's verdict."""
    quotes = [c.article.text[c.start : c.end] for c in pool]
    typed_at = [_typed_offsets(c, q) for c, q in zip(pool, quotes, strict=True)]
    reach = [next_sentence_end(c.article.text, c.start, c.end, settings.reader_context) for c in pool]
    passages = [c.article.text[c.start : r] for c, r in zip(pool, reach, strict=True)]
    spans = reader.read(asked.text, passages, typed_at)
    read: list[_Candidate] = []
    for cand, span, typed, far in zip(pool, spans, typed_at, reach, strict=True):
        if span is None:
            read.append(replace(cand, short=None, typed=0.0))
            continue
        if cand.start + span.end > cand.end:  # the answer is in the sentence after: quote both
            cand = replace(cand, end=_trimmed_end(cand.article.text, cand.start, far))
        close = span.proposed is not None and span.proposed >= span.score - settings.reader_typed_slack
        if typed is not None and close:
            span = replace(span, start=typed[0], end=typed[1])
        start, end = _span_in_article(cand, span)
        margin = span.margin
        if settings.reader_off_kind and not fits_kind(asked.text, cand.article.text[start:end]):
            margin -= settings.reader_off_kind
        shown = margin >= settings.reader_margin and end > start
        bonus = settings.reader_weight * math.tanh(margin / settings.reader_scale)
        read.append(
            replace(
                cand,
                score=cand.score + bonus,
                short=cand.article.text[start:end] if shown else None,
                typed=0.0,
                span=(start, end) if shown else None,
                margin=margin,
            )
        )
    return read


_SENTENCE_END = re.compile(f"[{SENTENCE_END}]+[{SENTENCE_CLOSERS}]*|\\n")


def next_sentence_end(text: str, start: int, end: int, limit: int) -> int:
    """Where the sentence after `text[start:end]` ends, when both together stay within `limit`
    characters (else `end`: the reader reads the sentence alone). Public: the reader's news practice
    (benchmarks/news_reader_data.py --reading) cuts its examples with it."""
    after = end
    while after < len(text) and text[after].isspace():
        after += 1
    found = _SENTENCE_END.search(text, after, min(len(text), start + limit)) if limit > 0 else None
    return found.end() if found and found.start() > after else end


def _trimmed_end(text: str, start: int, end: int) -> int:
    """`end` moved back over trailing whitespace, not before `start`."""
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _typed_offsets(cand: _Candidate, quote: str) -> tuple[int, int] | None:
    """Where the typed rules' answer of a candidate sits in its quote (the last time it is written:
    the quote may start with the sentence a 这/该 sentence points back to), or None."""
    if not cand.short:
        return None
    at = quote.rfind(cand.short)
    return None if at < 0 else (at, at + len(cand.short))


def _span_in_article(cand: _Candidate, span: Span) -> tuple[int, int]:
    """A span read in a candidate sentence, as offsets into its article's text, edges trimmed."""
    return _trimmed(cand.article.text, cand.start + span.start, cand.start + span.end)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """A span without surrounding spaces and punctuation (OCR spaces and a stray "，" at the edges)."""
    edge = " \t\n\u3000，。、；：,.;:！？!?“”\"'（）()《》"
    while start < end and text[start] in edge:
        start += 1
    while end > start and text[end - 1] in edge:
        end -= 1
    return start, end


def _reader_abstains(evidence: _Evidence, settings: AnswerSettings) -> bool:
    """The reader found nothing anywhere and the words matched only weakly: not in the archive."""
    margins = [c.margin for c in evidence.candidates if c.margin is not None]
    return (
        bool(margins)
        and max(margins) < settings.reader_abstain_margin
        and evidence.best_chunk_coverage < settings.reader_abstain_coverage
    )


def _part_terms(
    index: LoadedIndex, parts: tuple[str, ...], settings: AnswerSettings
) -> list[tuple[dict[str, float], list[str]]]:
    """Each part's words with their weight, and its own words: those that tell it from the other parts
    (一等奖 vs 二等奖) weigh `part_word_weight` times more, since they decide where its answer sits."""
    weights = [question_terms(index, part) for part in parts]
    shared = set.intersection(*(set(w) for w in weights)) if weights else set()
    return [
        (
            {w: x * (1.0 if w in shared else settings.part_word_weight) for w, x in terms.items()},
            [w for w in terms if w not in shared],
        )
        for terms in weights
    ]


def _ranked_for_part(
    asked: _Asked,
    candidates: list[_Candidate],
    terms: dict[str, float],
    own: list[str],
    settings: AnswerSettings,
    naming_only: bool = False,
) -> list[_Candidate]:
    """`candidates` best first for one part: those naming the part's own words when any does (all of
    them otherwise, none with `naming_only`), by the part's words in the sentence, its year, and
    earlier hits first among equals."""
    sentences = [c.article.text[c.start : c.end] for c in candidates]
    lowered = [sentence.lower() for sentence in sentences]
    naming = [i for i, text in enumerate(lowered) if any(w in text for w in own)]
    pool_of = naming if naming or naming_only else range(len(candidates))
    weighed = weigh_terms(terms, asked.aliases)
    fits = [
        covered_share(lowered[i], weighed)
        + year_fit(asked.years, candidates[i].article.date, sentences[i], settings)
        + settings.rank_weight / (1 + candidates[i].hit_rank)
        for i in pool_of
    ]
    return [candidates[i] for _, i in sorted(zip(fits, pool_of, strict=True), key=lambda p: -p[0])]


def _read_for_parts(
    asked: _Asked,
    evidence: _Evidence,
    part_terms: list[tuple[dict[str, float], list[str]]],
    reader: Reader,
    settings: AnswerSettings,
    farther: Callable[[], list[_Candidate]] | None = None,
) -> list[_Candidate]:
    """A question asking several things: for each part, the reader reads the `part_reader_candidates`
    sentences that best match the part's own words, asked the part alone ("网易2022年全年营收是多少"),
    and the surest reading, when its margin reaches `part_reader_sure`, is a quote for that part
    (`_quotes_for_parts` skips it when it is the best quote already).

    Only sentences that name the part's own words (女子 of "男子和女子…", 比亚迪 of "特斯拉和比亚迪…")
    are read for it when any does: a sentence about the other part matches every shared word and the
    reader, asked about 女子, reads the 男子 answer there. A sentence's year counts as in the sentence
    score (`year_fit`), so a later season's sentence naming the part does not win on a shared word.
    `part_terms` is `_part_terms` of the question's parts.

    When no reading of a part reaches `part_far_below`, the part is also read in the
    `part_reader_candidates` sentences of `farther()` (the farther hits' sentences) that best match it
    among those naming its own words, and one read there with at least `reader_far_sure`, and more
    than the part's readings before, may be its quote: the women's final of "女子双人和男子双人10米跳台
    冠军" is often reported apart, farther down."""
    if not asked.parts or settings.part_reader_candidates == 0:
        return []
    picked: list[_Candidate] = []
    for part, (terms, own) in zip(asked.parts, part_terms, strict=True):
        ranked = _ranked_for_part(asked, evidence.candidates, terms, own, settings)
        pool, _ = _take_distinct(ranked, settings.part_reader_candidates, set())
        alone = replace(asked, text=part)
        read = _read_pool(alone, pool, reader, settings) if pool else []
        unsure = _surest_margin([c for c in read if c.span])  # of its shown readings
        if farther is not None and own and unsure < settings.part_far_below:
            ranked = _ranked_for_part(asked, farther(), terms, own, settings, naming_only=True)
            more, _ = _take_distinct(ranked, settings.part_reader_candidates, {_place(c) for c in pool})
            floor = max(settings.reader_far_sure, unsure)
            read += [
                c
                for c in (_read_pool(alone, more, reader, settings) if more else [])
                if c.margin is not None and c.margin >= floor
            ]
        sure = [c for c in read if c.span and c.margin is not None and c.margin >= settings.part_reader_sure]
        if sure:
            picked.append(max(sure, key=lambda c: c.margin or 0.0))
    return picked


def _read_parts(
    asked: _Asked,
    chosen: list[_Candidate],
    reader: Reader,
    settings: AnswerSettings,
    part_terms: list[tuple[dict[str, float], list[str]]],
    cache: TextCache | None,
) -> str | None:
    """A question asking several things: the reader reads the chosen quotes once per part.

    A part's span that takes in another part's and names that part, not its own ("279869起，其中醉驾
    525起" read for 酒驾, around 醉驾's "525起"), shows the reader mixed the two up in that quote: both
    parts then take the typed rules' answers of the quote ("525起", "621起") when those are two
    different answers, else the readings stay."""
    read: dict[int, tuple[_Candidate, int, int]] = {}  # part -> (quote, span start, span end)
    quotes = [c.article.text[c.start : c.end] for c in chosen]
    for n, part in enumerate(asked.parts):
        spans = [s for s in reader.read(part, quotes) if s is not None]
        if not spans:
            continue
        span = max(spans, key=lambda s: s.margin)
        if span.margin < settings.reader_margin:
            continue
        cand = chosen[span.passage]
        start, end = _span_in_article(cand, span)
        if end > start:
            read[n] = (cand, start, end)
    texts = {n: cand.article.text[start:end] for n, (cand, start, end) in read.items()}
    for n, (cand, start, end) in read.items():
        named = texts[n].lower()
        mixed = [
            m
            for m, (c, s, e) in read.items()
            if m != n
            and c.article.id == cand.article.id
            and start <= s
            and e <= end
            and (s, e) != (start, end)
            and any(w in named for w in part_terms[m][1])
            and not any(w in named for w in part_terms[n][1])
        ]
        if not mixed:
            continue
        quote = cand.article.text[cand.start : cand.end]
        typed = {
            k: typed_answer(asked.kind, quote, asked.parts[k], part_terms[k][0], cache, aliases=asked.aliases)
            for k in (n, *mixed)
        }
        answers = [t[1] for t in typed.values() if t is not None]
        if len(answers) == len(typed) and len({normalise(a) for a in answers}) == len(answers):
            texts.update({k: t[1] for k, t in typed.items() if t is not None})
    found: dict[str, str] = {}
    for n in sorted(texts):
        found.setdefault(normalise(texts[n]), texts[n])
    return "；".join(found.values()) or None


def _read_elsewhere(best: _Candidate, candidates: list[_Candidate]) -> list[str | None]:
    """The short answers of the other read sentences, except a reading of the same span (with
    `reader_context` a sentence is read again as the context of the one before it: no agreement)."""
    here = (best.article.id, best.span)
    return [
        c.short
        for c in candidates
        if c.margin is not None and c is not best and (c.article.id, c.span) != here
    ]


def short_answer_agreement(short: str | None, others: list[str | None]) -> int:
    """How many of the other sentences the reader read gave the same short answer: agreement the
    sure-enough score counts (an answer read alike in several places is seldom a misreading)."""
    key = normalise(short or "")
    return sum(1 for other in others if key and other and normalise(other) == key)


def short_answer_confidence(margin: float, agree: int, compound: bool, settings: AnswerSettings) -> float:
    """How likely a read short answer is right (0..1): a logistic score of the reader's margin, the
    other read sentences agreeing with it and whether the question asks several things
    (`AnswerSettings.sure_*`)."""
    cap = settings.sure_margin_cap
    score = (
        settings.sure_bias
        + settings.sure_margin * max(-cap, min(cap, margin))
        + settings.sure_agree * math.log1p(agree)
        + settings.sure_compound * compound
    )
    return 1.0 / (1.0 + math.exp(-score))


def _apart(other: _Candidate, chosen: list[_Candidate], repeat_overlap: float) -> bool:
    """Whether `other` overlaps none of the quotes already chosen and repeats none of their texts.

    A sentence another article printed too (a reprint, a search result quoting the same page) repeats
    a chosen quote when at least `repeat_overlap` of its character pairs are in that quote.
    """
    if not all(
        other.end <= c.start or other.start >= c.end or other.article.id != c.article.id for c in chosen
    ):
        return False
    if repeat_overlap > 1:
        return True
    pairs = _char_pairs(other.article.text[other.start : other.end])
    return not any(
        len(pairs & _char_pairs(c.article.text[c.start : c.end])) >= repeat_overlap * len(pairs)
        for c in chosen
        if pairs
    )


def _char_pairs(text: str) -> set[str]:
    """The text's adjacent character pairs, ignoring spaces and punctuation."""
    plain = normalise(text)
    return {plain[i : i + 2] for i in range(len(plain) - 1)}


def _further_quotes(
    best: _Candidate,
    candidates: list[_Candidate],
    settings: AnswerSettings,
    second: _Candidate | None = None,
    unsure: bool = False,
) -> list[_Candidate]:
    """The best sentence, then `second` (a farther reading, `_read_farther`) when given and not a
    repeat, then nearly as good ones that add another article or another answer: up to `max_quotes`
    at `second_quote_ratio` of the best's score, or, when no short answer is shown (`unsure`),
    `unsure_more_quotes` more at `unsure_quote_ratio`."""
    limit = settings.max_quotes + (settings.unsure_more_quotes if unsure else 0)
    ratio = settings.unsure_quote_ratio if unsure else settings.second_quote_ratio
    chosen = [best]
    if second is not None and _apart(second, chosen, settings.repeat_overlap):
        chosen.append(second)
    for other in sorted(candidates, key=lambda c: -c.score):
        if len(chosen) >= limit:
            break
        adds = other.article.id != best.article.id or other.short != best.short
        good = other.score >= ratio * best.score
        if good and adds and _apart(other, chosen, settings.repeat_overlap):
            chosen.append(other)
    return chosen


def _quotes_for_parts(
    asked: _Asked,
    best: _Candidate,
    candidates: list[_Candidate],
    settings: AnswerSettings,
    for_parts: list[_Candidate] | None = None,
    unsure: bool = False,
) -> list[_Candidate]:
    """For a question asking several things: the best quote, the quotes the reader found for its parts
    (`for_parts`, `_read_for_parts`), then quotes that cover the question words still uncovered, up
    to `compound_quotes` (`unsure_more_quotes` more when no short answer is shown: `unsure`).

    A further quote must score at least compound_ratio of the best and either cover question weight
    the chosen quotes miss ("中国" after a quote about "美国") or hold a new answer of the asked type.
    """
    limit = max(settings.max_quotes, settings.compound_quotes)
    limit += settings.unsure_more_quotes if unsure else 0
    chosen = [best]
    for quote in for_parts or []:
        if len(chosen) < limit and _apart(quote, chosen, settings.repeat_overlap):
            chosen.append(quote)
    total = sum(asked.terms.values()) or 1.0
    while len(chosen) < limit:
        quoted = "".join(c.article.text[c.start : c.end] for c in chosen).lower()
        missing = {w: x for w, x in asked.terms.items() if w not in quoted}
        answers = {normalise(c.short) for c in chosen if c.short}
        pick, pick_value = None, 0.0
        for other in candidates:
            if other.score < settings.compound_ratio * best.score or not _apart(
                other, chosen, settings.repeat_overlap
            ):
                continue
            text = other.article.text[other.start : other.end]
            gain = coverage(text, missing, asked.aliases) * sum(missing.values()) / total
            new_answer = other.short is not None and normalise(other.short) not in answers
            if gain <= 0 and not new_answer:
                continue
            value = other.score + settings.new_words_weight * gain
            if value > pick_value:
                pick, pick_value = other, value
        if pick is None:
            break
        chosen.append(pick)
    return chosen


def _choose_quotes(
    asked: _Asked,
    best: _Candidate,
    candidates: list[_Candidate],
    settings: AnswerSettings,
    for_parts: list[_Candidate] | None = None,
    second: _Candidate | None = None,
    unsure: bool = False,
) -> list[_Candidate]:
    """The answer's quotes, the best first: one per part of a two-part question, else up to max_quotes
    (`second`, a farther reading, next); more when no short answer will be shown (`unsure`)."""
    if asked.compound:
        return _quotes_for_parts(asked, best, candidates, settings, for_parts, unsure)
    return _further_quotes(best, candidates, settings, second, unsure)


def _short_per_part(
    asked: _Asked,
    chosen: list[_Candidate],
    part_terms: list[tuple[dict[str, float], list[str]]],
    cache: TextCache | None,
) -> str | None:
    """The short answers of a question asking several things, one per part, joined by "；".

    Each part ("醉驾有多少起" of "醉驾和酒驾分别有多少起") takes the best answer of the asked type in
    the chosen quotes, so two figures in one sentence both count; without parts, each quote's own answer.
    """
    found: dict[str, str] = {}
    quotes = [c.article.text[c.start : c.end] for c in chosen]
    for part, (terms, own) in zip(asked.parts, part_terms, strict=True):
        naming = [q for q in quotes if any(w in q.lower() for w in own)] or quotes
        typed = [typed_answer(asked.kind, q, part, terms, cache, aliases=asked.aliases) for q in naming]
        best = max((t for t in typed if t is not None), default=None)
        if best is not None:
            found.setdefault(normalise(best[1]), best[1])
    if len(found) < 2:
        for c in chosen:
            if c.short:
                found.setdefault(normalise(c.short), c.short)
    return "；".join(found.values()) or None


def _short_answer(
    asked: _Asked,
    best: _Candidate,
    chosen: list[_Candidate],
    part_terms: list[tuple[dict[str, float], list[str]]],
    cache: TextCache | None,
) -> str | None:
    """The short answer: the best sentence's typed answer, or one per part of a two-part question."""
    if asked.compound:
        return _short_per_part(asked, chosen, part_terms, cache) or best.short
    return best.short


def in_quotation_marks(quote: str) -> str:
    """A quote between “ ”, or between 「 」 when it holds “ or ” itself, so marks never double
    (“我与政协”征文 quoted whole reads 「…“我与政协”征文…」); the quote itself stays verbatim."""
    return f"「{quote}」" if "“" in quote or "”" in quote else f"“{quote}”"


def answer_prose(short: str | None, short_date: str, citations: list[Citation]) -> str:
    """The answer as one text, built from its fields: "<short>（<date>）。依据：“quote”<note>[n] …"."""
    quotes = " ".join(f"{in_quotation_marks(c.quote)}{c.note}[{c.n}]" for c in citations)
    if not short:
        return quotes
    date = f"（{short_date}）" if short_date else ""
    return f"{short}{date}。依据：{quotes}"


def _assemble(
    asked: _Asked, best: _Candidate, chosen: list[_Candidate], short: str | None, passages: list[Passage]
) -> Answer:
    """The Answer: short answer with its date, checked citations with their notes, and the prose."""
    short_date = best.article.date if short and best.article.date and not asked.years else ""
    citations = []
    for n, cand in enumerate(chosen, 1):
        note = ""
        if cand is not best and cand.short and cand.short != short and cand.article.date:
            note = f"（{cand.article.date}的报道）"
        citation = _citation(n, cand.article, cand.start, cand.end, note)
        if cand.span is not None and short and cand.article.text[cand.span[0] : cand.span[1]] in short:
            citation = replace(citation, answer_start=cand.span[0], answer_end=cand.span[1])
        citations.append(citation)
    return Answer(
        question=asked.text,
        answer=answer_prose(short, short_date, citations),
        short_answer=short,
        abstained=False,
        citations=citations,
        passages=passages,
        short_answer_date=short_date,
    )


def answer_question(
    question: str,
    hits: list[Hit],
    index: LoadedIndex,
    settings: AnswerSettings | None = None,
    embedder: Embedder | None = None,
    cache: TextCache | None = None,
    reader: Reader | None = None,
    queries: QueryEmbedder | None = None,
    explain: dict[str, object] | None = None,
) -> Answer:
    """Build the answer (short answer + quotes + citations) or an abstention with the closest passages.

    A question asking several things ("网易和腾讯的营收分别是多少") gets a quote for each part.
    `settings` None means the shipped AnswerSettings; `cache` (the service's TextCache) only saves
    time, the answer is the same without it. Word aliases come from the index (`index.aliases`).
    With a `reader`, Chinese questions take their quote and short answer from what the reader reads
    in the best sentences; without one (or for other languages) the typed rules answer. `queries` is
    where the question's vector comes from (the service passes the vectors retrieval computed); None:
    `embedder`. `explain`, a dict, receives the inputs of the sure-enough score of a read short answer.
    """
    settings = settings or AnswerSettings()
    passages = _passages(hits, index)
    asked = _Asked.of(question, index)
    evidence = _score_candidates(asked, hits, index, settings, embedder, cache, queries)
    reading = reader is not None and asked.chinese and bool(evidence.candidates)
    best = _best_candidate(asked, evidence, settings, reading)
    # the sentences of the hits after the candidates', scored once and only if a farther look asks
    farther = functools.cache(lambda: _farther_candidates(asked, hits, index, settings, cache))
    second: _Candidate | None = None  # a farther reading to quote second
    if reading:
        assert reader is not None
        if best is None:  # the words match weakly: the reader may still find the answer
            evidence, best = _read_below_coverage(asked, evidence, reader, settings)
        else:
            evidence, best = _read_candidates(asked, evidence, best, reader, settings)
        if best is not None:
            evidence, best, second = _read_farther(asked, evidence, best, farther, reader, settings)
            if _reader_abstains(evidence, settings):
                best = None
    if best is None:
        return Answer(
            question=question, answer=ABSTAIN_TEXT, short_answer=None, abstained=True, passages=passages
        )
    part_terms = _part_terms(index, asked.parts, settings)  # each part's words, once per question
    for_parts: list[_Candidate] = []
    if reading and asked.compound:
        assert reader is not None
        for_parts = _read_for_parts(asked, evidence, part_terms, reader, settings, farther)
    chosen = _choose_quotes(asked, best, evidence.candidates, settings, for_parts, second)
    if reading and asked.compound:
        assert reader is not None
        short = _read_parts(asked, chosen, reader, settings, part_terms, cache) or best.short
    elif reading:
        short = best.short
    else:
        short = _short_answer(asked, best, chosen, part_terms, cache)
    if reading and short and best.margin is not None:
        agree = short_answer_agreement(best.short, _read_elsewhere(best, evidence.candidates))
        if explain is not None:  # what the sure-enough score reads (benchmarks/calibrate_gate.py)
            explain.update(margin=best.margin, agree=agree, compound=asked.compound)
        confidence = short_answer_confidence(best.margin, agree, asked.compound, settings)
        if confidence < settings.sure_min:
            short = None  # not sure enough to show in large red type: the quotes still answer
    if reading and not short and settings.unsure_more_quotes:  # the quotes are the whole answer: more
        chosen = _choose_quotes(asked, best, evidence.candidates, settings, for_parts, second, unsure=True)
    return _assemble(asked, best, chosen, short, passages)
