"""Page -> Article: split an OCR'd newspaper page into its articles, each with title, byline and date.

How a page is read:
1. The masthead (title, date, issue, editors) is cut off; its date becomes every article's date.
   A page without a printed masthead date gives date "" (never invented).
2. The rest becomes units: body paragraphs (hard line breaks and column breaks joined), headline
   pieces (short lines without sentence punctuation), dek lines ("——访…"), bylines ("□ 记者陈晨"),
   photo credits ("…摄"), list/table rows; jump markers ("（下转第七版）") are dropped.
3. Photo captions (the paragraph right before a "…摄" credit, with its own short headline if it
   has one) become their own small articles (subtitle "图片新闻", byline "记者 X 摄"): their facts
   stay searchable, but they are never glued into the body of a neighbouring article.
4. Each headline group is attached to the body before it or after it. Pages differ (most print the
   headline after the body, some before), so the choice is made per group from how many headline
   character pairs reappear in the opening of each neighbour, with the page's overall direction
   (voted by all groups, plus what the page starts and ends with) breaking ties. A lone short
   headline between two runs of text that do not open like a report ("本报讯…") is an intertitle
   and stays inside the article as a paragraph; a signed feature (headline with dek or byline)
   goes on past its mid-page headline to the page end.
5. The main headline of a group is the longest one that is not a kicker (with a comma) or a series
   label; the others and the dek make the subtitle. The byline comes from "本报讯（记者 X）" (which
   is taken out of the text), a byline line, the dek, or an end tag like "（政文）".
6. Headline groups with no body (column labels, teasers for other pages) and the masthead are not
   articles. Article ids are `<file stem>-<nn>` in page order, so rebuilds give the same ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from qa.ingest.cleaning import (
    byline_line,
    clean_text,
    collapse_repeats,
    credit_byline,
    ends_sentence,
    find_masthead,
    is_jump_marker_line,
    is_list_line,
    join_lines,
    line_width,
    normalize_byline,
    remove_cjk_spaces,
    split_lead,
    split_photo_credit,
    starts_with_lead,
    tidy_headline,
    visible_length,
)
from qa.ingest.corpus import read_corpus
from qa.records import Article, Page, Problem
from qa.text import CJK_CHARS

_NAV = re.compile(r"^[▶►→]+\s*\d+\s*版|^\s*第?\s*\d+\s*版\s*$")
_DEK = re.compile(r"^\s*(?:——|—|－－|--)\s*\S")
_OCR_DEK = re.compile(r"^\s*一\s*(?=\S.*本报记者)")
_DEK_BYLINE = re.compile(r"\s*(本报记者\s*\S.*)$")
_HEAD_FORBIDDEN = re.compile(r"[。；;]")
_HEAD_BAD_END = "，、：；,;:（(《“‘—是的和在与对为把将从向以及并而或"
_CONTINUATION_START = re.compile(r"^[的地得了着过们，。、；：）》」”,.;:)]")
_SERIES_LABEL = re.compile(r"系列评论|之[一二三四五六七八九十]+$|专栏|^一周要闻$|^本版")
_PREFIX_NAME = re.compile(r"(?:区|县|市|镇|乡|村|省|委|局|办|院|厅|所|部|系统|中心|公司|集团)$")
_BIGRAM_SPAN = 160


@dataclass
class _Unit:
    """One piece of a page: kind is body, list, head, dek, byline, credit or jump."""

    kind: str
    lines: list[str]
    lead_line: bool = False  # a head split off the first line of a body block (photo headlines)

    @property
    def raw(self) -> str:
        """The lines joined (still with OCR spaces: cleaning happens when text is built)."""
        return join_lines(self.lines)


@dataclass
class _Run:
    """Consecutive body paragraphs that belong to one article, plus what was attached to them."""

    paragraphs: list[_Unit] = field(default_factory=list)
    byline: str = ""
    head: list[_Unit] | None = None

    @property
    def opening(self) -> str:
        """The first characters of the run, where a news lead restates its headline."""
        return clean_text("".join(p.raw for p in self.paragraphs if p.kind != "intertitle"))[:_BIGRAM_SPAN]

    @property
    def has_start_signal(self) -> bool:
        """True when the run opens like a report: "本报讯…" or a byline line above it."""
        return bool(self.byline) or bool(self.paragraphs and starts_with_lead(self.paragraphs[0].raw))


@dataclass
class _Group:
    """Consecutive headline units (heads, deks, bylines)."""

    units: list[_Unit]


@dataclass
class _Photo:
    """A photo caption with its credit and optional photo headline."""

    title: str
    text: str
    byline: str


# ---------------------------------------------------------------- units


def _looks_like_head(lines: list[str], width: int) -> bool:
    """Short, unpunctuated, at most three lines: how headlines print."""
    text = remove_cjk_spaces(join_lines(lines))
    if not text or len(lines) > 3 or visible_length(text) > 48:
        return False
    if _HEAD_FORBIDDEN.search(text) or text[-1] in _HEAD_BAD_END or ends_sentence(text):
        return False
    if text.count("（") > text.count("）") or text.count("“") > text.count("”"):
        return False
    if (
        re.search(r"[，,！!？?]", text)
        and len(lines) == 1
        and visible_length(text) >= width - 1
        and width < 30
    ):
        return False  # a full-width line with a comma is body text broken at a column end
    if len(lines) >= 3 and any(visible_length(line) > width * 0.75 for line in lines):
        return False
    column = [width - 1 <= visible_length(line) <= width + 1 for line in lines]
    return not (len(lines) > 1 and all(column) and width < 30)


def _text_units(lines: list[str], width: int, first_in_block: bool) -> list[_Unit]:
    """Body or head units of consecutive text lines, split at paragraph ends."""
    if not lines:
        return []
    if sum(is_list_line(line) for line in lines) >= 2 or is_list_line(lines[0]):
        return [_Unit("list", list(lines))]
    units: list[_Unit] = []
    pieces: list[list[str]] = [[]]
    for line in lines:
        pieces[-1].append(line)
        if ends_sentence(line) and visible_length(line) < width - 1:
            pieces.append([])
    for index, piece in enumerate(p for p in pieces if p):
        if _looks_like_head(piece, width):
            units.append(_Unit("head", piece))
            continue
        first = piece[0]
        if (
            index == 0
            and first_in_block
            and len(piece) >= 2
            and width >= 10
            and visible_length(first) <= width * 0.7
            and not ends_sentence(first)
            and not re.search(r"[，。、,]", first)
            and _looks_like_head([first], width)
        ):
            units.append(_Unit("head", [first], lead_line=True))
            piece = piece[1:]
        units.append(_Unit("body", piece))
    return units


def _block_units(block: list[str], width: int) -> list[_Unit]:
    """Units of one blank-line-separated block."""
    units: list[_Unit] = []
    text_lines: list[str] = []
    first_in_block = True

    def flush() -> None:
        nonlocal first_in_block
        units.extend(_text_units(text_lines, width, first_in_block))
        if text_lines:
            first_in_block = False
        text_lines.clear()

    for number, line in enumerate(block):
        stripped = line.strip()
        if is_jump_marker_line(stripped):
            flush()
            units.append(_Unit("jump", [stripped]))
            continue
        if _NAV.match(stripped):
            flush()
            continue
        credit = split_photo_credit(stripped) if visible_length(stripped) <= 60 or "。" in stripped else None
        if credit and (credit[0] or number == 0 or ends_sentence(block[number - 1])):
            before, name = credit
            if before:
                text_lines.append(before)
            flush()
            units.append(_Unit("credit", [name]))
            continue
        byline = byline_line(stripped)
        if byline:
            flush()
            units.append(_Unit("byline", [byline]))
            continue
        is_last = number == len(block) - 1 or bool(byline_line(block[number + 1].strip()))
        if (
            (_DEK.match(stripped) or _OCR_DEK.match(stripped))
            and is_last
            and not re.search("[。；]", stripped)
        ):
            if text_lines and not ends_sentence(text_lines[-1]) and len(text_lines) <= 2:
                units.append(_Unit("head", list(text_lines)))
                text_lines.clear()
            flush()
            dek = _OCR_DEK.sub("——", stripped)
            match = _DEK_BYLINE.search(dek)
            if match:
                units.append(_Unit("dek", [dek[: match.start()]]))
                units.append(_Unit("byline", [normalize_byline(match.group(1))]))
            else:
                units.append(_Unit("dek", [dek]))
            continue
        text_lines.append(line)
    flush()
    return units


def _page_units(lines: list[str]) -> list[_Unit]:
    """All units of a page (masthead already cut), in reading order."""
    width = line_width(lines)
    units: list[_Unit] = []
    block: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            block.append(line.rstrip())
        elif block:
            units.extend(_block_units(block, width))
            block = []
    return _fix_context(units, width)


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    """jieba, loaded once on first use (its dictionary takes a moment)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def _word_across(left: str, right: str) -> bool:
    """True when a dictionary word spans the seam between `left` and `right` ("八一路校" + "区报告")."""
    left = re.sub(r"\s+", "", left)[-3:]
    right = re.sub(r"\s+", "", right)[:3]
    if (
        not left
        or not right
        or not re.match(f"[{CJK_CHARS}]", left[-1])
        or not re.match(f"[{CJK_CHARS}]", right[0])
    ):
        return False
    position = 0
    for token in _jieba().lcut(left + right, HMM=False):
        start, position = position, position + len(token)
        if start < len(left) < position:
            return True
    return False


