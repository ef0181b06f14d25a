"""SegmentSettings: frozen, validated, JSON-serialisable, and really used by segmentation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from qa.ingest.segment import SegmentSettings, load_articles, segment_page
from qa.records import Page

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
NO_HEADLINE = (
    "3月1日，只有一段正文没有标题，这里讲的是许昌今天的天气和明天的天气，还有后天的天气情况。后面还有一句。"
)


def test_init_defaults_are_valid_and_json_serialisable():
    settings = SegmentSettings()
    assert json.loads(json.dumps(dataclasses.asdict(settings))) == dataclasses.asdict(settings)
    assert settings.fallback_title_chars == 32 and settings.bigram_span == 160


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SegmentSettings().bigram_span = 80  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bigram_span": 0}, "bigram_span must be more than 0"),
        ({"full_line_slack": -1}, "full_line_slack must be 0 or more"),
        ({"head_line_share": 1.5}, "head_line_share is a share"),
        ({"intertitle_max_overlap": -0.1}, "intertitle_max_overlap is a share"),
        ({"narrow_column": 2.5}, "narrow_column must be a whole number"),
        ({"fallback_title_chars": "32"}, "fallback_title_chars must be a number"),
        ({"min_article_chars": True}, "min_article_chars must be a number"),
    ],
)
def test_init_rejects_bad_values(change: dict, message: str):
    with pytest.raises(ValueError, match=message):
        SegmentSettings(**change)


def test_zero_slack_and_margins_are_allowed():
    SegmentSettings(full_line_slack=0, direction_vote_margin=0.0, split_direction_bonus=0.0)


def test_longer_fallback_title_limit_keeps_the_whole_first_clause():
    page = Page("p.txt", NO_HEADLINE)
    [default] = segment_page(page)
    [longer] = segment_page(page, SegmentSettings(fallback_title_chars=64))
    assert default.title == "只有一段正文没有标题，这里讲的是许昌今天的天气和明天的天气"
    assert longer.title == "只有一段正文没有标题，这里讲的是许昌今天的天气和明天的天气，还有后天的天气情况"


def test_lower_minimum_length_keeps_a_two_character_article():
    page = Page("p.txt", "全市工作会议召开\n\n好。\n")
    assert segment_page(page) == []
    [article] = segment_page(page, SegmentSettings(min_article_chars=2))
    assert (article.title, article.text) == ("全市工作会议召开", "好。")


def test_load_articles_passes_its_settings_to_every_page(tmp_path: Path):
    (tmp_path / "p.txt").write_text(NO_HEADLINE, encoding="utf-8")
    [default], _ = load_articles(tmp_path)
    [longer], _ = load_articles(tmp_path, SegmentSettings(fallback_title_chars=64))
    assert len(longer.title) > len(default.title)


def test_default_settings_segment_like_no_settings():
    assert load_articles(SEEDS, SegmentSettings()) == load_articles(SEEDS)
