"""Headline group -> (title, subtitle, byline); "" when text was printed without a headline.

The main headline of a group is the longest one that is not a kicker (with a comma) or a series
label; the other headlines and the dek make the subtitle. Short name prefixes ("魏都区") are joined
to the headline they start, a pen name printed under the headline is the byline, and a multi-line
headline is joined without a space unless its lines are a balanced couplet. Which group heads which
text is layout.py's job; bylines from the text itself ("本报讯（记者 X）") are page.py's.
"""

from __future__ import annotations

import re

from qa.ingest.cleaning import clean_text, join_lines, tidy_headline, visible_length
from qa.ingest.segment.layout import bigrams
from qa.ingest.segment.settings import SegmentSettings
from qa.ingest.segment.units import Unit

_SERIES_LABEL = re.compile(r"系列评论|之[一二三四五六七八九十]+$|专栏|^一周要闻$|^本版")
_PREFIX_NAME = re.compile(r"(?:区|县|市|镇|乡|村|省|委|局|办|院|厅|所|部|系统|中心|公司|集团)$")
_COMMA = re.compile("[，,]")
# Marks the seams between the lines of one headline until `_wrapped` decides how to join them.
_SEAM = "\u2063"


def title_parts(units: list[Unit], text: str, settings: SegmentSettings) -> tuple[str, str, str]:
    """(title, subtitle, byline) of the article `text` from its headline group ("" when it has none)."""
    heads, subs, byline = _head_lines(_telling_heads(units, text, settings), settings)
    heads = [h.replace(_SEAM, "") if _wrapped(h, settings) else h.replace(_SEAM, " ") for h in heads]
    if not heads:
        return "", " ".join(subs), byline
    candidates = [h for h in heads if not _SERIES_LABEL.search(h)] or heads
    kickers = [h for h in candidates[:-1] if _is_kicker(h, settings)]
    candidates = [h for h in candidates if h not in kickers] or candidates
    main = max(candidates, key=lambda h: (len(h.replace(" ", "")), -heads.index(h)))
    others = [h for h in heads if h is not main]
    title = main
    words = title.split(" ")
    if (
        len(words) >= settings.moved_word_min_words
        and len(title) > settings.long_title_chars
        and len(words[-1]) >= settings.moved_word_min_chars
    ):
        title, moved = " ".join(words[:-1]), words[-1]
        others.insert(0, moved)
    subtitle = " ".join([*others, *subs]).strip()
    return title, subtitle, byline


def _is_kicker(head: str, settings: SegmentSettings) -> bool:
    """A kicker (引题) over the main headline: a short lead phrase and a comma ("今年以来，…")."""
    first = _COMMA.split(head, maxsplit=1)
    return len(first) == 2 and len(first[0].replace(" ", "")) <= settings.kicker_lead_max_chars


def _telling_heads(units: list[Unit], text: str, settings: SegmentSettings) -> list[Unit]:
    """Drop extra headlines that share no words with the article (column labels, a photo's headline)."""
    heads = [u for u in units if u.kind == "head"]
    if len(heads) < 2:
        return units
    pairs = bigrams(text)
    scores = {id(u): len(bigrams(u.raw) & pairs) / max(1, len(bigrams(u.raw))) for u in heads}
    best = max(scores.values())
    return [
        u
        for u in units
        if u.kind != "head"
        or scores[id(u)] >= settings.telling_head_min_overlap
        or scores[id(u)] == best
        or visible_length(u.raw) <= settings.telling_head_keep_chars
    ]


def _head_parts(unit: Unit, settings: SegmentSettings) -> list[str]:
    """The headline texts of one head unit: a long first line over a second is two headlines."""
    lines = unit.lines
    if len(lines) >= 2 and visible_length(lines[0]) >= settings.split_head_min_chars:
        parts = [tidy_headline(lines[0]), tidy_headline(join_lines(lines[1:]))]
    else:
        parts = [_join_head_lines(lines)]
    return [part for part in parts if part]


def _head_lines(units: list[Unit], settings: SegmentSettings) -> tuple[list[str], list[str], str]:
    """(headline texts, dek/sub texts, byline) of a headline group, cleaned and with short prefixes joined."""
    heads: list[str] = []
    subs: list[str] = []
    byline = ""
    pending_prefix = ""
    for unit in units:
        if unit.kind == "byline":
            byline = byline or unit.raw
            continue
        if unit.kind == "dek":
            subs.append(clean_text(unit.raw))
            continue
        parts = _head_parts(unit, settings)
        if (
            len(parts) == 1
            and len(unit.lines) == 1
            and len(parts[0]) <= settings.prefix_max_chars
            and " " not in parts[0]
            and _PREFIX_NAME.search(parts[0])
            and not pending_prefix
        ):
            pending_prefix = parts[0]
            continue
        if pending_prefix and parts:
            parts[0] = pending_prefix + parts[0]
            pending_prefix = ""
        heads.extend(parts)
    if pending_prefix:
        heads.append(pending_prefix)
    if len(heads) >= 2 and len(heads[-1].replace(" ", "")) <= settings.pen_name_max_chars and not byline:
        byline = heads.pop().replace(" ", "")  # a columnist's pen name printed under the headline
    return heads, subs, byline


def _join_head_lines(lines: list[str]) -> str:
    """Lines of one headline, tidied; `_SEAM` marks the line seams until `_wrapped` decides on them."""
    cleaned = [line.strip() for line in lines if line.strip()]
    if len(cleaned) <= 1:
        return tidy_headline(" ".join(cleaned))
    return " ".join(tidy_headline(line) for line in cleaned).replace(" ", _SEAM)


def _wrapped(head: str, settings: SegmentSettings) -> bool:
    """True when the lines of a multi-line headline are one phrase wrapped (join them without a space)."""
    parts = head.split(_SEAM)
    if len(parts) < 2:
        return True
    # Two balanced phrases ("接受红色教育" / "坚守初心使命") are a couplet; otherwise one wrapped phrase.
    lengths = [len(p) for p in parts]
    return not (
        len(parts) == 2
        and abs(lengths[0] - lengths[1]) <= settings.couplet_max_difference
        and max(lengths) <= settings.couplet_max_chars
    )
