"""OCR repair: spaces inside Chinese words, broken lines, jump markers, captions, masthead, bylines."""

from __future__ import annotations

import pytest

from qa.ingest.cleaning import (
    Masthead,
    byline_line,
    clean_text,
    collapse_repeats,
    find_masthead,
    is_jump_marker_line,
    join_broken_lines,
    normalize_byline,
    normalize_punctuation,
    remove_cjk_spaces,
    split_lead,
    split_photo_credit,
    strip_jump_markers,
    tidy_headline,
)


def test_spaces_between_chinese_characters_are_removed():
    assert remove_cjk_spaces("部 门 制 定 了《许 昌 市") == "部门制定了《许昌市"


def test_spaces_between_chinese_and_numbers_are_removed():
    assert remove_cjk_spaces("9 月 12 日，共查处 279869 起") == "9月12日，共查处279869起"


@pytest.mark.parametrize(
    "text", ["Nov 10, 2022", "0374—5056199", "HPV DNA test 2.5 mg", "pcl7654321@163.com"]
)
def test_meaningful_spaces_and_numbers_stay_intact(text: str):
    assert remove_cjk_spaces(text) == text
    assert clean_text(text) == text


def test_ascii_punctuation_inside_chinese_becomes_full_width():
    assert (
        normalize_punctuation('市场,社会协同发力;打造"许昌样板"(试点)')
        == "市场，社会协同发力；打造“许昌样板”（试点）"
    )


def test_decimal_points_and_latin_commas_are_not_touched():
    assert normalize_punctuation("总投资76.8亿元 (Nov 10, 2022)") == "总投资76.8亿元 (Nov 10, 2022)"


def test_mid_sentence_line_breaks_are_joined_and_paragraphs_kept():
    text = "王磊说，市公安局把创文工作\n当作一项全局性重点工作。\n\n为了加强组织领导，该局\n成立了指挥部。"
    assert (
        join_broken_lines(text)
        == "王磊说，市公安局把创文工作当作一项全局性重点工作。\n为了加强组织领导，该局成立了指挥部。"
    )


def test_blank_line_inside_a_sentence_is_a_column_break_not_a_paragraph():
    text = "取得了良好的工作成\n\n效。”王磊说。"
    assert join_broken_lines(text) == "取得了良好的工作成效。”王磊说。"


def test_short_line_ending_a_sentence_ends_the_paragraph():
    text = (
        "确保道路交通安全、畅通、有序，不断巩固文明城市创建成\n果。\n二要优化治安环境。深入\n开展专项行动。"
    )
    assert join_broken_lines(text).split("\n") == [
        "确保道路交通安全、畅通、有序，不断巩固文明城市创建成果。",
        "二要优化治安环境。深入开展专项行动。",
    ]


@pytest.mark.parametrize("marker", ["（下转第七版）", "(下转第七版)", "（上接第一版）", "（ 下转第 2 版 ）"])
def test_jump_markers_are_removed(marker: str):
    assert strip_jump_markers(f"解决好群众关心的民生问题。{marker}") == "解决好群众关心的民生问题。"
    assert is_jump_marker_line(f", 。 {marker}")


def test_a_sentence_mentioning_a_page_is_not_a_jump_marker_line():
    assert not is_jump_marker_line("详见第七版的报道（下转第七版）以及更多内容")


@pytest.mark.parametrize(
    ("line", "before", "credit"),
    [
        ("记者 牛志勇摄", "", "记者 牛志勇摄"),
        ("本报记者 乔利峰 摄", "", "本报记者 乔利峰 摄"),
        ("许廷合 摄", "", "许廷合 摄"),
        ("图为该车间近日生产的场景。 侯聪 摄", "图为该车间近日生产的场景。", "侯聪 摄"),
    ],
)
def test_photo_credits_are_recognised(line: str, before: str, credit: str):
    assert split_photo_credit(line) == (before, credit)


def test_body_line_is_not_a_photo_credit():
    assert split_photo_credit("市公安局交管部门制定了专项实施方案，") is None


