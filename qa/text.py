"""Chinese-text basics every layer shares: one CJK class, one sentence splitter, years, units, one normaliser.

Defined once so that chunk boundaries, quote offsets and answer comparisons agree: a sentence is the
same span whether the chunker, the re-scorer or the answer step asks.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from functools import lru_cache

# CJK unified ideographs, extension A and the compatibility block.
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Full-width and CJK punctuation, dashes, curly quotes, the ellipsis, the middle dot and list bullets.
CJK_PUNCT = (
    "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
    "\u2014\u2015\u2018\u2019\u201c\u201d\u2026\u00b7\u25a1\u25cf\u25b2"
)
CJK = re.compile(f"[{CJK_CHARS}]")

# Marks that end a sentence, and the closing quotes and brackets that stay with the sentence they close.
SENTENCE_END = "。！？；!?;…"
SENTENCE_CLOSERS = "”’」』）)】》〉\"'\\]"
# One sentence: anything up to a run of terminators plus its closers, or up to a line end (headlines,
# list items and paragraphs end at a line end).
_SENTENCE = re.compile(f"[^\\n]*?(?:[{SENTENCE_END}]+[{SENTENCE_CLOSERS}]*|(?=\\n)|$)")

# A four-digit year as Chinese text writes it: "2022年" (the year itself is group 1).
YEAR = re.compile(r"((?:19|20)\d{2})\s*年")

# Measure words and units that follow a number ("76.8亿元", "525起", "3个百分点"), longest first where
# one is the start of another, so a regex alternation takes the whole unit.
UNITS = (
    "个百分点|%|％|亿元|万元|元|万平方米|平方米|万平|亩|公里|千米|米|吨|人次|万人|名|人|个|起|件|条|家|份|所|座|项|次|场|节|"
    "期|届|分|天|小时|倍|岁|度|台|辆|户|批|篇|处|只|套|片|张|万|亿"
)


Tags = tuple[tuple[str, str], ...]  # jieba's (word, POS flag) pairs of one sentence


def pos_tags(sentence: str) -> Tags:
    """jieba's (word, POS flag) pairs of a sentence, uncached: the index stores them per sentence
    (`qa.index.sentences`) and the answer step's `TextCache` keeps those it reads or makes."""
    # imported here, not at the top: the reader's training imports this module for its EM/F1 rules,
    # also on an accelerator machine that has no jieba (qa.answer.reader_bundle)
    import jieba.posseg as posseg

    return tuple((pair.word, pair.flag) for pair in posseg.cut(sentence))


def has_cjk(text: str) -> bool:
    """True when `text` holds at least one CJK character."""
    return bool(CJK.search(text))


def is_cjk(char: str) -> bool:
    """True when `char` is one CJK character."""
    return bool(CJK.fullmatch(char))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every non-blank sentence of `text`, trimmed of surrounding whitespace.

    A sentence ends after a run of 。！？；…!?; (with the quotes and brackets that close it) or at a
    line end; `text[start:end]` is the sentence. Remembered for the last SPANS_CACHED texts: the
    answer step splits the same candidate chunks for each search of a question and for the quote.
    """
    return list(_sentence_spans(text))


SPANS_CACHED = 16384  # ~30 chunks a search, a few searches a question: hundreds of questions' chunks


@lru_cache(maxsize=SPANS_CACHED)
def _sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    """sentence_spans, as an immutable tuple that can be cached."""
    spans: list[tuple[int, int]] = []
    position = 0
    while position < len(text):
        match = _SENTENCE.match(text, position)
        end = match.end() if match else len(text)
        if end == position:  # at a line end: step over it
            end = position + 1
        start, stop = position, end
        while start < stop and text[start].isspace():
            start += 1
        while stop > start and text[stop - 1].isspace():
            stop -= 1
        if stop > start:
            spans.append((start, stop))
        position = end
    return tuple(spans)


def years(text: str) -> set[str]:
    """The four-digit years written as "YYYY年" in `text`."""
    return set(YEAR.findall(text))


def normalise(text: str) -> str:
    """Text reduced for comparison: NFKC, lower-cased, only letters, digits, CJK, '.', '%' and '·' kept.

    "5545.5 亿元" and "5545.5亿元" compare equal; so do full- and half-width forms.
    """
    return "".join(
        ch
        for ch in unicodedata.normalize("NFKC", text).lower()
        if ch in ".%·" or unicodedata.category(ch)[0] in "LN"
    )


def _answer_chars(text: str) -> str:
    """CMRC 2018 evaluation's view of an answer: lower case, no punctuation, no spaces."""
    return "".join(
        ch for ch in text.lower() if not ch.isspace() and not unicodedata.category(ch).startswith("P")
    )


def exact_match(predicted: str, answers: list[str]) -> float:
    """1.0 when the prediction equals an accepted answer after CMRC 2018 normalisation."""
    guess = _answer_chars(predicted)
    return float(any(guess == _answer_chars(a) for a in answers if _answer_chars(a)))


def char_f1(predicted: str, answers: list[str]) -> float:
    """Best character F1 against the accepted answers, via the longest common substring (CMRC 2018)."""
    guess, best = _answer_chars(predicted), 0.0
    for answer in answers:
        gold = _answer_chars(answer)
        if not guess or not gold:
            continue
        longest = SequenceMatcher(None, guess, gold, autojunk=False).find_longest_match(
            0, len(guess), 0, len(gold)
        )
        if longest.size:
            precision, recall = longest.size / len(guess), longest.size / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best
