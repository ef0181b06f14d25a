"""Extraction: what a question asks for, and the typed answers a sentence offers (strings only)."""

from __future__ import annotations

import pytest

from qa.answer.extraction import (
    TextCache,
    coverage,
    fits_kind,
    is_compound,
    question_parts,
    question_type,
    typed_answer,
)

XUCHANG_ALIASES = {"许昌": ("我市", "本市")}


def test_coverage_counts_the_local_alias_of_the_city_when_the_aliases_say_so():
    assert coverage("我市签约1个项目", {"许昌": 1.0, "项目": 1.0}, XUCHANG_ALIASES) == 1.0


def test_coverage_has_no_aliases_of_its_own():
    assert coverage("我市签约1个项目", {"许昌": 1.0, "项目": 1.0}) == 0.5
    assert coverage("我市签约1个项目", {"许昌": 1.0, "项目": 1.0}, {"郑州": ("我市",)}) == 0.5


def test_a_measured_word_is_named_by_its_alias_only_when_the_aliases_say_so():
    sentence = "河南省共有4个案例获奖，其中我市有2个案例获奖。"
    question = "许昌有几个案例获奖？"
    terms = {"许昌": 2.0, "案例": 1.0, "获奖": 1.0}
    with_alias = typed_answer("number", sentence, question, terms, aliases=XUCHANG_ALIASES)
    without = typed_answer("number", sentence, question, terms)
    assert with_alias is not None and with_alias[1] == "2个"
    assert without is not None and without[0] < with_alias[0]


def test_coverage_counts_gai_ju_as_the_bureau_the_article_is_about():
    assert coverage("该局成立了创文指挥部", {"公安局": 2.0, "创文": 2.0}) == 1.0
    assert coverage("市里成立了创文指挥部", {"公安局": 2.0, "创文": 2.0}) == 0.5


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("布林肯访华时间", "date"),
        ("北京冬奥会开幕日期是什么", "date"),
        ("用了多长时间完成？", "number"),
    ],
)
def test_time_and_date_questions_ask_for_a_date(question, kind):
    assert question_type(question) == kind


def test_name_before_ren_and_the_asked_role_is_found():
    sentence = "该局成立了由副市长柏启传任指挥长的创文指挥部。"
    found = typed_answer("person", sentence, "创文指挥部的指挥长是谁？", {"指挥部": 1.0})
    assert found is not None and found[1] == "柏启传"


def test_number_right_after_the_counted_word_beats_an_earlier_one():
    sentence = "预计年产值达200亿元，项目总投资76.8亿元。"
    found = typed_answer("number", sentence, "项目总投资多少？", {"项目": 1.0, "投资": 1.0})
    assert found is not None and found[1] == "76.8亿元"


def test_fact_questions_have_no_typed_answer():
    assert typed_answer("fact", "许继电气的员工在调试设备。", "员工在调试什么？", {"员工": 1.0}) is None


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("2022年和2023年高考人数", "number"),
        ("2022年重庆的GDP增长率", "number"),
        ("EMNLP2022的举办地", "place"),
        ("小米13系列手机的发布时间和处理器？", "date"),
        ("成都大运会吉祥物是什么", "fact"),
        ("许昌全市工业用电量增长了多少？", "number"),
    ],
)
def test_a_question_typed_as_a_bare_noun_phrase_asks_for_what_its_last_word_names(question, kind):
    assert question_type(question) == kind


