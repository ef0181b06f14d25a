"""Read a corpus folder (or one file): OCR page `.txt` files and article `.jsonl` exports.

Bad input never stops the rest: every unreadable file or line becomes a `Problem` naming the file
(relative to the corpus folder) and the 1-based line, and reading goes on with the next one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from qa.records import Article, Page, Problem

PAGE_SUFFIX = ".txt"
EXPORT_SUFFIX = ".jsonl"
# The corpus's own names for things, beside its pages: {"许昌": ["我市", "本市"]} says that a local
# paper's 我市 means 许昌, so a question about 许昌 finds sentences about 我市. Per corpus, never in code.
ALIASES_FILE = "aliases.json"
_TEXT_FIELDS = ("id", "title", "text", "date", "source")


@dataclass
class CorpusContents:
    """Everything read from a corpus: OCR pages (to segment), ready articles, and what was skipped."""

    pages: list[Page] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _files(path: Path) -> list[tuple[Path, str]]:
    """Every file under `path` (or `path` itself) with its name relative to the corpus, sorted."""
    if path.is_file():
        return [(path, path.name)]
    files = [
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    ]
    return sorted(((p, p.relative_to(path).as_posix()) for p in files), key=lambda item: item[1])


def _decode(data: bytes, name: str, problems: list[Problem]) -> str | None:
    """UTF-8 text of a file, or None (with a problem) when it is empty, binary or not UTF-8."""
    if not data.strip():
        problems.append(Problem(name, None, "empty file; skipped"))
        return None
    if b"\x00" in data:
        problems.append(Problem(name, None, "binary file (NUL bytes); skipped"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problems.append(Problem(name, line, f"not valid UTF-8 (byte {error.start}); file skipped"))
        return None


def _stable_id(name: str, text: str) -> str:
    """A content id for an exported article that has none: `<file stem>-<sha1(text)[:12]>`."""
    stem = Path(name).stem
    return f"{stem}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"


def read_export(text: str, name: str) -> tuple[list[tuple[int, Article]], list[Problem]]:
    """(line number, article) pairs of one JSONL export; each bad line is a problem, good lines still load.

    Export text is taken as given (already clean), only stripped; a missing id becomes
    `<file stem>-<sha1(text)[:12]>`, a missing source the file name.
    """
    articles: list[tuple[int, Article]] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as error:
            problems.append(Problem(name, number, f"broken JSON ({error.msg}); line skipped"))
            continue
        if not isinstance(row, dict):
            problems.append(
                Problem(name, number, f"expected a JSON object, got {type(row).__name__}; line skipped")
            )
            continue
        body = row.get("text")
        if not isinstance(body, str) or not body.strip():
            problems.append(Problem(name, number, "no text; line skipped"))
            continue
        values = {key: row.get(key) for key in _TEXT_FIELDS}
        wrong = [
            key for key, value in values.items() if value is not None and not isinstance(value, str | int)
        ]
        if wrong:
            problems.append(Problem(name, number, f"field {wrong[0]!r} is not a string; line skipped"))
            continue
        article_id = str(values["id"]).strip() if values["id"] not in (None, "") else _stable_id(name, body)
        if article_id in seen:
            problems.append(Problem(name, number, f"duplicate id {article_id!r}; line skipped"))
            continue
        seen.add(article_id)
        articles.append(
            (
                number,
                Article(
                    id=article_id,
                    title=str(values["title"] or "").strip(),
                    text=body.strip(),
                    date=str(values["date"] or "").strip(),
                    source=str(values["source"] or "").strip() or name,
                ),
            )
        )
    return articles, problems


def read_corpus(path: Path) -> CorpusContents:
    """Pages and exported articles under `path` (a folder, walked recursively and sorted, or one file).

    Hidden files and folders (a leading ".", e.g. an upload's temporary file) are not read.
    """
    path = Path(path)
    contents = CorpusContents()
    if not path.exists():
        contents.problems.append(Problem(str(path), None, "no such file or folder"))
        return contents
    seen_ids: set[str] = set()
    for file, name in _files(path):
        if name == ALIASES_FILE:
            continue
        suffix = file.suffix.lower()
        if suffix not in (PAGE_SUFFIX, EXPORT_SUFFIX):
            contents.problems.append(
                Problem(name, None, f"unknown file type {suffix or '(none)'!r}; skipped")
            )
            continue
        try:
            data = file.read_bytes()
        except OSError as error:
            contents.problems.append(Problem(name, None, f"cannot read ({error.strerror}); skipped"))
            continue
        text = _decode(data, name, contents.problems)
        if text is None:
            continue
        if suffix == PAGE_SUFFIX:
            contents.pages.append(Page(source=name, text=text))
            continue
        articles, problems = read_export(text, name)
        contents.problems.extend(problems)
        for number, article in articles:
            if article.id in seen_ids:
                contents.problems.append(
                    Problem(name, number, f"duplicate id {article.id!r} (seen in an earlier file); skipped")
                )
                continue
            seen_ids.add(article.id)
            contents.articles.append(article)
    return contents


def read_aliases(path: Path) -> tuple[dict[str, list[str]], list[Problem]]:
    """The corpus's aliases file (inside a corpus folder, or beside a corpus file): word -> its aliases.

    No file means no aliases; a file that is not a JSON object of strings to lists of strings is a
    problem, and no aliases are used.
    """
    path = Path(path)
    file = (path if path.is_dir() else path.parent) / ALIASES_FILE
    if not file.is_file():
        return {}, []
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return {}, [Problem(ALIASES_FILE, None, f"cannot read the aliases ({error}); none used")]
    valid = isinstance(data, dict) and all(
        isinstance(word, str) and isinstance(names, list) and all(isinstance(n, str) for n in names)
        for word, names in data.items()
    )
    if not valid:
        message = 'must be a JSON object like {"许昌": ["我市", "本市"]}; no aliases used'
        return {}, [Problem(ALIASES_FILE, None, message)]
    return {word.lower(): [n.lower() for n in names if n.strip()] for word, names in data.items()}, []
