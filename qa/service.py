"""QAService: the index, the embedder and the chat sessions wired together from `Settings`.

The API and the CLI talk only to this module. A rebuild builds a new index on disk; the caller then
loads a new service and swaps the reference (handing over `sessions`), so no request ever sees a
half-built index.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.answer.chat import SessionStore, Turn, resolve_followup
from qa.answer.compose import answer_question
from qa.answer.extraction import TextCache
from qa.answer.retrieve import Filters, RememberedQueries, retrieve
from qa.answer.settings import TOP_K_MAX
from qa.answer.spans import reader_weight_files
from qa.index.batching import QueryBatcher
from qa.index.build import BuildReport, build_index, unchanged_build
from qa.index.device import resolve_device
from qa.index.e5_convert import MODEL_NAME as E5_MODEL_NAME
from qa.index.e5_convert import ensure_e5_model
from qa.index.embedding import Embedder, PassageEmbedder, configured_passage_prompt
from qa.index.onnx_encoder import OnnxEmbedder, OnnxUnsupported
from qa.index.store import LoadedIndex, index_exists, load_index
from qa.records import Answer, Article
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.answer.reader import Reader
    from qa.answer.reader_onnx import OnnxReader
    from qa.index.milvus import MilvusIndex

log = logging.getLogger("qa.service")

__all__ = ["Filters", "QAService", "QuestionError", "format_answer", "rebuild_index"]


class QuestionError(ValueError):
    """The question cannot be asked (empty, or too long)."""


def load_embedder(settings: Settings) -> Embedder | OnnxEmbedder:
    """The embedding model named by the settings, on ONNX Runtime when it runs on the CPU and
    `embed_backend` is "onnx" (exported once; see qa.index.onnx_encoder), else on torch."""
    if settings.embed_backend == "onnx" and resolve_device(settings.device) == "cpu":
        if settings.model == E5_MODEL_NAME:
            folder = ensure_e5_model(settings.model_cache_dir)
        else:
            folder = Path(settings.model).expanduser()
        if (folder / "modules.json").is_file():
            try:
                return OnnxEmbedder.load(
                    folder,
                    settings.model_cache_dir,
                    name=settings.model,
                    query_prompt=settings.query_prompt,
                    passage_prompt=settings.passage_prompt,
                    threads=settings.threads,
                )
            except OnnxUnsupported as reason:
                log.warning("The embedding model runs on torch: %s", reason)
            except OSError as error:  # e.g. a read-only model cache the export cannot be written to
                log.warning("The embedding model runs on torch: no ONNX export could be written (%s)", error)
    return Embedder.load(
        settings.model,
        cache_dir=settings.model_cache_dir,
        query_prompt=settings.query_prompt,
        passage_prompt=settings.passage_prompt,
        threads=settings.threads,
        device=settings.device,
    )


def load_reader(
    settings: Settings, embedder: Embedder | OnnxEmbedder | None = None
) -> Reader | OnnxReader | None:
    """The trained reader named by the settings, joined with the e5 weights; None when there is none.

    On the CPU with `reader_backend` "onnx" it runs on ONNX Runtime (exported once, see
    qa.answer.reader_onnx), sharing e5's word vectors with the embedder's export and never importing
    torch, with int8 weights when `reader_int8`; else (a GPU, QA_READER_BACKEND=torch, or an export
    that cannot be made) on torch in full precision (torch's own int8 cost the reader 0.2 F1), where an
    e5 embedder on torch shares its word-embedding matrix.
    """
    folder = settings.reader_dir
    if folder is None or not reader_weight_files(Path(folder)):
        return None
    model_dir = ensure_e5_model(settings.model_cache_dir)
    device = getattr(embedder, "device", None) or resolve_device(settings.device)
    if settings.reader_backend == "onnx" and device == "cpu":
        from qa.answer.reader_onnx import OnnxReader

        cache, threads = settings.model_cache_dir, settings.threads
        try:
            onnx = embedder if isinstance(embedder, OnnxEmbedder) else None  # its tokenizer is shared
            return OnnxReader.load(
                folder,
                model_dir,
                cache,
                threads=threads,
                int8=settings.reader_int8,
                tokenizer=onnx.tokenizer if onnx else None,
                tokenizer_file=onnx.config.tokenizer_file if onnx else None,
            )
        except OnnxUnsupported as reason:
            log.warning("The reader runs on torch: %s", reason)
        except OSError as error:  # e.g. a read-only model cache the export cannot be written to
            log.warning("The reader runs on torch: no ONNX export could be written (%s)", error)
    from qa.answer.reader import Reader

    shared = None
    if isinstance(embedder, Embedder) and settings.model == E5_MODEL_NAME:
        shared = embedder.model[0].auto_model.embeddings.word_embeddings
    return Reader.load(folder, model_dir, int8=False, word_embeddings=shared, device=device)


def open_index(settings: Settings) -> LoadedIndex | MilvusIndex:
    """The live index of the configured store: the local folder, or the Milvus alias (IndexMissingError
    when none was built; MilvusConfigError, a sentence, when Milvus cannot be used as configured)."""
    if settings.store == "milvus":
        from qa.index.milvus import MilvusIndex

        return MilvusIndex.open(settings.milvus_location, settings.milvus_collection)
    return load_index(settings.index_dir)


def index_ready(settings: Settings) -> bool:
    """True when the configured store holds a built index (it may still fail to load)."""
    if settings.store == "milvus":
        from qa.index.milvus import milvus_index_exists

        return milvus_index_exists(settings.milvus_location, settings.milvus_collection)
    return index_exists(settings.index_dir)


@dataclass
class QAService:
    """Answers questions over one loaded index; `sessions` outlives the service across rebuilds.

    `cache` (jieba tags and typed answers of sentences) belongs to this service: a rebuilt index gets a
    new service and so a fresh cache. `batcher` (the server's; None in the CLI) embeds the questions of
    concurrent `ask` calls together; its owner closes it.
    """

    settings: Settings
    index: LoadedIndex | MilvusIndex
    embedder: Embedder | OnnxEmbedder
    sessions: SessionStore
    cache: TextCache = field(default_factory=TextCache)
    reader: Reader | OnnxReader | None = None
    batcher: QueryBatcher | None = None

    @classmethod
    def load(
        cls,
        settings: Settings,
        embedder: Embedder | OnnxEmbedder | None = None,
        sessions: SessionStore | None = None,
        reader: Reader | OnnxReader | None = None,
        batcher: QueryBatcher | None = None,
    ) -> QAService:
        """Load the index from `settings.index_dir` (IndexMissingError if none), the embedder and the
        reader (a passed one is reused: a rebuilt index keeps the loaded models); questions are embedded
        through `batcher` when one is given."""
        index = open_index(settings)
        if embedder is None:
            embedder = load_embedder(settings)
        if reader is None:
            reader = load_reader(settings, embedder)
        if sessions is None:
            sessions = SessionStore(
                max_sessions=settings.max_sessions, max_turns=settings.max_turns, ttl_s=settings.session_ttl_s
            )
        return cls(
            settings=settings,
            index=index,
            embedder=embedder,
            sessions=sessions,
            cache=TextCache(stored=index.stored_tags),  # the tags made at build time
            reader=reader,
            batcher=batcher,
        )

    def ask(
        self,
        question: str,
        session_id: str | None = None,
        top_k: int | None = None,
        filters: Filters | None = None,
        explain: dict[str, object] | None = None,
    ) -> Answer:
        """Answer a question in a session (new when `session_id` is None), resolving follow-ups first.

        `explain`, a dict, receives what the answer step's sure-enough score read (`answer_question`)."""
        started = time.perf_counter()
        if question is None or not question.strip():
            raise QuestionError("the question is empty")
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(
                f"the question is {len(question)} characters long; "
                f"the limit is {self.settings.max_question_chars}"
            )
        question = question.strip()
        k = top_k or self.settings.top_k
        if not 1 <= k <= TOP_K_MAX:
            raise QuestionError(f"top_k must be between 1 and {TOP_K_MAX}")
        session_id = session_id or self.sessions.new_id()
        # announced to the batcher up to the question's embedding, so a batch may wait for it
        queries = RememberedQueries(self.batcher or self.embedder)  # the answer step reuses the vector
        with self.batcher.expecting() if self.batcher is not None else nullcontext():
            resolved = resolve_followup(question, self.sessions.history(session_id))
            resolved_at = time.perf_counter()
            hits = retrieve(
                self.index,
                queries,
                resolved,
                k=max(k, 5),
                filters=filters,
                settings=self.settings.retrieval,
                cache=self.cache,
            )
        retrieved_at = time.perf_counter()
        answer = answer_question(
            resolved,
            hits,
            self.index,
            self.settings.answer,
            embedder=self.embedder,
            cache=self.cache,
            reader=self.reader,
            queries=queries,
            explain=explain,
        )
        answered_at = time.perf_counter()
        answer = replace(
            answer,
            question=question,
            passages=answer.passages[:k],
            session_id=session_id,
            resolved_question=resolved if resolved != question else None,
            timings_ms={
                "resolve": round((resolved_at - started) * 1000, 2),
                "retrieve": round((retrieved_at - resolved_at) * 1000, 2),
                "answer": round((answered_at - retrieved_at) * 1000, 2),
                "total": round((answered_at - started) * 1000, 2),
            },
        )
        self.sessions.append(
            session_id,
            Turn(
                question=question, resolved=resolved, answer=answer.answer, short_answer=answer.short_answer
            ),
        )
        return answer

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or None."""
        return self.index.articles.get(article_id)

    def stats(self) -> dict[str, Any]:
        """What is loaded: counts, model, the device it runs on, dimension, build time, corpus fingerprint."""
        manifest = self.index.manifest
        return {
            "articles": len(self.index.articles),
            "chunks": len(self.index.chunks),
            "model": manifest.get("model", getattr(self.embedder, "name", "")),
            "device": getattr(self.embedder, "device", "cpu"),
            "embed_backend": getattr(self.embedder, "backend", "torch"),
            "reader_backend": getattr(self.reader, "backend", "torch") if self.reader else None,
            "store": settings_store(self.settings, self.index),
            "dim": manifest.get("dim", getattr(self.embedder, "dim", None)),
            "built_at": manifest.get("built_at"),
            "corpus_fingerprint": manifest.get("corpus_fingerprint"),
            **self.batch_stats(),
        }

    def batch_stats(self) -> dict[str, Any]:
        """How the batcher has grouped questions (empty without one)."""
        if self.batcher is None:
            return {}
        batches = self.batcher.stats
        return {"query_batches": batches.batches, "query_batch_mean_size": batches.mean_submissions}


def rebuild_index(
    settings: Settings,
    progress: bool = True,
    embedder: PassageEmbedder | None = None,
    ray_address: str | None = None,
    ray_actors: int | None = None,
) -> BuildReport:
    """Build (incrementally) the index of `settings.corpus_dir` into `settings.index_dir`.

    When the live index was built from the same corpus with the same settings, nothing is rebuilt and
    the model is not even loaded (a no-op `qa index` takes the time to read the corpus). With
    `ray_address` ("auto" or a cluster's address) the corpus is cut and embedded on Ray
    (`qa.index.ray_build`), `ray_actors` embedding actors (None: one per GPU, else one per CPU).
    """
    milvus = settings.store == "milvus"
    if milvus:
        from qa.index.milvus import build_milvus_index, milvus_unchanged_build
    if embedder is None:
        prompt = configured_passage_prompt(settings.model, settings.model_cache_dir, settings.passage_prompt)
        if prompt is not None:
            model_id = f"{settings.model}|{prompt}"
            if milvus:
                unchanged = milvus_unchanged_build(
                    settings.corpus_dir,
                    settings.milvus_location,
                    settings.milvus_collection,
                    model_id,
                    segment=settings.segment,
                )
            else:
                unchanged = unchanged_build(
                    settings.corpus_dir, settings.index_dir, model_id, segment=settings.segment
                )
            if unchanged is not None:
                return unchanged
    if ray_address is not None and embedder is None:
        return _rebuild_on_ray(settings, ray_address, progress, ray_actors)
    embedder = embedder or load_embedder(settings)
    if milvus:
        return build_milvus_index(
            settings.corpus_dir,
            settings.milvus_location,
            settings.milvus_collection,
            embedder,
            progress,
            segment=settings.segment,
            local_index=settings.index_dir,
        )
    return build_index(settings.corpus_dir, settings.index_dir, embedder, progress, segment=settings.segment)


def _rebuild_on_ray(settings: Settings, address: str, progress: bool, actors: int | None) -> BuildReport:
    """`qa index --ray`: the corpus cut and embedded on Ray, written by the store the settings name."""
    from qa.index.build import write_index
    from qa.index.ray_build import build_on_ray

    def write(read: Any, embedder: PassageEmbedder, started: float) -> BuildReport:
        if settings.store == "milvus":
            from qa.index.milvus import write_milvus_index

            return write_milvus_index(
                read,
                settings.milvus_location,
                settings.milvus_collection,
                embedder,
                progress,
                local_index=settings.index_dir,
                started=started,
            )
        return write_index(read, settings.index_dir, embedder, progress, started)

    return build_on_ray(
        settings.corpus_dir,
        address,
        write,
        model=settings.model,
        cache_dir=settings.model_cache_dir,
        passage_prompt=settings.passage_prompt,
        device=settings.device,
        segment=settings.segment,
        num_cpus=settings.threads,
        actors=actors,
    )


def settings_store(settings: Settings, index: LoadedIndex | MilvusIndex) -> str:
    """Where the live index lives, for /stats: "local" or "milvus <uri> <collection>"."""
    if settings.store != "milvus":
        return "local"
    return f"milvus {settings.milvus_location} {getattr(index, 'collection', '')}".rstrip()


def format_answer(answer: Answer) -> str:
    """The answer as a reader sees it in a terminal: the answer, then numbered sources."""
    lines = [answer.answer, ""]
    if answer.resolved_question:
        lines.insert(0, f"(理解为：{answer.resolved_question})")
    if answer.citations:
        lines.append("来源：")
        for c in answer.citations:
            when = f" {c.date}" if c.date else ""
            lines.append(f"[{c.n}] {c.title}{when} ({c.source}, {c.article_id}, 字符 {c.start}-{c.end})")
    if answer.abstained and answer.passages:
        lines.append("最接近的段落：")
        for i, p in enumerate(answer.passages, 1):
            text = p.text if len(p.text) <= 120 else p.text[:120] + "…"
            lines.append(f"{i}. {p.title} {p.date}".rstrip() + f"\n   {text}")
    return "\n".join(lines).rstrip()
