"""The trained reader on ONNX Runtime: the same spans as `qa.answer.reader.Reader`, without torch.

The shipped reader (`models/reader/`: e5's top layers as trained, and the start/end head) is joined
with the converted e5 weights once, in a child process with torch, and exported to an fp32 graph over
token vectors with attention fused (`<model cache>/onnx/reader-<fingerprint>-v<version>/`), like the
embedder (`qa.index.onnx_encoder`). The reader's word embeddings are e5's, frozen while training, so
it reads them from the embedder's export (`word_embeddings.npy`, memory-mapped: one copy for both).
An export is kept only if its logits match torch's on check pairs; the server then reads without
importing torch, and a question's reading costs what the graph costs (tokenising is `tokenizers`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.answer.spans import QUERY_PREFIX, READER_CONFIG, Offsets, Span, collect_spans
from qa.index.child import build_folder_once, die_with_parent, last_line, run_module
from qa.index.onnx_encoder import (
    EMBEDDINGS_FILE,
    OnnxUnsupported,
    ensure_onnx_export,
    source_fingerprint,
)

log = logging.getLogger("qa.answer")

EXPORT_VERSION = 2  # bump when the exported folder changes (2: the int8 graph beside the fp32 one)
GRAPH_FILE = "reader.onnx"
INT8_GRAPH_FILE = "reader-int8.onnx"  # the same graph with int8 weights (per channel), if it kept the spans
CONFIG_FILE = "reader_onnx.json"
MAX_CHECK_DIFFERENCE = 1e-3  # largest start/end logit difference from torch an export may show
CHECK_PAIRS = (
    ("许昌市今年前8个月的工业增加值增长了多少？", "今年前8个月，全市规模以上工业增加值同比增长8.2%。"),
    ("谁担任指挥长？", "该局成立了由副市长柏启传任指挥长的创文指挥部。"),
    ("What is the capital?", "Paris is the capital of France, and a large city."),
)


@dataclass(frozen=True)
class ReaderExportConfig:
    """What reading with an export needs beside its graph."""

    max_length: int
    max_answer_tokens: int
    pad_id: int
    tokenizer_file: str  # e5's tokenizer.json
    word_embeddings: str  # e5's word vectors, in the embedder's ONNX export
    source: str  # the reader folder exported
    check_difference: float  # the largest logit difference from torch on CHECK_PAIRS
    int8: bool = False  # whether INT8_GRAPH_FILE was kept (it reads the check pairs' spans as fp32 does)


def _fingerprint(reader_folder: Path, model_dir: Path) -> str:
    """The reader folder's and the e5 folder's fingerprints together: either changed, a new export."""
    joined = source_fingerprint(reader_folder) + source_fingerprint(model_dir)
    return hashlib.sha1(joined.encode()).hexdigest()[:16]


def export_dir(reader_folder: Path, model_dir: Path, cache_dir: Path) -> Path:
    """Where the export lives: `<cache_dir>/onnx/reader-<fingerprint>-v<version>`."""
    name = f"reader-{_fingerprint(reader_folder, model_dir)}-v{EXPORT_VERSION}"
    return Path(cache_dir).expanduser() / "onnx" / name


def ensure_reader_export(reader_folder: Path, model_dir: Path, cache_dir: Path) -> Path:
    """The checked export of `reader_folder` joined with e5 in `model_dir`, exported first if missing
    (a child process with torch, ~20 s, once); older reader exports are removed."""
    reader_folder, model_dir = Path(reader_folder).resolve(), Path(model_dir).resolve()
    words = ensure_onnx_export(model_dir, cache_dir) / EMBEDDINGS_FILE  # shared with the embedder
    target = export_dir(reader_folder, model_dir, cache_dir)
    config = target / CONFIG_FILE
    if config.is_file() and Path(read_config(target).word_embeddings).is_file():
        return target
    if config.is_file():  # its word vectors were swept with an older embedder export: export again
        shutil.rmtree(target, ignore_errors=True)
    build_folder_once(
        target, CONFIG_FILE, lambda staging: _export_in_child(reader_folder, model_dir, words, staging)
    )
    own = re.compile(r"reader-[0-9a-f]{16}-v\d+")
    for stale in target.parent.iterdir():
        if stale != target and stale.is_dir() and own.fullmatch(stale.name):
            shutil.rmtree(stale, ignore_errors=True)
    return target


def read_config(export: Path) -> ReaderExportConfig:
    """The ReaderExportConfig an export wrote."""
    return ReaderExportConfig(**json.loads((export / CONFIG_FILE).read_text(encoding="utf-8")))


UNSUPPORTED_EXIT = 3  # the child's exit status for an export that does not reproduce torch


def _export_in_child(reader_folder: Path, model_dir: Path, words: Path, out: Path) -> None:
    """`_export` in a child process, so the caller never imports torch; its error comes back as one."""
    done = run_module("qa.answer.reader_onnx", str(reader_folder), str(model_dir), str(words), str(out))
    if done.returncode == UNSUPPORTED_EXIT:
        raise OnnxUnsupported(last_line(done))
    if done.returncode != 0:
        raise ValueError(f"exporting the reader {reader_folder} to ONNX failed: {last_line(done)}")


def _export(reader_folder: Path, model_dir: Path, words_file: Path, out: Path) -> None:
    """Write reader.onnx and its config into `out`, checked against the torch reader's logits; the
    word vectors are read from `words_file` (e5's, in the embedder's export)."""
    import torch

    from qa.answer.reader import Reader, ReaderFromVectors, encode_pairs
    from qa.index.onnx_encoder import export_over_token_vectors, fuse_graph

    reader = Reader.load(reader_folder, model_dir, int8=False, attention="eager")
    model, head, tokenizer = reader.model, reader.head, reader.tokenizer
    pad = int(model.config.pad_token_id)
    rows = [w[0] for q, p in CHECK_PAIRS for w in encode_pairs(tokenizer, q, p, reader.max_length, 0)]
    width = max(len(r) for r in rows)
    ids = np.array([r + [pad] * (width - len(r)) for r in rows], dtype=np.int64)
    mask = (ids != pad).astype(np.int64)
    with torch.inference_mode():
        hidden = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        reference = head(hidden.last_hidden_state).numpy()
    words = np.load(words_file, mmap_mode="r")
    own = model.embeddings.word_embeddings.weight.detach().numpy()
    if words.shape != own.shape or not np.array_equal(words[ids], own[ids]):
        raise OnnxUnsupported("the reader's word embeddings are not e5's; set QA_READER_BACKEND=torch")

    export_over_token_vectors(
        ReaderFromVectors(model, head), own[ids], mask, out / GRAPH_FILE, output="logits"
    )
    fuse_graph(out / GRAPH_FILE, model.config)
    config = ReaderExportConfig(
        max_length=reader.max_length,
        max_answer_tokens=reader.max_answer_tokens,
        pad_id=pad,
        tokenizer_file=str((Path(model_dir) / "tokenizer.json").resolve()),
        word_embeddings=str(words_file.resolve()),
        source=str(Path(reader_folder).resolve()),
        check_difference=0.0,
    )
    exported = OnnxReader.open(out, config, threads=1)
    difference = float(np.abs((exported.logits(ids) - reference) * mask[..., None]).max())
    if difference > MAX_CHECK_DIFFERENCE:
        raise OnnxUnsupported(
            f"the ONNX export of the reader does not reproduce its logits (difference {difference:.2g}); "
            "set QA_READER_BACKEND=torch"
        )
    int8 = _quantise(out, config, exported, [(q, p) for q, p in CHECK_PAIRS])
    config = ReaderExportConfig(**{**asdict(config), "check_difference": difference, "int8": int8})
    (out / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2), encoding="utf-8")


def _quantise(
    out: Path, config: ReaderExportConfig, exported: OnnxReader, pairs: list[tuple[str, str]]
) -> bool:
    """Write INT8_GRAPH_FILE: the fp32 graph's MatMul weights in int8, one scale per output channel,
    activations quantised on the fly (ONNX Runtime's dynamic quantisation; ~1.8x faster on AVX2). Kept
    only if it reads the same best span as the fp32 graph in every check pair."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = out / INT8_GRAPH_FILE
    quantize_dynamic(
        str(out / GRAPH_FILE),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # the fused ops' outputs are float
    )
    quantised = OnnxReader.open(out, config, threads=1, int8=True)
    for question, passage in pairs:
        ours, theirs = quantised.read(question, [passage])[0], exported.read(question, [passage])[0]
        if (ours is None) != (theirs is None) or (
            ours is not None and theirs is not None and (ours.start, ours.end) != (theirs.start, theirs.end)
        ):
            target.unlink()
            return False
    return True


def pair_template(tokenizer: Any) -> tuple[list[int], list[int], list[int]]:
    """The special tokens a pair of texts is wrapped in (before, between, after: `<s>`, `</s></s>`,
    `</s>` for e5), read off an encoded pair so any tokenizer's template is followed."""
    encoding = tokenizer.encode("a", "b")
    ids, sequence = encoding.ids, encoding.sequence_ids
    first = [i for i, s in enumerate(sequence) if s == 0]
    second = [i for i, s in enumerate(sequence) if s == 1]
    return ids[: first[0]], ids[first[-1] + 1 : second[0]], ids[second[-1] + 1 :]


class OnnxReader:
    """A span reader over an ONNX Runtime session: `read` as `qa.answer.reader.Reader.read`."""

    backend = "onnx"

    def __init__(
        self, export: ReaderExportConfig, session: Any, tokenizer: Any, words: np.ndarray, int8: bool = False
    ) -> None:
        self.export, self.session, self.tokenizer, self.words = export, session, tokenizer, words
        self.int8 = int8  # whether the int8 graph reads
        self.template = pair_template(tokenizer)
        self.max_length = export.max_length
        self.max_answer_tokens = export.max_answer_tokens
        card = Path(export.source) / READER_CONFIG
        # the reader folder's recipe and figures, as Reader.config holds them
        self.config: dict[str, Any] = json.loads(card.read_text(encoding="utf-8")) if card.is_file() else {}

    @classmethod
    def load(
        cls,
        reader_folder: Path,
        model_dir: Path,
        cache_dir: Path,
        threads: int | None = None,
        int8: bool = False,
        tokenizer: Any = None,
        tokenizer_file: str | None = None,
    ) -> OnnxReader:
        """The export of `reader_folder` (made first if missing), ready to read; `int8` reads with the
        int8 graph (the fp32 one, with a warning, when the export could not keep it). `tokenizer`,
        loaded from `tokenizer_file` (the embedder's), is shared when that is e5's own file."""
        export = ensure_reader_export(reader_folder, model_dir, cache_dir)
        config = read_config(export)
        if int8 and not config.int8:
            log.warning("the reader's int8 graph did not read as fp32; fp32 reads")
        same = tokenizer_file is not None and Path(tokenizer_file).resolve() == Path(config.tokenizer_file)
        shared = tokenizer if same else None
        return cls.open(export, config, threads, int8=int8 and config.int8, tokenizer=shared)

    @classmethod
    def open(
        cls,
        export: Path,
        config: ReaderExportConfig,
        threads: int | None = None,
        int8: bool = False,
        tokenizer: Any = None,
    ) -> OnnxReader:
        """A session over the graph in `export` (the int8 one with `int8`), with e5's tokenizer (the
        `tokenizer` given, e.g. the embedder's, else loaded) and memory-mapped word vectors."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as the embedder's
        options.log_severity_level = 3
        graph = export / (INT8_GRAPH_FILE if int8 else GRAPH_FILE)
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        if tokenizer is None:
            tokenizer = Tokenizer.from_file(config.tokenizer_file)
            tokenizer.no_padding()
            tokenizer.no_truncation()
        return cls(config, session, tokenizer, np.load(config.word_embeddings, mmap_mode="r"), int8)

    def windows(self, question: str, passage: str) -> list[tuple[list[int], Offsets]]:
        """Token ids of the (query, passage) windows with each token's character span in the passage,
        as `qa.answer.reader.encode_pairs` makes them with the transformers tokenizer: the passage cut
        into consecutive pieces that fill `max_length` beside the question and the special tokens.

        The two texts are encoded apart and joined here (a pair is encoded the same way), so the
        tokenizer's own truncation settings do not matter and the embedder's tokenizer can be shared
        (~290 MB each); a text past that tokenizer's truncation length is read up to it."""
        head, middle, tail = self.template
        asked = self.tokenizer.encode(QUERY_PREFIX + question, add_special_tokens=False).ids
        asked = asked[: self.max_length // 2]  # a question too long for a window keeps its start
        read = self.tokenizer.encode(passage, add_special_tokens=False)
        room = self.max_length - len(head) - len(asked) - len(middle) - len(tail)
        lead: Offsets = [None] * (len(head) + len(asked) + len(middle))
        found = []
        for begin in range(0, max(len(read.ids), 1), room):
            piece = read.offsets[begin : begin + room]
            offsets = lead + [(int(a), int(b)) if b > a else None for a, b in piece] + [None] * len(tail)
            found.append((head + asked + middle + read.ids[begin : begin + room] + tail, offsets))
        return found

    def logits(self, ids: np.ndarray) -> np.ndarray:
        """(batch, tokens, 2) start/end logits of right-padded token ids."""
        mask = (ids != self.export.pad_id).astype(np.int64)
        embeds = np.ascontiguousarray(self.words[ids], dtype=np.float32)
        return self.session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0]

    def read(
        self,
        question: str,
        passages: Sequence[str],
        proposed: Sequence[tuple[int, int] | None] | None = None,
    ) -> list[Span | None]:
        """The best span of each passage (None for an empty one), all passages in one batch; with
        `proposed`, the reader's score of one given span per passage too (see Reader.read)."""
        rows = [
            (p, ids, offsets)
            for p, passage in enumerate(passages)
            if passage.strip()
            for ids, offsets in self.windows(question, passage)
        ]
        if not rows:
            return [None] * len(passages)
        width = max(len(ids) for _, ids, _ in rows)
        ids = np.full((len(rows), width), self.export.pad_id, dtype=np.int64)
        for row, (_, seq, _) in enumerate(rows):
            ids[row, : len(seq)] = seq
        logits = self.logits(ids)
        return collect_spans(
            [(p, offsets) for p, _, offsets in rows], logits, len(passages), proposed, self.max_answer_tokens
        )


def main(argv: list[str]) -> int:
    """`python -m qa.answer.reader_onnx READER MODEL_DIR WORDS OUT`: what `_export_in_child` runs."""
    import logging
    import warnings

    die_with_parent()
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    try:
        _export(Path(argv[0]), Path(argv[1]), Path(argv[2]), Path(argv[3]))
    except OnnxUnsupported as error:
        print(str(error).replace("\n", " "), file=sys.stderr)
        return UNSUPPORTED_EXIT
    except (OSError, ValueError, KeyError) as error:
        print(str(error).replace("\n", " "), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
