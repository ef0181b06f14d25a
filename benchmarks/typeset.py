"""A seeded page typesetter: articles with known titles -> OCR'd newspaper pages plus their gold.

Why: the segmenter was shaped on five real pages, so its figures on them say little about a page
nobody tuned for. This module prints known articles the way the seed pages look (headline before or
after its body, two-line headlines, kickers, subheads and deks, bylines in their common forms, photo
captions with a credit line, jump markers, a masthead, a stray column header, hard line breaks every
13-22 characters, OCR spaces inside words, blank lines in mid-paragraph where a column ends) and
writes, for each true article, its clean title and body and the layout features it was printed
with, so `benchmarks/segmentation.py` can say which layout a change broke. Everything is drawn from
`random.Random(seed)`: the same seed gives the same pages, so a failure reproduces.

Source articles are the CRUD-derived news in `../shared/eval-external/crud_derived/corpus.jsonl`
whose printed headline is known exactly ("原标题：<title>" followed by a run of spaces) and short;
wire-service datelines, photo credits, editor credits and "返回搜狐" tails are cut from the body,
and a second report of the same story is dropped (59 articles).
RGB passages have no titles and are not used.

    python benchmarks/typeset.py --seed 7 --pages 24 --out DIR    # DIR/pages/*.txt, DIR/gold.jsonl
"""

from __future__ import annotations

import argparse
import calendar
import datetime
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CRUD_CORPUS = (
    Path(__file__).resolve().parents[2] / "shared" / "eval-external" / "crud_derived" / "corpus.jsonl"
)

BYLINE_STYLES = (
    "none",
    "box_reporter",  # □ 记者 ×××
    "box_benbao",  # □ 本报记者 ×××
    "xun",  # 本报讯（记者 ×××）opening the first paragraph
    "xun_correspondent",  # 本报讯（记者 ××× 通讯员 ×××）
    "reporter_line",  # 本报记者 ××× 通讯员 ××× on its own line
    "correspondent",  # □ 通讯员 ××× ×××
)
BYLINE_WEIGHTS = (2, 2, 2, 4, 3, 2, 1)

# Every tag `feature_tags` can give; the tests check that a 24-page set shows each one.
ALL_TAGS = (
    "headline_before",
    "headline_after",
    "two_line_headline",
    "spaced_headline",
    "kicker",
    "subhead",
    "dek",
    *(f"byline:{style}" for style in BYLINE_STYLES),
    "caption",
    "jump_marker:down",
    "jump_marker:up",
    "column_header",
    "masthead",
    "line_width:narrow",
    "line_width:medium",
    "line_width:wide",
    "line_width:unwrapped",
    "page_headlines:after",
    "page_headlines:before",
    "page_headlines:mixed",
    "ocr_spaces",
    "column_break",
)

_SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
)
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红飞鹏辉波宁晨铮新宝峰柯培钦全旭汉雷"
_CLOSING = set("，。、；：？！”’）》」』…%")
_COLUMN_HEADERS = (
    "一周要闻",
    "践行嘱托争出彩",
    "文明花开遍中原",
    "奋力冲刺跑 打好收官战",
    "全民健身\n健康你我他",
    "综合新闻",
    "社会·民生",
    "经济观察",
    "聚焦高质量发展",
    "要闻",
)
_CAPTION_PLACES = (
    "在东城区鹿鸣湖体育公园",
    "在市区一处建设工地",
    "在一家企业的生产车间内",
    "在城郊的花木基地",
)
_CAPTION_WHO = ("参赛选手", "工人", "志愿者", "市民", "技术人员", "党员干部")
_CAPTION_ACTS = ("进行长跑比赛", "调试生产线上的机器人", "清理路边垃圾", "检查设备运行情况", "采摘葡萄")
_CAPTION_EXTRA = (
    "当天，当地组织开展全民健身活动，倡导“快乐健身，幸福生活”的理念。",
    "近年来，当地不断改善人居环境，提升了市民的幸福感和获得感。",
    "该项目建成后，可实现关键工序组装自动化。",
    "",
)
_SERIES = ("高质量发展", "防汛救灾", "国际观察", "经济运行", "民生实事", "决战决胜")
_ORGS = ("市应急管理局", "市气象局", "市发改委", "市公安局", "市商务局")
_SUBHEAD_VERBS = ("主持会议并讲话", "陪同", "作具体部署", "等出席", "出席并讲话")
_STEMS = "甲乙丙丁戊己庚辛壬癸"
_BRANCHES = "子丑寅卯辰巳午未申酉戌亥"
_CN_NUMS = "一二三四五六七八九十"
_WEEKDAYS = "一二三四五六日"


