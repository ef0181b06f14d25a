"""Every tuned number of segmentation, named and documented once, in one frozen object.

`segment_page(page, settings)` hands a `SegmentSettings` down to each step that uses a number, so a
changed value is visible at the call site and can be recorded (the index manifest stores
`dataclasses.asdict(settings)`). All values were set by hand on the five seed pages in seeds/
(000-004) when segmentation was written as qa/articles.py, in commit d9b50c7
unless a field names a later one. Lengths count visible characters (OCR spaces left out); "width"
is the page's column width (`cleaning.line_width`).
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
        "section_label_max_overlap",
        "caption_topic_min_overlap",
        "attach_first_overlap",
        "restate_min_overlap",
        "restate_margin",
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
        "list_wrap_slack",
        "min_article_chars",
        "lead_head_min_width",
    }
)


@dataclass(frozen=True)
class SegmentSettings:
    """The tuned numbers of page -> articles; the defaults reproduce the shipped segmentation."""

    # Sensitivity notes ("seeds: ...") say which seed pages change when the value moves, from a sweep
    # of each value at -1, +1, half and double with the rest at their defaults.

    # ---- lines -> units (units.py)
    # A line within this many characters of the column width is a full line: body text that runs
    # on, not a paragraph end or a headline. Seeds: 0 changes 003, 2 changes 000 and 002.
    full_line_slack: int = 1
    # Columns narrower than this are newspaper columns, where a full-width line with a comma or a
    # block of full-width lines is body text broken at the column end. Seeds 000 and 002-004 are
    # 16-17 characters wide, 001 is 67 (one line per paragraph); 15 changes 002 and 003.
    narrow_column: int = 30
    # A headline is at most this many lines. Seeds: 1 loses the two-line headlines of 000 and 002-004.
    head_max_lines: int = 3
    # ... and at most this many characters in all. Seeds: 24 cuts headlines on 001 and 003.
    head_max_chars: int = 48
    # A headline of three or more lines has no line longer than this share of the column width (a
    # block of long unpunctuated lines is body or table text). Seeds: 1.0 changes 003 and 004.
    head_line_share: float = 0.75
    # A short first line of a block's first paragraph is a headline printed over it (a photo headline)
    # only in columns at least this wide ... (seeds: 5-11 all give the same articles) ...
    lead_head_min_width: int = 10
    # ... and only when that line is at most this share of the width. Seeds: 1.0 changes 000 and 002-004.
    lead_head_share: float = 0.7
    # A line longer than this (with no "。") is body text even if it ends like a credit ("…摄").
    # Seeds: 30-120 all give the same articles.
    credit_max_chars: int = 60
    # Up to this many unfinished lines just before a dek ("——访…") are its headline.
    # Seeds: 1-4 all give the same articles.
    dek_head_max_lines: int = 2
    # Characters on each side of a seam that jieba reads as one text to find a word across it
    # ("八一路校" + "区报告" -> "校区"). Seeds: 1 changes 000, 001, 003 and 004; 2-6 the same.
    seam_chars: int = 3

    # ---- items, direction, attachment (layout.py)
    # Characters of a run's opening compared with headlines: a news lead restates its headline in its
    # first sentence or two. Seeds: 80-161 give the same articles, 320 changes 002.
    bigram_span: int = 160
    # A lone headline between two runs is an intertitle only when less than this share of its
    # character pairs reappears in the run before (else it restates that run's lead: a headline).
    # Seeds: 0.25-0.75 all give the same articles (set to 0.5 in 95acc1e; lowered to 0.4 on typeset
    # seeds 1, 11 and 12, where a restating headline printed after its text shares 0.46 and was read
    # as an intertitle; 0.35-0.4 give the same figures there, seed intertitles share at most 0.22).
    intertitle_max_overlap: float = 0.4
    # A group votes for "headline after body" or "before" only when its overlap with one neighbour
    # beats the other by more than this share. Seeds: 0.05-0.15 all give the same articles.
    direction_vote_margin: float = 0.1
    # The vote for a page that starts with body text (after) and one that ends with a headline
    # (after): half a group's vote, so these only break ties. Seeds: 0.25-0.75 the same.
    direction_edge_vote: float = 0.5
    # A headline group whose only free neighbour lies against the page direction takes it when at
    # least this share of its character pairs reappears in that run's opening. Seeds: 0.15-0.45 the same.
    against_direction_overlap: float = 0.3
    # A signed feature goes on past its mid-page headline to the page end, over at most a lone heading
    # at the page end that shares less than this share of its character pairs with the text before it
    # (a section label; a headline restating that text heads an article of its own). Seed 004's
    # label "豪气扬… 奋力走在前列" shares 0.33; a headline on typeset seed 1 p003 0.84; seeds: 0.35-0.85
    # give the same articles.
    section_label_max_overlap: float = 0.5
    # Headline groups sharing at least this share of their character pairs with a neighbouring run's
    # opening are attached first (in page order), the rest after them, so a column label cannot take
    # the run a restating headline belongs to. Set on typeset seeds 1, 11 and 12; seeds: 0.2-1.0 give
    # the same articles.
    attach_first_overlap: float = 0.5
    # A run headed by the group before it, followed by a group that no run's opening restates, is cut
    # before its later paragraph whose opening holds at least this share of that group's character
    # pairs (two articles, the second headed after its text, nothing printed between the texts) ...
    # Set on typeset seeds 1, 11 and 12 (0.3-0.4 give the same figures there, 0.5 one more merge
    # each on 1 and 11); seeds: 0.2-1.0 give the same articles.
    restate_min_overlap: float = 0.4
    # ... and this much more than the run's own opening. Set on typeset seeds 1, 11 and 12; seeds:
    # 0.05-0.6 give the same articles.
    restate_margin: float = 0.2
    # A lone headline between two runs is not an intertitle when at least this many of its character
    # pairs, and at least `attach_first_overlap` of them, reappear in the opening of the run below it
    # (the headline of that text, printed before it; a short label repeating a word, "应急响应", has
    # too few pairs to tell). Set on typeset seeds 1 and 11-20, where 4-10 give the same figures (11
    # loses a headline there); seeds: 7 or more give the same articles, 6 reads one of their intertitles
    # as a headline.
    below_head_min_pairs: int = 9
    # When a group sits between two free runs, the cut that follows the page direction gets this
    # bonus (in summed overlap shares), so an even split goes the page's way. Seeds: 0.075-0.225 the same.
    split_direction_bonus: float = 0.15

    # ---- headlines, deks, bylines (titles.py)
    # A two-line headline unit whose first line has at least this many characters is two headlines
    # (a kicker over the main line), not one wrapped headline. Seeds: 9 changes 000, 002 and 003;
    # 36 changes 003; 17-19 the same.
    split_head_min_chars: int = 18
    # A headline with a comma after a lead phrase of at most this many characters ("今年以来，…",
    # "今年前8个月，…"), printed over another headline, is a kicker, not the title; a title with a later
    # comma ("乐昌市委原书记，被双开！") stays a candidate. Set on typeset seed 1 (commas in real
    # titles come after 7+ characters there); seeds: 5 changes 000 ("今年前8个月，…"), 6-8 the same.
    kicker_lead_max_chars: int = 6
    # A lone one-line headline of at most this many characters ending in a place or body name
    # ("魏都区") is the first part of the next headline. Seeds: 6 changes 004; 8-14 the same.
    prefix_max_chars: int = 7
    # A last headline of at most this many characters, with no byline, is a columnist's pen name
    # printed under the headline. Seeds: 1 changes 001, 6 changes 002.
    pen_name_max_chars: int = 3
    # Two headline lines whose lengths differ by at most this many characters (seeds: 2 changes 002) ...
    couplet_max_difference: int = 1
    # ... and are at most this long are a couplet ("接受红色教育 坚守初心使命"), kept with a space;
    # other multi-line headlines are one phrase wrapped and are joined. Seeds: 4 changes 003.
    couplet_max_chars: int = 8
    # A title longer than this (seeds: 56 changes 001), of at least `moved_word_min_words` phrases
    # (seeds: 4 changes 001) whose last phrase has at least `moved_word_min_chars` characters (seeds:
    # 4-16 the same), gives that last phrase to the subtitle.
    long_title_chars: int = 28
    moved_word_min_words: int = 3
    moved_word_min_chars: int = 8
    # Of two or more headlines over one article, one sharing less than this share of its character
    # pairs with the article text is dropped (a column label, a neighbouring photo's headline).
    # Set on seed 001 in 36a63ce; 0.1 and 0.3 both change 001.
    telling_head_min_overlap: float = 0.2
    # ... unless it is at most this many characters (a pen name, kept for the title step). Seeds: 1
    # changes 001.
    telling_head_keep_chars: int = 3

    # ---- articles (page.py)
    # A photo caption without its own headline ends the article printed before it when at least this
    # share of its character pairs reappears in that article (the photo illustrates it); otherwise it
    # is a photo-news item of its own (kind "photo", placeholder title), never glued into an unrelated
    # story. The seeds' five untitled captions (all standalone photo news) share 0.11-0.23 of their
    # pairs with the article before them, typeset seed 1's 0-0.04 (unrelated filler): none shares more,
    # so this was set above them; seeds: 0.25-0.9 give the same articles.
    caption_topic_min_overlap: float = 0.35
    # A table row ending within this many characters of the longest row was wrapped at the column end
    # and goes on in the next line (set in 36a63ce). Seeds: 1 changes 002 and 003; 3-4 the same.
    list_wrap_slack: int = 2
    # A run with fewer characters of text than this is not an article (a stray line or label; set in
    # bbfc712 to keep short real articles). Seeds: 2-8 all give the same articles.
    min_article_chars: int = 4
    # The masthead (title, date, issue, editors) is looked for in this many non-blank top lines.
    # Seeds: 10-40 all give the same articles (001's masthead is its first lines).
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