def test_masthead_gives_the_page_date_and_its_extent():
    lines = [
        "XUCHANG DAILY",
        "",
        "2020年11月 4日星期二农历庚子年十月初十",
        "中共许昌市委机关报",
        "许昌日报社出版 第9315期",
        "□国内统一刊号: CN41—0013",
        "",
        "践行嘱托争出彩",
    ]
    masthead = find_masthead(lines)
    assert masthead.date == "2020-11-04"
    assert masthead.lines == 6


def test_page_without_masthead_has_no_date():
    lines = ["本报讯（记者 李新）2 月 18 日、19", "日，新疆维吾尔自治区哈密市考察团"]
    assert find_masthead(lines).date == ""
    assert find_masthead(lines).lines == 0


@pytest.mark.parametrize(
    ("text", "byline"),
    [
        ("本报讯（记者 李新）2 月 18 日", "记者 李新"),
        ("本 报 讯（记 者 张 辉 通 讯 员 刘 阳睿）“社区", "记者 张辉 通讯员 刘阳睿"),
        ("本报讯（韩扬）近年来", "韩扬"),
        ("本报讯 (记者 杨伟峰) 11 月 21 日", "记者 杨伟峰"),
    ],
)
def test_news_lead_gives_the_byline(text: str, byline: str):
    found, rest = split_lead(text)
    assert found == byline
    assert "本报讯" not in rest and "本 报 讯" not in rest


@pytest.mark.parametrize(
    ("line", "byline"),
    [("□ 记者陈晨", "记者 陈晨"), ("本报记者 王金伟", "记者 王金伟"), ("市公安局始终把创文工作", None)],
)
def test_byline_lines(line: str, byline: str | None):
    assert byline_line(line) == byline


def test_byline_with_reporter_and_correspondent():
    assert normalize_byline("本报记者 胡晨 通讯员 李彦宾") == "记者 胡晨 通讯员 李彦宾"


def test_ocr_repeated_headline_text_is_kept_once():
    assert collapse_repeats("豪气扬豪气扬豪气扬 奋力走在前列") == "豪气扬 奋力走在前列"
    assert collapse_repeats("一路走、一路看、一路交流") == "一路走、一路看、一路交流"


def test_letter_spaced_headline_is_joined_and_phrase_gaps_kept():
    assert tidy_headline("哈 密 市 考 察 团") == "哈密市考察团"
    assert tidy_headline("歌颂祖国 建功岗位") == "歌颂祖国 建功岗位"
    assert tidy_headline("朝气满朝气满朝气满 狠抓任务落实") == "朝气满 狠抓任务落实"


def test_phrase_read_twice_across_a_column_seam_is_kept_once():
    assert collapse_repeats("行走在许昌的大街小行走在许昌的大街小巷，处处") == "行走在许昌的大街小巷，处处"


def test_masthead_needs_masthead_lines_not_just_a_date_in_the_body():
    lines = ["本报讯（记者 李新）2020年11月4日，市里召开会议，会议由市长主持并讲话，与会人员认真学习。"]
    assert find_masthead(lines).lines == 0


def test_a_wire_dateline_is_not_a_masthead_mark():
    lines = ["据美联社7月19日报道，美国", "国务院当天宣布……", "", "另据路透社7月20日报道，", "更多的正文。"]
    assert find_masthead(lines).lines == 0


def test_one_line_page_header_is_a_masthead_with_its_date():
    lines = ["2021年10月5日 星期二 责任编辑：王明 美编：李华", "", "全市工作会议召开", "", "正文。"]
    assert find_masthead(lines) == Masthead(1, "2021-10-05")


def test_page_number_line_ends_the_masthead():
    lines = ["许昌日报", "2021年11月28日 星期日", "第6版 要闻", "", "全市工作会议召开"]
    assert find_masthead(lines) == Masthead(3, "2021-11-28")


def test_jump_marker_naming_a_page_is_no_masthead_mark():
    assert find_masthead(["（下转第5版）", "", "7月19日报道，……", "正文。"]).lines == 0
