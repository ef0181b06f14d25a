"""One rule of segmentation per test, each on a small synthetic page (the seed pages are in
test_segment_pages.py). Columns are 13-16 characters wide, as on the narrow seed pages.

The pages' full output is recorded in tests/data/segment_baseline.json ("synthetic"); it was written
before segmentation was split into units/layout/titles and must not change unless a rule does.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import get_args

import pytest

from qa.ingest.segment import segment_page
from qa.ingest.segment.units import UnitKind
from qa.records import Article, Page

BASELINE = Path(__file__).resolve().parent / "data" / "segment_baseline.json"

# One string piece per printed line, so a page reads as it prints (hence no formatter here).
# fmt: off
PAGES = {
"head_after": (
"3月1日，全市工作会议在许昌\n召开。会议总结了去年的工作，\n部署了今年的重点任务。\n\n"
"全市工作会议在许昌召开\n\n"
"3月2日，鄢陵花木节在鄢陵县\n开幕。来自各地的游客参观了\n花木展览。\n\n"
"鄢陵花木节开幕\n"),
"head_before": (
"全市工作会议在许昌召开\n\n"
"本报讯（记者 王明）3月1日，\n全市工作会议在许昌召开。会\n议总结了去年的工作。\n\n"
"鄢陵花木节开幕\n\n"
"本报讯（记者 李四）3月2日，\n鄢陵花木节在鄢陵县开幕。来\n自各地的游客参观了展览。\n"),
"dek": (
"坚决打赢创文迎检攻坚战\n——访市公安局副局长王磊\n\n□ 记者陈晨\n\n"
"“目前，创文迎检进入关键时期。\n市公安局按照市委的部署，坚决\n打赢创文迎检攻坚战。”王磊说。\n"),
"dek_byline": (
"坚决打赢创文迎检攻坚战\n——访市公安局副局长王磊 本报记者 陈晨\n\n"
"“目前，创文迎检进入关键时期。\n市公安局按照市委的部署，坚决\n打赢创文迎检攻坚战。”王磊说。\n"),
"byline_line": (
"本报记者 王金伟\n\n"
"3月5日，许昌市举行植树活动。\n干部群众一起种下了两千多棵\n树苗，绿化了城市的道路。\n\n"
"许昌市举行植树活动\n"),
"end_tag": (
"许昌市举行植树活动\n\n"
"3月5日，许昌市举行植树活动。\n干部群众一起种下了两千多棵\n树苗，绿化了城市的道路。（政文）\n"),
"photo": (
"3月1日，全市工作会议在许昌\n召开。会议总结了去年的工作，\n部署了今年的重点任务。\n\n"
"全市工作会议在许昌召开\n\n"
"3月3日，学生们在许昌博物馆\n参观文物展览。\n本报记者 乔利峰 摄\n"),
"photo_headline": (
"歌颂祖国 建功岗位\n"
"3月3日，市总工会举办微党课\n比赛，11名参赛选手登台演讲。\n"
"记者 牛志勇 摄\n\n"
"3月1日，全市工作会议在许昌\n召开。会议总结了去年的工作，\n部署了今年的重点任务。\n\n"
"全市工作会议在许昌召开\n"),
"jump": (
"全市工作会议在许昌召开\n\n"
"本报讯（记者 王明）3月1日，\n全市工作会议在许昌召开。会\n议总结了去年的工作。\n"
"（下转第七版）\n"),
"masthead": (
"许昌日报\n2020年11月4日 星期三\n第9315期\n\n"
"全市工作会议在许昌召开\n\n"
"本报讯（记者 王明）3月1日，\n全市工作会议在许昌召开。会\n议总结了去年的工作。\n\n"
"鄢陵花木节开幕\n\n"
"本报讯（记者 李四）3月2日，\n鄢陵花木节在鄢陵县开幕。来\n自各地的游客参观了展览。\n"),
"intertitle": (
"强化政治监督 优化营商环境\n\n"
"今年以来，市纪委监委围绕中心\n工作，强化政治监督，推动各项\n决策部署落地见效。\n\n"
"紧盯重点开展监督\n\n"
"监督组深入企业和项目现场，\n发现问题，督促整改，确保取得\n实效。\n"),
"table": (
"城市管理考评成绩出炉\n\n"
"本报讯 近日，全市城市管理工作\n考评成绩出炉，各县市区得分如\n下：\n\n"
"长葛市（99.42分）\n禹州市（97.95分）\n\n鄢陵县（96.10\n分）\n"),
"nav": "文明创建结硕果 提升百姓获得感\n\n▶▶2 版\n",
"kicker": (
"稳中有进，持续向好\n\n规模以上工业增加值增长8.3%\n\n"
"本报讯 今年以来，全市规模以上\n工业增加值累计增长8.3%，工业\n经济稳中有进。\n"),
"series": (
"清风许昌系列评论之三\n\n守住廉洁底线\n\n"
"本报讯 党员干部要守住廉洁底线，\n时刻自重自省，做到清正廉洁，\n不碰红线。\n"),
"prefix": (
"魏都区\n\n召开机构改革协调会议\n\n"
"本报讯 3月1日，魏都区召开机构\n改革协调小组会议，研究全区机\n构改革工作。\n"),
"pen_name": (
"读书让城市更有温度\n\n老 李\n\n"
"读书是一种生活方式。一座城市\n有了书香，就有了温度，也就有\n了更多的希望。\n"),
"fallback": (
"3月1日，只有一段正文没有标题，这里讲的是许昌今天的天气和明天的天气，"
"还有后天的天气情况。后面还有一句。"),
"head_runs_on": (
"3月1日，全市工作会议在许昌\n召开。会议总结了去年的\n\n"
"工作成绩和存在的问题\n\n"
"并部署了今年的重点任务。\n\n"
"全市工作会议在许昌召开\n"),
"continuation_start": (
"全市学习会议召开\n\n"
"本报讯 3月1日，全市学习会议\n召开。\n\n"
"全市党员干部\n\n"
"的学习热情十分高涨，纷纷表示\n要抓好落实。\n"),
"word_across": (
"学生参观新校区\n\n"
"本报讯 3月1日，学生们参观了\n新建成的校园。\n\n"
"学生们来到八一路校\n\n"
"区参观，了解学校发展历程。\n"),
"signed_feature": (
"底气十足，朝气蓬勃，豪气满怀，\n魏都区底气朝气豪气正在凝聚成\n推动发展的强大力量。\n\n"
"底气朝气豪气\n\n□ 记者许廷合\n\n"
"魏都区区长李朝锋表示，全区将\n继续努力，推动各项工作再上新\n台阶。\n"),
"telling_heads": (
"春风十里\n\n全市工作会议在许昌召开\n\n"
"本报讯 3月1日，全市工作会议在\n许昌召开。会议总结了去年的\n工作。\n"),
"long_last_word": (
"凝心聚力 真抓实干 全力推动全市经济社会持续健康高质量发展\n\n"
"本报讯 3月1日，全市经济工作会\n议召开，会议要求全力推动经济\n社会持续健康高质量发展。\n"),
"split_group": (
"3月1日，全市工作会议在许昌\n召开。会议总结了去年的工作，\n部署了今年的重点任务。\n\n"
"全市工作会议在许昌召开\n\n鄢陵花木节开幕\n\n"
"3月2日，鄢陵花木节在鄢陵县\n开幕。来自各地的游客参观了\n花木展览。\n"),
"column_break": (
"全市工作会议在许昌召开\n\n"
"本报讯（记者 王明）3月1日，\n全市工作会议在许昌召开。会\n\n议总结了去年的工作，部署了\n今年的重点任务。\n"),
"repeats": (
"豪气扬豪气扬豪气扬\n\n"
"本报讯 全区上下豪气满怀，奋力\n推进各项工作，取得了显著成\n效。\n"),
"couplet": (
"接受红色教育\n坚守初心使命\n\n"
"本报讯 3月1日，党员干部来到\n纪念馆接受红色教育，表示要\n坚守初心使命。\n"),
"too_short": "全市工作会议召开\n\n好。\n",
"jump_down": (
"全市工作会议在许昌召开\n\n"
"本报讯 3月1日，全市工作会议在\n许昌召开。会议总结了去年的\n工作。（下转第五版）\n\n"
"鄢陵花木节开幕\n\n"
"3月2日，鄢陵花木节在鄢陵县\n开幕。来自各地的游客参观了\n花木展览。\n"),
"jump_up": (
"全市工作会议在许昌召开\n\n"
"本报讯 3月1日，全市工作会议在\n许昌召开。会议总结了去年的\n工作。\n\n"
"（上接第三版）游客们在花木展\n览上参观了各地的名贵花木。\n"),
"exclaimed_head": (
"突发！花木节今天开幕！\n\n"
"本报讯 3月2日，鄢陵花木节在鄢\n陵县开幕。来自各地的游客参\n观了花木展览。\n"),
"comma_title": (
"今年以来，鄢陵花木展览游客多\n\n鄢陵花木节开幕，游客如织\n\n"
"本报讯 3月2日，鄢陵花木节在鄢\n陵县开幕。来自各地的游客参\n观了花木展览。\n"),
"second_lead": (
"3月1日，全市工作会议在许昌\n召开。会议总结了去年的工作。\n\n"
"本报讯 3月2日，鄢陵花木节在鄢\n陵县开幕。游客参观了花木展\n览。\n\n"
"鄢陵花木节开幕\n"),
"related_caption": (
"鄢陵花木节开幕\n\n"
"本报讯 3月2日，鄢陵花木节在鄢\n陵县开幕。来自各地的游客参\n观了花木展览。\n\n"
"3月2日，游客在鄢陵花木节上参\n观花木展览。\n\n本报记者 乔利峰 摄\n"),
"column_label": (
"3月1日，全市工作会议在许昌\n召开。会议总结了去年的工作。\n\n"
"全市工作会议在许昌召开\n\n综合新闻\n\n"
"3月2日，鄢陵花木节在鄢陵县\n开幕。来自各地的游客参观了\n花木展览。\n\n"
"鄢陵花木节开幕\n"),
"two_headed": (
"全市工作会议在许昌召开\n\n"
"3月1日，全市工作会议在许昌\n召开。会议总结了去年的工作。\n\n"
"3月2日，鄢陵花木节在鄢陵县\n开幕。游客参观了花木展览。\n\n"
"鄢陵花木节开幕\n"),
"closing_aside": (
"3月1日，全市工作会议在许昌\n召开。会议总结了去年的工作。\n"
"（详情见本报昨日文章《许昌\n召开工作会议》）\n\n"
"全市工作会议在许昌召开\n\n"
"3月2日，鄢陵花木节在鄢陵县\n开幕。游客参观了花木展览。\n\n"
"鄢陵花木节开幕\n"),
"two_headed_shared_group": (
"全市工作会议在许昌召开\n\n"
"3月1日，全市工作会议在许昌\n召开。会议总结了去年的工作。\n\n"
"3月2日，鄢陵花木节在鄢陵县\n开幕。游客参观了花木展览。\n\n"
"鄢陵花木节开幕\n\n"
"禹州钧瓷文化节举行\n\n"
"3月3日，禹州钧瓷文化节在禹\n州举行。客商洽谈了合作。\n"),
"lone_head_restated_below": (
"全市工作会议在许昌召开\n\n"
"3月1日，全市工作会议在许昌\n召开。会议总结了去年的工作。\n\n"
"鄢陵县花木节开幕式举行\n\n"
"3月2日，鄢陵县花木节开幕式\n在鄢陵举行。游客参观了花木\n展览。\n"),
}
# fmt: on


def _segment(name: str) -> list[Article]:
    return segment_page(Page(f"{name}.txt", PAGES[name]))


def _one(name: str) -> Article:
    [article] = _segment(name)
    return article


def test_headline_printed_after_body_becomes_title():
    articles = _segment("head_after")
    assert [a.title for a in articles] == ["全市工作会议在许昌召开", "鄢陵花木节开幕"]
    assert articles[1].text.startswith("3月2日，鄢陵花木节")


def test_headline_printed_before_body_becomes_title():
    articles = _segment("head_before")
    assert [a.title for a in articles] == ["全市工作会议在许昌召开", "鄢陵花木节开幕"]
    assert articles[1].text.startswith("3月2日，鄢陵花木节")


def test_headline_group_between_two_bodies_is_split_between_them():
    articles = _segment("split_group")
    assert [a.title for a in articles] == ["全市工作会议在许昌召开", "鄢陵花木节开幕"]
    assert [a.subtitle for a in articles] == ["", ""]


def test_news_lead_gives_byline_and_leaves_the_text():
    articles = _segment("head_before")
    assert [a.byline for a in articles] == ["记者 王明", "记者 李四"]
    assert all(not a.text.startswith("本报讯") for a in articles)


def test_dek_line_becomes_subtitle():
    article = _one("dek")
    assert article.title == "坚决打赢创文迎检攻坚战"
    assert article.subtitle == "——访市公安局副局长王磊"


@pytest.mark.parametrize(
    ("name", "byline"),
    [
        ("dek", "记者 陈晨"),  # "□ 记者陈晨" under the dek
        ("dek_byline", "记者 陈晨"),  # "本报记者 陈晨" printed on the dek line
        ("byline_line", "记者 王金伟"),  # a byline line above the body
        ("head_before", "记者 王明"),  # "本报讯（记者 王明）"
        ("end_tag", "政文"),  # "……。（政文）" after the last sentence
    ],
)
def test_byline_forms_are_the_byline_not_body_text(name: str, byline: str):
    article = _segment(name)[0]
    assert article.byline == byline
    assert "记者" not in article.text and "□" not in article.text


def test_pen_name_under_headline_becomes_byline():
    article = _one("pen_name")
    assert (article.title, article.byline) == ("读书让城市更有温度", "老李")


def test_photo_caption_is_its_own_photo_article_not_body_text():
    meeting, photo = _segment("photo")
    assert "博物馆" not in meeting.text
    assert (photo.subtitle, photo.byline) == ("图片新闻", "记者 乔利峰 摄")
    assert photo.text == "3月3日，学生们在许昌博物馆参观文物展览。"


def test_photo_without_headline_is_a_flagged_photo_item_with_a_placeholder_title():
    photo = _segment("photo")[1]
    assert (photo.title, photo.kind, photo.untitled) == ("photo 无标题", "photo", True)


def test_short_first_line_of_a_credited_caption_is_the_photo_headline():
    photo, meeting = _segment("photo_headline")
    assert (photo.title, photo.byline) == ("歌颂祖国 建功岗位", "记者 牛志勇 摄")
    assert photo.text.startswith("3月3日，市总工会") and not photo.text.endswith("摄")
    assert meeting.title == "全市工作会议在许昌召开"


def test_jump_marker_is_removed():
    article = _one("jump")
    assert article.text == "3月1日，全市工作会议在许昌召开。会议总结了去年的工作。"


def test_masthead_date_dates_every_article():
    articles = _segment("masthead")
    assert [a.date for a in articles] == ["2020-11-04", "2020-11-04"]
    assert all("许昌日报" not in a.title + a.text and "第9315期" not in a.text for a in articles)


def test_page_without_masthead_date_gives_empty_dates():
    assert {a.date for a in _segment("head_before")} == {""}


def test_lone_headline_between_feature_paragraphs_is_an_intertitle():
    article = _one("intertitle")
    assert article.title == "强化政治监督 优化营商环境"
    assert article.text.split("\n")[1] == "紧盯重点开展监督"


def test_table_rows_stay_rows_across_a_column_break_and_a_wrapped_row():
    article = _one("table")
    assert article.text.split("\n")[1:] == ["长葛市（99.42分）", "禹州市（97.95分）", "鄢陵县（96.10分）"]


def test_headlines_without_body_and_page_pointers_are_not_articles():
    assert _segment("nav") == []


def test_run_with_almost_no_text_is_not_an_article():
    assert _segment("too_short") == []


def test_kicker_with_a_comma_becomes_subtitle():
    article = _one("kicker")
    assert (article.title, article.subtitle) == ("规模以上工业增加值增长8.3%", "稳中有进，持续向好")


def test_series_label_is_not_the_title():
    assert _one("series").title == "守住廉洁底线"


def test_extra_headline_sharing_no_words_with_the_text_is_dropped():
    article = _one("telling_heads")
    assert (article.title, article.subtitle) == ("全市工作会议在许昌召开", "")


def test_short_place_name_line_starts_the_headline_after_it():
    assert _one("prefix").title == "魏都区召开机构改革协调会议"


def test_long_last_phrase_of_a_long_title_becomes_subtitle():
    article = _one("long_last_word")
    assert (article.title, article.subtitle) == (
        "凝心聚力 真抓实干",
        "全力推动全市经济社会持续健康高质量发展",
    )


def test_balanced_two_line_headline_is_a_couplet_kept_with_a_space():
    assert _one("couplet").title == "接受红色教育 坚守初心使命"


def test_ocr_repeated_headline_art_is_collapsed():
    assert _one("repeats").title == "豪气扬"


def test_text_without_headline_gets_a_placeholder_title_not_its_first_sentence():
    article = _one("fallback")
    assert (article.title, article.untitled) == ("fallback 无标题", True)


def test_paragraph_cut_by_a_column_break_is_joined():
    article = _one("column_break")
    assert article.text == "3月1日，全市工作会议在许昌召开。会议总结了去年的工作，部署了今年的重点任务。"


def test_headline_shaped_line_inside_a_running_sentence_is_body_text():
    article = _one("head_runs_on")
    assert article.title == "全市工作会议在许昌召开"
    assert "去年的工作成绩和存在的问题并部署" in article.text


def test_headline_shaped_line_followed_by_a_continuation_is_body_text():
    article = _one("continuation_start")
    assert article.text.split("\n")[1] == "全市党员干部的学习热情十分高涨，纷纷表示要抓好落实。"


def test_headline_shaped_line_ending_inside_a_word_is_body_text():
    article = _one("word_across")
    assert article.title == "学生参观新校区"
    assert "学生们来到八一路校区参观" in article.text


def test_signed_feature_goes_on_after_its_mid_page_headline():
    article = _one("signed_feature")
    assert (article.title, article.byline) == ("底气朝气豪气", "记者 许廷合")
    assert "魏都区区长李朝锋表示" in article.text


def test_down_jump_marker_ends_the_article_before_the_next_headline():
    meeting, fair = _segment("jump_down")
    assert (meeting.title, fair.title) == ("全市工作会议在许昌召开", "鄢陵花木节开幕")
    assert "下转" not in meeting.text and "花木" not in meeting.text


def test_up_jump_marker_starts_another_article():
    meeting, continued = _segment("jump_up")
    assert "花木" not in meeting.text
    assert continued.text == "游客们在花木展览上参观了各地的名贵花木。" and continued.untitled


def test_headline_block_ending_in_an_exclamation_mark_is_a_headline():
    article = _one("exclaimed_head")
    assert article.title == "突发！花木节今天开幕！"
    assert article.text.startswith("3月2日")


def test_short_lead_phrase_and_comma_is_a_kicker_but_a_later_comma_is_a_title():
    article = _one("comma_title")
    assert (article.title, article.subtitle) == ("鄢陵花木节开幕，游客如织", "今年以来，鄢陵花木展览游客多")


def test_paragraph_opening_a_report_starts_another_article():
    meeting, fair = _segment("second_lead")
    assert "花木" not in meeting.text and fair.title == "鄢陵花木节开幕"


def test_caption_sharing_the_words_of_the_article_before_ends_that_article():
    [fair] = _segment("related_caption")
    assert fair.text.endswith("3月2日，游客在鄢陵花木节上参观花木展览。") and fair.kind == "article"


def test_column_label_does_not_take_the_headline_of_the_text_it_stands_over():
    meeting, fair = _segment("column_label")
    assert (meeting.title, fair.title) == ("全市工作会议在许昌召开", "鄢陵花木节开幕")


def test_text_between_a_headline_before_and_another_after_is_cut_where_the_second_restates_its_headline():
    meeting, fair = _segment("two_headed")
    assert (meeting.title, fair.title) == ("全市工作会议在许昌召开", "鄢陵花木节开幕")
    assert "花木" not in meeting.text and fair.text.startswith("3月2日")


def test_headline_after_its_text_and_the_next_headline_before_its_text_in_one_group_head_each_their_own():
    meeting, fair, expo = _segment("two_headed_shared_group")
    assert (meeting.title, fair.title, expo.title) == (
        "全市工作会议在许昌召开",
        "鄢陵花木节开幕",
        "禹州钧瓷文化节举行",
    )
    assert "花木" not in meeting.text and fair.text.startswith("3月2日") and expo.text.startswith("3月3日")


def test_lone_headline_restating_the_text_below_it_heads_that_text_not_an_intertitle():
    meeting, fair = _segment("lone_head_restated_below")
    assert (meeting.title, fair.title) == ("全市工作会议在许昌召开", "鄢陵县花木节开幕式举行")
    assert "花木" not in meeting.text and fair.text.startswith("3月2日")


def test_paragraph_ending_in_an_aside_after_its_last_sentence_ends_there():
    meeting, fair = _segment("closing_aside")
    assert (meeting.title, fair.title) == ("全市工作会议在许昌召开", "鄢陵花木节开幕")
    assert meeting.text.endswith("召开工作会议》）") and fair.text.startswith("3月2日")


def test_unit_kinds_are_the_eight_kinds_the_segmenter_makes():
    assert set(get_args(UnitKind)) == {
        "body",
        "list",
        "head",
        "dek",
        "byline",
        "credit",
        "jump",
        "intertitle",
    }


def test_synthetic_pages_segment_as_the_recorded_baseline():
    recorded = json.loads(BASELINE.read_text(encoding="utf-8"))["synthetic"]
    assert set(recorded) == set(PAGES)
    for name in PAGES:
        assert [dataclasses.asdict(a) for a in _segment(name)] == recorded[name], name
