"""SegmentSettings: frozen, validated, JSON-serialisable, and really used by segmentation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from qa.ingest.segment import SegmentSettings, load_articles, segment_page
from qa.records import Page

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
CAPTIONED = (
    "全市工作会议在许昌召开\n\n本报讯（记者 王明）3月1日，\n"
    "全市工作会议在许昌召开。会\n议总结了去年的工作。\n\n"
    "3月3日，学生们在许昌博物馆参\n观文物展览。\n\n本报记者 乔利峰 摄\n"
)


def test_init_defaults_are_valid_and_json_serialisable():
    settings = SegmentSettings()
    assert json.loads(json.dumps(dataclasses.asdict(settings))) == dataclasses.asdict(settings)
    assert settings.kicker_lead_max_chars == 6 and settings.bigram_span == 160


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
        ({"kicker_lead_max_chars": "6"}, "kicker_lead_max_chars must be a number"),
        ({"caption_topic_min_overlap": 1.5}, "caption_topic_min_overlap is a share"),
        ({"min_article_chars": True}, "min_article_chars must be a number"),
    ],
)
def test_init_rejects_bad_values(change: dict, message: str):
    with pytest.raises(ValueError, match=message):
        SegmentSettings(**change)


def test_zero_slack_and_margins_are_allowed():
    SegmentSettings(full_line_slack=0, direction_vote_margin=0.0, split_direction_bonus=0.0)


def test_lower_caption_topic_overlap_glues_an_unrelated_caption_to_the_article_before():
    page = Page("p.txt", CAPTIONED)
    meeting, photo = segment_page(page)
    [glued] = segment_page(page, SegmentSettings(caption_topic_min_overlap=0.01))
    assert photo.kind == "photo" and "博物馆" not in meeting.text
    assert glued.title == meeting.title and glued.text.endswith("学生们在许昌博物馆参观文物展览。")


def test_lower_minimum_length_keeps_a_two_character_article():
    page = Page("p.txt", "全市工作会议召开\n\n好。\n")
    assert segment_page(page) == []
    [article] = segment_page(page, SegmentSettings(min_article_chars=2))
    assert (article.title, article.text) == ("全市工作会议召开", "好。")


def test_load_articles_passes_its_settings_to_every_page(tmp_path: Path):
    (tmp_path / "p.txt").write_text(CAPTIONED, encoding="utf-8")
    default, _ = load_articles(tmp_path)
    glued, _ = load_articles(tmp_path, SegmentSettings(caption_topic_min_overlap=0.01))
    assert (len(default), len(glued)) == (2, 1)


def test_default_settings_segment_like_no_settings():
    assert load_articles(SEEDS, SegmentSettings()) == load_articles(SEEDS)
