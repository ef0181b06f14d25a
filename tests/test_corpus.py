"""read_corpus: pages and JSONL exports load; each bad input becomes a Problem and the rest still loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.ingest.corpus import read_aliases, read_corpus
from qa.records import Problem

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _jsonl(*rows: object) -> str:
    return (
        "\n".join(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows) + "\n"
    )


def _problem_for(problems: list[Problem], path: str) -> Problem:
    found = [p for p in problems if p.path == path]
    assert found, f"no problem reported for {path}: {problems}"
    return found[0]


def test_seed_folder_reads_every_page_with_its_file_name():
    contents = read_corpus(SEEDS)
    assert [page.source for page in contents.pages] == sorted(p.name for p in SEEDS.glob("*.txt"))
    assert contents.problems == []
    assert all(page.text.strip() for page in contents.pages)


def test_single_file_path_reads_that_file(tmp_path: Path):
    page = tmp_path / "one.txt"
    page.write_text("本报讯 今天天气很好。", encoding="utf-8")
    contents = read_corpus(page)
    assert [p.source for p in contents.pages] == ["one.txt"]


def test_folder_is_walked_recursively_and_sorted(tmp_path: Path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.txt").write_text("第二页。", encoding="utf-8")
    (tmp_path / "a.txt").write_text("第一页。", encoding="utf-8")
    assert [p.source for p in read_corpus(tmp_path).pages] == ["a.txt", "b/2.txt"]


def test_jsonl_export_keeps_given_fields_and_fills_missing_ones(tmp_path: Path):
    (tmp_path / "export.jsonl").write_text(
        _jsonl(
            {"id": "x1", "title": "标题", "text": "正文一。", "date": "2022-11-10", "source": "RGB"},
            {"text": "正文二。"},
        ),
        encoding="utf-8",
    )
    articles = read_corpus(tmp_path).articles
    assert articles[0].id == "x1" and articles[0].title == "标题" and articles[0].date == "2022-11-10"
    assert articles[0].source == "RGB"
    assert articles[1].id.startswith("export-") and len(articles[1].id) == len("export-") + 12
    assert articles[1].source == "export.jsonl" and articles[1].date == "" and articles[1].title == ""


def test_id_from_content_is_stable_across_reads(tmp_path: Path):
    (tmp_path / "export.jsonl").write_text(_jsonl({"text": "同样的正文。"}), encoding="utf-8")
    assert read_corpus(tmp_path).articles[0].id == read_corpus(tmp_path).articles[0].id


@pytest.mark.parametrize(
    ("name", "data", "line"),
    [
        ("empty.txt", b"", None),
        ("blank.jsonl", b"  \n\n", None),
        ("binary.txt", b"\x89PNG\x00\x00\x01", None),
        ("latin1.txt", "第一行\n".encode() + "caf\xe9".encode("latin-1"), 2),
        ("notes.docx", b"whatever", None),
    ],
)
def test_bad_file_becomes_a_problem_and_the_good_files_still_load(
    tmp_path: Path, name: str, data: bytes, line
):
    (tmp_path / "good.txt").write_text("本报讯 好的一页。", encoding="utf-8")
    (tmp_path / "good.jsonl").write_text(_jsonl({"id": "g", "text": "好的文章。"}), encoding="utf-8")
    (tmp_path / name).write_bytes(data)
    contents = read_corpus(tmp_path)
    problem = _problem_for(contents.problems, name)
    assert problem.line == line
    assert name in str(problem)
    assert [p.source for p in contents.pages] == ["good.txt"]
    assert [a.id for a in contents.articles] == ["g"]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"id": "b", "text": "断了', "broken JSON"),
        (json.dumps({"id": "b", "title": "没有正文"}), "no text"),
        (json.dumps({"id": "b", "text": "   "}), "no text"),
        (json.dumps(["不是", "对象"]), "JSON object"),
        (json.dumps("字符串"), "JSON object"),
        (json.dumps({"id": "a", "text": "重复的编号。"}), "duplicate id"),
    ],
)
def test_bad_jsonl_line_is_reported_with_file_and_line_and_other_lines_load(
    tmp_path: Path, bad_line: str, message: str
):
    (tmp_path / "export.jsonl").write_text(
        _jsonl({"id": "a", "text": "第一篇。"}, bad_line, {"id": "c", "text": "第三篇。"}), encoding="utf-8"
    )
    contents = read_corpus(tmp_path)
    assert [a.id for a in contents.articles] == ["a", "c"]
    problem = _problem_for(contents.problems, "export.jsonl")
    assert problem.line == 2
    assert message in problem.message
    assert str(problem).startswith("export.jsonl:2: ")


def test_duplicate_id_in_a_later_file_is_reported_with_its_line(tmp_path: Path):
    (tmp_path / "a.jsonl").write_text(_jsonl({"id": "same", "text": "一。"}), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(
        _jsonl({"id": "other", "text": "二。"}, {"id": "same", "text": "三。"}), encoding="utf-8"
    )
    contents = read_corpus(tmp_path)
    assert [a.id for a in contents.articles] == ["same", "other"]
    assert _problem_for(contents.problems, "b.jsonl").line == 2


def test_missing_path_is_a_problem_not_a_crash(tmp_path: Path):
    contents = read_corpus(tmp_path / "nope")
    assert contents.pages == [] and contents.articles == [] and len(contents.problems) == 1


def test_aliases_file_beside_the_pages_gives_the_corpus_its_own_names(tmp_path):
    (tmp_path / "page.txt").write_text("我市召开会议。", encoding="utf-8")
    (tmp_path / "aliases.json").write_text(
        '{"许昌": ["我市", "本市"], "XuChang": ["许昌"]}', encoding="utf-8"
    )
    aliases, problems = read_aliases(tmp_path)
    assert aliases == {"许昌": ["我市", "本市"], "xuchang": ["许昌"]} and problems == []
    assert read_corpus(tmp_path).problems == []  # the aliases file is not an unknown page


def test_a_corpus_without_an_aliases_file_has_no_aliases(tmp_path):
    (tmp_path / "page.txt").write_text("我市召开会议。", encoding="utf-8")
    assert read_aliases(tmp_path) == ({}, [])
    assert read_aliases(tmp_path / "page.txt") == ({}, [])


@pytest.mark.parametrize("content", ["{not json", '["我市"]', '{"许昌": "我市"}'])
def test_a_broken_aliases_file_is_a_problem_and_no_aliases_are_used(tmp_path, content):
    (tmp_path / "aliases.json").write_text(content, encoding="utf-8")
    aliases, problems = read_aliases(tmp_path)
    assert aliases == {}
    assert len(problems) == 1 and problems[0].path == "aliases.json"
