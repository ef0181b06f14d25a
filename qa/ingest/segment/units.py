"""Lines -> units: the first reading of a page, before any layout decision.

A page (masthead already cut) is split at blank lines into blocks, and each block into typed units:
body paragraphs, headline pieces, dek lines, bylines, photo credits, list/table rows and jump markers.
Each line is judged by its own shape and the page's column width, then `_fix_context` corrects what a
single line cannot show (a "headline" that a sentence runs into or out of is body text) and joins
paragraphs and tables that a column break cut in two. Which unit belongs to which article is
layout.py's job.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

import jieba

from qa.ingest.cleaning import (
    JUMP_MARKER,
    byline_line,
    ends_sentence,
    is_jump_marker_line,
    is_list_line,
    join_lines,
    line_width,
    normalize_byline,
    remove_cjk_spaces,
    split_photo_credit,
    starts_with_lead,
    visible_length,
)
from qa.ingest.segment.settings import SegmentSettings
from qa.text import is_cjk

jieba.setLogLevel(logging.WARNING)  # at import, as in qa/index/lexical.py: no dictionary-loading chatter

# body: paragraph text; list: table rows or list items; head: a headline piece; dek: "——访…" line
# under a headline; byline: "□ 记者陈晨"; credit: a photo credit "记者 X 摄"; jump: "（下转第七版）";
# intertitle: a lone headline kept inside a feature as one of its paragraphs (made by layout.py).
UnitKind = Literal["body", "list", "head", "dek", "byline", "credit", "jump", "intertitle"]

# A jump marker closing a line ("……。（下转第六版）") or opening one ("（上接第一版）依托……").
JUMP_AT_END = re.compile(rf"\s*{JUMP_MARKER.pattern}\s*$")
JUMP_AT_START = re.compile(rf"^\s*{JUMP_MARKER.pattern}\s*(?=\S)")
_NAV = re.compile(r"^[▶►→]+\s*\d+\s*版|^\s*第?\s*\d+\s*版\s*$")
_DEK = re.compile(r"^\s*(?:——|—|－－|--)\s*\S")
_OCR_DEK = re.compile(r"^\s*一\s*(?=\S.*本报记者)")
_DEK_BYLINE = re.compile(r"\s*(本报记者\s*\S.*)$")
_HEAD_FORBIDDEN = re.compile(r"[。；;]")
_HEAD_BAD_END = "，、：；,;:（(《“‘—是的和在与对为把将从向以及并而或"
# How a headline may end where a sentence would: "！" or "？", maybe closed by a quote mark.
_HEAD_END = re.compile(r"[！？!?][”’」』\"]?$")
_BREAK_COMMA = re.compile(r"[，,！!？?]")
_LEAD_HEAD_PUNCT = re.compile(r"[，。、,]")
_DEK_SENTENCE = re.compile("[。；]")
# A paragraph that ends a sentence and then closes an aside of any length, "……当选。（详情可见此前文章
# 《……》）": the aside's last line alone does not look finished, the paragraph does.
_CLOSED_ASIDE = re.compile(r"[。！？!?][”’」』\"]?\s*[（(][^（）()]*[）)]\s*$")
# Text that cannot start a paragraph: it continues the line before ("的", a closing bracket, a comma).
CONTINUATION_START = re.compile(r"^[的地得了着过们，。、；：）》」”,.;:)]")


@dataclass
class Unit:
    """One piece of a page; `lead_line` marks a head split off the first line of a body block."""

    kind: UnitKind
    lines: list[str]
    lead_line: bool = False  # photo headlines print this way; layout.py decides what they head
    # A one-line headline block as wide as the column, with a comma: a headline when a byline, a
    # headline or nothing follows it, but a paragraph's first line cut by a column break when body
    # text follows it (`_fix_context`).
    column_line: bool = False
    # A headline line longer than the column: printed across columns, so a headline, never an
    # intertitle inside one column's text (layout.py).
    wide: bool = False

    @property
    def raw(self) -> str:
        """The lines joined (still with OCR spaces: cleaning happens when text is built)."""
        return join_lines(self.lines)


def page_units(lines: list[str], settings: SegmentSettings) -> list[Unit]:
    """All units of a page (masthead already cut), in reading order."""
    width = line_width(lines)
    units: list[Unit] = []
    block: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            block.append(line.rstrip())
        elif block:
            units.extend(_block_units(block, width, settings))
            block = []
    return _merge_broken(_fix_context(units, settings))


def _looks_like_head(lines: list[str], width: int, settings: SegmentSettings, alone: bool = False) -> bool:
    """Short, unpunctuated, a few lines at most: how headlines print.

    `alone`: the lines are a whole block (blank lines around them); then a headline may end in "！"
    or "？" ("突发！…", "…保卫波兰？"), which inside a paragraph would end a sentence.
    """
    text = remove_cjk_spaces(join_lines(lines))
    slack, narrow = settings.full_line_slack, width < settings.narrow_column
    if not text or len(lines) > settings.head_max_lines or visible_length(text) > settings.head_max_chars:
        return False
    if starts_with_lead(text):  # "本报讯（记者 X）…" opens a report
        return False
    exclaimed = alone and _HEAD_END.search(text) is not None
    if _HEAD_FORBIDDEN.search(text) or text[-1] in _HEAD_BAD_END or (ends_sentence(text) and not exclaimed):
        return False
    if text.count("（") > text.count("）") or text.count("“") > text.count("”"):
        return False
    full = width - slack <= visible_length(text) <= width + slack
    if _BREAK_COMMA.search(text) and len(lines) == 1 and full and narrow and not alone:
        return False  # a full-width line with a comma is body text broken at a column end (but see
        # `Unit.column_line`: alone in its block, what follows it decides)
    if len(lines) >= 3 and any(visible_length(line) > width * settings.head_line_share for line in lines):
        return False
    column = [width - slack <= visible_length(line) <= width + slack for line in lines]
    return alone or not (len(lines) > 1 and all(column) and narrow)


def _is_lead_head(piece: list[str], width: int, settings: SegmentSettings) -> bool:
    """True when the first line of a block's first paragraph is a short headline printed over it."""
    first = piece[0]
    return (
        len(piece) >= 2
        and width >= settings.lead_head_min_width
        and visible_length(first) <= width * settings.lead_head_share
        and not ends_sentence(first)
        and not _LEAD_HEAD_PUNCT.search(first)
        and _looks_like_head([first], width, settings)
    )


