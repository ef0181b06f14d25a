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
from functools import lru_cache

import jieba
import jieba.posseg as posseg

from qa.text import CJK, CJK_CHARS, UNITS

# A local paper says 我市/本市 for its own city.
ALIASES = {"许昌": ("我市", "本市"), "许昌市": ("我市", "本市"), "xuchang": ("许昌", "我市")}


def coverage(text: str, terms: dict[str, float]) -> float:
    """Share of the terms' total weight whose words (or aliases) occur in `text` (lower-cased substrings)."""
    total = sum(terms.values())
    if total <= 0:
        return 0.0
    lowered = text.lower()
    found = sum(
        weight
        for word, weight in terms.items()
        if word in lowered
        or any(alias in lowered for alias in ALIASES.get(word, ()))
        or (len(word) >= 2 and word[-1] in _ANAPHOR_NOUNS and "该" + word[-1] in lowered)
    )
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
_ASKING = re.compile(r"谁|哪|什么|多少|几|何|\b(?:who|what|when|where|which|how)\b")


def is_compound(question: str) -> bool:
    """Whether the question asks for two or more things at once, so the answer needs a quote for each."""
    q = _QUOTED.sub("", question.lower())
    return bool(_CONJOINED.search(q)) or len(_ASKING.findall(q)) >= 2


_CONJUNCTIONS = ("和", "与", "及", "以及", "跟")
_CLAUSE = re.compile(r"[，,？?；;]")