@dataclass(frozen=True)
class SourceArticle:
    """An article to print: its headline and clean body paragraphs."""

    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class PageStyle:
    """What one page looks like: line width (0 = a paragraph per line), OCR damage, headline side, date."""

    line_width: int
    ocr_spaces: bool
    column_breaks: bool
    headlines: str  # "after" / "before": every headline on that side of its body; "mixed": each its own
    date: str  # ISO date printed in the masthead, "" when the page has none


# ---------------------------------------------------------------- source articles


_WIRE_PREFIX = re.compile(
    r"^(?:[\u4e00-\u9fff]{1,8}(?:社|网|报|台)[\u4e00-\u9fff]{0,4}?\d{1,2}月\d{1,2}日(?:电|报道)"
    r"|[\u4e00-\u9fff]{2,8}(?:\d{1,2}月\d{1,2}日)?消息[：，]|[\u4e00-\u9fff]{1,6}报讯|【[^】]{2,20}】)\s*(?:[（(][^）)]{1,20}[）)])?\s*"
)
_SOURCE_PREFIX = re.compile(r"^(?:来源：\S+\s*)?(?:原创稿\s*)?")
_TAIL_PARENS = re.compile(r"\s*[（(][^）)]{1,14}[）)]\s*$")
_CREDIT_PARAGRAPH = re.compile(r"^(?:编辑|采写|来源|本期编辑|校对|责任编辑|据\S{1,8}$)")
_REJECT = re.compile(
    r"记者|编辑|摄|@|来源|http|返回|【|扫码|点击|▲|●|图源|资料图|视觉中国|图）|供图|客户端|/|责编|往期|截图|原标题|\d版）"
)
_CJK_GAP = re.compile(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])")


def clean_crud_article(title: str, raw: str) -> SourceArticle | None:
    """The printable article of one CRUD row, or None when its headline or body is not clean."""
    head = "原标题：" + title
    if not title or not raw.startswith(head) or not re.match(r"\s{2,}", raw[len(head) :]):
        return None
    if not 5 <= len(title) <= 28 or re.search(r"[【】|#@-]|记者|来源|\d{4}-\d\d", title):
        return None
    body = raw[len(head) :].strip()
    if body.startswith(title):
        body = body[len(title) :].strip()
    paragraphs = [p.strip() for p in re.split(r"\s{2,}", body.split("返回搜狐")[0])]
    paragraphs = [_WIRE_PREFIX.sub("", _SOURCE_PREFIX.sub("", p)) for p in paragraphs if p]
    paragraphs = [p for p in paragraphs if not _REJECT.search(p)]
    while paragraphs and not re.search(r"[。！？]", paragraphs[0]):  # a caption, a restated title
        paragraphs.pop(0)
    while paragraphs and (
        _CREDIT_PARAGRAPH.match(paragraphs[-1]) or not re.search(r"[。！？]", paragraphs[-1])
    ):
        paragraphs.pop()
    if len(paragraphs) < 2:
        return None
    paragraphs[-1] = _TAIL_PARENS.sub("", paragraphs[-1])
    paragraphs = [piece for p in paragraphs for piece in _split_long(_CJK_GAP.sub("", p))]
    total = sum(map(len, paragraphs))
    if len(paragraphs) < 2 or total < 200 or total / len(paragraphs) < 40:
        return None
    kept: list[str] = []
    for paragraph in paragraphs:  # a page article, not a feature: about 900 characters at most
        kept.append(paragraph)
        if sum(map(len, kept)) >= 900:
            break
    return SourceArticle(title=title, paragraphs=tuple(kept))


