"""The trained span reader: it ships, it reads the right span, it says "not here", and it can be retrained."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.answer.reader import READER_CONFIG, Reader, reader_weight_files
from qa.answer.reader_train import is_heldout, read_squad
from qa.answer.settings import AnswerSettings
from qa.settings import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "models" / "reader"
MAX_SHIPPED_MB = 40


def test_the_trained_reader_ships_in_the_repo_small_with_its_card():
    weights = reader_weight_files(SHIPPED)  # one file, or shards (a reader trained on an accelerator)
    assert weights, "models/reader/ must hold the trained reader"
    assert sum(w.stat().st_size for w in weights) < MAX_SHIPPED_MB * 2**20
    card = (SHIPPED / "README.md").read_text(encoding="utf-8")
    for words in ("CC BY-SA", "DRCD", "CMRC 2018", "Held-out", "F1"):
        assert words in card
    config = json.loads((SHIPPED / READER_CONFIG).read_text(encoding="utf-8"))
    heldout = config["figures"]["heldout"]
    assert heldout["f1"] >= 0.70
    wiki = [f for source, f in heldout.get("by_source", {}).items() if not source.startswith("rgb")]
    if wiki:  # the bar is on the DRCD / CMRC held-out documents
        assert sum(f["f1"] * f["questions"] for f in wiki) / sum(f["questions"] for f in wiki) >= 0.70


def test_reader_reads_the_number_that_answers_the_question(reader):
    sentence = "今年以来，市公安局交管部门在市区共查处交通违法行为279869起，其中醉驾525起。"
    (span,) = reader.read("今年以来市公安局交管部门在市区共查处交通违法行为多少起？", [sentence])
    assert span is not None
    assert "279869" in sentence[span.start : span.end]
    assert span.margin >= AnswerSettings().reader_margin


def test_a_passage_without_the_answer_gives_no_short_answer(reader, service):
    unrelated = "本报讯 今年春节期间，我市各大公园举办了丰富多彩的文化活动，吸引了众多市民参加。"
    (span,) = reader.read("市公安局创文指挥部的指挥长是谁？", [unrelated])
    assert span is None or span.margin < AnswerSettings().reader_margin


def test_reader_reads_a_batch_and_keeps_each_passage_apart(reader):
    passages = ["市公安局党委副书记、常务副局长王磊出席会议并讲话。", "", "天气晴朗。"]
    spans = reader.read("市公安局党委副书记、常务副局长是谁？", passages)
    assert len(spans) == 3 and spans[1] is None
    assert spans[0] is not None and passages[0][spans[0].start : spans[0].end] == "王磊"
    assert spans[0].margin > (spans[2].margin if spans[2] else float("-inf"))


def test_seeds_answer_marks_the_read_span_inside_its_quote_at_exact_offsets(service, reader):
    answer = dataclasses.replace(service, reader=reader).ask("市公安局党委副书记、常务副局长是谁？")
    assert answer.short_answer == "王磊"
    marked = [c for c in answer.citations if c.answer_start is not None]
    assert marked, "the quote holding the short answer marks it"
    for c in marked:
        text = service.article(c.article_id).text
        assert text[c.start : c.end] == c.quote
        assert c.start <= c.answer_start < c.answer_end <= c.end
        assert text[c.answer_start : c.answer_end] in answer.short_answer


def test_answers_without_the_reader_fall_back_to_the_typed_rules(settings, embedder):
    from qa.service import QAService

    rules = QAService.load(settings.model_copy(update={"reader_dir": None}), embedder=embedder)
    assert rules.reader is None
    answer = rules.ask("查处的醉驾有多少起？")
    assert answer.short_answer == "525起"
    assert all(c.answer_start is None for c in answer.citations)


def _tiny_squad(folder: Path) -> Path:
    """Two small SQuAD-style files: one in traditional script (named like DRCD), one simplified."""
    folder.mkdir()
    traditional = {
        "data": [
            {
                "title": f"條目{i}",
                "paragraphs": [
                    {
                        "context": f"臺灣第{i}屆國際書展於{2000 + i}年在臺北舉行，參觀人數達到{i}萬人。",
                        "qas": [
                            {
                                "id": f"t{i}",
                                "question": f"第{i}屆國際書展在哪裡舉行？",
                                "answers": [{"text": "臺北", "answer_start": 14 + len(str(i)) * 2}],
                            }
                        ],
                    }
                ],
            }
            for i in range(1, 9)
        ]
    }
    simplified = {
        "data": [
            {
                "title": "许昌",
                "paragraphs": [
                    {
                        "context": "许昌市位于河南省中部，2019年全市植树造林十万亩。",
                        "qas": [
                            {
                                "id": "s1",
                                "question": "许昌市位于哪个省？",
                                "answers": [{"text": "河南省", "answer_start": 5}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    (folder / "DRCD_tiny.json").write_text(json.dumps(traditional, ensure_ascii=False), encoding="utf-8")
    (folder / "cmrc_tiny.json").write_text(json.dumps(simplified, ensure_ascii=False), encoding="utf-8")
    return folder


def test_traditional_data_is_converted_and_each_answer_found_again(tmp_path):
    examples = read_squad(_tiny_squad(tmp_path / "data") / "DRCD_tiny.json")
    assert len(examples) == 8
    for example in examples:
        assert example.answer == "台北"  # simplified
        assert example.context[example.answer_start :].startswith("台北")
        assert "國" not in example.context + example.question


def test_heldout_split_is_stable_and_by_document():
    from qa.answer.reader_train import Example

    one = Example("1", "长江", "", "", "", 0, "DRCD_dev.json")
    same_document = Example("2", "长江", "", "", "", 0, "DRCD_dev.json")
    assert is_heldout(one, 0.5) == is_heldout(same_document, 0.5)
    assert not is_heldout(one, 0.0) and is_heldout(one, 1.0)


def test_training_command_runs_end_to_end_on_a_tiny_slice(tmp_path, model_cache_dir, monkeypatch):
    from qa.cli import cli

    monkeypatch.setenv("QA_MODEL_CACHE_DIR", str(model_cache_dir))
    data = _tiny_squad(tmp_path / "data")
    out = tmp_path / "reader"
    result = CliRunner().invoke(
        cli,
        ["reader", "train", "--data", str(data), "--out", str(out), "--max-windows", "6", "--max-steps", "2"],
    )
    assert result.exit_code == 0, result.output
    assert "held-out EM" in result.output
    config = json.loads((out / READER_CONFIG).read_text(encoding="utf-8"))
    assert config["figures"]["training"]["steps"] == 2
    checkpoint = json.loads((out / "epoch-1" / READER_CONFIG).read_text(encoding="utf-8"))
    assert checkpoint["figures"]["epochs_done"] == 1 and "f1" in checkpoint["figures"]["heldout"]
    assert "CC BY-SA" in (out / "README.md").read_text(encoding="utf-8")
    from qa.index.e5_convert import ensure_e5_model

    loaded = Reader.load(out, ensure_e5_model(model_cache_dir))
    assert len(loaded.read("许昌市位于哪个省？", ["许昌市位于河南省中部。"])) == 1


def _news_squad2(folder: Path) -> Path:
    """A SQuAD 2.0 file as benchmarks/news_reader_data.py writes it: an answer and an impossible question."""
    folder.mkdir()
    data = {
        "version": "v2.0",
        "source": "made-up news practice (CC0)",
        "data": [
            {
                "title": "q1",
                "paragraphs": [
                    {
                        "context": "许昌市2022年粮食总产量达到293万吨，同比增长1.2%。",
                        "qas": [
                            {
                                "id": "q1-0",
                                "question": "许昌市2022年粮食总产量是多少？",
                                "is_impossible": False,
                                "answers": [{"text": "293万吨", "answer_start": 15}],
                            }
                        ],
                    },
                    {
                        "context": "今年春节期间，我市各大公园举办了丰富多彩的文化活动。",
                        "qas": [
                            {
                                "id": "q1-no0",
                                "question": "许昌市2022年粮食总产量是多少？",
                                "is_impossible": True,
                                "answers": [],
                            }
                        ],
                    },
                ],
            }
        ],
    }
    (folder / "news.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return folder


def test_an_impossible_question_trains_the_no_answer_position_in_every_window(tmp_path, model_cache_dir):
    import random

    from transformers import AutoTokenizer

    from qa.answer.reader_train import TrainSettings, make_windows
    from qa.index.e5_convert import ensure_e5_model

    examples = read_squad(_news_squad2(tmp_path / "news") / "news.json")
    assert [(e.answer, e.answer_start) for e in examples] == [("293万吨", 15), ("", -1)]
    tokenizer = AutoTokenizer.from_pretrained(str(ensure_e5_model(model_cache_dir)))
    windows = make_windows(examples, tokenizer, TrainSettings(), keep_negatives=0.0, rng=random.Random(0))
    impossible = [i for i, e in enumerate(windows.example) if e == 1]
    assert impossible, "a chosen negative is kept whatever the share of stray negatives kept"
    assert all(windows.start[i] == windows.end[i] == 0 for i in impossible)
    answered = [i for i, e in enumerate(windows.example) if e == 0]
    assert all(windows.start[i] > 0 for i in answered)


def test_training_continues_from_a_reader_on_several_folders_and_names_each_license(
    tmp_path, model_cache_dir, monkeypatch
):
    from qa.cli import cli

    monkeypatch.setenv("QA_MODEL_CACHE_DIR", str(model_cache_dir))
    wiki, news = _tiny_squad(tmp_path / "data"), _news_squad2(tmp_path / "news")
    out = tmp_path / "reader"
    args = ["reader", "train", "--data", str(wiki), "--data", str(news), "--init", str(SHIPPED)]
    result = CliRunner().invoke(cli, [*args, "--out", str(out), "--max-windows", "6", "--max-steps", "1"])
    assert result.exit_code == 0, result.output
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"--init {SHIPPED}" in card and "made-up news practice (CC0)" in card and "CC BY-SA" in card
    config = json.loads((out / READER_CONFIG).read_text(encoding="utf-8"))
    assert config["training"]["init"] == str(SHIPPED)


def test_continued_training_refuses_a_reader_with_other_frozen_layers(tmp_path):
    import torch

    from qa.answer.reader_train import _start_from

    with pytest.raises(ValueError, match="frozen layers"):
        _start_from(torch.nn.ModuleDict(), SHIPPED, frozen=3)