def question_parts(question: str) -> list[str]:
    """One question per thing asked: "网易和腾讯的营收" -> ["网易的营收", "腾讯的营收"]; [] for a single ask.

    Handles "A和B…" (the items on both sides of the last conjunction, a year with its 年 and a repeated
    lead word such as 最佳 kept together), "男女…" and two clauses each with a question word
    ("主演有谁，导演是谁" -> the second clause gets the first's 《title》 or first word).
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
    lo, hi = i - 1, i + 2  # left item tokens[lo:i], right item tokens[i + 1:hi]
    if tokens[lo] in ("年", "月") and lo > 0 and tokens[lo - 1].isdigit():
        lo -= 1
    while len("".join(tokens[lo:i])) < 2 and lo > 0:
        lo -= 1
    if tokens[i + 1] in tokens[:lo] and hi < len(tokens):  # 最佳影片奖和最佳导演奖
        lo = max(0, lo - 1) if tokens[lo - 1] == tokens[i + 1] else lo
        hi += 1
    while hi < len(tokens) and (
        len("".join(tokens[i + 1 : hi])) < 2 or (tokens[hi] == "年" and tokens[hi - 1].isdigit())
    ):
        hi += 1
    left = "".join(tokens[:i] + tokens[hi:])
    right = "".join(tokens[:lo] + tokens[i + 1 :])
    return [left, right] if left != right else []


def question_type(question: str) -> str:
    """What kind of short answer the question asks for: number, person, place, date, list or fact."""
    q = question.lower()
    for table in (_QUESTION_KINDS, _NOUN_KINDS):
        kind = next((kind for kind, pattern in table if re.search(pattern, q)), None)
        if kind:
            return kind
    return "fact"


def _unit_hint(question: str) -> str:
    """The measure word the question expects after the number (多少起 -> 起), or ""."""
    match = re.search(rf"(?:多少|几)\s*({UNITS}|钱)", question)
    if not match:
        return ""
    return "元" if match.group(1) == "钱" else match.group(1)


_VALUE = re.compile(
    rf"\d+(?:\.\d+)?\s*(?:万|亿)?\s*(?:多|余)?\s*(?:{UNITS})|第[\d一二三四五六七八九十百]+[届次期批个名]"
)


def _context_score(sentence: str, pos: int, terms: dict[str, float], end: int | None = None) -> float:
    """How much question weight sits just around a candidate at `pos` (answers follow their topic).

    The window before stops at an earlier value ("其中醉驾525起" is about 醉驾, not what preceded it).
    """
    before = sentence[max(0, pos - 18) : pos]
    values = list(_VALUE.finditer(before))
    if values:
        before = before[values[-1].end() :]
    near, far = before[-8:], before[:-8]
    after_start = pos if end is None else end
    after = re.split(r"[，。；、,;（）()]", sentence[after_start : after_start + 8])[0]
    values = list(_VALUE.finditer(after))
    if values:
        after = after[: values[0].start()]
    return coverage(near, terms) + 0.5 * coverage(far, terms) + 0.6 * coverage(after, terms)


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


def _names(window: str, measured: str) -> bool:
    """True when `window` holds the measured words (or their last two characters, or a local alias)."""
    tails = {measured, measured[-2:], *ALIASES.get(measured, ())}
    return any(tail in window for tail in tails if len(tail) >= 2)


def _numbers(sentence: str, question: str, terms: dict[str, float]) -> list[tuple[float, str]]:
    """Scored number-with-unit candidates of a sentence, numbers already in the question excluded."""
    found: list[tuple[float, str]] = []
    if "第几" in question:
        for m in _ORDINAL.finditer(sentence):
            found.append((1.0 + _context_score(sentence, m.start(), terms, m.end()), m.group()))
        return found
    hint = _unit_hint(question) or next(
        (u for pattern, u in _TOPIC_UNITS if re.search(pattern, question)), ""
    )
    wants_rate = bool(re.search(r"增长|增速|率|比重|占|rate|percent", question))
    measured = _measured(question)
    for m in _NUMBER.finditer(sentence):
        text = re.sub(r"\s+", "", m.group())
        number = m.group(1)
        if number in re.sub(r"\s+", "", question) and not m.group(4):
            continue
        if re.sub(r"^(近|约|超过|逾|共)", "", text) in question:
            continue
        unit = m.group(4) or ""
        if unit in ("月", "日", "年") or sentence[m.end() : m.end() + 1] in ("月", "日", "年", "号"):
            continue
        score = _context_score(sentence, m.start(), terms, m.end())
        if hint and (
            unit == hint or unit.endswith(hint) or (m.group(2) or "") + unit == hint or hint in unit
        ):
            score += 0.6
        elif hint and not unit:
            score -= 0.3
        if wants_rate and unit in ("%", "％", "个百分点"):
            score += 0.3
        if not unit and not m.group(2):
            score -= 0.2
        if measured:  # "总投资76.8亿元" answers "总投资多少", "年产值达200亿元" does not
            score += 0.5 if _names(sentence[max(0, m.start() - 8) : m.start()], measured) else -0.3
        if re.match(r"\s*(以上|以下|左右)", sentence[m.end() : m.end() + 3]):
            score -= 0.4  # a bound, not the value asked for
        found.append((score, text.lstrip("共")))
    return found


def _dates(sentence: str, question: str, terms: dict[str, float]) -> list[tuple[float, str]]:
    """Scored date candidates; 哪一年 prefers dates with a year."""
    wants_year = bool(re.search(r"哪一年|哪年|what year", question.lower()))
    wants_end = bool(re.search(r"截止|截至|结束|到什么时候|until", question.lower()))
    found = []
    for m in _DATE.finditer(sentence):
        text = re.sub(r"\s+", "", m.group())
        if not text or text in re.sub(r"\s+", "", question):
            continue
        score = _context_score(sentence, m.start(), terms) + 0.5 * coverage(
            sentence[m.end() : m.end() + 20], terms
        )
        if wants_year:
            score += 0.5 if "年" in text else -0.5
        if wants_end and re.search(r"(至|到|截至|截止)\s*$", sentence[max(0, m.start() - 3) : m.start()]):
            score += 1.5
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
        opener = sentence[max(0, start - 4) : start]
        after_role = not opener or _ROLE.search(opener) or opener[-1] in _BOUNDARY
        if name == sentence[start:end] and after_role:
            return name
    return None


@lru_cache(maxsize=8192)
def _tagged(sentence: str) -> tuple[tuple[str, str], ...]:
    """jieba's (word, POS flag) pairs of a sentence, cached: the same sentences are tagged for a
    question, for each of its parts, and for later questions that retrieve them again."""
    return tuple((pair.word, pair.flag) for pair in posseg.cut(sentence))


def _people(sentence: str, question: str, terms: dict[str, float]) -> list[tuple[float, str]]:
    """Scored person-name candidates: names right after a role word, and jieba `nr` words."""
    found: dict[str, float] = {}
    for m in _ROLE.finditer(sentence):
        if (
            sentence[m.start() - 1 : m.start()] == "副"
            and m.group() in question
            and "副" + m.group() not in question
        ):
            continue
        asked = m.group() in question
        name = _cut_name(sentence[m.end() : m.end() + 8])
        if asked and sentence[m.start() - 1 : m.start()] == "任":
            # "由副市长柏启传任指挥长": the name stands before 任 + the asked role.
            name = _name_before(sentence, m.start() - 1) or name
        if name is None and asked and sentence[m.end() : m.end() + 1] == "、":
            # "市长、市创文指挥部指挥长史根治": the name follows the last of a chain of roles.
            chained = list(_ROLE.finditer(sentence[m.end() : m.end() + 16]))
            if chained:
                end = m.end() + chained[0].end()
                name = _cut_name(sentence[end : end + 8])
        if name and name not in question:
            bonus = 1.5 if asked else 0.5
            found[name] = max(found.get(name, -9), bonus + _context_score(sentence, m.end(), terms))
    for word, flag in _tagged(sentence):
        if flag in ("nr", "nrt") and len(word) >= 2 and word not in question:
            pos = sentence.find(word)
            if re.search(r"(记者|通讯员|摄)\s*$", sentence[max(0, pos - 4) : pos]) and "记者" not in question:
                continue  # a byline, not someone the story is about
            name = _cut_name(sentence[pos : pos + 8])
            if name is None:
                continue
            found[name] = max(found.get(name, -9), _context_score(sentence, pos, terms))
    return [(score, name) for name, score in found.items()]


def _places(sentence: str, question: str, terms: dict[str, float]) -> list[tuple[float, str]]:
    """Scored place candidates: "在X举行" patterns, spans ending in the asked suffix, jieba `ns` words."""
    found: dict[str, float] = {}
    verb = re.search(rf"在哪里?(?:儿)?\s*([{CJK_CHARS}]{{2}})", question)
    if verb:
        for m in re.finditer(rf"在([{CJK_CHARS}]{{2,12}}?){verb.group(1)}", sentence):
            found[m.group(1)] = 1.5 + _context_score(sentence, m.start(), terms)
    if re.search(r"在哪|哪里", question):
        for m in re.finditer(rf"(?:^|，|,)\s*在([{CJK_CHARS}]{{2,14}}?)[，,]", sentence):
            found.setdefault(m.group(1), 1.0 + _context_score(sentence, m.start(), terms))
    suffix = re.search(rf"哪(?:个|家|座|所)\s*([{CJK_CHARS}]{{1,3}}?)(?:[？?]|$|里|呢)", question)
    if suffix:
        for m in re.finditer(re.escape(suffix.group(1)), sentence):
            head = sentence[max(0, m.start() - 6) : m.start()]
            cut = max((i for i, ch in enumerate(head) if ch in _BOUNDARY), default=-1)
            span = head[cut + 1 :] + suffix.group(1)
            if len(span) > len(suffix.group(1)) and span not in question:
                found[span] = max(found.get(span, -9), 1.0 + _context_score(sentence, m.start(), terms))
    for word, flag in _tagged(sentence):
        if flag == "ns" and len(word) >= 2 and word not in question:
            found.setdefault(word, _context_score(sentence, sentence.find(word), terms))
    for m in _PLACE_SUFFIX.finditer(sentence):
        span = m.group()
        cut = max((i for i, ch in enumerate(span[:-1]) if ch in _BOUNDARY), default=-1)
        span = span[cut + 1 :]
        if len(span) >= 2 and span not in question:
            found.setdefault(span, _context_score(sentence, m.start(), terms) - 0.1)
    return [(score, place) for place, score in found.items()]


def _items(sentence: str, terms: dict[str, float]) -> list[tuple[float, str]]:
    """The enumeration (A、B和C) that follows the question's words in a sentence."""
    ends = [sentence.find(word) + len(word) for word in terms if word in sentence]
    start = max(ends) if ends else 0
    for clause in re.split(r"[，。；：]", sentence[start:]):
        if re.search(r"、|和|及|与", clause) and len(clause) >= 4:
            return [(1.0, clause.strip(" “”"))]
    return []


def typed_answer(
    kind: str, sentence: str, question: str, terms: dict[str, float]
) -> tuple[float, str] | None:
    """The best candidate of type `kind` in a sentence, with its score, or None (always None for "fact").

    Cached: retrieval and then answering ask it about the same sentences of one question, and the
    person and place finders run jieba's POS tagger.
    """
    return _typed_answer(kind, sentence, question, tuple(terms.items()))


@lru_cache(maxsize=4096)
def _typed_answer(
    kind: str, sentence: str, question: str, term_items: tuple[tuple[str, float], ...]
) -> tuple[float, str] | None:
    """typed_answer with hashable terms."""
    terms = dict(term_items)
    finders = {"number": _numbers, "date": _dates, "person": _people, "place": _places}
    if kind == "list":
        found = _items(sentence, terms)
    elif kind in finders:
        found = finders[kind](sentence, question, terms)
    else:
        return None
    return max(found) if found else None