def _fix_context(units: list[_Unit], width: int) -> list[_Unit]:
    """Heads that are really body lines (a sentence runs on into them or out of them) become body."""
    for index, unit in enumerate(units):
        if unit.kind != "head":
            continue
        previous = units[index - 1] if index else None
        following = units[index + 1] if index + 1 < len(units) else None
        if previous is not None and previous.kind == "body" and not ends_sentence(previous.lines[-1]):
            unit.kind = "body"
            continue
        if following is not None and following.kind == "body":
            tail, start = unit.lines[-1], following.lines[0].strip()
            if _CONTINUATION_START.match(start) or (len(unit.lines) == 1 and _word_across(tail, start)):
                unit.kind = "body"
    # A body unit that does not end a sentence runs on into the next body unit (a column break);
    # a table cut by a column break goes on in the next unit.
    merged: list[_Unit] = []
    for unit in units:
        last = merged[-1] if merged else None
        if last is not None and last.kind == "list" and unit.kind == "list":
            last.lines.extend(unit.lines)
            continue
        if (
            last is not None
            and last.kind == "list"
            and unit.kind in ("body", "head")
            and (
                any(is_list_line(line) for line in unit.lines)
                or last.lines[-1].rstrip().endswith("、")
                or last.lines[-1].count("（") > last.lines[-1].count("）")
            )
            and not any(ends_sentence(line) for line in unit.lines)
        ):
            last.lines.extend(unit.lines)
            continue
        if (
            last is not None
            and unit.kind == "body"
            and last.kind == "body"
            and not ends_sentence(last.lines[-1])
            and not unit.lead_line
        ):
            last.lines.extend(unit.lines)
        else:
            merged.append(unit)
    return merged