def _text_units(lines: list[str], width: int, first_in_block: bool, settings: SegmentSettings) -> list[Unit]:
    """Body or head units of consecutive text lines, split at paragraph ends (a short finished line)."""
    if not lines:
        return []
    if sum(is_list_line(line) for line in lines) >= 2 or is_list_line(lines[0]):
        return [Unit("list", list(lines))]
    units: list[Unit] = []
    pieces: list[list[str]] = [[]]
    for line in lines:
        pieces[-1].append(line)
        if ends_sentence(line) and visible_length(line) < width - settings.full_line_slack:
            pieces.append([])
    for index, piece in enumerate(p for p in pieces if p):
        if _looks_like_head(piece, width, settings):
            units.append(Unit("head", piece))
            continue
        if index == 0 and first_in_block and _is_lead_head(piece, width, settings):
            units.append(Unit("head", [piece[0]], lead_line=True))
            piece = piece[1:]
        units.append(Unit("body", piece))
    return units


def _dek_units(dek_line: str) -> list[Unit]:
    """A dek line ("——访…", or OCR's "一…" before "本报记者"), with a byline printed on it split off."""
    dek = _OCR_DEK.sub("——", dek_line)
    match = _DEK_BYLINE.search(dek)
    if not match:
        return [Unit("dek", [dek])]
    return [Unit("dek", [dek[: match.start()]]), Unit("byline", [normalize_byline(match.group(1))])]


def _is_credit(
    block: list[str], number: int, stripped: str, settings: SegmentSettings
) -> tuple[str, str] | None:
    """(text before, credit) when line `number` of a block ends with a photo credit, else None."""
    if visible_length(stripped) > settings.credit_max_chars and "。" not in stripped:
        return None
    credit = split_photo_credit(stripped)
    if credit and (credit[0] or number == 0 or ends_sentence(block[number - 1])):
        return credit
    return None


def _is_dek(block: list[str], number: int, stripped: str) -> bool:
    """True for a dek line: "——…" with no sentence in it, last in its block or just above a byline."""
    is_last = number == len(block) - 1 or bool(byline_line(block[number + 1].strip()))
    is_dash = bool(_DEK.match(stripped) or _OCR_DEK.match(stripped))
    return is_dash and is_last and not _DEK_SENTENCE.search(stripped)


def _is_furniture(block: list[str], number: int, settings: SegmentSettings) -> bool:
    """True for a line that is page furniture (jump marker, photo credit, byline, dek, page pointer) or
    a list row: a block holding one is never a headline as a whole."""
    stripped = block[number].strip()
    return bool(
        is_list_line(stripped)
        or JUMP_AT_END.search(stripped)
        or JUMP_AT_START.match(stripped)
        or _NAV.match(stripped)
        or _is_credit(block, number, stripped, settings)
        or byline_line(stripped)
        or _is_dek(block, number, stripped)
    )


def _column_lines(block: list[str], width: int, settings: SegmentSettings) -> bool:
    """True for a headline-shaped block that may be body lines cut off by a column break: one line
    as wide as the column with a comma, or several lines all as wide as the column (not ending "！？")."""
    text = remove_cjk_spaces(join_lines(block))
    full = [abs(visible_length(line) - width) <= settings.full_line_slack for line in block]
    if width >= settings.narrow_column or not all(full) or _HEAD_END.search(text):
        return False
    return len(block) > 1 or bool(_BREAK_COMMA.search(text))


