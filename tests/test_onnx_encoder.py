"""The embedding model on ONNX Runtime: the same vectors as sentence-transformers, the same answers,
exported once and safely, and a server that never loads torch on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.index.e5_convert import ensure_e5_model
from qa.index.embedding import Embedder
from qa.index.onnx_encoder import (
    CONFIG_FILE,
    ENCODER_FILE,
    OnnxEmbedder,
    OnnxUnsupported,
    ensure_onnx_export,
    export_dir,
    pipeline_description,
)
from qa.service import QAService, load_embedder
from qa.settings import PROJECT_ROOT, Settings

DEV = PROJECT_ROOT / "tests" / "data" / "dev.jsonl"
TEXTS = [
    "许昌市2021年的粮食总产量是多少？",
    "Who won?",
    "今年前8个月，全市规模以上工业增加值累计增长8.3%，比上半年提高0.5个百分点。",
    "部 门 制 定 了 方 案（下转第七版）",
    "长文本" * 700,  # past 512 tokens: both truncate the same way
    "",
]


def dev_questions(n: int) -> list[str]:
    """The first `n` single questions of the dev set."""
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows if r.get("question")][:n]


def test_onnx_vectors_equal_sentence_transformers_vectors(embedder: Embedder, onnx_embedder: OnnxEmbedder):
    for ours, theirs in (
        (onnx_embedder.embed_queries(TEXTS), embedder.embed_queries(TEXTS)),
        (onnx_embedder.embed_passages(TEXTS, batch_size=4), embedder.embed_passages(TEXTS, batch_size=4)),
    ):
        assert ours.shape == theirs.shape == (len(TEXTS), embedder.dim)
        assert ours.dtype == np.float32
        assert (ours * theirs).sum(1).min() > 0.99999
        assert np.abs(ours - theirs).max() < 1e-4


def test_onnx_embedder_keeps_order_across_length_sorted_batches(onnx_embedder: OnnxEmbedder):
    one_by_one = np.vstack([onnx_embedder.embed_passages([t]) for t in TEXTS])
    together = onnx_embedder.embed_passages(TEXTS, batch_size=2)
    assert np.abs(one_by_one - together).max() < 1e-4
    assert onnx_embedder.embed_queries([]).shape == (0, onnx_embedder.dim)
    with pytest.raises(TypeError):
        onnx_embedder.embed_queries("一个字符串")  # type: ignore[arg-type]


def test_onnx_and_torch_services_answer_dev_questions_identically(
    settings: Settings, embedder: Embedder, service: QAService
):
    torch_service = QAService.load(settings, embedder=embedder)
    for question in dev_questions(30):
        ours, theirs = service.ask(question), torch_service.ask(question)
        assert ours.answer == theirs.answer, question
        assert ours.short_answer == theirs.short_answer, question
        assert [(c.article_id, c.start, c.end) for c in ours.citations] == [
            (c.article_id, c.start, c.end) for c in theirs.citations
        ], question


def test_default_settings_load_the_onnx_embedder_and_torch_on_request(settings: Settings):
    assert settings.embed_backend == "onnx"
    assert isinstance(load_embedder(settings), OnnxEmbedder)
    on_torch = load_embedder(settings.model_copy(update={"embed_backend": "torch"}))
    assert isinstance(on_torch, Embedder) and on_torch.backend == "torch"


def test_export_is_made_once_and_reused(settings: Settings, onnx_embedder: OnnxEmbedder):
    folder = ensure_e5_model(settings.model_cache_dir)
    export = ensure_onnx_export(folder, settings.model_cache_dir)
    stamp = (export / ENCODER_FILE).stat().st_mtime_ns
    again = OnnxEmbedder.load(folder, settings.model_cache_dir, name="e5")
    assert export == export_dir(folder, settings.model_cache_dir)
    assert (export / ENCODER_FILE).stat().st_mtime_ns == stamp
    assert again.query_prompt == "query: " and again.passage_prompt == "passage: "
    config = json.loads((export / CONFIG_FILE).read_text(encoding="utf-8"))
    assert config["pooling"] == "mean" and config["dim"] == 384


def test_export_killed_midway_is_redone_not_used(settings: Settings, tmp_path: Path):
    folder = ensure_e5_model(settings.model_cache_dir)
    target = export_dir(folder, tmp_path)
    target.mkdir(parents=True)
    (target / ENCODER_FILE).write_bytes(b"half an onnx file")  # no encoder.json: never finished
    leftover = target.parent / f".{target.name}.abc123"
    leftover.mkdir()
    (leftover / ENCODER_FILE).write_bytes(b"staging of a killed export")
    older = target.parent / f"{folder.name}-0123456789abcdef-v1"  # an export of an older version
    older.mkdir()
    other_model = target.parent / f"{folder.name}-large-0123456789abcdef-v1"
    other_model.mkdir()
    script = (  # exported from a process that never imports torch itself: the export runs in a child
        "import sys\n"
        "from pathlib import Path\n"
        "from qa.index.onnx_encoder import ensure_onnx_export\n"
        f"print(ensure_onnx_export(Path({str(folder)!r}), Path({str(tmp_path)!r})))\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    printed_export, torch_imported = done.stdout.strip().splitlines()[-2:]
    export = Path(printed_export)
    assert torch_imported == "False"
    assert export == target and (export / CONFIG_FILE).is_file()
    assert not leftover.exists() and not older.exists()
    assert other_model.exists()  # another model's export is not this one's to remove
    loaded = OnnxEmbedder.load(folder, tmp_path, name="e5")
    assert loaded.embed_queries(["许昌"]).shape == (1, 384)


def test_pooling_onnx_cannot_reproduce_falls_back_to_torch(settings: Settings, tmp_path: Path):
    source = ensure_e5_model(settings.model_cache_dir)
    folder = tmp_path / "e5-max-pooled"
    folder.mkdir()
    for item in source.iterdir():
        if item.name != "1_Pooling":
            (folder / item.name).symlink_to(item)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"embedding_dimension": 384, "pooling_mode": "max", "include_prompt": True}),
        encoding="utf-8",
    )
    with pytest.raises(OnnxUnsupported, match="max"):
        pipeline_description(folder)
    loaded = load_embedder(settings.model_copy(update={"model": str(folder)}))
    assert isinstance(loaded, Embedder)  # torch serves what ONNX cannot


def test_module_pipeline_with_dense_layer_is_refused(tmp_path: Path):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    with pytest.raises(OnnxUnsupported, match="Dense"):
        pipeline_description(tmp_path)


def test_server_process_answers_without_importing_torch(settings: Settings, onnx_embedder: OnnxEmbedder):
    script = (
        "import sys, json, time\n"
        "from qa.api.app import create_app\n"
        "from qa.settings import Settings\n"
        "from fastapi.testclient import TestClient\n"
        "with TestClient(create_app(Settings())) as client:\n"
        "    while client.get('/health').status_code == 503:\n"
        "        time.sleep(0.2)\n"
        "    reply = client.post('/ask', json={'question': '魏都区把社区划分为多少个网格？'}).json()\n"
        "    stats = client.get('/stats').json()\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'answer': reply['answer'],\n"
        "                  'backend': stats.get('embed_backend')}))\n"
    )
    env = {
        **os.environ,
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "QA_CORPUS_DIR": str(settings.corpus_dir),
    }
    env.pop("QA_EMBED_BACKEND", None)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == "onnx"
    assert result["answer"]
    assert result["torch"] is False


def test_shutdown_right_after_the_first_answer_leaves_no_job_thread_running(settings: Settings):
    """The example questions are asked in the load job's thread after a load; a daemon thread killed
    inside an ONNX Runtime run at exit aborts the process, so shutdown stops them and waits."""
    import time

    from fastapi.testclient import TestClient

    from qa.api.app import create_app

    app = create_app(settings)
    with TestClient(app) as client:
        while client.get("/health").status_code == 503:
            time.sleep(0.05)
        assert client.post("/ask", json={"question": "魏都区把社区划分为多少个网格？"}).status_code == 200
    job = app.state.index._thread
    assert job is not None and not job.is_alive()


def test_a_model_cache_the_export_cannot_be_written_to_falls_back_to_torch(
    settings: Settings, tmp_path: Path
):
    real = ensure_e5_model(settings.model_cache_dir)
    (tmp_path / real.name).symlink_to(real)
    (tmp_path / "onnx").write_text("a file where the exports folder would go", encoding="utf-8")
    loaded = load_embedder(settings.model_copy(update={"model_cache_dir": tmp_path}))
    assert isinstance(loaded, Embedder)  # still answers, on torch
