"""Units -> items: which headline goes with which text, on a page that may print either way round.

Units are grouped into body runs (one article's paragraphs), headline groups (heads, deks, bylines)
and photo captions. Each page decides per headline group whether it belongs to the run before or
after it, from how many of its character pairs reappear in each run's opening, with the page's
overall direction (voted by all groups) breaking ties. Lone intertitles stay inside their feature,
and a signed feature goes on past its mid-page headline. Turning a headline group into a title is
titles.py's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qa.ingest.cleaning import clean_text, credit_byline, starts_with_lead, tidy_headline
from qa.ingest.segment.settings import SegmentSettings
from qa.ingest.segment.units import CONTINUATION_START, Unit, word_across
from qa.text import CJK_CHARS

# A caption that opens with a date ("5 月 5 日，…") starts a sentence; it does not continue a headline line.
_DATE_START = re.compile(r"^\d{1,2}\s*月\s*\d{1,2}\s*日")
_NOT_WORD = re.compile(f"[^{CJK_CHARS}0-9A-Za-z]")
# Comparisons of summed shares allow for float rounding (not a tuned number).
_EPSILON = 1e-9


@dataclass
class Run:
    """Consecutive body paragraphs that belong to one article, plus what was attached to them."""

    paragraphs: list[Unit] = field(default_factory=list)
    byline: str = ""
    head: list[Unit] | None = None
    # A jump marker ends this run ("（下转第五版）") or opened it ("（上接第三版）"): nothing is glued
    # on after it, or it is not glued onto the run before.
    closed: bool = False
    continued: bool = False

    def opening(self, span: int) -> str:
        """The first `span` characters of the run, where a news lead restates its headline."""
        return clean_text("".join(p.raw for p in self.paragraphs if p.kind != "intertitle"))[:span]

    @property
    def has_start_signal(self) -> bool:
        """True when the run opens like a report: "本报讯…" or a byline line above it."""
        lead = bool(self.paragraphs and starts_with_lead(self.paragraphs[0].raw))
        return bool(self.byline) or self.continued or lead


@dataclass
class Group:
    """Consecutive headline units (heads, deks, bylines)."""

    units: list[Unit]


@dataclass
class Photo:
    """A photo caption with its credit and optional photo headline."""

    title: str
    text: str
    byline: str


Item = Run | Group | Photo


def bigrams(text: str) -> set[str]:
    """CJK character pairs of a text (spaces and punctuation ignored)."""
    chars = _NOT_WORD.sub("", text)
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def overlap(head: str, run: Run, settings: SegmentSettings) -> float:
    """Share of a headline's character pairs that reappear in the opening of a run."""
    pairs = bigrams(head)
    if not pairs:
        return 0.0
    return len(pairs & bigrams(run.opening(settings.bigram_span))) / len(pairs)


def heads_text(units: list[Unit]) -> str:
    """The headline words of some units (deks and bylines left out)."""
    return " ".join(unit.raw for unit in units if unit.kind == "head")


def page_items(units: list[Unit], settings: SegmentSettings) -> list[Item]:
    """Runs, headline groups and photos of a page, each run given at most one headline group."""
    items = _merge_intertitles(_items(units, settings), settings)
    _attach(items, _page_direction(items, settings), settings)
    return _join_feature_tail(_split_two_headed(items, settings), settings)


def _items(units: list[Unit], settings: SegmentSettings) -> list[Item]:
    """Group units into body runs, headline groups and photo captions, in page order."""
    items: list[Item] = []
    for index, unit in enumerate(units):
        last = items[-1] if items else None
        following = units[index + 1] if index + 1 < len(units) else None
        if unit.kind == "jump":
            if isinstance(last, Run):
                last.closed = True  # either way, the text before a jump marker ends there
            if "上" in unit.raw:
                items.append(Run(continued=True))
            continue
        if unit.kind == "credit":
            _take_photo(items, unit, settings)
        elif unit.kind in ("body", "list") or (
            # A photo headline is kept with the body that follows until we know whether a credit ends it.
            unit.kind == "head" and unit.lead_line and following is not None and following.kind == "body"
        ):
            if isinstance(last, Run) and not last.closed and not starts_with_lead(unit.raw):
                last.paragraphs.append(unit)  # (a paragraph opening "本报讯…" starts another report)
            else:
                items.append(Run([unit]))
        elif (
            unit.kind == "byline"
            and following is not None
            and following.kind == "body"
            and not isinstance(last, Group)
        ):
            items.append(Run(byline=unit.raw))
        elif isinstance(last, Group):
            last.units.append(unit)
        else:
            items.append(Group([unit]))
    return _merge_adjacent(_release_photo_heads(items))