# ---------------------------------------------------------------- structure


def _items(units: list[_Unit]) -> list[_Run | _Group | _Photo]:
    """Group units into body runs, headline groups and photo captions, in page order."""
    items: list[_Run | _Group | _Photo] = []
    for index, unit in enumerate(units):
        last = items[-1] if items else None
        if unit.kind == "jump":
            continue
        if unit.kind == "credit":
            if isinstance(last, _Run) and last.paragraphs and last.paragraphs[-1].kind == "body":
                caption = last.paragraphs.pop()
                title = ""
                if last.paragraphs and last.paragraphs[-1].kind == "head" and last.paragraphs[-1].lead_line:
                    title = tidy_headline(last.paragraphs.pop().raw)
                if not last.paragraphs and not last.byline:
                    items.pop()
                    title, caption = _photo_headline(items, title, caption)
                items.append(_Photo(title, clean_text(caption.raw), credit_byline(unit.raw)))
            continue
        if unit.kind in ("body", "list"):
            if isinstance(last, _Run):
                last.paragraphs.append(unit)
            else:
                items.append(_Run([unit]))
            continue
        if unit.kind == "byline":
            following = units[index + 1] if index + 1 < len(units) else None
            if following is not None and following.kind == "body" and not isinstance(last, _Group):
                items.append(_Run(byline=unit.raw))
                continue
        if (
            unit.kind == "head"
            and unit.lead_line
            and index + 1 < len(units)
            and units[index + 1].kind == "body"
        ):
            # Kept with the body that follows until we know whether it heads a photo caption.
            if isinstance(last, _Run):
                last.paragraphs.append(unit)
            else:
                items.append(_Run([unit]))
            continue
        if isinstance(last, _Group):
            last.units.append(unit)
        else:
            items.append(_Group([unit]))
    # A photo headline that was not followed by a credit is an ordinary headline after all.
    fixed: list[_Run | _Group | _Photo] = []
    for item in items:
        if isinstance(item, _Run) and any(p.kind == "head" for p in item.paragraphs):
            current = _Run(byline=item.byline)
            for paragraph in item.paragraphs:
                if paragraph.kind == "head":
                    if current.paragraphs or current.byline:
                        fixed.append(current)
                    fixed.append(_Group([paragraph]))
                    current = _Run()
                else:
                    current.paragraphs.append(paragraph)
            if current.paragraphs:
                fixed.append(current)
            continue
        if isinstance(item, _Run) and not item.paragraphs:
            continue
        fixed.append(item)
    return _merge_adjacent(fixed)


