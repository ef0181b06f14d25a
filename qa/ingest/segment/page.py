"""Page -> Article: the public face of segmentation, and the text of each article.

How a page is read (each step has its own module):
1. The masthead (title, date, issue, editors; or a one-line page header "2021年10月5日 星期二
   责任编辑：…") is cut off; its date becomes every article's date. A page without a printed
   masthead date gives date "" (never invented).
2. units.py: the rest becomes units: body paragraphs (hard line breaks and column breaks joined),
   headline pieces (short lines without sentence punctuation; a whole block shaped like a headline
   may end in "！"/"？"), dek lines ("——访…"), bylines ("□ 记者陈晨"), photo credits ("…摄"),
   list/table rows, and jump markers ("（下转第七版）" ends the text before it, "（上接第三版）"
   starts another article's text; the markers themselves never reach the text).
3. layout.py: photo captions (the paragraph right before a "…摄" credit, with its own short headline
   if it has one) are photo items, never glued into an unrelated article's body.
4. layout.py: each headline group is attached to the body before it or after it. Pages differ (most
   print the headline after the body, some before, some mix), so the choice is made per group from
   how many headline character pairs reappear in the opening of each neighbour (groups with clear
   evidence choose first), with the page's overall direction (voted by all groups, plus what the
   page starts and ends with) breaking ties. A paragraph opening "本报讯…" starts another report. A
   lone short headline (no wider than a column) between two runs, the second not opening like a
   report nor restating it, is an intertitle and stays inside the article as a paragraph; a signed
   feature (headline with dek or byline) goes on past its mid-page headline to the page end.
5. titles.py: the main headline of a group is the longest one that is not a kicker (a short lead
   phrase and a comma: "今年以来，…") or a series label; the others and the dek make the subtitle.
   The byline comes from "本报讯（记者 X）" (taken out of the text here), a byline line, the dek,
   or an end tag like "（政文）".
6. Here: a caption without its own headline ends the article before it when it shares that
   article's words (the photo illustrates it); otherwise it stays a photo item of its own
   (`kind="photo"`, subtitle "图片新闻", byline "记者 X 摄"), so its facts stay searchable without
   being cited under another story's title. Text the page printed no headline for gets the honest
   placeholder title "<file stem> <date> 无标题" and `untitled=True`, never a sentence of its body.
7. Headline groups with no body (column labels, teasers for other pages) and the masthead are not
   articles. Article ids are `<file stem>-<nn>` in page order, so rebuilds give the same ids.
All tuned numbers come from one `SegmentSettings` (settings.py); None means the defaults.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa.ingest.cleaning import (
    clean_text,
    collapse_repeats,
    find_masthead,
    is_list_line,
    join_lines,
    remove_cjk_spaces,
    split_lead,
    visible_length,
)
from qa.ingest.corpus import read_corpus
from qa.ingest.segment.layout import Item, Photo, Run, bigrams, page_items
from qa.ingest.segment.settings import SegmentSettings
from qa.ingest.segment.titles import title_parts
from qa.ingest.segment.units import page_units
from qa.records import Article, Page, Problem

# An end tag naming the author after the last sentence: "……。（政文）".
_END_TAG = re.compile(r"。（([^（）]{2,6})）$")
_PHOTO_SUBTITLE = "图片新闻"
# The last word of a placeholder title (see `_placeholder_title`).
UNTITLED = "无标题"


def segment_page(page: Page, settings: SegmentSettings | None = None) -> list[Article]:
    """The articles of one OCR page, in page order, with ids `<file stem>-<nn>` (see the module docstring)."""
    settings = SegmentSettings() if settings is None else settings
    lines = page.text.splitlines()
    masthead = find_masthead(lines, settings.masthead_lines)
    items = page_items(page_units(lines[masthead.lines :], settings), settings)
    stem = Path(page.source).stem
    found: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Photo) and not item.title and _illustrates(found, item.text, settings):
            found[-1]["text"] = "\n".join([found[-1]["text"], item.text])
            continue
        fields = _article_fields(item, settings)
        if fields is not None:
            found.append(fields)
    articles: list[Article] = []
    for number, fields in enumerate(found, start=1):
        if not fields["title"]:
            fields = {**fields, "title": _placeholder_title(page.source, masthead.date), "untitled": True}
        articles.append(Article(id=f"{stem}-{number:02d}", date=masthead.date, source=page.source, **fields))
    return articles


def _illustrates(found: list[dict[str, Any]], caption: str, settings: SegmentSettings) -> bool:
    """True when an untitled caption illustrates the article printed before it (shares its words)."""
    pairs = bigrams(caption)
    if not found or not pairs:
        return False
    share = len(pairs & bigrams(found[-1]["text"])) / len(pairs)
    return share >= settings.caption_topic_min_overlap


def _placeholder_title(source: str, date: str) -> str:
    """The honest title of an article printed without a headline: its page (and date), "无标题"."""
    return " ".join(part for part in (Path(source).stem, date, UNTITLED) if part)


def segment_pages(pages: list[Page], settings: SegmentSettings) -> list[list[Article]]:
    """The articles of each page, one list per page, in page order (in this process)."""
    return [segment_page(page, settings) for page in pages]


def load_articles(
    path: Path,
    settings: SegmentSettings | None = None,
    segment_all: Callable[[list[Page], SegmentSettings], list[list[Article]]] = segment_pages,
) -> tuple[list[Article], list[Problem]]:
    """Every article of a corpus: pages segmented (in file order), then JSONL exports; empty ones dropped.

    `segment_all` cuts the pages (the Ray build passes one that runs them as parallel tasks).
    """
    settings = SegmentSettings() if settings is None else settings
    contents = read_corpus(Path(path))
    articles: list[Article] = []
    problems = list(contents.problems)
    for page, found in zip(contents.pages, segment_all(contents.pages, settings), strict=True):
        if not found:
            problems.append(Problem(page.source, None, "no article found on this page"))
        articles.extend(found)
    articles.extend(article for article in contents.articles if article.text.strip())
    return articles, problems


def _article_fields(item: Item, settings: SegmentSettings) -> dict[str, Any] | None:
    """Title, text, byline, subtitle and kind of a photo or run; None for a headline group or an empty item.

    The title is "" when the page printed no headline for the text (the caller puts a placeholder).
    """
    if isinstance(item, Photo):
        if not item.text:
            return None
        fields = {"title": item.title, "text": item.text, "byline": item.byline, "subtitle": _PHOTO_SUBTITLE}
        return {**fields, "kind": "photo"}
    if not isinstance(item, Run):
        return None
    text, lead_byline = _run_text(item, settings)
    if len(text.strip()) < settings.min_article_chars:
        return None
    title, subtitle, head_byline = title_parts(item.head or [], text, settings)
    end_tag = _END_TAG.search(text)
    byline = lead_byline or item.byline or head_byline or (end_tag.group(1) if end_tag else "")
    return {"title": title, "text": text, "byline": byline, "subtitle": subtitle}


def _run_text(run: Run, settings: SegmentSettings) -> tuple[str, str]:
    """(text, byline from "本报讯（…）") of a run: paragraphs cleaned and separated by newlines."""
    paragraphs: list[str] = []
    byline = ""
    for index, unit in enumerate(run.paragraphs):
        if unit.kind == "list":
            paragraphs.extend(clean_text(row) for row in _list_rows(unit.lines, settings))
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


def _list_rows(lines: list[str], settings: SegmentSettings) -> list[str]:
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
            and visible_length(previous) >= longest - settings.list_wrap_slack
            and not rows[-1].endswith("）")
            and not is_list_line(text)
        )
        previous = text
        if cut or wrapped:
            rows[-1] += text
        else:
            rows.append(text)
    return rows