def _take_photo(items: list[Item], credit: Unit, settings: SegmentSettings) -> None:
    """The paragraph before a credit (with its photo headline, if any) becomes a Photo item."""
    last = items[-1] if items else None
    if not (isinstance(last, Run) and last.paragraphs and last.paragraphs[-1].kind == "body"):
        return
    caption = last.paragraphs.pop()
    title = ""
    if last.paragraphs and last.paragraphs[-1].kind == "head" and last.paragraphs[-1].lead_line:
        title = tidy_headline(last.paragraphs.pop().raw)
    if not last.paragraphs and not last.byline:
        items.pop()
        title, caption = _photo_headline(items, title, caption, settings)
    items.append(Photo(title, clean_text(caption.raw), credit_byline(credit.raw)))


def _release_photo_heads(items: list[Item]) -> list[Item]:
    """A photo headline that was not followed by a credit is an ordinary headline after all."""
    fixed: list[Item] = []
    for item in items:
        if isinstance(item, Run) and any(p.kind == "head" for p in item.paragraphs):
            current = Run(byline=item.byline, continued=item.continued)
            for paragraph in item.paragraphs:
                if paragraph.kind == "head":
                    if current.paragraphs or current.byline:
                        fixed.append(current)
                    fixed.append(Group([paragraph]))
                    current = Run()
                else:
                    current.paragraphs.append(paragraph)
            if current.paragraphs:
                current.closed = item.closed
                fixed.append(current)
        elif not (isinstance(item, Run) and not item.paragraphs):
            fixed.append(item)
    return fixed


def _photo_headline(
    items: list[Item], title: str, caption: Unit, settings: SegmentSettings
) -> tuple[str, Unit]:
    """A photo headline read together with the caption's first line ("歌颂祖国 建功岗位" + "为迎接…").

    Only when the caption's first printed line was taken as a second headline line: the caption
    then starts mid-sentence (a number, or a word running across the seam).
    """
    last = items[-1] if items else None
    if title or not isinstance(last, Group) or last.units[-1].kind != "head":
        return title, caption
    head = last.units[-1]
    if len(head.lines) < 2:
        return title, caption
    start = caption.lines[0].strip()
    mid_number = start[:1].isdigit() and not _DATE_START.match(start)  # "70 周年，…", not "5月5日，…"
    if not (mid_number or CONTINUATION_START.match(start) or word_across(head.lines[-1], start, settings)):
        return title, caption
    last.units.pop()
    if not last.units:
        items.pop()
    return tidy_headline(head.lines[0]), Unit("body", [*head.lines[1:], *caption.lines])


def _merge_adjacent(items: list[Item]) -> list[Item]:
    """Runs and groups that ended up next to their own kind are joined."""
    merged: list[Item] = []
    for item in items:
        last = merged[-1] if merged else None
        if isinstance(item, Group) and isinstance(last, Group):
            last.units.extend(item.units)
        elif isinstance(item, Run) and isinstance(last, Run) and not (item.has_start_signal or last.closed):
            last.paragraphs.extend(item.paragraphs)
            last.closed = item.closed
        else:
            merged.append(item)
    return merged


def is_weak(group: Group) -> bool:
    """One headline line, no wider than a column, with no dek or byline: could be an intertitle."""
    units = group.units
    return len(units) == 1 and units[0].kind == "head" and len(units[0].lines) == 1 and not units[0].wide


def _merge_intertitles(items: list[Item], settings: SegmentSettings) -> list[Item]:
    """A lone headline between two runs, the second not opening like a report, stays inside one article."""
    changed = True
    while changed:
        changed = False
        for index in range(1, len(items) - 1):
            before, group, after = items[index - 1], items[index], items[index + 1]
            if (
                isinstance(before, Run)
                and not before.closed
                and isinstance(group, Group)
                and isinstance(after, Run)
                and is_weak(group)
                and not after.has_start_signal
                and overlap(heads_text(group.units), before, settings) < settings.intertitle_max_overlap
                and not _heads_below(heads_text(group.units), after, settings)
            ):
                before.paragraphs.append(Unit("intertitle", group.units[0].lines))
                before.paragraphs.extend(after.paragraphs)
                del items[index : index + 2]
                changed = True
                break
    return items


