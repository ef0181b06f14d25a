"""OCR repair for Chinese newspaper pages: spaces inside words, hard line breaks, layout furniture.

Plain string functions, no state. They undo what OCR does to a printed page: spaces between CJK
characters ("部 门 制 定" -> "部门制定"), lines broken mid-sentence, ASCII punctuation inside
Chinese text, jump markers ("（下转第七版）"), photo credits ("记者 牛志勇摄"), the masthead block,
and headline text printed (and read) several times ("豪气扬豪气扬豪气扬" -> "豪气扬").
Spaces that mean something outside Chinese text ("Nov 10, 2022", "0374—5056199") are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.text import CJK, CJK_CHARS, CJK_PUNCT, has_cjk

_SPACES_NEXT_TO_CJK = re.compile(
    f"(?<=[{CJK_CHARS}{CJK_PUNCT}])[ \t\u3000\u00a0]+|[ \t\u3000\u00a0]+(?=[{CJK_CHARS}{CJK_PUNCT}])"
)
_MANY_SPACES = re.compile(r"[ \t\u3000\u00a0]+")
_CLOSED_SENTENCE = re.compile(
    r"(?:[。！？!?…][”’」』\"]?|[。！？!?][）)]|。\s*[（(][^（）()]{1,8}[）)]|[A-Za-z]\.[\"']?)\s*$"
)
# OCR reads repeated headline art several times: "豪气扬豪气扬豪气扬".
_REPEATED = re.compile(f"([{CJK_CHARS}]{{2,8}}?)\\1{{2,}}")
# ... and a long phrase read twice across a column seam: "行走在许昌的大街小行走在许昌的大街小巷".
_DOUBLED = re.compile(f"([{CJK_CHARS}]{{6,}}?)\\1")
_ASCII_TO_WIDE = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！", "(": "（", ")": "）"}
_ASCII_PUNCT_NEAR_CJK = re.compile(
    f"(?<=[{CJK_CHARS}{CJK_PUNCT}])[,;:?!()]|[,;:?!()](?=[{CJK_CHARS}{CJK_PUNCT}])"
)
JUMP_MARKER = re.compile(r"[（(]\s*[上下]\s*[转接]\s*第\s*[一二三四五六七八九十百\d]+\s*版\s*[）)]")
_ONLY_PUNCT = re.compile(f"^[\\s,.;:，。、；：{CJK_PUNCT}]*$")
PHOTO_CREDIT = re.compile(
    f"(?:^|(?<=[。！？”\\s]))\\s*((?:本报)?(?:记者|通讯员|实习生)?\\s*[{CJK_CHARS}·]{{2,5}}"
    f"(?:\\s*[、\\s]\\s*[{CJK_CHARS}·]{{2,5}})*\\s*摄)\\s*$"
)
BYLINE_LINE = re.compile(
    f"^\\s*[□■◇◆]?\\s*(?:本报)?((?:记者|通讯员|实习生)\\s*[{CJK_CHARS}·]{{2,4}}"
    f"(?:\\s+(?:(?:记者|通讯员|实习生)\\s*)?[{CJK_CHARS}·]{{2,4}})*)\\s*$"
)
LEAD = re.compile(r"^\s*本\s*报\s*讯\s*(?:[（(]\s*([^（）()]{0,40}?)\s*[）)])?\s*")
_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_MASTHEAD_MARK = re.compile(
    r"DAILY|(?<!\d)(?<!\d\s)日\s*报(?!\s*道)|刊\s*号|第\s*\d+\s*期|社\s*长|总\s*编\s*辑|农\s*历|星\s*期[一二三四五六日天]|机\s*关\s*报|"
    r"出\s*版|一级报纸|CN\s*\d|邮发代号|责\s*任\s*编\s*辑|美\s*编|"
    r"第\s*\d+\s*版(?!\s*[）)])"
)
_ROLE = re.compile(r"(记者|通讯员|实习生)")
_LATIN_WORD_END = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,;:!?)\"'")


def remove_cjk_spaces(text: str) -> str:
    """Drop spaces touching a CJK character or CJK punctuation; spaces between Latin words/numbers stay."""
    return _SPACES_NEXT_TO_CJK.sub("", text)


def normalize_punctuation(text: str) -> str:
    """ASCII , ; : ? ! ( ) next to Chinese become full-width; paired ASCII quotes become “ ”."""
    text = _ASCII_PUNCT_NEAR_CJK.sub(lambda m: _ASCII_TO_WIDE[m.group()], text)
    if '"' in text and has_cjk(text):
        parts = text.split('"')
        text = parts[0] + "".join(("“" if i % 2 else "”") + part for i, part in enumerate(parts[1:], start=1))
    return text


def collapse_repeats(text: str) -> str:
    """OCR'd headline art read three or more times in a row is kept once: "豪气扬豪气扬豪气扬" -> "豪气扬"."""
    return _DOUBLED.sub(r"\1", _REPEATED.sub(r"\1", text))