@pytest.mark.parametrize(
    ("question", "span", "fits"),
    [
        ("2022年G20峰会的时间？", "2022年11月15日", True),
        ("2022年G20峰会的时间？", "75週年", False),
        ("朴景利的《土地》是什么时候的作品？", "1960-70年代", True),
        ("冈底斯山脉自什么时候开始隆起?", "白垩纪中期", True),
        ("戈尔巴乔夫的葬礼将在哪里举行？", "莫斯科圆柱大厅", True),
        ("戈尔巴乔夫的葬礼将在哪里举行？", "9月3日", False),
        ("谁当选台北市长？", "蒋万安", True),
        ("谁当选台北市长？", "2022年", False),
        ("2008年时全球最常见的死因中有百分之三十是由于哪一种疾病?", "心血管疾病", True),
        ("在什么时候出现的论文被刊登在哪一期刊上？", "国家科学院学报", True),
        ("成都大运会吉祥物是什么", "蓉宝", True),
        ("特拉斯当了多久首相", "45天", True),  # how long: a length of time ...
        ("特拉斯当了多久首相", "78", False),  # ... not the 78 of 第78任首相
        ("唐山烧烤店打人案件主犯被判多少年？", "24年", True),
        ("中欧新石器时代大约是公元前多少年?", "4000", True),  # 公元前多少年 asks a year, not a length
        ("百度推出的类ChatGPT是什么？", "ChatGPT", False),  # words of the question are no answer to it
        ("百度推出的类ChatGPT是什么？", "文心一言", True),
    ],
)
def test_a_span_fits_the_kind_of_answer_its_question_asks_for(question, span, fits):
    """An answer is not the question's own words; a date question's answer writes a date, a how-long
    question's a length of time, a person or place question's is more than digits; a number question
    (百分之 types "哪一种疾病" as one), a fact, or a question asking with two words accepts anything."""
    assert fits_kind(question, span) is fits


@pytest.mark.parametrize(
    "question",
    [
        "魏都区委书记和区长分别是谁？",
        "今年前8个月国有企业和集体企业的工业增加值分别增长多少？",
        "男女单打冠军是谁？",
        "《人世间》的主演有谁，导演是谁？",
    ],
)
def test_a_question_asking_two_things_is_compound(question):
    assert is_compound(question)


@pytest.mark.parametrize(
    "question",
    ["魏都区委书记是谁？", "“我与政协”征文活动设几个一等奖？", "和平路在哪里？"],
)
def test_a_question_asking_one_thing_is_not_compound(question):
    assert not is_compound(question)
    assert question_parts(question) == []


@pytest.mark.parametrize(
    "question",
    [
        "超级印度香米是将印度香米与哪一品种杂交而成？",
        "若是误食了金杯罂粟可能会导致水肿以及哪一种症状?",
        "从1953年到1973年，人民币和哪个币别的汇率正式挂勾?",
        "蚯蚓体内的什么构造其作用和心脏类似?",
    ],
)
def test_a_given_thing_joined_to_the_one_asked_or_compared_asks_one_thing(question):
    """Naming one symptom and asking the other (水肿以及哪一种症状), or comparing (和心脏类似), asks one
    thing, with one answer."""
    assert not is_compound(question)
    assert question_parts(question) == []


def test_a_conjunction_asking_one_thing_leaves_a_true_list_compound():
    assert is_compound("2022年和2023年分别与哪些国家签署了协议？")
    assert is_compound("网易和腾讯2022年全年营收分别是多少？")


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        ("魏都区委书记和区长分别是谁？", ["魏都区委书记是谁？", "魏都区长是谁？"]),  # each asks one: no 分别
        ("2022年和2023年高考人数", ["2022年高考人数", "2023年高考人数"]),  # a year keeps its 年
        (  # the repeated lead word 最佳 stays with each item
            "百花奖最佳影片奖和最佳导演奖分别是什么",
            ["百花奖最佳影片奖是什么", "百花奖最佳导演奖是什么"],
        ),
        (  # items that repeat a long tail after different heads are kept whole
            "全国跳水冠军赛女子双人10米跳台和男子双人10米跳台冠军分别是谁？",
            ["全国跳水冠军赛女子双人10米跳台冠军是谁？", "全国跳水冠军赛男子双人10米跳台冠军是谁？"],
        ),
        (  # ... and the item after it runs to its last noun
            "2022年金鹰奖最佳电视剧和最佳电视动画分别是什么？",
            ["2022年金鹰奖最佳电视剧是什么？", "2022年金鹰奖最佳电视动画是什么？"],
        ),
        (  # two attributes of one thing: each item is all its own words
            "艾尔登法环的发售日期和标准版国区价格是什么？",
            ["艾尔登法环的发售日期是什么？", "艾尔登法环的标准版国区价格是什么？"],
        ),
        ("小米13系列手机的发布时间和处理器？", ["小米13系列手机的发布时间？", "小米13系列手机的处理器？"]),
        ("安倍晋三的国葬时间和地点？", ["安倍晋三的国葬时间？", "安倍晋三的国葬地点？"]),  # 国葬 is shared
        (  # jieba cuts the unknown name 吴易昺 at its rare last character: it stays with the name
            "2023年马德里大师赛张之臻和吴易昺成绩？",
            ["2023年马德里大师赛张之臻成绩？", "2023年马德里大师赛吴易昺成绩？"],
        ),
        ("EMNLP2022和2023的举办地", ["EMNLP2022的举办地", "EMNLP2023的举办地"]),  # a bare year keeps its name
        ("男女单打冠军是谁", ["男子单打冠军是谁", "女子单打冠军是谁"]),
        ("《人世间》的主演有谁，导演是谁？", ["《人世间》的主演有谁", "《人世间》导演是谁"]),
        (
            "“我与政协”征文活动的一等奖和二等奖各设几名？",
            [
                "“我与政协”征文活动的一等奖各设几名？",
                "“我与政协”征文活动的二等奖各设几名？",
            ],
        ),
    ],
)
def test_question_parts_ask_each_item_around_the_conjunction_on_its_own(question, parts):
    assert question_parts(question) == parts