def _photo_headline(items: list[_Run | _Group | _Photo], title: str, caption: _Unit) -> tuple[str, _Unit]:
    """A photo headline read together with the caption's first line ("歌颂祖国 建功岗位" + "为迎接…").

    Only when the caption's first printed line was taken as a second headline line: the caption
    then starts mid-sentence (a number, or a word running across the seam).
    """
    last = items[-1] if items else None
    if title or not isinstance(last, _Group) or last.units[-1].kind != "head":
        return title, caption
    head = last.units[-1]
    if len(head.lines) < 2:
        return title, caption
    start = caption.lines[0].strip()
    if not (start[:1].isdigit() or _CONTINUATION_START.match(start) or _word_across(head.lines[-1], start)):
        return title, caption
    last.units.pop()
    if not last.units:
        items.pop()
    return tidy_headline(head.lines[0]), _Unit("body", [*head.lines[1:], *caption.lines])


def _merge_adjacent(items: list[_Run | _Group | _Photo]) -> list[_Run | _Group | _Photo]:
    """Runs and groups that ended up next to their own kind are joined."""
    merged: list[_Run | _Group | _Photo] = []
    for item in items:
        last = merged[-1] if merged else None
        if isinstance(item, _Group) and isinstance(last, _Group):
            last.units.extend(item.units)
        elif isinstance(item, _Run) and isinstance(last, _Run) and not item.has_start_signal:
            last.paragraphs.extend(item.paragraphs)
        else:
            merged.append(item)
    return merged


def _bigrams(text: str) -> set[str]:
    """CJK character pairs of a text (spaces and punctuation ignored)."""
    chars = re.sub(f"[^{CJK_CHARS}0-9A-Za-z]", "", text)
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def _overlap(head: str, run: _Run) -> float:
    """Share of a headline's character pairs that reappear in the opening of a run."""
    pairs = _bigrams(head)
    if not pairs:
        return 0.0
    return len(pairs & _bigrams(run.opening)) / len(pairs)


def _heads_text(units: list[_Unit]) -> str:
    """The headline words of some units (deks and bylines left out)."""
    return " ".join(unit.raw for unit in units if unit.kind == "head")


def _is_weak(group: _Group) -> bool:
    """One headline line with no dek or byline: could be an intertitle inside a feature."""
    return len(group.units) == 1 and group.units[0].kind == "head" and len(group.units[0].lines) == 1