def join_lines(lines: list[str]) -> str:
    """Join the wrapped lines of one paragraph: no space between Chinese, one between two Latin words."""
    text = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if (
            text
            and text[-1].isascii()
            and text[-1] in _LATIN_WORD_END
            and line[0].isascii()
            and line[0].isalnum()
        ):
            text += " "
        text += line
    return text


def clean_text(text: str) -> str:
    """One paragraph made readable: jump markers and CJK spaces out, punctuation normalised."""
    text = strip_jump_markers(text)
    text = remove_cjk_spaces(text)
    text = normalize_punctuation(text)
    text = remove_cjk_spaces(text)
    return _MANY_SPACES.sub(" ", text).strip()


def ends_sentence(text: str) -> bool:
    """True when `text` ends a sentence (。！？… maybe closed by a quote, or an end tag "。（政文）")."""
    return bool(_CLOSED_SENTENCE.search(text.rstrip()))


def join_broken_lines(text: str) -> str:
    """Join lines broken mid-sentence, keep paragraph breaks; paragraphs come back separated by one "\\n".

    A blank line ends a paragraph only when the text before it ends a sentence (a blank line in the
    middle of a sentence is a column break). A line that ends a sentence and is clearly shorter
    than its neighbours ends a paragraph even without a blank line.
    """
    lines = text.splitlines()
    width = line_width(lines)
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        stripped = line.strip()
        current = paragraphs[-1]
        if not stripped:
            if current and ends_sentence(current[-1]):
                paragraphs.append([])
            continue
        current.append(stripped)
        if ends_sentence(stripped) and visible_length(stripped) < width - 2:
            paragraphs.append([])
    return "\n".join(clean_text(join_lines(p)) for p in paragraphs if p)


def visible_length(line: str) -> int:
    """Characters of a line without any whitespace (OCR spaces do not take room on the page)."""
    return len(_MANY_SPACES.sub("", line.strip()))


def line_width(lines: list[str]) -> int:
    """The column width of a page in characters: a high percentile of its line lengths."""
    lengths = sorted(visible_length(line) for line in lines if line.strip())
    if not lengths:
        return 0
    return lengths[min(len(lengths) - 1, int(len(lengths) * 0.6))]


def is_jump_marker_line(line: str) -> bool:
    """True for a line that is only a jump marker ("（下转第七版）", ", 。 (下转第七版)")."""
    return bool(JUMP_MARKER.search(line)) and bool(_ONLY_PUNCT.match(JUMP_MARKER.sub("", line)))


def strip_jump_markers(text: str) -> str:
    """Remove "（下转第七版）" / "（上接第一版）": they are page layout, not content."""
    return JUMP_MARKER.sub("", text)


def split_photo_credit(line: str) -> tuple[str, str] | None:
    """(text before, credit) when `line` ends with a photo credit ("本报记者 乔利峰 摄"), else None."""
    match = PHOTO_CREDIT.search(line)
    if not match:
        return None
    return line[: match.start()].rstrip(), match.group(1)


def credit_byline(credit: str) -> str:
    """The photographer of a credit, as a byline: "本报记者 乔利峰 摄" -> "记者 乔利峰 摄"."""
    name = re.sub(r"\s*摄$", "", credit.strip())
    return f"{normalize_byline(name)} 摄".strip()


def normalize_byline(text: str) -> str:
    """One byline form: "本报记者 胡晨" -> "记者 胡晨"; "记 者 张 辉 通 讯 员 王" -> "记者 张辉 通讯员 王"."""
    text = re.sub(r"^[□■◇◆\s]*", "", text)
    text = re.sub(r"^本\s*报\s*(?=记\s*者|通\s*讯\s*员)", "", _MANY_SPACES.sub(" ", text).strip())
    if not _ROLE.search(re.sub(r"\s+", "", text)):
        words = text.split()
        return " ".join(words) if all(len(w) >= 2 for w in words) else text.replace(" ", "")
    compact = re.sub(r"\s+", "", text)
    spaced = _ROLE.sub(r" \1 ", compact)
    return _MANY_SPACES.sub(" ", spaced).strip()