def _heads_below(head: str, run: Run, settings: SegmentSettings) -> bool:
    """True when a lone headline clearly restates the opening of the text below it (many of its
    character pairs, most of them): the headline of that text, printed before it, not an intertitle."""
    pairs = bigrams(head)
    shared = len(pairs & bigrams(run.opening(settings.bigram_span)))
    return shared >= settings.below_head_min_pairs and shared >= settings.attach_first_overlap * len(pairs)


def _page_direction(items: list[Item], settings: SegmentSettings) -> int:
    """+1 when this page prints headlines after their bodies, -1 when before (voted by every group)."""
    votes = 0.0
    margin, edge = settings.direction_vote_margin, settings.direction_edge_vote
    content = [item for item in items if not isinstance(item, Photo)]
    for index, item in enumerate(content):
        if not isinstance(item, Group):
            continue
        before = content[index - 1] if index else None
        after = content[index + 1] if index + 1 < len(content) else None
        if isinstance(before, Run) and isinstance(after, Run):
            head = heads_text(item.units)
            difference = overlap(head, before, settings) - overlap(head, after, settings)
            votes += 1 if difference > margin else -1 if difference < -margin else 0
    if content:
        votes += edge if isinstance(content[0], Run) else -edge
        votes += edge if isinstance(content[-1], Group) else -edge
    return 1 if votes >= 0 else -1


def _attach(items: list[Item], direction: int, settings: SegmentSettings) -> None:
    """Give each run at most one headline group: the neighbour it shares the most words with.

    Groups whose words clearly reappear in a neighbour's opening choose first, so a column label
    or a kicker with no such evidence cannot take the run that a restating headline belongs to.
    """
    for index in _attach_order(items, settings):
        item = items[index]
        before = items[index - 1] if index else None
        after = items[index + 1] if index + 1 < len(items) else None
        before_free = before if isinstance(before, Run) and before.head is None else None
        after_free = after if isinstance(after, Run) and after.head is None else None
        if before_free is not None and after_free is not None:
            split = _best_split(item.units, before_free, after_free, direction, settings)
            if split > 0:
                before_free.head = item.units[:split]
            if split < len(item.units):
                after_free.head = item.units[split:]
        elif before_free is not None:
            if _takes(item, before_free, direction > 0, settings):
                before_free.head = item.units
        elif after_free is not None and _takes(item, after_free, direction < 0, settings):
            after_free.head = item.units


def _attach_order(items: list[Item], settings: SegmentSettings) -> list[int]:
    """Indexes of the headline groups, strongest evidence (of any one headline) first, else page order."""
    evidence: dict[int, float] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Group) or not any(u.kind == "head" for u in item.units):
            continue
        heads = [heads_text([unit]) for unit in item.units if unit.kind == "head"]
        neighbours = [items[i] for i in (index - 1, index + 1) if 0 <= i < len(items)]
        runs = [run for run in neighbours if isinstance(run, Run)]
        evidence[index] = max((overlap(head, run, settings) for head in heads for run in runs), default=0.0)
    strong = settings.attach_first_overlap
    return sorted(evidence, key=lambda index: (evidence[index] < strong, index))


def _split_two_headed(items: list[Item], settings: SegmentSettings) -> list[Item]:
    """A run headed by the group before it, followed by a headline group whose leading headlines
    found no run sharing their words, holds two articles when one of its later paragraphs opens by
    restating those headlines (the second article's headline printed after it, the next article's
    before its own text, in one group): cut the run there and give it those headlines."""
    out: list[Item] = []
    for index, item in enumerate(items):
        before = items[index - 1] if index else None
        group = items[index + 1] if index + 1 < len(items) else None
        headed = (
            isinstance(item, Run)
            and isinstance(before, Group)
            and bool(item.head)
            and any(unit is item.head[0] for unit in before.units)
        )
        if not (headed and isinstance(group, Group) and isinstance(item, Run)):
            out.append(item)
            continue
        taker = items[index + 2] if index + 2 < len(items) else None
        # (a group cut at point 0 between two free runs is a copy of its units: compare the first)
        taken = isinstance(taker, Run) and bool(taker.head) and taker.head[0] is group.units[0]
        point, start = _restated_part(group, item, taker if taken else None, settings)
        if not start:
            out.append(item)
            continue
        if taken:
            taker.head = group.units[point:] or None
        out.append(Run(item.paragraphs[:start], item.byline, item.head, continued=item.continued))
        out.append(Run(item.paragraphs[start:], head=group.units[:point], closed=item.closed))
    return out


