"""OnnxEmbedder: the same sentence-transformers model, run by ONNX Runtime on the CPU.

Why: a question is one short text, and torch spends most of a one-text forward pass on per-operator
overhead. On 2 cores e5-small embeds one dev question in ~21 ms with torch and ~10 ms with ONNX
Runtime, three at once in ~36 vs ~22 ms, with the same vectors (cosine 0.9999998; benchmarks/RESULTS.md,
*The query encoder on ONNX Runtime*). A server that needs no torch model also starts seconds sooner
(no sentence-transformers import, no 470 MB of weights to load).

How: `ensure_onnx_export` exports a model folder once into the model cache, in a child process (it
needs torch; the server that asks for it never imports torch): the transformer as an ONNX graph that
takes token vectors (`encoder.onnx`, 86 MB for e5-small, fp32, attention fused: same numbers), and the
word-embedding matrix as a `.npy` read memory-mapped, so only the rows of tokens in use are ever paged
in. Tokenising is the model's own `tokenizer.json`; pooling (mean or CLS) and normalising are numpy.
Every export is checked against the sentence-transformers model on sample texts before it is put in
place. A folder whose pipeline is not Transformer -> Pooling (-> Normalize) is not exported
(`OnnxUnsupported`): the torch Embedder serves it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.index.child import build_folder_once, die_with_parent, last_line, run_module

EXPORT_VERSION = 2  # bump when the exported folder changes (2: attention fused)
ENCODER_FILE = "encoder.onnx"
EMBEDDINGS_FILE = "word_embeddings.npy"
CONFIG_FILE = "encoder.json"
OPSET = 17
# An export is kept only if its vectors match sentence-transformers' on the check texts this closely
# (fp32 both sides: measured 1 - 1e-7 on e5-small; anything below means the graph is not the model).
MIN_CHECK_COSINE = 0.9999
CHECK_TEXTS = (
    "许昌市2021年的粮食总产量是多少？",
    "部门制定了方案，今年前8个月全市规模以上工业增加值累计增长8.3%。" * 3,
    "Who won the 2022 Nobel Prize in Physics?",
)
SUPPORTED_POOLING = ("mean", "cls")


class OnnxUnsupported(ValueError):
    """This model folder cannot be run on ONNX Runtime here (the sentence says why)."""


@dataclass(frozen=True)
class EncoderConfig:
    """What the exported encoder needs besides the graph: how to tokenise, pool and prompt."""

    dim: int
    max_seq_length: int
    pooling: str  # "mean" or "cls"
    do_lower_case: bool
    pad_id: int
    prompts: dict[str, str]
    source: str  # the sentence-transformers folder it was exported from
    tokenizer_file: str  # that folder's tokenizer.json
    source_fingerprint: str

    def to_json(self) -> str:
        """The config as the JSON written next to the graph."""
        return json.dumps({"export_version": EXPORT_VERSION, **self.__dict__}, ensure_ascii=False, indent=2)


def pipeline_description(folder: Path) -> tuple[Path, str]:
    """(transformer subfolder, pooling "mean" or "cls") of a sentence-transformers folder.

    OnnxUnsupported when its modules are anything but Transformer -> Pooling(mean|cls) (-> Normalize).
    Reads both sentence-transformers 6's `pooling_mode` and the older `pooling_mode_*` flags.
    """
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise OnnxUnsupported(f"{folder} has no readable modules.json: {error}") from error
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise OnnxUnsupported(
            f"{folder}'s modules are {kinds}; only Transformer, Pooling (, Normalize) run on ONNX"
        )
    transformer_dir = folder / modules[0].get("path", "")
    try:
        pooling_file = folder / modules[1].get("path", "") / "config.json"
        pooling_config = json.loads(pooling_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise OnnxUnsupported(f"{folder}'s pooling config is unreadable: {error}") from error
    mode = pooling_config.get("pooling_mode")
    if mode is None:
        flags = [k for k, on in pooling_config.items() if k.startswith("pooling_mode_") and on is True]
        mode = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}.get(
            flags[0] if len(flags) == 1 else "", str(flags)
        )
    if mode not in SUPPORTED_POOLING or pooling_config.get("include_prompt", True) is not True:
        raise OnnxUnsupported(f"{folder} pools with {mode!r}; only mean or CLS pooling run on ONNX")
    if not (transformer_dir / "tokenizer.json").is_file():
        raise OnnxUnsupported(f"{folder} has no tokenizer.json (a fast tokenizer is needed)")
    return transformer_dir, mode


def source_fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of the folder's files: a changed model gets a new export."""
    h = hashlib.sha1(str(folder.resolve()).encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        h.update(f"{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def export_dir(folder: Path, cache_dir: Path) -> Path:
    """Where the export of `folder` lives: `<cache_dir>/onnx/<folder name>-<fingerprint>-v<version>`."""
    name = f"{folder.name}-{source_fingerprint(folder)}-v{EXPORT_VERSION}"
    return Path(cache_dir).expanduser() / "onnx" / name


def ensure_onnx_export(folder: Path, cache_dir: Path) -> Path:
    """The checked ONNX export of the sentence-transformers folder `folder`, exported first if missing.

    Exporting loads the model with torch in a child process (seconds, once per model), into a folder
    made whole or not at all (`qa.index.child.build_folder_once`); older exports of it are removed.
    """
    folder = Path(folder).expanduser()
    target = export_dir(folder, cache_dir)
    if (target / CONFIG_FILE).is_file():
        return target
    pipeline_description(folder)  # refuse unsupported folders before loading anything
    build_folder_once(target, CONFIG_FILE, lambda staging: _export_in_child(folder, staging))
    own = re.compile(re.escape(folder.name) + r"-[0-9a-f]{16}-v\d+")
    for stale in target.parent.iterdir():  # exports of this folder's older versions
        if stale != target and stale.is_dir() and own.fullmatch(stale.name):
            shutil.rmtree(stale, ignore_errors=True)
    return target


UNSUPPORTED_EXIT = 3  # the child's exit status for OnnxUnsupported
UNLOADABLE_EXIT = 2  # the child's exit status for a model it cannot load


def _export_in_child(folder: Path, out: Path) -> None:
    """`_export` in a child Python process (`qa.index.child`): the caller (often the server) never
    imports torch and keeps none of the export's memory. The child's one-sentence error comes back as
    the same exception."""
    done = run_module("qa.index.onnx_encoder", str(folder), str(out))
    if done.returncode == 0:
        return
    if done.returncode == UNSUPPORTED_EXIT:
        raise OnnxUnsupported(last_line(done))
    if done.returncode == UNLOADABLE_EXIT:
        raise ValueError(last_line(done))
    raise ValueError(f"exporting {folder} to ONNX failed: {last_line(done)}")


def _export(folder: Path, out: Path) -> None:
    """Write encoder.onnx, word_embeddings.npy and encoder.json of `folder` into `out`, then check them."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    transformer_dir, pooling = pipeline_description(folder)
    hf_logging.disable_progress_bar()
    try:
        st_model = SentenceTransformer(
            str(folder),
            device="cpu",
            local_files_only=True,
            # written-out attention, which ONNX Runtime's optimizer recognises and fuses (sdpa it cannot)
            model_kwargs={"attn_implementation": "eager"},
        )
    except (OSError, ValueError, KeyError) as error:  # the same sentence as the torch Embedder's
        raise ValueError(f"cannot load embedding model {str(folder)!r}: {error}") from error
    prompts = dict(st_model.prompts or {})
    max_len = int(st_model.max_seq_length)
    lower = bool(getattr(st_model[0], "do_lower_case", False))
    reference = {
        name: st_model.encode([prompt + t for t in CHECK_TEXTS], normalize_embeddings=True)
        for name, prompt in {"": "", **prompts}.items()
    }
    tokenizer = st_model.tokenizer
    model = st_model[0].auto_model.eval()  # exporting alters the module it traces; it is dropped after
    word_embeddings = model.get_input_embeddings().weight.detach().cpu().numpy().astype(np.float32)
    np.save(out / EMBEDDINGS_FILE, word_embeddings)

    class Encoder(torch.nn.Module):
        """The transformer from token vectors: (inputs_embeds, attention_mask) -> last_hidden_state."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state

    # a padded batch of two, so the traced graph keeps the attention mask and dynamic lengths
    sample = tokenizer(["query: 许昌", "query: 今年前8个月"], padding=True, return_tensors="pt")
    export_over_token_vectors(
        Encoder(model),
        word_embeddings[sample["input_ids"].numpy()],
        sample["attention_mask"].numpy(),
        out / ENCODER_FILE,
        output="last_hidden_state",
    )
    fuse_graph(out / ENCODER_FILE, model.config)
    config = EncoderConfig(
        dim=int(word_embeddings.shape[1]),
        max_seq_length=max_len,
        pooling=pooling,
        do_lower_case=lower,
        pad_id=int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0),
        prompts=prompts,
        source=str(folder.resolve()),
        tokenizer_file=str((transformer_dir / "tokenizer.json").resolve()),
        source_fingerprint=source_fingerprint(folder),
    )
    exported = OnnxEmbedder.open(out, config, name=str(folder), threads=1)
    for name, prompt in {"": "", **prompts}.items():
        ours = exported.encode([prompt + t for t in CHECK_TEXTS])
        cosine = float((ours * reference[name]).sum(1).min())
        if cosine < MIN_CHECK_COSINE:
            raise OnnxUnsupported(
                f"the ONNX export of {folder} does not reproduce its vectors (cosine {cosine:.6f}); "
                "set QA_EMBED_BACKEND=torch"
            )
    (out / CONFIG_FILE).write_text(config.to_json(), encoding="utf-8")


def export_over_token_vectors(
    module: Any, embeds: np.ndarray, mask: np.ndarray, path: Path, output: str
) -> None:
    """Export the torch `module(inputs_embeds, attention_mask)` to an fp32 ONNX graph at `path`, with
    batch and length dynamic. The sample (`embeds`, `mask`) must hold padding, or the tracer drops the
    mask; tracing alters the module, so it is not to be used afterwards."""
    import torch

    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            module,
            (torch.from_numpy(np.ascontiguousarray(embeds)), torch.from_numpy(np.ascontiguousarray(mask))),
            str(path),
            input_names=["inputs_embeds", "attention_mask"],
            output_names=[output],
            dynamic_axes={"inputs_embeds": axes, "attention_mask": axes, output: axes},
            opset_version=OPSET,
            dynamo=False,
        )