TYPED_CASES = [
    ("person", "该局成立了由副市长柏启传任指挥长的创文指挥部。", "创文指挥部的指挥长是谁？", {"指挥部": 1.0}),
    ("number", "预计年产值达200亿元，项目总投资76.8亿元。", "项目总投资多少？", {"项目": 1.0, "投资": 1.0}),
    ("place", "豫浙合作项目签约仪式在杭州举行。", "豫浙合作项目签约仪式在哪里举行？", {"签约": 1.0}),
    ("date", "2003年振德医疗落地鄢陵。", "振德医疗哪一年落地鄢陵？", {"振德": 1.0, "鄢陵": 1.0}),
    ("list", "活动走进了许昌学院、许昌一高和许昌实验中学。", "活动走进了哪些学校？", {"活动": 1.0}),
]


@pytest.mark.parametrize(("kind", "sentence", "question", "terms"), TYPED_CASES)
def test_typed_answer_with_a_text_cache_equals_the_answer_without(kind, sentence, question, terms):
    cache = TextCache()
    plain = typed_answer(kind, sentence, question, terms)
    assert plain is not None
    assert typed_answer(kind, sentence, question, terms, cache) == plain
    assert typed_answer(kind, sentence, question, terms, cache) == plain  # the second time from the cache


def test_text_cache_keys_typed_answers_by_their_aliases():
    cache = TextCache()
    sentence, question = "其中我市有2个案例获奖。", "许昌有几个案例获奖？"
    terms = {"许昌": 2.0, "案例": 1.0}
    without = cache.typed_answer("number", sentence, question, terms)
    with_alias = cache.typed_answer("number", sentence, question, terms, XUCHANG_ALIASES)
    assert without != with_alias
    assert with_alias == typed_answer("number", sentence, question, terms, aliases=XUCHANG_ALIASES)


def test_text_cache_tags_a_sentence_as_jieba_does():
    cache = TextCache()
    tags = cache.tags("副市长柏启传任指挥长。")
    assert ("柏启传", "nr") in tags and cache.tags("副市长柏启传任指挥长。") is tags


def test_text_caches_are_separate():
    first, second = TextCache(), TextCache()
    tags = first.tags("许昌市公安局")
    assert second.tags("许昌市公安局") == tags and second.tags("许昌市公安局") is not tags


@pytest.mark.parametrize(("max_tags", "max_answers"), [(0, 10), (10, 0), (-1, -1)])
def test_text_cache_refuses_a_size_below_one(max_tags, max_answers):
    with pytest.raises(ValueError, match="at least 1"):
        TextCache(max_tags=max_tags, max_answers=max_answers)
