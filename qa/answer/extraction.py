"""What a question asks for, and the typed answers a sentence offers (read by retrieval and answering).

`question_type` tells the short answer a question wants (多少/几 -> number, 谁 -> person, 哪里 -> place,
什么时候 -> date, 哪些 -> list, else fact); `typed_answer` finds the best candidate of that type in one
sentence, scored by how much of the question's weight sits right around it (answers follow their
topic). `coverage` is the share of the question's IDF weight a text holds. `question_parts` splits a
question that asks two things ("A和B分别…") into one question per part. Plain strings in and out,
so retrieval can use them to prefer passages that hold an answer, and answering to pick it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

import jieba

from qa.text import CJK, CJK_CHARS, SENTENCE_CLOSERS, UNITS, Tags, has_cjk, normalise, pos_tags

# The tuned numbers of the typed-answer finders, set by hand on the dev questions (tests/data/dev.jsonl)
# and the seeds pages, answer by answer; `git log -S` on qa/extraction.py tells which change set each.
# _context_score: how far around a candidate the question's words are looked for, and how much they count.
BEFORE_WINDOW = 18  # characters before a candidate searched for question words
NEAR_WINDOW = 8  # ... of which the last this many count fully ("near")
FAR_WEIGHT = 0.5  # question words further back than NEAR_WINDOW count this much
AFTER_WINDOW = 8  # characters after a candidate (up to a comma or bracket) searched for question words
AFTER_WEIGHT = 0.6  # question words right after a candidate count this much
# _numbers: a number with the unit the question asks for (多少起 -> 起, 投资 -> 元) scores higher.
ORDINAL_BASE = 1.0  # a 第N届 candidate of a 第几 question
UNIT_MATCH_BONUS = 0.6  # the number carries the asked unit
UNIT_MISSING_PENALTY = 0.3  # a unit was asked for and the number has none
RATE_BONUS = 0.3  # a % or 个百分点 for a question about a rate or share
BARE_NUMBER_PENALTY = 0.2  # a number with neither unit nor 万/亿
MEASURED_WINDOW = 8  # characters before a number searched for what the question counts
MEASURED_BONUS = 0.5  # ... found there ("总投资76.8亿元" for "总投资多少")
MEASURED_PENALTY = 0.3  # ... not found there ("年产值达200亿元" for "总投资多少")
BOUND_PENALTY = 0.4  # "以上/以下/左右" after the number: a bound, not the value asked for
# _dates
DATE_AFTER_WINDOW = 20  # characters after a date whose question words count too
DATE_AFTER_WEIGHT = 0.5  # ... with this weight
YEAR_BONUS = 0.5  # 哪一年 questions: + for a date with a year, - for one without
END_BONUS = 1.5  # 截止/结束 questions: a date right after 至/到/截至
END_LOOK_BACK = 3  # characters before a date searched for 至/到/截至
# _people and _places
ASKED_ROLE_BONUS = 1.5  # a name right after the role the question asks about (指挥长 -> 柏启传)
OTHER_ROLE_BONUS = 0.5  # a name right after some other role word
NAME_WINDOW = 8  # characters after a role word where the name is cut
ROLE_CHAIN_WINDOW = 16  # characters after "市长、" searched for the last role of a chain
ROLE_LOOK_BACK = 4  # characters before a name searched for a role word
BYLINE_LOOK_BACK = 4  # characters before a jieba name searched for 记者/通讯员/摄 (a byline)
PLACE_VERB_BONUS = 1.5  # "在X举行" where the question asks "在哪里举行"
PLACE_CLAUSE_BONUS = 1.0  # a clause "在X，" for a 在哪/哪里 question
PLACE_SUFFIX_BONUS = 1.0  # a span ending in the asked suffix (哪个县 -> …县)
PLACE_SUFFIX_LOOK_BACK = 6  # characters before the asked suffix kept as the place name
PLACE_SPAN_PENALTY = 0.1  # a span ending in a place suffix found by pattern only
LIST_SCORE = 1.0  # the enumeration after the question's words (one candidate per sentence)
# TextCache sizes: a question tags ~30 sentences, a two-part one each part again.
TAGS_CACHED = 8192
ANSWERS_CACHED = 4096

Aliases = Mapping[str, Sequence[str]]
Tagger = Callable[[str], Tags]  # sentence -> its POS tags (TextCache.tags or pos_tags)


def coverage(text: str, terms: dict[str, float], aliases: Aliases | None = None) -> float:
    """Share of the terms' total weight whose words (or their aliases) occur in `text` (lower-cased).

    `aliases` are the corpus's own names for a word (a local paper says 我市 for 许昌); the index
    carries them (`LoadedIndex.aliases`), none by default.
    """
    return covered_share(text.lower(), weigh_terms(terms, aliases))


WeighedTerm = tuple[str, float, tuple[str, ...], str]  # word, weight, its aliases, "该" + its noun or ""


def weigh_terms(terms: dict[str, float], aliases: Aliases | None = None) -> tuple[float, list[WeighedTerm]]:
    """(total weight, each term with what else covers it): prepared once, then `covered_share` runs
    over many sentences (the rerank step covers ~300 sentences a search)."""
    aliases = aliases or {}
    weighed = [
        (
            word,
            weight,
            tuple(aliases.get(word, ())),
            "该" + word[-1] if len(word) >= 2 and word[-1] in _ANAPHOR_NOUNS else "",
        )
        for word, weight in terms.items()
    ]
    return sum(terms.values()), weighed


def covered_share(lowered: str, weighed: tuple[float, list[WeighedTerm]]) -> float:
    """`coverage` of an already lower-cased text with terms prepared by `weigh_terms`."""
    total, terms = weighed
    if total <= 0:
        return 0.0
    found = 0.0
    for word, weight, word_aliases, anaphor in terms:
        if (
            word in lowered
            or (anaphor and anaphor in lowered)
            or (word_aliases and any(alias in lowered for alias in word_aliases))
        ):
            found += weight
    return found / total


# "该局/该区/该县…" point back to the organisation or place the article is about: "该局" covers "公安局".
_ANAPHOR_NOUNS = set("局区县市镇乡村校院厂委所部司行")


_NUMBER = re.compile(rf"(?:近|约|超过|逾|共)?(\d+(?:\.\d+)?)\s*(万|亿)?\s*(多|余)?\s*({UNITS})?")
_ORDINAL = re.compile(r"第[\d一二三四五六七八九十百]+[届次期批个名]")
_DATE = re.compile(
    r"(?:(?:19|20)\d{2}\s*年\s*(?:\d{1,2}\s*月\s*(?:\d{1,2}\s*日)?)?)|(?:(?:去年|今年|明年)?\d{1,2}\s*月\s*(?:\d{1,2}\s*日)?(?:\s*、\s*\d{1,2}\s*日)?)"
)
_ROLE = re.compile(
    r"(?:书记|市长|区长|县长|镇长|局长|厅长|主任|部长|院长|校长|总经理|董事长|经理|指挥长|检察长|秘书长|主席|委员|院士|教授|"
    r"常委|负责人|站长|馆长|会长|队长|团长|所长|处长|科长|主持人|代表)"
)
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江"
    "尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕"
    "单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵"
    "苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝寇屠"
)
_NAME_STOP = set(
    "主表说介出就在带任多对等和共为指强陪作同一率参讲致宣到来向要则是也还均以于将把从与及、，。；：（“”）"
)
_PLACE_SUFFIX = re.compile(
    rf"[{CJK_CHARS}]{{1,10}}?(?:省|市|县|区|镇|乡|村|街道|公园|纪念馆|馆|园区|广场|高中|学校|大学|医院|中心)"
)
_BOUNDARY = set("的在到来了是和与为对、将由从向于，。；：“”（）")


# The question words of each kind, tried in this order (哪些人 is a list before it is a person).
_QUESTION_KINDS = (
    ("list", r"哪些|有什么|包括什么|\bwhich (?:\w+ )?(?:are|were)\b|\blist\b"),
    (
        "date",
        r"什么时候|何时|哪一年|哪年|哪天|哪一天|几月|几号|什么时间|截止|日期|(?<!多长)(?<!多少)时间[？?]?\s*$"
        r"|\bwhen\b|\bwhat year\b|\bwhat date\b",
    ),
    ("person", r"谁|哪位|哪些人|\bwho\b|\bwhom\b"),
    ("place", r"哪里|在哪|哪儿|何地|哪(?:个|家|座|所)|\bwhere\b"),
    (
        "number",
        r"多少|几|多大|多高|多长|多远|多快|多重|百分之"
        r"|\bhow (?:many|much|fast|large|big|long)\b|\bwhat percentage\b|\brate\b",
    ),
)


# A question typed as a bare noun phrase ("2022年高考人数") names the kind by its last word.
_NOUN_KINDS = (
    ("date", r"(?:时间|日期)(?:是|为)?[？?]?\s*$|(?:开幕|闭幕|发布|上映|举办|举行|开始|结束)(?:时间|日期)"),
    ("place", r"(?:举办地|举办城市|地点|所在地|发生地)(?:是|在)?[？?]?\s*$"),
    (
        "number",
        r"(?:人数|数量|票房|增长率|增速|营收|收入|产量|销量|多久|价格|金额|比分|点数|病例数|总额|市值|规模|伤亡|出生率|死亡率|gdp)"
        r"(?:是|为)?[？?]?\s*$",
    ),
)


# Two things asked at once: "A和B分别…", "男女单打冠军", "主演有谁，导演是谁？" (quoted titles set aside).
_QUOTED = re.compile(r"“[^”]*”|《[^》]*》|「[^」]*」|\"[^\"]*\"")
_CONJOINED = re.compile(rf"分别|男女|[{CJK_CHARS}\w](?:和|与|及|以及|跟)[{CJK_CHARS}\w]|\band\b|\bboth\b")
_ASKING_WORDS = r"谁|哪|什么|多少|几|何"  # the Chinese asking words
_ASKING = re.compile(rf"{_ASKING_WORDS}|\b(?:who|what|when|where|which|how)\b")
_ASKING_WORD = re.compile(_ASKING_WORDS)
# A conjunction that joins a given thing to the one asked ("将印度香米与哪一品种杂交", "水肿以及哪一种
# 症状") or compares ("其作用和心脏类似") asks one thing: it is no list of things asked.
_ASKS_ONE = re.compile(
    r"(?:和|与|及|以及|跟)\s*(?:哪|什么|谁|多少|几|何)"
    r"|(?:和|与|跟|同)[^，,？?；;和与跟]{1,12}?(?:类似|相似|相同|一样|相比|有关|无关|相关|不同|相近|接近)"
)


def is_compound(question: str) -> bool:
    """Whether the question asks for two or more things at once, so the answer needs a quote for each."""
    q = _QUOTED.sub("", question.lower())
    return bool(_CONJOINED.search(_ASKS_ONE.sub("", q))) or len(_ASKING.findall(q)) >= 2


_CONJUNCTIONS = ("和", "与", "及", "以及", "跟")
# Two attributes of one thing ("艾尔登法环的发售日期和标准版国区价格"): each item is all its own words.
_ATTRIBUTE = re.compile(
    r"(?:时间|日期|地点|价格|售价|票房|人数|数量|成绩|排名|比分|面积|人口|销量|营收|收入|产量)$"
)
_CLAUSE = re.compile(r"[，,？?；;]")


def question_parts(question: str) -> list[str]:
    """One question per thing asked: "网易和腾讯的营收" -> ["网易的营收", "腾讯的营收"]; [] for a single ask.

    Handles "A和B…" (the items on both sides of the last conjunction, a year with its 年 and a repeated
    lead word such as 最佳 kept together; after a lead word, or when A is an attribute such as 时间 of
    the thing before 的 and B is not one, B runs to its last noun: "发布时间和处理器", "最佳电视剧和最佳
    电视动画"), "男女…" and two clauses each with a question word ("主演有谁，导演是谁" -> the second
    clause gets the first's 《title》 or first word).
    """
    if not is_compound(question):
        return []
    if "男女" in question:
        return [question.replace("男女", "男子", 1), question.replace("男女", "女子", 1)]
    clauses = [c for c in _CLAUSE.split(question) if c.strip()]
    asking = [c for c in clauses if _ASKING.search(c.lower())]
    if len(asking) >= 2:
        title = re.search(r"《[^》]*》|“[^”]*”", clauses[0])
        topic = title.group() if title else (jieba.lcut(clauses[0]) or [""])[0]
        first, second = asking[0], asking[1]
        return [first, second if topic in second else topic + second]
    spans = list(jieba.tokenize(question))  # (word, start, end), the same words as jieba.lcut
    tokens = [word for word, _, _ in spans]
    quoted = _QUOTED.sub(lambda m: "\0" * len(m.group()), question)  # masks conjunctions inside titles
    joins = [
        i
        for i, (token, start, end) in enumerate(spans)
        if token in _CONJUNCTIONS
        and 0 < i < len(tokens) - 1
        and "\0" not in quoted[start:end]
        and tokens[i - 1].strip()
        and tokens[i + 1].strip()
    ]
    if not joins:
        return []
    i = joins[-1]
    parallel = _parallel_items(tokens[:i], tokens[i + 1 :])
    if parallel:  # 女子双人10米跳台和男子双人10米跳台冠军: the items share their tail
        left = "".join(tokens[:i] + tokens[i + 1 + parallel :])
        right = "".join(tokens[: i - parallel] + tokens[i + 1 :])
        return [_one_ask(left), _one_ask(right)]
    lo, hi = i - 1, i + 2  # left item tokens[lo:i], right item tokens[i + 1:hi]
    if tokens[lo] in ("年", "月") and lo > 0 and tokens[lo - 1].isdigit():
        lo -= 1
    while len("".join(tokens[lo:i])) < 2 and lo > 0:
        lo -= 1
    whole = False  # the right item runs to the words that ask (最佳电视动画分别是什么)
    if tokens[i + 1] in tokens[:lo] and hi < len(tokens):  # 最佳影片奖和最佳导演奖
        lo = max(0, lo - 1) if tokens[lo - 1] == tokens[i + 1] else lo
        hi += 1
        whole = True
    owner = max((k for k in range(max(0, i - 3), i) if tokens[k] == "的"), default=-1)
    attributes = owner >= 0 and _ATTRIBUTE.search("".join(tokens[owner + 1 : i]))
    if attributes and not _ATTRIBUTE.search(tokens[i + 1]):  # 手机的发布时间和处理器 (not 国葬时间和地点)
        lo, whole = owner + 1, True
    tags = pos_tags(question) if whole else ()
    nouns = {word for word, flag in tags if flag[:1] in ("n", "m", "e") and flag != "vn"}
    while hi < len(tokens) and (
        len("".join(tokens[i + 1 : hi])) < 2
        or (tokens[hi] == "年" and tokens[hi - 1].isdigit())
        or (whole and tokens[hi] in nouns)  # 最佳电视动画, 标准版国区价格: the item's nouns
    ):
        hi += 1
    while hi < len(tokens) and _name_fragment(tokens[hi]):  # 吴易|昺: jieba cut a name at a rare character
        hi += 1
    left = "".join(tokens[:i] + tokens[hi:])
    right = "".join(tokens[:lo] + tokens[i + 1 :])
    named = re.fullmatch(r"(.*[^\d])(\d{2,})", tokens[i - 1])
    if named and tokens[i + 1].isdigit() and len(tokens[i + 1]) == len(named.group(2)):
        right = "".join(tokens[:lo]) + named.group(1) + "".join(tokens[i + 1 :])  # EMNLP2022和2023
    return [_one_ask(left), _one_ask(right)] if left != right else []


def _parallel_items(before: list[str], after: list[str], head: int = 2) -> int:
    """How many tokens each item has when the item after a conjunction repeats the end of the one
    before it after a different head of at most `head` tokens (女子|双人10米跳台 和 男子|双人10米跳台);
    0 when the items are not built that way."""
    for j in range(1, head + 1):
        for k in range(min(len(before), len(after) - j), 0, -1):
            shared = k + j <= len(before) and after[j : j + k] == before[-k:]
            if shared and len("".join(before[-k:])) >= 2 and after[:j] != before[-k - j : -k]:
                return j + k
    return 0


# A single character jieba's dictionary has seen fewer times than this is no word of its own: cut off
# a name it does not know ("吴易昺" -> 吴易|昺; 昺 24 times, 组 4,621, 赛 2,783).
RARE_CHARACTER = 100


def _name_fragment(token: str) -> bool:
    """A lone rare character: the end of a name jieba cut, not a word after it."""
    return len(token) == 1 and bool(CJK.match(token)) and jieba.dt.FREQ.get(token, 0) < RARE_CHARACTER


def _one_ask(part: str) -> str:
    """A part asks one thing: 分别 ("respectively") no longer belongs in it."""
    return part.replace("分别", "")


_ASKS = re.compile(f"[？?][{SENTENCE_CLOSERS}\\s]*$")


def asks(sentence: str, asking: tuple[str, ...] = ()) -> bool:
    """Whether a sentence asks rather than answers: it ends in a question mark ("1伦是多少钱？") or
    repeats the question's asking words ("艾尔登法环发售日期是什么时候开始的")."""
    return _ASKS.search(sentence) is not None or any(phrase in sentence for phrase in asking)


def asking_phrases(question: str) -> tuple[str, ...]:
    """The question's asking words with the character on each side ("是什么时" of "…是什么时候"): a
    sentence holding one echoes the question instead of answering it."""
    found = []
    for m in _ASKING_WORD.finditer(question):
        before, after = question[m.start() - 1 : m.start()], question[m.end() : m.end() + 1]
        if has_cjk(before) and has_cjk(after):
            found.append(before + m.group() + after)
    return tuple(found)


def question_type(question: str) -> str:
    """What kind of short answer the question asks for: number, person, place, date, list or fact."""
    q = question.lower()
    for table in (_QUESTION_KINDS, _NOUN_KINDS):
        kind = next((kind for kind, pattern in table if re.search(pattern, q)), None)
        if kind:
            return kind
    return "fact"


# What a short answer of each asked kind writes: a date writes a day, a month, a year or an era
# (not "75週年"); a person or a place is more than digits and units (not "9月3日").
_DATE_WORDS = re.compile(
    r"\d+\s*[年日号]|世纪|年代|时期|[〇零一二三四五六七八九十百]+\s*[年月日号岁]|[今明昨前后]天|[上下本]周|星期"
    r"|周[一二三四五六日末]|[上下]午|凌晨|晚|[今明去前]年|月[初底中]|[早中晚末初]期|时代|纪(?!念|录|律|委|检|实|要)"
)
# A question asking how long ("当了多久首相", "被判多少年"; not "公元前多少年", "几月几号") wants a length of
# time: "45天", not the "78" of "第78任首相".
_HOW_LONG = re.compile(
    r"多久|多长时间|(?<!元)(?<!元前)多少(?:年|天|个月|周|个星期|小时|分钟|秒)|几(?:个月|天|周|个星期|小时|分钟)"
)
_DURATION = re.compile(r"[年天月周日秒]|小时|分钟|星期|世纪")
_DIGITS_AND_UNITS = re.compile(
    rf"[\s\d.,:：%％‰．~～\-—至到第约近余多年月日号时分秒周]*(?:{UNITS})?[\s\d.,%％‰]*"
)


def fits_kind(question: str, span: str) -> bool:
    """Whether `span` is the kind of answer `question` asks for: not words of the question itself; a
    date question's answer writes a date, a how-long question's a length of time, a person or place
    question's more than digits and units. The reader, trained on encyclopedia
    paragraphs, sometimes reads "75週年" for "2022年G20峰会的时间" or "9月3日" for "在哪里举行".

    Anything fits a question that asks with two words ("在什么时候出现的论文被刊登在哪一期刊上": its kind
    is the first's, its answer the second's) or whose kind is a number, a list or a fact: "百分之三十是
    由于哪一种疾病" is typed a number question by its 百分之."""
    plain = normalise(span)
    if plain and plain in normalise(question):  # "ChatGPT" for "百度推出的类ChatGPT是什么": an echo
        return False
    if len(_ASKING.findall(question.lower())) >= 2:
        return True
    text = span.strip()
    if _HOW_LONG.search(question):
        return bool(_DURATION.search(text))
    kind = question_type(question)
    if kind == "date":
        return bool(_DATE.search(text) or _DATE_WORDS.search(text))
    if kind in ("person", "place"):
        return not _DIGITS_AND_UNITS.fullmatch(text)
    return True


def _unit_hint(question: str) -> str:
    """The measure word the question expects after the number (多少起 -> 起), or ""."""
    match = re.search(rf"(?:多少|几)\s*({UNITS}|钱)", question)
    if not match:
        return ""
    return "元" if match.group(1) == "钱" else match.group(1)


_VALUE = re.compile(
    rf"\d+(?:\.\d+)?\s*(?:万|亿)?\s*(?:多|余)?\s*(?:{UNITS})|第[\d一二三四五六七八九十百]+[届次期批个名]"
)


def _context_score(
    sentence: str, pos: int, terms: dict[str, float], aliases: Aliases, end: int | None = None
) -> float:
    """How much question weight sits just around a candidate at `pos` (answers follow their topic).

    The window before stops at an earlier value ("其中醉驾525起" is about 醉驾, not what preceded it).
    """
    before = sentence[max(0, pos - BEFORE_WINDOW) : pos]
    values = list(_VALUE.finditer(before))
    if values:
        before = before[values[-1].end() :]
    near, far = before[-NEAR_WINDOW:], before[:-NEAR_WINDOW]
    after_start = pos if end is None else end
    after = re.split(r"[，。；、,;（）()]", sentence[after_start : after_start + AFTER_WINDOW])[0]
    values = list(_VALUE.finditer(after))
    if values:
        after = after[: values[0].start()]
    return (
        coverage(near, terms, aliases)
        + FAR_WEIGHT * coverage(far, terms, aliases)
        + AFTER_WEIGHT * coverage(after, terms, aliases)
    )


# What a number question is about -> the unit its answer carries.
_TOPIC_UNITS = (
    (r"投资|资金|钱|产值|收入|利税|经费|金额|多少元", "元"),
    (r"面积", "平方米"),
    (r"得分|分数|多少分", "分"),
)


def _measured(question: str) -> str:
    """The words just before 多少/几 that say what is counted ("查处的醉驾有多少起" -> "醉驾"), or ""."""
    match = re.search(r"多少|几", question)
    if not match:
        return ""
    head = _COUNT_VERBS.sub("", question[: match.start()])
    return re.split(r"[的在中，、,\s]", head)[-1][-4:]


# Verbs and particles between what is counted and 多少: "禹州市得了多少分" counts 禹州市's score.
_COUNT_VERBS = re.compile(r"(?:是|为|有|达到|达|约|一共|总共|共有|共|累计|得了|得|了)+$")


def _names(window: str, measured: str, aliases: Aliases) -> bool:
    """True when `window` holds the measured words (or their last two characters, or an alias)."""
    tails = {measured, measured[-2:], *aliases.get(measured, ())}
    return any(tail in window for tail in tails if len(tail) >= 2)


class _NumberAsk:
    """What a number question expects: the unit (hint), a rate, and the words that say what is counted."""

    def __init__(self, question: str) -> None:
        self.hint = _unit_hint(question) or next(
            (u for pattern, u in _TOPIC_UNITS if re.search(pattern, question)), ""
        )
        self.wants_rate = bool(re.search(r"增长|增速|率|比重|占|rate|percent", question))
        self.measured = _measured(question)


def _number_score(
    sentence: str, m: re.Match[str], ask: _NumberAsk, terms: dict[str, float], aliases: Aliases
) -> float:
    """How well one number of a sentence answers the question: its context, unit and what precedes it."""
    unit = m.group(4) or ""
    score = _context_score(sentence, m.start(), terms, aliases, m.end())
    hint = ask.hint
    if hint and (unit == hint or unit.endswith(hint) or (m.group(2) or "") + unit == hint or hint in unit):
        score += UNIT_MATCH_BONUS
    elif hint and not unit:
        score -= UNIT_MISSING_PENALTY
    if ask.wants_rate and unit in ("%", "％", "个百分点"):
        score += RATE_BONUS
    if not unit and not m.group(2):
        score -= BARE_NUMBER_PENALTY
    if ask.measured:  # "总投资76.8亿元" answers "总投资多少", "年产值达200亿元" does not
        window = sentence[max(0, m.start() - MEASURED_WINDOW) : m.start()]
        score += MEASURED_BONUS if _names(window, ask.measured, aliases) else -MEASURED_PENALTY
    if re.match(r"\s*(以上|以下|左右)", sentence[m.end() : m.end() + 3]):
        score -= BOUND_PENALTY  # a bound, not the value asked for
    return score


def _numbers(
    sentence: str, question: str, terms: dict[str, float], aliases: Aliases, tags: Tagger
) -> list[tuple[float, str]]:
    """Scored number-with-unit candidates of a sentence, numbers already in the question excluded."""
    found: list[tuple[float, str]] = []
    if "第几" in question:
        for m in _ORDINAL.finditer(sentence):
            score = ORDINAL_BASE + _context_score(sentence, m.start(), terms, aliases, m.end())
            found.append((score, m.group()))
        return found
    ask = _NumberAsk(question)
    for m in _NUMBER.finditer(sentence):
        text = re.sub(r"\s+", "", m.group())
        if m.group(1) in re.sub(r"\s+", "", question) and not m.group(4):
            continue
        if re.sub(r"^(近|约|超过|逾|共)", "", text) in question:
            continue
        unit = m.group(4) or ""
        if unit in ("月", "日", "年") or sentence[m.end() : m.end() + 1] in ("月", "日", "年", "号"):
            continue
        found.append((_number_score(sentence, m, ask, terms, aliases), text.lstrip("共")))
    return found


def _dates(
    sentence: str, question: str, terms: dict[str, float], aliases: Aliases, tags: Tagger
) -> list[tuple[float, str]]:
    """Scored date candidates; 哪一年 prefers dates with a year."""
    wants_year = bool(re.search(r"哪一年|哪年|what year", question.lower()))
    wants_end = bool(re.search(r"截止|截至|结束|到什么时候|until", question.lower()))
    found = []
    for m in _DATE.finditer(sentence):
        text = re.sub(r"\s+", "", m.group())
        if not text or text in re.sub(r"\s+", "", question):
            continue
        after = sentence[m.end() : m.end() + DATE_AFTER_WINDOW]
        score = _context_score(sentence, m.start(), terms, aliases) + DATE_AFTER_WEIGHT * coverage(
            after, terms, aliases
        )
        if wants_year:
            score += YEAR_BONUS if "年" in text else -YEAR_BONUS
        opener = sentence[max(0, m.start() - END_LOOK_BACK) : m.start()]
        if wants_end and re.search(r"(至|到|截至|截止)\s*$", opener):
            score += END_BONUS
        found.append((score, text))
    return found


def _cut_name(text: str) -> str | None:
    """A person's name at the start of `text` (2-3 characters, or a transliterated name with ·)."""
    match = re.match(rf"[{CJK_CHARS}]{{2,6}}·[{CJK_CHARS}]{{2,6}}", text)
    if match:
        return match.group()
    if len(text) < 2 or text[0] not in _SURNAMES or not CJK.match(text[1]):
        return None
    if len(text) >= 3 and CJK.match(text[2]) and text[2] not in _NAME_STOP:
        return text[:3]
    return text[:2]


def _name_before(sentence: str, end: int) -> str | None:
    """The 2- or 3-character name that ends at `end` (right after a role word or a boundary), or None."""
    for size in (3, 2):
        start = end - size
        if start < 0:
            continue
        name = _cut_name(sentence[start:end])
        opener = sentence[max(0, start - ROLE_LOOK_BACK) : start]
        after_role = not opener or _ROLE.search(opener) or opener[-1] in _BOUNDARY
        if name == sentence[start:end] and after_role:
            return name
    return None


def _name_after_role(sentence: str, m: re.Match[str], question: str) -> str | None:
    """The name a role word of the sentence introduces ("指挥长史根治" -> 史根治), or None."""
    asked = m.group() in question
    name = _cut_name(sentence[m.end() : m.end() + NAME_WINDOW])
    if asked and sentence[m.start() - 1 : m.start()] == "任":
        # "由副市长柏启传任指挥长": the name stands before 任 + the asked role.
        name = _name_before(sentence, m.start() - 1) or name
    if name is None and asked and sentence[m.end() : m.end() + 1] == "、":
        # "市长、市创文指挥部指挥长史根治": the name follows the last of a chain of roles.
        chained = list(_ROLE.finditer(sentence[m.end() : m.end() + ROLE_CHAIN_WINDOW]))
        if chained:
            end = m.end() + chained[0].end()
            name = _cut_name(sentence[end : end + NAME_WINDOW])
    return name


def _people(
    sentence: str, question: str, terms: dict[str, float], aliases: Aliases, tags: Tagger
) -> list[tuple[float, str]]:
    """Scored person-name candidates: names right after a role word, and jieba `nr` words."""
    found: dict[str, float] = {}
    for m in _ROLE.finditer(sentence):
        if (
            sentence[m.start() - 1 : m.start()] == "副"
            and m.group() in question
            and "副" + m.group() not in question
        ):
            continue
        name = _name_after_role(sentence, m, question)
        if name and name not in question:
            bonus = ASKED_ROLE_BONUS if m.group() in question else OTHER_ROLE_BONUS
            score = bonus + _context_score(sentence, m.end(), terms, aliases)
            found[name] = max(found.get(name, -9), score)
    for word, flag in tags(sentence):
        if flag in ("nr", "nrt") and len(word) >= 2 and word not in question:
            pos = sentence.find(word)
            byline = re.search(r"(记者|通讯员|摄)\s*$", sentence[max(0, pos - BYLINE_LOOK_BACK) : pos])
            if byline and "记者" not in question:
                continue  # a byline, not someone the story is about
            name = _cut_name(sentence[pos : pos + NAME_WINDOW])
            if name is None:
                continue
            found[name] = max(found.get(name, -9), _context_score(sentence, pos, terms, aliases))
    return [(score, name) for name, score in found.items()]


def _places(
    sentence: str, question: str, terms: dict[str, float], aliases: Aliases, tags: Tagger
) -> list[tuple[float, str]]:
    """Scored place candidates: "在X举行" patterns, spans ending in the asked suffix, jieba `ns` words."""
    found: dict[str, float] = {}

    def context(pos: int) -> float:
        return _context_score(sentence, pos, terms, aliases)

    verb = re.search(rf"在哪里?(?:儿)?\s*([{CJK_CHARS}]{{2}})", question)
    if verb:
        for m in re.finditer(rf"在([{CJK_CHARS}]{{2,12}}?){verb.group(1)}", sentence):
            found[m.group(1)] = PLACE_VERB_BONUS + context(m.start())
    if re.search(r"在哪|哪里", question):
        for m in re.finditer(rf"(?:^|，|,)\s*在([{CJK_CHARS}]{{2,14}}?)[，,]", sentence):
            found.setdefault(m.group(1), PLACE_CLAUSE_BONUS + context(m.start()))
    suffix = re.search(rf"哪(?:个|家|座|所)\s*([{CJK_CHARS}]{{1,3}}?)(?:[？?]|$|里|呢)", question)
    if suffix:
        for m in re.finditer(re.escape(suffix.group(1)), sentence):
            head = sentence[max(0, m.start() - PLACE_SUFFIX_LOOK_BACK) : m.start()]
            cut = max((i for i, ch in enumerate(head) if ch in _BOUNDARY), default=-1)
            span = head[cut + 1 :] + suffix.group(1)
            if len(span) > len(suffix.group(1)) and span not in question:
                found[span] = max(found.get(span, -9), PLACE_SUFFIX_BONUS + context(m.start()))
    for word, flag in tags(sentence):
        if flag == "ns" and len(word) >= 2 and word not in question:
            found.setdefault(word, context(sentence.find(word)))
    for m in _PLACE_SUFFIX.finditer(sentence):
        span = m.group()
        cut = max((i for i, ch in enumerate(span[:-1]) if ch in _BOUNDARY), default=-1)
        span = span[cut + 1 :]
        if len(span) >= 2 and span not in question:
            found.setdefault(span, context(m.start()) - PLACE_SPAN_PENALTY)
    return [(score, place) for place, score in found.items()]


def _items(
    sentence: str, question: str, terms: dict[str, float], aliases: Aliases, tags: Tagger
) -> list[tuple[float, str]]:
    """The enumeration (A、B和C) that follows the question's words in a sentence."""
    ends = [sentence.find(word) + len(word) for word in terms if word in sentence]
    start = max(ends) if ends else 0
    for clause in re.split(r"[，。；：]", sentence[start:]):
        if re.search(r"、|和|及|与", clause) and len(clause) >= 4:
            return [(LIST_SCORE, clause.strip(" “”"))]
    return []


_FINDERS = {"number": _numbers, "date": _dates, "person": _people, "place": _places, "list": _items}


def _find_typed(
    kind: str, sentence: str, question: str, terms: dict[str, float], aliases: Aliases, tags: Tagger
) -> tuple[float, str] | None:
    """The best candidate of type `kind` in a sentence (None for "fact" or when there is none)."""
    finder = _FINDERS.get(kind)
    if finder is None:
        return None
    found = finder(sentence, question, terms, aliases, tags)
    return max(found) if found else None


def _frozen(aliases: Aliases | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The aliases as a hashable key (sorted items)."""
    return tuple(sorted((word, tuple(names)) for word, names in (aliases or {}).items()))


class TextCache:
    """jieba POS tags and typed answers of sentences, kept per service (a new index gets a new one).

    Retrieval and then answering ask about the same sentences of one question, a two-part question
    asks again for each part, and the person and place finders run jieba's POS tagger, the slow part.
    Both caches are bounded LRUs that live and die with the instance.
    """

    def __init__(
        self,
        max_tags: int = TAGS_CACHED,
        max_answers: int = ANSWERS_CACHED,
        stored: Callable[[str], Tags | None] | None = None,
    ) -> None:
        if max_tags < 1 or max_answers < 1:
            raise ValueError(f"cache sizes must be at least 1, got {max_tags} tags and {max_answers} answers")
        self.stored = stored  # the index's tags of its sentences (made at build time), None: tag here
        self._tags = lru_cache(maxsize=max_tags)(self._tag)
        self._answers = lru_cache(maxsize=max_answers)(self._typed_answer)

    def __len__(self) -> int:
        """How many tag lists and typed answers the cache holds."""
        return self._tags.cache_info().currsize + self._answers.cache_info().currsize

    def tags(self, sentence: str) -> Tags:
        """jieba's (word, POS flag) pairs of a sentence, cached."""
        return self._tags(sentence)

    def _tag(self, sentence: str) -> Tags:
        """The index's tags of the sentence when it has them (the same jieba output, made at build
        time), else jieba's now."""
        found = self.stored(sentence) if self.stored is not None else None
        return found if found is not None else pos_tags(sentence)

    def typed_answer(
        self, kind: str, sentence: str, question: str, terms: dict[str, float], aliases: Aliases | None = None
    ) -> tuple[float, str] | None:
        """typed_answer, cached by its arguments."""
        return self._answers(kind, sentence, question, tuple(terms.items()), _frozen(aliases))

    def _typed_answer(
        self,
        kind: str,
        sentence: str,
        question: str,
        term_items: tuple[tuple[str, float], ...],
        alias_items: tuple[tuple[str, tuple[str, ...]], ...],
    ) -> tuple[float, str] | None:
        """typed_answer with hashable arguments, tagging through this cache."""
        return _find_typed(kind, sentence, question, dict(term_items), dict(alias_items), self.tags)


def typed_answer(
    kind: str,
    sentence: str,
    question: str,
    terms: dict[str, float],
    cache: TextCache | None = None,
    aliases: Aliases | None = None,
) -> tuple[float, str] | None:
    """The best candidate of type `kind` in a sentence, with its score, or None (always None for "fact").

    With a `cache` the answer (and the sentence's POS tags) is remembered there; without, it is
    computed afresh, with the same result. `aliases` as for `coverage`.
    """
    if cache is not None:
        return cache.typed_answer(kind, sentence, question, terms, aliases)
    return _find_typed(kind, sentence, question, terms, aliases or {}, pos_tags)