def _split_long(paragraph: str, limit: int = 220) -> list[str]:
    """A long paragraph cut at sentence ends into pieces of about `limit` characters."""
    if len(paragraph) <= limit:
        return [paragraph]
    sentences = re.findall(r"[^。！？]*[。！？]+[”’）]?|[^。！？]+$", paragraph)
    pieces, current = [], ""
    for sentence in sentences:
        if current and len(current) + len(sentence) > limit:
            pieces.append(current)
            current = ""
        current += sentence
    if current:
        pieces.append(current)
    return pieces


def load_crud_articles(path: Path = CRUD_CORPUS) -> list[SourceArticle]:
    """Every CRUD-derived article with a known short headline and a clean body, in file order."""
    articles: list[SourceArticle] = []
    kept_shingles: list[set[str]] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            article = clean_crud_article(row.get("title", ""), row.get("text", ""))
            if article is None:
                continue
            text = "".join(article.paragraphs)
            shingles = {text[i : i + 6] for i in range(len(text) - 5)}
            if any(len(shingles & other) > 0.2 * len(shingles) for other in kept_shingles):
                continue  # the same story from another outlet would blur which article is which
            kept_shingles.append(shingles)
            articles.append(article)
    return articles


# ---------------------------------------------------------------- line setting


def _cells(char: str) -> float:
    """How wide a character prints, in CJK character widths."""
    return 0.5 if ord(char) < 0x80 else 1.0


def _space_numbers(text: str) -> str:
    """OCR's spaces around runs of ASCII digits and letters ("9 月 12 日")."""

    def spaced(match: re.Match[str]) -> str:
        after = text[match.end()] if match.end() < len(text) else ""
        return f" {match.group(1)}" + ("" if after in _CLOSING else " ")

    return re.sub(r"(?<=[^\x00-\x7f])([0-9A-Za-z.%]+)(?=[^\x00-\x7f])", spaced, text)


def _spread(line: str) -> str:
    """A justified line as OCR reads it: a space between every character ("部 门 制 定 了"), numbers whole."""
    return " ".join(re.findall(r"[\x21-\x7e]+|[^\x00-\x7f]", line))


def wrap(text: str, style: PageStyle, rng: random.Random) -> list[str]:
    """One paragraph set as printed lines: hard breaks every `line_width`, OCR damage, column breaks."""
    if style.ocr_spaces:
        text = _space_numbers(text)
    if style.line_width == 0:
        return [text]
    lines, current, width = [], "", 0.0
    for unit in re.findall(r"[0-9A-Za-z.,%]+|.", text):  # a number is never broken across lines
        if width >= style.line_width and unit[0] not in _CLOSING:
            lines.append(current)
            current, width = "", 0.0
        current += unit
        width += sum(map(_cells, unit))
    if current:
        lines.append(current)
    if style.ocr_spaces:
        lines = [_spread(line) if rng.random() < 0.12 else line for line in lines]
    if style.column_breaks and len(lines) >= 3 and rng.random() < 0.15:
        lines.insert(rng.randrange(1, len(lines)), "")
    return lines


# ---------------------------------------------------------------- page parts


def _name(rng: random.Random) -> str:
    """A plausible two- or three-character Chinese name."""
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _clause(paragraphs: Sequence[str], rng: random.Random, low: int, high: int) -> str:
    """A clause of the body between `low` and `high` characters, for a kicker, subhead or dek."""
    clauses = [c for p in paragraphs for c in re.split(r"[，。；！？：、“”]", p) if low <= len(c) <= high]
    return rng.choice(clauses) if clauses else "记者近日从有关部门获悉"[:high]


