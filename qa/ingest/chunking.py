"""Article -> Chunk: a few whole Chinese sentences per chunk, with exact character offsets.

Sentences end at 。！？；… (and their ASCII forms) or at a line end; closing quotes and brackets stay
with the sentence they close. Sentences are packed up to `max_chars`, the last `overlap_sentences`
of one chunk open the next so an answer that straddles a boundary is still whole in one chunk.
Every chunk satisfies `chunk.text == article.text[chunk.start:chunk.end]`.
"""

from __future__ import annotations

import re

from qa.records import Article, Chunk
from qa.text import sentence_spans

DEFAULT_MAX_CHARS = 250
DEFAULT_OVERLAP_SENTENCES = 1

# Where an over-long sentence may be cut, best first: after a comma-like mark.
_SOFT_BREAK = re.compile(r"[，、,：:]")


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than `max_chars` into pieces, preferring to cut after a comma."""
    pieces: list[tuple[int, int]] = []
    while end - start > max_chars:
        window = text[start : start + max_chars]
        cuts = [m.end() for m in _SOFT_BREAK.finditer(window) if m.end() >= max_chars // 2]
        cut = start + (cuts[-1] if cuts else max_chars)
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces


def chunk_article(
    article: Article,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap_sentences: int = DEFAULT_OVERLAP_SENTENCES,
) -> list[Chunk]:
    """Split an article into sentence-aligned chunks of at most about `max_chars` characters."""
    if max_chars < 20:
        raise ValueError("max_chars must be at least 20")
    if overlap_sentences < 0:
        raise ValueError("overlap_sentences must be >= 0")
    text = article.text
    sentences: list[tuple[int, int]] = []
    for start, end in sentence_spans(text):
        sentences.extend(_split_long(text, start, end, max_chars))

    groups: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    fresh = 0  # sentences in `current` that are not overlap from the previous chunk
    for sentence in sentences:
        if current and sentence[1] - current[0][0] > max_chars and fresh > 0:
            groups.append(current)
            carried = current[-overlap_sentences:] if overlap_sentences and len(current) > 1 else []
            # Overlap only while it leaves room for new text.
            while carried and sentence[1] - carried[0][0] > max_chars:
                carried = carried[1:]
            current, fresh = list(carried), 0
        current.append(sentence)
        fresh += 1
    if current and fresh > 0:
        groups.append(current)

    return [
        Chunk(
            id=f"{article.id}:{i}",
            article_id=article.id,
            start=group[0][0],
            end=group[-1][1],
            text=text[group[0][0] : group[-1][1]],
        )
        for i, group in enumerate(groups)
    ]


# The lead clause of a text without a headline: its first sentence without a leading date ("11月20日，"),
# cut at a comma to at most LEAD_MAX_CHARS (not before LEAD_MIN_CUT). Set on the seed pages' photo captions,
# where it reproduces the search heading they had when it was also their (first-clause) title.
LEAD_MAX_CHARS = 32
LEAD_MIN_CUT = 12
_LEADING_DATE = re.compile(r"^(?:\d{1,2}月\d{1,2}日(?:[上下]午|晚|电)?|近日|日前)[，,]")
_CLAUSE_END = re.compile(r"[。！？；\n]|(?<=[A-Za-z])[.!?](?:\s|$)")


def lead_clause(text: str) -> str:
    """The first clause(s) of `text` without a leading date, at most LEAD_MAX_CHARS (cut at a comma)."""
    text = _LEADING_DATE.sub("", text.strip())
    first = next((piece.strip() for piece in _CLAUSE_END.split(text) if piece.strip()), "")
    if len(first) <= LEAD_MAX_CHARS:
        return first
    cuts = [m.start() for m in re.finditer("[，,]", first[: LEAD_MAX_CHARS + 1]) if m.start() >= LEAD_MIN_CUT]
    return first[: cuts[-1]] if cuts else first[:LEAD_MAX_CHARS] + "…"


def embedding_text(chunk: Chunk, article: Article) -> str:
    """What gets embedded and BM25-indexed: title and date first, so headline words find the chunk.

    A placeholder title (`untitled`: the page printed no headline) is not the page's text and stays out;
    the article's lead clause heads the chunk instead, as a headline would.
    """
    title = lead_clause(article.text) if article.untitled else article.title.strip()
    header = " ".join(part for part in (title, article.date.strip()) if part)
    return f"{header}\n{chunk.text}" if header else chunk.text
