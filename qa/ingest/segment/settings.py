"""Every tuned number of segmentation, named and documented once, in one frozen object.

`segment_page(page, settings)` hands a `SegmentSettings` down to each step that uses a number, so a
changed value is visible at the call site and can be recorded (the index manifest stores
`dataclasses.asdict(settings)`). All values were set by hand on the five seed pages in seeds/ (the
Xuchang Daily pages 000-004, narrow columns of about 13-16 characters) in the commits that built
qa/articles.py: d9b50c7 (units, attachment, titles), 36a63ce (tables, extra headlines), bbfc712
(short articles), 95acc1e (intertitles), 27ae66f (fallback titles). Lengths count visible
characters (OCR spaces left out); "width" is the page's column width (`cleaning.line_width`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

# Fields that are shares of something (0..1), and the few counts that may be 0.
_SHARES = frozenset(
    {
        "head_line_share",
        "lead_head_share",
        "intertitle_max_overlap",
        "against_direction_overlap",
        "telling_head_min_overlap",
    }
)
_MAY_BE_ZERO = frozenset(
    {
        "full_line_slack",
        "dek_head_max_lines",
        "direction_vote_margin",
        "direction_edge_vote",
        "split_direction_bonus",
        "couplet_max_difference",
        "telling_head_keep_chars",
        "pen_name_max_chars",
        "prefix_max_chars",
        "fallback_cut_min_chars",
        "list_wrap_slack",
        "min_article_chars",
        "lead_head_min_width",
    }
)


@dataclass(frozen=True)
class SegmentSettings:
    """The tuned numbers of page -> articles; the defaults reproduce the shipped segmentation."""

    # ---- lines -> units (units.py)
    # A line within this many characters of the column width is a full line: body text that runs
    # on, not a paragraph end or a headline. 1 absorbs the one-character jitter of OCR'd columns.
    full_line_slack: int = 1
    # Columns narrower than this are newspaper columns, where a full-width line with a comma or a
    # block of full-width lines is body text broken at the column end. The seeds print 13-16.
    narrow_column: int = 30
    # A headline is at most this many lines ("市七届人大常委会召开" / "第五十二次主任会议" is two) ...
    head_max_lines: int = 3
    # ... and at most this many characters in all (the longest seed headline with its kicker).
    head_max_chars: int = 48
    # A headline of three or more lines has no line longer than this share of the width; a block of
    # long unpunctuated lines is a table or list fragment (seed 003).
    head_line_share: float = 0.75
    # A photo headline printed as the first line of its caption block (seed 000 "歌颂祖国 建功岗位")
    # is read only in columns at least this wide ...
    lead_head_min_width: int = 10
    # ... and only when that line is at most this share of the width (shorter than the caption lines).
    lead_head_share: float = 0.7
    # A line longer than this (with no "。") is body text even if it ends like a credit ("…摄").
    credit_max_chars: int = 60
    # Up to this many unfinished lines just before a dek ("——访…") are its headline (seed 000).
    dek_head_max_lines: int = 2
    # Characters on each side of a seam that jieba reads as one text to find a word across it
    # ("八一路校" + "区报告" -> "校区"); 3 holds a three-character word on either side.
    seam_chars: int = 3

    # ---- items, direction, attachment (layout.py)
    # Characters of a run's opening compared with headlines: a news lead restates its headline in
    # the first sentence or two; 160 covers the lead and the "本报讯（记者 …）" prefix on the seeds.
    bigram_span: int = 160
    # A lone headline between two runs is an intertitle only when less than this share of its
    # character pairs reappears in the run before (else it restates that run's lead: seed 002).
    intertitle_max_overlap: float = 0.5
    # A group votes for "headline after body" or "before" only when its overlap with one neighbour
    # beats the other by more than this; smaller differences are noise from common words.
    direction_vote_margin: float = 0.1
    # The vote given to a page that starts with body text (after) or ends with a headline (after):
    # half a group's vote, so it only breaks ties (seeds 001 and 004 print the other way round).
    direction_edge_vote: float = 0.5
    # A headline group with a free run only on the side against the page direction takes it when at
    # least this share of its character pairs reappears in that run's opening (seed 004).
    against_direction_overlap: float = 0.3
    # When a group sits between two free runs, the cut that follows the page direction gets this
    # bonus (in summed overlap shares), so an even split goes the page's way.
    split_direction_bonus: float = 0.15

    # ---- headlines, deks, bylines (titles.py)
    # A two-line headline unit whose first line has at least this many characters is two headlines
    # (a long kicker over the main line), not one wrapped headline.
    split_head_min_chars: int = 18
    # A lone one-line headline of at most this many characters ending in a place or body name
    # ("魏都区", "市纪委") is the first part of the next headline (seed 004).
    prefix_max_chars: int = 7
    # A last headline line of at most this many characters, with no byline, is a columnist's pen name.
    pen_name_max_chars: int = 3
    # Two headline lines whose lengths differ by at most this many characters ...
    couplet_max_difference: int = 1
    # ... and are at most this long are a couplet ("接受红色教育 坚守初心使命"), kept with a space;
    # other multi-line headlines are one phrase wrapped and are joined.
    couplet_max_chars: int = 8
    # A title longer than this, of at least `moved_word_min_words` phrases whose last phrase has at
    # least `moved_word_min_chars` characters, gives that last phrase to the subtitle (seed 002).
    long_title_chars: int = 28
    moved_word_min_words: int = 3
    moved_word_min_chars: int = 8
    # Of two or more headlines over one article, one sharing less than this share of its character
    # pairs with the article text is dropped (a column label or a neighbouring photo's headline) ...
    telling_head_min_overlap: float = 0.2
    # ... unless it is at most this many characters (a pen name or short label kept for the title step).
    telling_head_keep_chars: int = 3
    # A title made from the first clause of an article without a headline is at most this long ...
    fallback_title_chars: int = 32
    # ... cut at the last comma at or after this position, else cut hard and ended with "…".
    fallback_cut_min_chars: int = 12

    # ---- articles (page.py)
    # A table row ending within this many characters of the longest row was wrapped at the column end
    # and goes on in the next line (seed 003's score table).
    list_wrap_slack: int = 2
    # A run with fewer characters of text than this is not an article (a stray line, a page number).
    min_article_chars: int = 4
    # The masthead (title, date, issue, editors) is looked for in this many non-blank top lines.
    masthead_lines: int = 20

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{field.name} must be a number, not {value!r}.")
            if field.type in ("int", int) and not isinstance(value, int):
                raise ValueError(f"{field.name} must be a whole number, not {value!r}.")
            if field.name in _SHARES and not 0.0 <= value <= 1.0:
                raise ValueError(f"{field.name} is a share of character pairs or width: 0..1, not {value!r}.")
            if value < 0 or (value == 0 and field.name not in _MAY_BE_ZERO):
                least = "0 or more" if field.name in _MAY_BE_ZERO else "more than 0"
                raise ValueError(f"{field.name} must be {least}, not {value!r}.")