def _kicker(paragraphs: Sequence[str], rng: random.Random) -> str:
    """A kicker (引题) over the headline: a series label, or a lead phrase not copied from the body."""
    if rng.random() < 0.5:
        return f"{rng.choice(_SERIES)}系列报道之{rng.choice(_CN_NUMS)}"
    return f"{rng.choice(('今年以来', '近日', '连日来', '记者获悉'))}，{_clause(paragraphs, rng, 4, 8)}"


def _dek(paragraphs: Sequence[str], rng: random.Random) -> str:
    """A dek's text (after "——"): an interview, an explainer or a "how…" line, as in the seeds."""
    form = rng.randrange(3)
    if form == 0:
        return f"访{rng.choice(_ORGS)}负责人{_name(rng)}"
    if form == 1:
        return f"{rng.choice(_SERIES)}工作综述"
    return f"看{rng.choice(('各地', '有关部门', '当地'))}如何{_clause(paragraphs, rng, 6, 14)}"


def _headline_lines(title: str, two_lines: bool, spaced: bool) -> list[str]:
    """The headline as printed: one line or broken in two, spaced out letter by letter when asked."""
    lines = [title]
    if two_lines:
        if " " in title:
            cut = title.index(" ")
            lines = [title[:cut], title[cut + 1 :]]
        else:
            cut = len(title) // 2
            while cut < len(title) - 3 and title[cut] in _CLOSING:
                cut += 1
            lines = [title[:cut], title[cut:]]
    return [_spread(line) for line in lines] if spaced else lines


def _caption(style: PageStyle, rng: random.Random) -> list[str]:
    """A photo caption and its credit line ("本报记者 ××× 摄"); never an article."""
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    who, act = rng.choice(_CAPTION_WHO), rng.choice(_CAPTION_ACTS)
    if rng.random() < 0.5:
        text = (
            f"{month}月{day}日，{rng.choice(_CAPTION_PLACES)}，{who}正在{act}。{rng.choice(_CAPTION_EXTRA)}"
        )
    else:
        text = f"{rng.choice(_CAPTION_EXTRA) or '近日，当地举办了一场主题活动。'}图为{who}正在{act}。"
    credit = rng.choice((f"本报记者 {_name(rng)} 摄", f"记者 {_name(rng)}摄", f"{_name(rng)} 摄"))
    return [*wrap(text, style, rng), "", credit]


def _masthead(date: datetime.date, rng: random.Random) -> list[str]:
    """The masthead or page header printing the page's date, in one of three forms."""
    week = _WEEKDAYS[date.weekday()]
    form = rng.randrange(3)
    if form == 0:
        lunar_year = _STEMS[(date.year - 4) % 10] + _BRANCHES[(date.year - 4) % 12]
        lunar = f"农历{lunar_year}年{_CN_NUMS[rng.randrange(10)]}月初{_CN_NUMS[rng.randrange(10)]}"
        return [
            "XUCHANG DAILY",
            "",
            f"{date.year}年{date.month}月{date.day:>2}日星期{week}{lunar}",
            "",
            "中共许昌市委机关报",
            "",
            f"许昌日报社出版 第{rng.randint(9000, 9900)}期",
            "",
            "□国内统一刊号: CN41—0013",
        ]
    if form == 1:
        return [
            "许昌日报",
            f"{date.year}年{date.month}月{date.day}日 星期{week}",
            f"第{rng.randint(2, 8)}版 要闻",
        ]
    return [f"{date.year}年{date.month}月{date.day}日 星期{week} 责任编辑：{_name(rng)} 美编：{_name(rng)}"]


def _page_style(rng: random.Random) -> PageStyle:
    """A page's line width, OCR damage and (maybe) masthead date."""
    line_width = 0 if rng.random() < 0.12 else rng.randint(13, 22)
    date = ""
    if rng.random() < 0.45:
        year, month = rng.randint(2019, 2023), rng.randint(1, 12)
        day = rng.randint(1, calendar.monthrange(year, month)[1])
        date = datetime.date(year, month, day).isoformat()
    headlines = rng.choices(("after", "before", "mixed"), (5, 2, 3))[0]
    return PageStyle(line_width, rng.random() < 0.6, rng.random() < 0.5, headlines, date)


