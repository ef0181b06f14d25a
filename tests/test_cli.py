"""CLI: `qa ask` (text and --json), `qa eval`, `qa index`, driven through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from qa.cli import cli


def test_ask_json_prints_the_answer_object(settings):
    result = CliRunner().invoke(
        cli, ["ask", "豫浙合作项目签约仪式在哪里举行？", "--json", "--index-dir", str(settings.index_dir)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["short_answer"] == "杭州" and data["abstained"] is False
    citation = data["citations"][0]
    assert {"n", "article_id", "title", "date", "source", "quote", "start", "end"} <= set(citation)
    assert data["passages"] and data["session_id"] and "total" in data["timings_ms"]


def test_ask_prints_the_answer_with_sources(settings):
    result = CliRunner().invoke(cli, ["ask", "魏都区委书记是谁？", "--index-dir", str(settings.index_dir)])
    assert result.exit_code == 0, result.output
    assert "张书杰" in result.output and "[1]" in result.output


def test_ask_refuses_an_empty_question(settings):
    result = CliRunner().invoke(cli, ["ask", "   ", "--index-dir", str(settings.index_dir)])
    assert result.exit_code == 2 and "empty" in result.output


def test_eval_prints_the_figures(settings, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps(
            {"question": "魏都区委书记是谁？", "answers": ["张书杰"], "evidence": ["魏都区委书记张书杰"]},
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["eval", "--questions", str(questions), "--index-dir", str(settings.index_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "hit@1 1.000" in result.output and "answer accuracy 1.000" in result.output


def test_eval_json_has_every_figure(settings, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"question": "许昌今年的平均气温是多少度？", "answers": [], "answerable": false}\n', encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli, ["eval", "--questions", str(questions), "--index-dir", str(settings.index_dir), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["abstention_accuracy"] == 1.0 and "latency_p95_ms" in report


def test_index_builds_a_corpus(tmp_path, model_cache_dir, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "page.txt").write_text(
        "本报讯（记者 王明）3月5日，许昌市举办春季植树活动，共栽种树苗1200棵。\n", encoding="utf-8"
    )
    monkeypatch.setenv("QA_MODEL_CACHE_DIR", str(model_cache_dir))
    result = CliRunner().invoke(
        cli, ["index", "--corpus", str(corpus), "--index-dir", str(tmp_path / "ix"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "Indexed" in result.output


def test_a_bad_setting_in_the_environment_is_a_sentence_naming_the_variable(settings, monkeypatch):
    monkeypatch.setenv("QA_RETRIEVAL__CANDIDATES", "0")
    result = CliRunner().invoke(cli, ["ask", "魏都区委书记是谁？", "--index-dir", str(settings.index_dir)])
    assert result.exit_code == 1
    assert "QA_RETRIEVAL: candidates must be at least 1, got 0" in result.output
    assert "Traceback" not in result.output


def test_ask_on_an_index_of_an_older_format_says_to_rebuild_in_one_sentence(settings, tmp_path):
    import shutil

    from qa.index.store import MANIFEST_FILE, current_build_dir

    old = tmp_path / "old-index"
    shutil.copytree(settings.index_dir, old)
    manifest_path = current_build_dir(old) / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest_path.write_text(json.dumps({**manifest, "format_version": 3}), encoding="utf-8")
    dev = str(Path(__file__).parent / "data" / "dev.jsonl")
    for command in (["ask", "魏都区委书记是谁？"], ["eval", "--questions", dev]):
        result = CliRunner().invoke(cli, [*command, "--index-dir", str(old)])
        assert result.exit_code == 1, result.output
        assert "format version 3" in result.output and "run `qa index` to rebuild" in result.output
        assert "Traceback" not in result.output


def test_ask_without_an_index_says_how_to_build_one(tmp_path):
    result = CliRunner().invoke(cli, ["ask", "魏都区委书记是谁？", "--index-dir", str(tmp_path / "none")])
    assert result.exit_code == 1 and "qa index" in result.output and "Traceback" not in result.output