def _merge_intertitles(items: list[_Run | _Group | _Photo]) -> list[_Run | _Group | _Photo]:
    """A lone headline between two runs that do not open like reports stays inside one article."""
    changed = True
    while changed:
        changed = False
        for index in range(1, len(items) - 1):
            before, group, after = items[index - 1], items[index], items[index + 1]
            if (
                isinstance(before, _Run)
                and isinstance(group, _Group)
                and isinstance(after, _Run)
                and _is_weak(group)
                and not after.has_start_signal
                and not (before.paragraphs and starts_with_lead(before.paragraphs[0].raw))
                and _overlap(_heads_text(group.units), before) < 0.5
            ):
                before.paragraphs.append(_Unit("intertitle", group.units[0].lines))
                before.paragraphs.extend(after.paragraphs)
                del items[index : index + 2]
                changed = True
                break
    return items


def _page_direction(items: list[_Run | _Group | _Photo]) -> int:
    """+1 when this page prints headlines after their bodies, -1 when before (voted by every group)."""
    votes = 0.0
    content = [item for item in items if not isinstance(item, _Photo)]
    for index, item in enumerate(content):
        if not isinstance(item, _Group):
            continue
        before = content[index - 1] if index else None
        after = content[index + 1] if index + 1 < len(content) else None
        if isinstance(before, _Run) and isinstance(after, _Run):
            head = _heads_text(item.units)
            difference = _overlap(head, before) - _overlap(head, after)
            votes += 1 if difference > 0.1 else -1 if difference < -0.1 else 0
    if content:
        votes += 0.5 if isinstance(content[0], _Run) else -0.5
        votes += 0.5 if isinstance(content[-1], _Group) else -0.5
    return 1 if votes >= 0 else -1


def _attach(items: list[_Run | _Group | _Photo], direction: int) -> None:
    """Give each run at most one headline group: the neighbour it shares the most words with."""
    for index, item in enumerate(items):
        if not isinstance(item, _Group) or not any(u.kind == "head" for u in item.units):
            continue
        before = items[index - 1] if index else None
        after = items[index + 1] if index + 1 < len(items) else None
        before_ok = isinstance(before, _Run) and before.head is None
        after_ok = isinstance(after, _Run) and after.head is None
        if before_ok and after_ok:
            assert isinstance(before, _Run) and isinstance(after, _Run)
            split = _best_split(item.units, before, after, direction)
            if split > 0:
                before.head = item.units[:split]
            if split < len(item.units):
                after.head = item.units[split:]
        elif before_ok:
            assert isinstance(before, _Run)
            if direction > 0 or _overlap(_heads_text(item.units), before) >= 0.3:
                before.head = item.units
        elif after_ok:
            assert isinstance(after, _Run)
            if direction < 0 or _overlap(_heads_text(item.units), after) >= 0.3:
                after.head = item.units


def _join_feature_tail(items: list[_Run | _Group | _Photo]) -> list[_Run | _Group | _Photo]:
    """A feature whose headline, dek and byline sit mid-page goes on after them to the page end.

    When a run took a headline group that carries a byline or dek (a signed feature), and the text
    after that group does not open like a report and ends the page with at most a lone section
    heading, that text is the rest of the same feature, not an article of its own.
    """
    for index in range(len(items) - 2):
        feature, group, tail = items[index], items[index + 1], items[index + 2]
        if not (isinstance(feature, _Run) and isinstance(group, _Group) and isinstance(tail, _Run)):
            continue
        if feature.head != group.units or not any(u.kind in ("byline", "dek") for u in group.units):
            continue
        rest = [item for item in items[index + 3 :] if not isinstance(item, _Photo)]
        trailing_weak = len(rest) == 1 and isinstance(rest[0], _Group) and _is_weak(rest[0])
        if tail.has_start_signal or not (not rest or trailing_weak):
            continue
        if tail.head is not None and not (trailing_weak and tail.head == rest[0].units):
            continue
        feature.paragraphs.extend(tail.paragraphs)
        return [*items[: index + 2], *items[index + 3 :]]
    return items


def _split_points(units: list[_Unit]) -> list[int]:
    """Where a headline group may be cut in two: before a head unit (deks and bylines follow their head)."""
    points = [0, len(units)]
    for index in range(1, len(units)):
        if units[index].kind == "head" and any(u.kind == "head" for u in units[:index]):
            points.append(index)
    return sorted(set(points))


