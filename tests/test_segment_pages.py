"""Page -> Article on the real seed pages: titles, bylines, dates, clean text, captions, stable ids.

Each rule on its own small synthetic page: test_segment_rules.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from qa.ingest.corpus import read_corpus
from qa.ingest.segment import load_articles, segment_page
from qa.records import Article, Page

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
CJK = "\u4e00-\u9fff"
CJK_SPACE = re.compile(f"[{CJK}，。、；：“”（）《》][ \u3000]+[{CJK}，。、；：“”（）《》]")


@pytest.fixture(scope="module")
def pages() -> dict[str, Page]:
    return {page.source[:3]: page for page in read_corpus(SEEDS).pages}


@pytest.fixture(scope="module")
def seed_articles(pages: dict[str, Page]) -> dict[str, list[Article]]:
    return {key: segment_page(page) for key, page in pages.items()}


def _all(seed_articles: dict[str, list[Article]]) -> list[Article]:
    return [article for articles in seed_articles.values() for article in articles]


def _containing(articles: list[Article], needle: str) -> Article:
    found = [a for a in articles if needle in a.text]
    assert len(found) == 1, f"{needle!r} in {[a.id for a in found]}"
    return found[0]


def test_headline_printed_after_body_becomes_title(seed_articles):
    article = _containing(seed_articles["000"], "副市长柏启传任指挥长")
    assert article.title == "履职尽责，坚决打赢创文迎检攻坚战"
    assert article.subtitle == "——访市公安局党委副书记、常务副局长王磊"


def test_byline_above_an_interview_is_kept(seed_articles):
    article = _containing(seed_articles["000"], "副市长柏启传任指挥长")
    assert "陈晨" in article.byline


def test_headline_printed_before_body_becomes_title(seed_articles):
    article = _containing(seed_articles["001"], "振德集团华中区域总部")
    assert article.title.startswith("豫浙合作项目签约仪式")
    assert article.byline == "记者 杨伟峰"


def test_masthead_date_is_put_on_every_article_of_its_page(seed_articles):
    assert seed_articles["001"]
    assert {a.date for a in seed_articles["001"]} == {"2020-11-04"}


@pytest.mark.parametrize("seed", ["000", "002", "003", "004"])
def test_page_without_printed_date_gives_empty_date(seed_articles, seed: str):
    assert {a.date for a in seed_articles[seed]} == {""}


def test_masthead_is_not_an_article(seed_articles):
    for article in seed_articles["001"]:
        assert "XUCHANG" not in article.text + article.title
        assert "刊号" not in article.text and "总编辑" not in article.text


def test_no_article_text_has_a_space_inside_chinese(seed_articles):
    for article in _all(seed_articles):
        assert not CJK_SPACE.search(article.text), (article.id, CJK_SPACE.search(article.text))


def test_ocr_spaced_words_are_joined_in_article_text(seed_articles):
    article = _containing(seed_articles["000"], "交管部门制定了《许昌市道路交通秩序治“堵”专项实施方案》")
    assert "共查处交通违法行为279869起" in article.text


def test_mid_sentence_line_breaks_are_joined_and_paragraphs_kept(seed_articles):
    article = _containing(seed_articles["000"], "副市长柏启传任指挥长")
    paragraphs = article.text.split("\n")
    assert len(paragraphs) >= 8
    assert (
        "市公安局党委副书记、常务副局长王磊就市公安局的创文工作接受记者采访时，话语掷地有声。"
        in paragraphs[0]
    )
    assert "取得了良好的工作成效。”王磊说。" in article.text  # a column break inside a sentence
    assert all(p.strip() == p and p for p in paragraphs)


def test_jump_markers_are_gone(seed_articles):
    for article in _all(seed_articles):
        assert "下转" not in article.text and "上接" not in article.text, article.id


def test_text_continued_from_another_page_keeps_its_content(seed_articles):
    article = _containing(seed_articles["003"], "国家蜂产品质量监督检验中心")
    assert article.text.startswith("其优秀的资质")


def test_photo_caption_is_not_glued_into_an_article_body(seed_articles):
    captions = [a for a in _all(seed_articles) if "摄" in a.byline]
    assert len(captions) >= 5
    for caption in captions:
        assert len(caption.text) < 200
    interview = _containing(seed_articles["000"], "副市长柏启传任指挥长")
    assert "微党课" not in interview.text
    signing = _containing(seed_articles["001"], "振德集团华中区域总部")
    assert "许继电气" not in signing.text


def test_photo_caption_keeps_its_facts_and_headline(seed_articles):
    caption = _containing(seed_articles["000"], "微党课比赛")
    assert caption.title == "歌颂祖国 建功岗位"
    assert "11名参赛选手" in caption.text
    assert caption.byline == "记者 牛志勇 摄"
    assert not caption.text.endswith("摄")


def test_news_lead_gives_byline_and_leaves_the_text(seed_articles):
    article = _containing(seed_articles["002"], "吾尔叶提·吾守尔带队")
    assert article.byline == "记者 李新"
    assert article.title == "哈密市考察团来许考察"
    assert not article.text.startswith("本报讯")


def test_subheadline_under_the_main_headline_is_the_subtitle(seed_articles):
    article = _containing(seed_articles["002"], "市委政法工作会议召开。")
    assert article.title == "市委政法工作会议召开"
    assert article.subtitle == "汤超等出席"


def test_kicker_with_a_comma_is_the_subtitle_not_the_title(seed_articles):
    article = _containing(seed_articles["000"], "股份制企业是拉动工业经济增长的主力军")
    assert article.title == "规模以上工业增加值累计增长8.3%"
    assert "稳中有进" in article.subtitle


def test_ocr_duplicated_headline_text_is_collapsed(seed_articles):
    titles = " ".join(a.title + " " + a.subtitle + " " + a.text for a in seed_articles["004"])
    assert "豪气扬豪气扬" not in titles and "朝气满朝气满" not in titles


def test_headlines_before_their_body_on_an_after_page_go_with_their_body(seed_articles):
    article = _containing(seed_articles["004"], "研究全区机构改革各部门")
    assert article.title == "魏都区召开全区机构改革协调小组会议"
    meeting = _containing(seed_articles["004"], "魏都区召开党建“1369”工程推进会。")
    assert meeting.title == "魏都区召开党建“1369”工程推进会"


def test_intertitle_stays_inside_its_feature(seed_articles):
    article = _containing(seed_articles["002"], "2023年是全面贯彻党的二十大精神的开局之年")
    assert article.title == "强化政治监督 优化营商环境 推动经济提速"
    assert "组织开展一轮自查自纠" in article.text
    assert "\n紧盯“五种情况”开展监督\n" in article.text


def test_table_rows_stay_in_their_article(seed_articles):
    article = _containing(seed_articles["003"], "长葛市得分99.42分")
    assert article.title == "我市10月份数字化城市管理工作绩效考评成绩出炉"
    assert "禹州市（97.95分）" in article.text.split("\n")


@pytest.mark.parametrize(
    ("seed", "needle", "title"),
    [
        ("000", "全国城市基层党建创新典型案例征集评选结果", "我市荣获全国城市基层党建创新最佳、优秀案例奖"),
        ("001", "第五十二次主任会议", "市七届人大常委会召开 第五十二次主任会议"),
        ("002", "楷模发布厅进校园活动走进许昌高中", "我市开展“出彩河南人”楷模发布厅进校园活动"),
        ("003", "杨水才纪念馆参观学习", "市纪委监察委组织党员干部参观杨水才纪念馆"),
        ("003", "全市城市社区规范化建设工作推进会召开", "确保今年城市社区规范化建设任务圆满完成"),
        ("004", "魏都区政协“我与政协”主题征文活动启动", "魏都区“我与政协”主题征文活动启动"),
    ],
)
def test_seed_articles_get_their_printed_headline(seed_articles, seed: str, needle: str, title: str):
    assert _containing(seed_articles[seed], needle).title == title


def test_ids_are_file_stem_and_number_in_page_order(seed_articles, pages):
    for key, articles in seed_articles.items():
        stem = Path(pages[key].source).stem
        assert [a.id for a in articles] == [f"{stem}-{n:02d}" for n in range(1, len(articles) + 1)]
        assert all(a.source == pages[key].source for a in articles)


def test_segmenting_twice_gives_the_same_articles(pages, seed_articles):
    for key, page in pages.items():
        assert segment_page(page) == seed_articles[key]


def test_every_seed_article_has_a_title_and_text(seed_articles):
    for article in _all(seed_articles):
        assert article.title.strip() and len(article.text) >= 50, article.id
        assert "\n\n" not in article.text


def test_load_articles_adds_jsonl_exports_after_pages_and_drops_empty_ones(tmp_path: Path):
    (tmp_path / "page.txt").write_text(
        (SEEDS / "002_3676fee7047f7844.txt").read_text(encoding="utf-8"), encoding="utf-8"
    )
    rows = [
        {"id": "rgb-1", "text": "Nov 10, 2022 ... 踩踏事故造成12人死亡。", "date": "Nov 10, 2022"},
        {"id": "e", "text": ""},
    ]
    (tmp_path / "z.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8"
    )
    articles, problems = load_articles(tmp_path)
    assert articles[-1].id == "rgb-1" and articles[-1].text.startswith("Nov 10, 2022 ...")
    assert all(a.source == "page.txt" for a in articles[:-1])
    assert [p.line for p in problems] == [2]


def test_load_articles_reports_bad_files_and_still_loads_the_rest(tmp_path: Path):
    (tmp_path / "good.txt").write_text(
        (SEEDS / "000_4257973a5e4879ac.txt").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "bad.txt").write_bytes(b"\x00\x01")
    articles, problems = load_articles(tmp_path)
    assert len(articles) >= 3
    assert [p.path for p in problems] == ["bad.txt"]


def test_load_articles_on_seeds_is_deterministic():
    first, _ = load_articles(SEEDS)
    second, _ = load_articles(SEEDS)
    assert first == second
    assert len({a.id for a in first}) == len(first)


def test_plain_page_with_headlines_on_top_is_segmented_headline_first():
    text = (
        "许昌召开全市工作会议\n\n本报讯（记者 王明）3月1日，全市工作会议召开。会议总结了去年工作。\n\n"
        "会议要求，各单位要抓好落实。\n\n鄢陵花木节开幕\n\n本报讯（记者 李四）3月2日，鄢陵花木节开幕。"
    )
    articles = segment_page(Page("p.txt", text))
    assert [(a.id, a.title, a.byline) for a in articles] == [
        ("p-01", "许昌召开全市工作会议", "记者 王明"),
        ("p-02", "鄢陵花木节开幕", "记者 李四"),
    ]
    assert articles[0].text == "3月1日，全市工作会议召开。会议总结了去年工作。\n会议要求，各单位要抓好落实。"


def test_plain_page_with_headlines_below_is_segmented_headline_last():
    text = (
        "3月1日，全市工作会议召开。会议总结了去年工作。\n\n许昌召开全市工作会议\n\n"
        "3月2日，鄢陵花木节开幕，游客众多。\n\n鄢陵花木节开幕"
    )
    assert [a.title for a in segment_page(Page("p.txt", text))] == ["许昌召开全市工作会议", "鄢陵花木节开幕"]


def test_page_without_any_headline_gets_a_flagged_placeholder_title():
    [article] = segment_page(Page("p.txt", "只有一段正文，没有标题。这里讲的是许昌的天气。"))
    assert (article.title, article.untitled) == ("p 无标题", True)
    assert article.text == "只有一段正文，没有标题。这里讲的是许昌的天气。"


def test_articles_with_a_printed_headline_are_not_flagged_untitled(seed_articles):
    reports = [a for a in _all(seed_articles) if a.kind == "article"]
    assert reports and not any(a.untitled for a in reports)


def test_latin_text_keeps_its_spaces():
    [article] = segment_page(Page("p.txt", "Hello world, an English page.\n\nSecond paragraph\nhere."))
    assert article.text == "Hello world, an English page.\nSecond paragraph here."


def test_page_of_only_headlines_gives_no_article():
    assert segment_page(Page("p.txt", "文明创建结硕果 提升百姓获得感\n\n▶▶2 版")) == []


def test_signed_feature_goes_on_after_its_mid_page_headline(seed_articles):
    article = _containing(seed_articles["004"], "战鼓声声催奋进，不待扬鞭自奋蹄。")
    assert article.title == "底气朝气豪气"
    assert "魏都区底气十足。" in article.text and "魏都区区长李朝锋表示" in article.text
    assert article.byline == "记者 许廷合"
    assert "\n扛稳使命担当\n" in article.text


def test_photo_without_headline_is_a_photo_item_with_a_placeholder_title(seed_articles):
    photo = _containing(seed_articles["001"], "许继电气有限公司员工正在调试")
    assert (photo.kind, photo.untitled) == ("photo", True)
    assert photo.title == "001_934f6e8f83eb08ea 2020-11-04 无标题"
    assert photo.date == "2020-11-04"


def test_standalone_photo_news_is_not_glued_to_the_unrelated_article_before_it(seed_articles):
    signing = _containing(seed_articles["001"], "振德集团华中区域总部")
    assert "许继电气" not in signing.text and signing.kind == "article"


@pytest.mark.parametrize(
    "text",
    [
        "",
        " \n\n\t",
        "。，、“”（）",
        "XUCHANG DAILY\n2020年11月 4日星期二\n第9315期",
        "。许昌市召开会议▲●（下转第七版）摄",
    ],
)
def test_odd_pages_give_no_article_or_articles_with_title_and_text(text: str):
    for article in segment_page(Page("odd.txt", text)):
        assert article.title.strip() and article.text.strip()


def test_windows_line_ends_read_like_unix_ones(pages):
    page = pages["000"]
    crlf = Page(page.source, "\r\n".join(page.text.splitlines()))
    assert segment_page(crlf) == segment_page(page)


def test_seed_pages_segment_as_the_recorded_baseline():
    """Every field of every seed article, as recorded before segmentation was split by job."""
    recorded = json.loads(
        (Path(__file__).resolve().parent / "data" / "segment_baseline.json").read_text("utf-8")
    )
    articles, _ = load_articles(SEEDS)
    assert [dataclasses.asdict(a) for a in articles] == recorded["seeds"]