# ---------------------------------------------------------------- articles


def _article(src: SourceArticle, style: PageStyle, rng: random.Random) -> tuple[list[str], dict[str, Any]]:
    """One article's printed lines and its gold row (title, clean body, features)."""
    paragraphs = list(src.paragraphs)
    jump = "none"
    if len(paragraphs) >= 3 and rng.random() < 0.25:
        jump = rng.choice(("down", "down", "up"))
    if jump == "down":
        paragraphs = paragraphs[: rng.randint(2, len(paragraphs) - 1)]
    elif jump == "up":
        paragraphs = paragraphs[rng.randint(1, len(paragraphs) - 2) :]
    byline = "none" if jump == "up" else rng.choices(BYLINE_STYLES, BYLINE_WEIGHTS)[0]
    after = style.headlines == "after" or (style.headlines == "mixed" and rng.random() < 0.6)
    two_lines = len(src.title) >= 8 and rng.random() < 0.35
    spaced = style.ocr_spaces and rng.random() < 0.2
    kicker = rng.random() < 0.15
    subhead = rng.random() < 0.15
    dek = rng.random() < 0.2

    printed = list(paragraphs)
    reporter, helper = _name(rng), _name(rng)
    if byline == "xun":
        printed[0] = (
            rng.choice(("本报讯（记者 {r}）", "本报讯 （记者 {r}） ", "本报讯(记者 {r})")).format(r=reporter)
            + printed[0]
        )
    elif byline == "xun_correspondent":
        printed[0] = f"本报讯（记者 {reporter} 通讯员 {helper}）" + printed[0]
    if jump == "up":
        printed[0] = f"（上接第{rng.choice(_CN_NUMS[:3])}版）" + printed[0]
    body_lines: list[str] = []
    for i, paragraph in enumerate(printed):
        if i:
            body_lines.append("")
        body_lines.extend(wrap(paragraph, style, rng))
    if jump == "down":
        marker = f"（下转第{rng.choice(_CN_NUMS[1:8])}版）"
        if rng.random() < 0.5:
            body_lines[-1] += marker
        else:
            body_lines += ["", marker]

    head: list[str] = []
    if kicker:
        head += [_kicker(paragraphs, rng), ""]
    head += _headline_lines(src.title, two_lines, spaced)
    if subhead:
        head += ["", f"{_name(rng)}{rng.choice(_SUBHEAD_VERBS)}"]
    if dek:
        head += ["——" + _dek(paragraphs, rng)]
    byline_line = {
        "box_reporter": f" □ 记者 {reporter}",
        "box_benbao": f" □ 本报记者 {reporter}",
        "correspondent": f"□ 通讯员 {reporter} {helper}",
        "reporter_line": f"本报记者 {reporter} 通讯员 {helper}",
    }.get(byline)
    lines: list[str] = []
    if after:
        if byline_line and byline != "reporter_line":
            lines += [byline_line, ""]
        lines += [*body_lines, "", *head]
        if byline == "reporter_line":
            lines += ["", byline_line]
    else:
        lines += [*head, ""]
        if byline_line:
            lines += [byline_line, ""]
        lines += body_lines
    features = {
        "headline": "after" if after else "before",
        "headline_lines": 2 if two_lines else 1,
        "spaced_headline": spaced,
        "kicker": kicker,
        "subhead": subhead,
        "dek": dek,
        "byline": byline,
        "jump": jump,
        "caption_next": False,
        "column_header_before": False,
    }
    return lines, {"title": src.title, "body": "\n".join(paragraphs), "features": features}


def _cycle(articles: Sequence[SourceArticle], rng: random.Random) -> Iterator[SourceArticle]:
    """The articles in a fresh random order, again and again."""
    while True:
        order = list(articles)
        rng.shuffle(order)
        yield from order