def _best_split(units: list[_Unit], before: _Run, after: _Run, direction: int) -> int:
    """The cut that best matches headline words to the opening of the run before and after."""
    best, best_score = (len(units) if direction > 0 else 0), -1.0
    for point in _split_points(units):
        score = sum(_overlap(_heads_text([u]), before) for u in units[:point] if u.kind == "head")
        score += sum(_overlap(_heads_text([u]), after) for u in units[point:] if u.kind == "head")
        preferred = point == (len(units) if direction > 0 else 0)
        score += 0.15 if preferred else 0.0
        if score > best_score + 1e-9:
            best, best_score = point, score
    return best


# ---------------------------------------------------------------- titles


def _head_lines(units: list[_Unit]) -> tuple[list[str], list[str], str]:
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
        lines = unit.lines
        if len(lines) >= 2 and visible_length(lines[0]) >= 18:
            parts = [tidy_headline(lines[0]), tidy_headline(join_lines(lines[1:]))]
        else:
            parts = [_join_head_lines(lines)]
        parts = [part for part in parts if part]
        if (
            len(parts) == 1
            and len(lines) == 1
            and len(parts[0]) <= 7
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
    if len(heads) >= 2 and len(heads[-1].replace(" ", "")) <= 3 and not byline:
        byline = heads.pop().replace(" ", "")  # a columnist's pen name printed under the headline
    return heads, subs, byline


def _join_head_lines(lines: list[str]) -> str:
    """Lines of one headline, tidied; U+2063 marks the line seams until `_wrapped` decides on them."""
    cleaned = [line.strip() for line in lines if line.strip()]
    if len(cleaned) <= 1:
        return tidy_headline(" ".join(cleaned))
    return " ".join(tidy_headline(line) for line in cleaned).replace(" ", "\u2063")


def _title_parts(units: list[_Unit]) -> tuple[str, str, str]:
    """(title, subtitle, byline) from a headline group: the main headline is the most telling one."""
    heads, subs, byline = _head_lines(units)
    heads = [h.replace("\u2063", "") if _wrapped(h) else h.replace("\u2063", " ") for h in heads]
    if not heads:
        return "", " ".join(subs), byline
    candidates = [h for h in heads if not _SERIES_LABEL.search(h)] or heads
    plain = [h for h in candidates if "，" not in h and "," not in h]
    candidates = plain or candidates
    main = max(candidates, key=lambda h: (len(h.replace(" ", "")), -heads.index(h)))
    others = [h for h in heads if h is not main]
    title = main
    words = title.split(" ")
    if len(words) >= 3 and len(title) > 28 and len(words[-1]) >= 8:
        title, moved = " ".join(words[:-1]), words[-1]
        others.insert(0, moved)
    subtitle = " ".join([*others, *subs]).strip()
    return title, subtitle, byline


def _wrapped(head: str) -> bool:
    """True when the lines of a multi-line headline are one phrase wrapped (join them without a space)."""
    parts = head.split("\u2063")
    if len(parts) < 2:
        return True
    # Two balanced phrases ("接受红色教育" / "坚守初心使命") are a couplet; otherwise one wrapped phrase.
    lengths = [len(p) for p in parts]
    return not (len(parts) == 2 and abs(lengths[0] - lengths[1]) <= 1 and max(lengths) <= 8)


def _telling_heads(units: list[_Unit], text: str) -> list[_Unit]:
    """Drop extra headlines that share no words with the article (column labels, a photo's headline)."""
    heads = [u for u in units if u.kind == "head"]
    if len(heads) < 2:
        return units
    pairs = _bigrams(text)
    scores = {id(u): len(_bigrams(u.raw) & pairs) / max(1, len(_bigrams(u.raw))) for u in heads}
    best = max(scores.values())
    return [
        u
        for u in units
        if u.kind != "head" or scores[id(u)] >= 0.2 or scores[id(u)] == best or visible_length(u.raw) <= 3
    ]


def _fallback_title(text: str, limit: int = 32) -> str:
    """For an article or photo without a printed headline: its first clause(s), without a leading date."""
    text = re.sub(r"^(?:\d{1,2}月\d{1,2}日(?:[上下]午|晚|电)?|近日|日前)[，,]", "", text.strip())
    pieces = re.split(r"[。！？；\n]|(?<=[A-Za-z])[.!?](?:\s|$)", text)
    first = next((piece.strip() for piece in pieces if piece and piece.strip()), text.strip()[:limit])
    if len(first) <= limit:
        return first
    cuts = [m.start() for m in re.finditer("[，,]", first[: limit + 1]) if m.start() >= 12]
    return first[: cuts[-1]] if cuts else first[:limit] + "…"


# ---------------------------------------------------------------- articles


def _run_text(run: _Run) -> tuple[str, str]:
    """(text, byline from "本报讯（…）") of a run: paragraphs cleaned and separated by newlines."""
    paragraphs: list[str] = []
    byline = ""
    for index, unit in enumerate(run.paragraphs):
        if unit.kind == "list":
            rows = _list_rows(unit.lines)
            paragraphs.extend(clean_text(row) for row in rows)
            continue
        if unit.kind == "intertitle":
            paragraphs.append(clean_text(collapse_repeats(remove_cjk_spaces(join_lines(unit.lines)))))
            continue
        raw = join_lines(unit.lines)
        if index == 0:
            lead_byline, rest = split_lead(raw)
            if lead_byline or rest != raw:
                byline, raw = lead_byline, rest
        paragraphs.append(collapse_repeats(clean_text(raw)))
    return "\n".join(p for p in paragraphs if p), byline


def _list_rows(lines: list[str]) -> list[str]:
    """Rows of a list or table block; a row cut by the column end ("（100" + "分）") is joined back."""
    rows: list[str] = []
    longest = max((visible_length(line) for line in lines), default=0)
    previous = ""
    for line in lines:
        text = line.strip()
        cut = rows and (
            rows[-1].endswith("、") or rows[-1].count("（") > rows[-1].count("）") or text[:1] in "分）)"
        )
        wrapped = (
            rows
            and visible_length(previous) >= longest - 2
            and not rows[-1].endswith("）")
            and not is_list_line(text)
        )
        previous = text
        if cut or wrapped:
            rows[-1] += text
        else:
            rows.append(text)
    return rows


def segment_page(page: Page) -> list[Article]:
    """The articles of one OCR page, in page order, with ids `<file stem>-<nn>` (see the module docstring)."""
    lines = page.text.splitlines()
    masthead = find_masthead(lines)
    units = _page_units(lines[masthead.lines :])
    items = _merge_intertitles(_items(units))
    direction = _page_direction(items)
    _attach(items, direction)
    items = _join_feature_tail(items)
    stem = Path(page.source).stem
    articles: list[Article] = []
    for item in items:
        if isinstance(item, _Photo):
            if not item.text:
                continue
            title = item.title or _fallback_title(item.text)
            fields = {"title": title, "text": item.text, "byline": item.byline, "subtitle": "图片新闻"}
        elif isinstance(item, _Run):
            text, lead_byline = _run_text(item)
            if len(text.strip()) < 4:
                continue
            title, subtitle, head_byline = _title_parts(_telling_heads(item.head or [], text))
            if not title:
                title = _fallback_title(text)
            end_tag = re.search(r"。（([^（）]{2,6})）$", text)
            byline = lead_byline or item.byline or head_byline or (end_tag.group(1) if end_tag else "")
            fields = {"title": title, "text": text, "byline": byline, "subtitle": subtitle}
        else:
            continue
        articles.append(
            Article(id=f"{stem}-{len(articles) + 1:02d}", date=masthead.date, source=page.source, **fields)
        )
    return articles


def load_articles(path: Path) -> tuple[list[Article], list[Problem]]:
    """Every article of a corpus: pages segmented (in file order), then JSONL exports; empty ones dropped."""
    contents = read_corpus(Path(path))
    articles: list[Article] = []
    problems = list(contents.problems)
    for page in contents.pages:
        found = segment_page(page)
        if not found:
            problems.append(Problem(page.source, None, "no article found on this page"))
        articles.extend(found)
    articles.extend(article for article in contents.articles if article.text.strip())
    return articles, problems