def byline_line(line: str) -> str | None:
    """The byline of a line that is only a byline ("□ 记者陈晨", "本报记者 王金伟"), else None."""
    match = BYLINE_LINE.match(line)
    return normalize_byline(match.group(1)) if match else None


def split_lead(text: str) -> tuple[str, str]:
    """("本报讯" byline, rest) for a paragraph opening with "本报讯（记者 李新）…"; ("", text) otherwise."""
    match = LEAD.match(text)
    if not match:
        return "", text
    byline = normalize_byline((match.group(1) or "").replace("\n", ""))
    return byline, text[match.end() :]


def starts_with_lead(text: str) -> bool:
    """True when a paragraph opens with "本报讯" (spaced or not): the start of a news report."""
    return bool(LEAD.match(text))


def tidy_headline(text: str) -> str:
    """A headline made readable: letter-spacing joined, phrase gaps kept as one space, repeats collapsed."""
    text = strip_jump_markers(text).replace("\n", " ")
    text = normalize_punctuation(collapse_repeats(remove_spaced_letters(text)))
    words = _MANY_SPACES.sub(" ", text).strip().split(" ")
    out = ""
    for word in words:
        if not out:
            out = word
        elif _phrase_gap(out, word):
            out += " " + word
        else:
            out += word
    return collapse_repeats(out)


def _phrase_gap(left: str, right: str) -> bool:
    """True when the space between two headline words means something (two phrases, two Latin words)."""
    if len(left) >= 2 and len(right) >= 2 and CJK.match(left[-1]) and CJK.match(right[0]):
        return True
    return left[-1].isascii() and right[0].isascii() and left[-1].isalnum() and right[0].isalnum()


def remove_spaced_letters(text: str) -> str:
    """Join a letter-spaced line ("哈 密 市 考 察 团" -> "哈密市考察团") but keep gaps between phrases."""
    words = _MANY_SPACES.sub(" ", text).strip().split(" ")
    singles = sum(1 for w in words if len(w) == 1 and CJK.match(w))
    if len(words) >= 3 and singles * 2 >= len(words):
        return remove_cjk_spaces(text)
    return text


@dataclass(frozen=True)
class Masthead:
    """The masthead block at the top of a page: its line count and the page date (ISO, or "")."""

    lines: int
    date: str


def find_masthead(lines: list[str], look: int = 20) -> Masthead:
    """The masthead (title, date, issue, editors) at the top of a page, if any; `lines=0` when none."""
    marks: list[int] = []
    seen = 0
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        seen += 1
        if seen > look:
            break
        if _is_page_header(line):
            marks.extend((index, index))  # a one-line page header counts as a whole masthead
        elif len(line.strip()) < 40 and (_MASTHEAD_MARK.search(line) or _DATE.search(line)):
            marks.append(index)
    if len(marks) < 2:
        return Masthead(0, "")
    end = marks[-1] + 1
    date = ""
    for line in lines[:end]:
        match = _DATE.search(line)
        if match:
            year, month, day = (int(g) for g in match.groups())
            if 1 <= month <= 12 and 1 <= day <= 31:
                date = f"{year:04d}-{month:02d}-{day:02d}"
                break
    return Masthead(end, date)


def _is_page_header(line: str) -> bool:
    """A one-line page header: a full date and another masthead mark ("…日 星期二 责任编辑：…")."""
    date = _DATE.search(line)
    if not date or len(line.strip()) >= 80 or "。" in line:
        return False
    return bool(_MASTHEAD_MARK.search(line[: date.start()] + " " + line[date.end() :]))


def is_list_line(line: str) -> bool:
    """A table row or list item: bullets, "一、…", "名称（99.42分）", or a line ending in "、"."""
    text = line.strip()
    return bool(
        re.match(r"^[●▲■◆•▶★☆◎]", text)
        or re.match(r"^[一二三四五六七八九十]+、", text)
        or re.search(r"[（(][\d.]+\s*分?\s*$|[\d.]+\s*分[）)]\s*$", text)
    )