def _restated_part(group: Group, run: Run, taker: Run | None, settings: SegmentSettings) -> tuple[int, int]:
    """(cut point in `group`, paragraph of `run`): the leading headlines of `group` that a later
    paragraph of `run` restates best, and that paragraph; (0, 0) when none does. With a `taker` (the
    run after the group, which took it) the part must not restate the taker's opening, and it may be
    only the group's first headlines (the rest stay the taker's); without one it is the whole group."""
    points = _split_points(group.units)[1:] if taker is not None else [len(group.units)]
    best, best_gain = (0, 0), 0.0
    for point in points:
        head = heads_text(group.units[:point])
        if taker is not None and overlap(head, taker, settings) >= settings.against_direction_overlap:
            continue
        start, gain = _restating_start(head, run, settings)
        if start and gain > best_gain + _EPSILON:
            best, best_gain = (point, start), gain
    return best


def _restating_start(head: str, run: Run, settings: SegmentSettings) -> tuple[int, float]:
    """The later paragraph of `run` whose opening restates `head` clearly more than the text before
    it does, and by how much more (0, 0.0 when none does)."""
    best, best_gain = 0, 0.0
    for start in range(1, len(run.paragraphs)):
        if run.paragraphs[start].kind != "body":
            continue
        share = overlap(head, Run(run.paragraphs[start:]), settings)
        gain = share - overlap(head, Run(run.paragraphs[:start]), settings)
        if share >= settings.restate_min_overlap and gain >= settings.restate_margin and gain > best_gain:
            best, best_gain = start, gain
    return best, best_gain


def _takes(group: Group, run: Run, along_direction: bool, settings: SegmentSettings) -> bool:
    """True when the only free neighbour `run` takes `group`: it lies the page's way, or shares its words."""
    return (
        along_direction
        or overlap(heads_text(group.units), run, settings) >= settings.against_direction_overlap
    )


def _join_feature_tail(items: list[Item], settings: SegmentSettings) -> list[Item]:
    """A feature whose headline, dek and byline sit mid-page goes on after them to the page end.

    When a run took a headline group that carries a byline or dek (a signed feature), and the text
    after that group does not open like a report and ends the page with at most a lone section
    heading, that text is the rest of the same feature, not an article of its own.
    """
    for index in range(len(items) - 2):
        feature, group, tail = items[index], items[index + 1], items[index + 2]
        if not (isinstance(feature, Run) and isinstance(group, Group) and isinstance(tail, Run)):
            continue
        if feature.head != group.units or not any(u.kind in ("byline", "dek") for u in group.units):
            continue
        if feature.closed:  # "（下转第二版）": the feature goes on on another page, not here
            continue
        rest = [item for item in items[index + 3 :] if not isinstance(item, Photo)]
        trailing_weak = (
            len(rest) == 1
            and isinstance(rest[0], Group)
            and is_weak(rest[0])
            # a section label, not the headline of the text before it (which restates its words)
            and overlap(heads_text(rest[0].units), tail, settings) < settings.section_label_max_overlap
        )
        if tail.has_start_signal or not (not rest or trailing_weak):
            continue
        if tail.head is not None and not (trailing_weak and tail.head == rest[0].units):
            continue
        feature.paragraphs.extend(tail.paragraphs)
        return [*items[: index + 2], *items[index + 3 :]]
    return items


def _split_points(units: list[Unit]) -> list[int]:
    """Where a headline group may be cut in two: before a head unit (deks and bylines follow their head)."""
    points = [0, len(units)]
    for index in range(1, len(units)):
        if units[index].kind == "head" and any(u.kind == "head" for u in units[:index]):
            points.append(index)
    return sorted(set(points))


def _best_split(units: list[Unit], before: Run, after: Run, direction: int, settings: SegmentSettings) -> int:
    """The cut that best matches headline words to the opening of the run before and after."""
    preferred = len(units) if direction > 0 else 0
    best, best_score = preferred, -1.0
    for point in _split_points(units):
        score = sum(overlap(heads_text([u]), before, settings) for u in units[:point] if u.kind == "head")
        score += sum(overlap(heads_text([u]), after, settings) for u in units[point:] if u.kind == "head")
        score += settings.split_direction_bonus if point == preferred else 0.0
        if score > best_score + _EPSILON:
            best, best_score = point, score
    return best