def typeset_pages(
    articles: Sequence[SourceArticle],
    seed: int,
    n_pages: int,
    per_page: tuple[int, int] = (3, 6),
) -> list[tuple[str, list[dict[str, Any]]]]:
    """`n_pages` pages of `articles` in random layouts: (page text, gold rows), the same for a seed."""
    if not articles:
        raise ValueError("no articles to typeset")
    rng = random.Random(seed)
    source = _cycle(articles, rng)
    pages = []
    for _ in range(n_pages):
        style = _page_style(rng)
        blocks: list[list[str]] = []
        gold: list[dict[str, Any]] = []
        if style.date:
            blocks.append(_masthead(datetime.date.fromisoformat(style.date), rng))
        header_pending = rng.random() < 0.25
        for _ in range(rng.randint(*per_page)):
            if header_pending or rng.random() < 0.08:
                header = rng.choice(_COLUMN_HEADERS)
                blocks.append(header.replace("\n", "\n\n").split("\n"))
                header_pending = True
            lines, row = _article(next(source), style, rng)
            row["features"]["column_header_before"] = header_pending
            header_pending = False
            blocks.append(lines)
            gold.append(row)
            if rng.random() < 0.22:
                blocks.append(_caption(style, rng))
                row["features"]["caption_next"] = True
        page_features = {
            "masthead": bool(style.date),
            "line_width": style.line_width,
            "ocr_spaces": style.ocr_spaces,
            "column_breaks": style.column_breaks,
            "page_headlines": style.headlines,
        }
        for row in gold:
            row["date"] = style.date
            row["features"].update(page_features)
        text = "\n\n".join("\n".join(block) for block in blocks) + "\n"
        pages.append(((" " if rng.random() < 0.5 else "") + text, gold))
    return pages


def feature_tags(features: dict[str, Any], body_text: str = "") -> list[str]:
    """The layout tags of one gold article, as scored per feature (see ALL_TAGS)."""
    width = features["line_width"]
    band = "unwrapped" if width == 0 else "narrow" if width <= 15 else "medium" if width <= 18 else "wide"
    tags = [f"headline_{features['headline']}", f"byline:{features['byline']}", f"line_width:{band}"]
    tags.append(f"page_headlines:{features['page_headlines']}")
    flags = {
        "two_line_headline": features["headline_lines"] == 2,
        "spaced_headline": features["spaced_headline"],
        "kicker": features["kicker"],
        "subhead": features["subhead"],
        "dek": features["dek"],
        "caption": features["caption_next"],
        f"jump_marker:{features['jump']}": features["jump"] != "none",
        "column_header": features["column_header_before"],
        "masthead": features["masthead"],
        "ocr_spaces": features["ocr_spaces"],
        "column_break": features["column_breaks"],
    }
    return tags + [tag for tag, on in flags.items() if on]


def write_set(pages: Sequence[tuple[str, list[dict[str, Any]]]], out: Path) -> None:
    """Write DIR/pages/pNNN.txt and DIR/gold.jsonl (one row per true article, with its page file)."""
    (out / "pages").mkdir(parents=True, exist_ok=True)
    with (out / "gold.jsonl").open("w", encoding="utf-8") as gold_file:
        for n, (text, gold) in enumerate(pages):
            name = f"p{n:03d}.txt"
            (out / "pages" / name).write_text(text, encoding="utf-8")
            for row in gold:
                gold_file.write(json.dumps({"page": name, **row}, ensure_ascii=False) + "\n")


def main() -> None:
    """CLI: typeset a seeded set of pages and write it with its gold."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="random seed; the same seed gives the same pages")
    parser.add_argument("--pages", type=int, default=24, help="how many pages")
    parser.add_argument("--out", type=Path, required=True, help="folder for pages/ and gold.jsonl")
    parser.add_argument("--corpus", type=Path, default=CRUD_CORPUS, help="CRUD-derived corpus.jsonl")
    args = parser.parse_args()
    pages = typeset_pages(load_crud_articles(args.corpus), args.seed, args.pages)
    write_set(pages, args.out)
    print(f"{len(pages)} pages, {sum(len(g) for _, g in pages)} articles -> {args.out}")


if __name__ == "__main__":
    main()