def fuse_graph(graph: Path, model_config: Any) -> None:
    """Fuse attention, GELU and LayerNorm in the exported graph with ONNX Runtime's transformer
    optimizer (fp32, same numbers to ~1e-7; ~10-15% faster on 2 cores). A graph it cannot handle is
    left as exported: the check that follows decides either way."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        fused = optimize_model(
            str(graph),
            model_type="bert",
            num_heads=int(model_config.num_attention_heads),
            hidden_size=int(model_config.hidden_size),
            opt_level=1,
        )
        staged = graph.with_suffix(".fused")
        fused.save_model_to_file(str(staged))
        os.replace(staged, graph)
    except Exception as error:  # an architecture the optimizer does not know: keep the plain graph
        import logging

        logging.getLogger("qa.index").info("ONNX graph left unfused: %s", error)


def read_config(export: Path) -> EncoderConfig:
    """The EncoderConfig written by an export."""
    raw = json.loads((export / CONFIG_FILE).read_text(encoding="utf-8"))
    raw.pop("export_version", None)
    return EncoderConfig(**raw)


@dataclass
class OnnxEmbedder:
    """The Embedder interface (QueryEmbedder and PassageEmbedder) over an ONNX Runtime session."""

    name: str
    dim: int
    max_seq_length: int
    query_prompt: str
    passage_prompt: str
    config: EncoderConfig
    tokenizer: Any  # tokenizers.Tokenizer
    session: Any  # onnxruntime.InferenceSession
    word_embeddings: np.ndarray  # (vocab, dim), memory-mapped
    device: str = "cpu"
    backend: str = "onnx"

    @classmethod
    def load(
        cls,
        folder: Path,
        cache_dir: Path,
        name: str,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        threads: int | None = None,
    ) -> OnnxEmbedder:
        """The export of sentence-transformers folder `folder` (made first if missing), ready to embed."""
        export = ensure_onnx_export(folder, cache_dir)
        config = read_config(export)
        embedder = cls.open(export, config, name=name, threads=threads)
        prompts = config.prompts
        own_passage = next((prompts[k] for k in ("passage", "document") if prompts.get(k)), "")
        embedder.query_prompt = prompts.get("query", "") if query_prompt is None else query_prompt
        embedder.passage_prompt = own_passage if passage_prompt is None else passage_prompt
        return embedder

    @classmethod
    def open(cls, export: Path, config: EncoderConfig, name: str, threads: int | None = None) -> OnnxEmbedder:
        """A session over the files in `export` (no prompts set; `load` sets them)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        # threads sleep between runs instead of spinning (ONNX Runtime's default): spinning bought no
        # speed on 2 cores and took the cores from everything else in the process (torch, jieba, the
        # peer in benchmarks/latency.py: its p50 went from 25 to 64 ms beside a spinning session)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(export / ENCODER_FILE), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = Tokenizer.from_file(config.tokenizer_file)
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=config.max_seq_length)
        return cls(
            name=name,
            dim=config.dim,
            max_seq_length=config.max_seq_length,
            query_prompt="",
            passage_prompt="",
            config=config,
            tokenizer=tokenizer,
            session=session,
            word_embeddings=np.load(export / EMBEDDINGS_FILE, mmap_mode="r"),
        )

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Unit float32 vectors (n, dim) of questions, each prefixed with the query prompt."""
        return self.encode([self.query_prompt + t for t in _texts(texts)])

    def embed_passages(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Unit float32 vectors (n, dim) of passages, each prefixed with the passage prompt."""
        return self.encode([self.passage_prompt + t for t in _texts(texts)], batch_size, progress)

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Unit vectors of `texts` as given (no prompt added): length-sorted batches, input order kept."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return vectors
        if self.config.do_lower_case:
            texts = [t.lower() for t in texts]
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        batches = range(0, len(order), batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="Embedding", unit="batch")
        for begin in batches:
            rows = order[begin : begin + batch_size]
            vectors[rows] = self._forward([encodings[i].ids for i in rows])
        return vectors

    def _forward(self, token_ids: list[list[int]]) -> np.ndarray:
        """One ONNX pass over a right-padded batch, pooled and normalised."""
        width = max(len(ids) for ids in token_ids)
        ids = np.full((len(token_ids), width), self.config.pad_id, dtype=np.int64)
        mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, seq in enumerate(token_ids):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        embeds = np.ascontiguousarray(self.word_embeddings[ids], dtype=np.float32)
        hidden = self.session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0]
        if self.config.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def _texts(texts: list[str]) -> list[str]:
    """The list itself; a bare string is a caller's mistake (it would embed each character)."""
    if isinstance(texts, str):
        raise TypeError("pass a list of texts, not a single string")
    return list(texts)


def main(argv: list[str]) -> int:
    """`python -m qa.index.onnx_encoder FOLDER OUT`: export FOLDER into OUT (what `_export_in_child`
    runs); errors end as one sentence on stderr and exit status 3 (unsupported) or 2 (unloadable)."""
    import logging
    import warnings

    die_with_parent()
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")  # the tracer's warnings about constant shapes are expected
    try:
        _export(Path(argv[0]), Path(argv[1]))
    except OnnxUnsupported as error:
        print(str(error).replace("\n", " "), file=sys.stderr)
        return UNSUPPORTED_EXIT
    except ValueError as error:
        print(str(error).replace("\n", " "), file=sys.stderr)
        return UNLOADABLE_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