def _block_units(block: list[str], width: int, settings: SegmentSettings) -> list[Unit]:
    """Units of one blank-line-separated block: furniture lines (jump, credit, byline, dek) cut the text."""
    if not any(_is_furniture(block, n, settings) for n in range(len(block))) and _looks_like_head(
        block, width, settings, alone=True
    ):
        wide = any(visible_length(line) > width + settings.full_line_slack for line in block)
        return [Unit("head", list(block), column_line=_column_lines(block, width, settings), wide=wide)]
    units: list[Unit] = []
    text_lines: list[str] = []
    first_in_block = True

    def flush() -> None:
        nonlocal first_in_block
        units.extend(_text_units(text_lines, width, first_in_block, settings))
        if text_lines:
            first_in_block = False
        text_lines.clear()

    for number, line in enumerate(block):
        stripped = line.strip()
        credit = _is_credit(block, number, stripped, settings)
        byline = byline_line(stripped)
        end_jump, start_jump = JUMP_AT_END.search(stripped), JUMP_AT_START.match(stripped)
        if is_jump_marker_line(stripped):
            flush()
            units.append(Unit("jump", [stripped]))
        elif end_jump and not start_jump:  # "……犯了罪。”（下转第六版）": the article stops here
            text_lines.append(stripped[: end_jump.start()])
            flush()
            units.append(Unit("jump", [end_jump.group().strip()]))
        elif start_jump:  # "（上接第一版）依托……": another article's continuation starts here
            flush()
            units.append(Unit("jump", [start_jump.group().strip()]))
            text_lines.append(stripped[start_jump.end() :])
            first_in_block = False  # the continued text is body, its first line no photo headline
        elif _NAV.match(stripped):
            flush()
        elif credit:
            if credit[0]:
                text_lines.append(credit[0])
            flush()
            units.append(Unit("credit", [credit[1]]))
        elif byline:
            flush()
            units.append(Unit("byline", [byline]))
        elif _is_dek(block, number, stripped):
            unfinished = bool(text_lines) and not ends_sentence(text_lines[-1])
            headline = bool(text_lines) and _looks_like_head(text_lines, width, settings, alone=True)
            if (unfinished or headline) and len(text_lines) <= settings.dek_head_max_lines:
                units.append(Unit("head", list(text_lines)))  # the dek's headline
                text_lines.clear()
            flush()
            units.extend(_dek_units(stripped))
        else:
            text_lines.append(line)
    flush()
    return units


def word_across(left: str, right: str, settings: SegmentSettings) -> bool:
    """True when a dictionary word spans the seam between `left` and `right` ("八一路校" + "区报告")."""
    left = re.sub(r"\s+", "", left)[-settings.seam_chars :]
    right = re.sub(r"\s+", "", right)[: settings.seam_chars]
    if not left or not right or not is_cjk(left[-1]) or not is_cjk(right[0]):
        return False
    position = 0
    for token in jieba.lcut(left + right, HMM=False):
        start, position = position, position + len(token)
        if start < len(left) < position:
            return True
    return False


def _fix_context(units: list[Unit], settings: SegmentSettings) -> list[Unit]:
    """Heads that are really body lines (a sentence runs on into them or out of them) become body."""
    for index, unit in enumerate(units):
        if unit.kind != "head":
            continue
        previous = units[index - 1] if index else None
        following = units[index + 1] if index + 1 < len(units) else None
        over_dek = following is not None and following.kind == "dek"  # a dek's headline stays one
        if previous is not None and previous.kind == "body" and not _ends_paragraph(previous):
            unit.kind = "body" if not over_dek else unit.kind
            continue
        if following is not None and following.kind == "body":
            if unit.column_line and not starts_with_lead(following.lines[0]):
                unit.kind = "body"  # unless the text after it opens a report ("本报讯…")
                continue
            tail, start = unit.lines[-1], following.lines[0].strip()
            if CONTINUATION_START.match(start) or (
                len(unit.lines) == 1 and word_across(tail, start, settings)
            ):
                unit.kind = "body"
    return units


def _ends_paragraph(unit: Unit) -> bool:
    """True when a body unit ends a sentence, or a sentence and then an aside in brackets."""
    return ends_sentence(unit.lines[-1]) or bool(_CLOSED_ASIDE.search(remove_cjk_spaces(unit.raw)))


def _continues(last: Unit, unit: Unit) -> bool:
    """True when `unit` is the rest of `last`, cut by a column break: a table, or an unfinished paragraph."""
    if last.kind == "body":
        return unit.kind == "body" and not _ends_paragraph(last) and not unit.lead_line
    if last.kind != "list":
        return False
    tail = last.lines[-1]
    return unit.kind == "list" or (
        unit.kind in ("body", "head")
        and (
            any(is_list_line(line) for line in unit.lines)
            or tail.rstrip().endswith("、")
            or tail.count("（") > tail.count("）")
        )
        and not any(ends_sentence(line) for line in unit.lines)
    )


def _merge_broken(units: list[Unit]) -> list[Unit]:
    """A body unit that does not end a sentence runs on into the next body unit (a column break);
    a table cut by a column break goes on in the next unit."""
    merged: list[Unit] = []
    for unit in units:
        last = merged[-1] if merged else None
        if last is not None and _continues(last, unit):
            last.lines.extend(unit.lines)
        else:
            merged.append(unit)
    return merged
