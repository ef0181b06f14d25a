"""The build on Ray Data: the index `qa.index.build` makes, with the corpus cut and embedded by a Ray cluster.

`qa index --ray auto` starts a Ray on this machine (one embedding actor per CPU); `qa index --ray
HOST:6379` (or `ray://HOST:10001`) joins a running cluster, where each actor takes a GPU when the
cluster has them. The steps:

1. The driver reads the corpus files (bytes and UTF-8 checks, `qa.ingest.corpus`): the workers need no
   copy of the corpus, only the page texts the dataset carries.
2. Pages are segmented into articles, and articles cut into chunks, in parallel Ray tasks
   (`segment_page` and `chunk_articles`, the same functions the local build runs).
3. Texts the live index has no vector for are embedded by an actor pool, one model per actor, in
   batches of texts of similar length (little padding).
4. The chosen store's own writer (`write_index`, or `write_milvus_index` for QA_STORE=milvus) writes the
   result and switches it live, so a Ray build and a local build of one corpus are the same index:
   same chunk ids, texts and offsets, vectors equal up to float rounding.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from qa.index.build import BuildReport, _Corpus, chunk_articles, corpus_of
from qa.index.errors import RaySetupError
from qa.ingest.segment import SegmentSettings, load_articles, segment_page
from qa.records import Article, Chunk, Page

LOCAL = "auto"  # `--ray auto`: a Ray started on this machine (or the one RAY_ADDRESS names)
CONNECT_TIMEOUT_S = 5.0  # how long a cluster address may take to accept a connection before we say so
EMBED_BATCH = 64  # texts per call of a CPU actor: enough to fill one core's matrix products
GPU_EMBED_BATCH = 1024  # texts per call of a GPU actor (e5-small on an H200 peaks near batch 1,024)
ARTICLES_PER_TASK = 256  # articles per chunking task (chunking is ~1 ms an article: tasks must be fat)


@dataclass(frozen=True)
class EmbedderSpec:
    """What an actor needs to load the embedding model itself (models are loaded, never shipped)."""

    model: str
    cache_dir: str | None
    passage_prompt: str | None
    device: str  # "cpu" or "cuda": the actor's own device
    threads: int  # torch threads per actor


def _ray() -> Any:
    """The `ray` module, or a sentence saying how to install it."""
    # Ray Data logs every pipeline it runs at INFO on stderr; `qa index` reports the build itself
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise RaySetupError(
            "the Ray build needs the optional extra: pip install -e '.[ray]' (Ray Data is not installed)"
        ) from error
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast with a sentence when nothing listens at a cluster address (Ray itself retries ~60 s)."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise RaySetupError(
            f"--ray {address!r} is not a Ray address: use auto (a local Ray), HOST:PORT of a cluster's "
            "head (port 6379) or ray://HOST:10001"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        raise RaySetupError(
            f"the Ray cluster at {address} does not answer ({error.strerror or error}); start it with "
            "`ray start --head`, or use --ray auto for a Ray on this machine"
        ) from None


def start_ray(address: str, num_cpus: int | None = None) -> bool:
    """Join the cluster at `address`, or start a local Ray for `auto`; True when this call started Ray
    (the caller then shuts it down). A cluster that does not answer is a RaySetupError sentence."""
    ray = _ray()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address == LOCAL:
        options["num_cpus"] = num_cpus
        # Ray nices its workers to 15; on this machine they are the build itself, not background work
        # (niced, they starved behind any busy process: 85 s instead of 4 s to load the model)
        os.environ.setdefault("RAY_worker_niceness", "0")
    else:
        _check_reachable(address)
        options["address"] = address
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, TimeoutError, ValueError) as error:
        raise RaySetupError(f"cannot start or join Ray at {address}: {error}") from None
    ray.data.DataContext.get_current().enable_progress_bars = False
    return True


# ---------------------------------------------------------------------------- cutting, in Ray tasks


def _segment_row(row: dict[str, Any], settings: SegmentSettings) -> dict[str, Any]:
    """One page -> its articles, as JSON (Arrow-friendly), with the page's position kept."""
    found = segment_page(Page(source=row["source"], text=row["text"]), settings)
    return {
        "position": row["position"],
        "articles": json.dumps([asdict(a) for a in found], ensure_ascii=False),
    }


def segment_pages_ray(pages: list[Page], settings: SegmentSettings) -> list[list[Article]]:
    """The articles of each page, in page order, segmented in parallel Ray tasks."""
    if not pages:
        return []
    ray = _ray()
    rows = [{"position": i, "source": p.source, "text": p.text} for i, p in enumerate(pages)]
    blocks = min(len(rows), 2 * max(1, int(ray.cluster_resources().get("CPU", 1))))
    dataset = ray.data.from_items(rows, override_num_blocks=blocks)
    found: list[list[Article]] = [[] for _ in pages]
    for row in dataset.map(_segment_row, fn_kwargs={"settings": settings}).iter_rows():
        found[row["position"]] = [Article(**a) for a in json.loads(row["articles"])]
    return found


def _chunk_batch(batch: dict[str, np.ndarray], max_chars: int, overlap: int) -> dict[str, list[Any]]:
    """A batch of articles -> their chunks and embedding texts, as JSON, with each article's position."""
    positions, payloads = [], []
    for position, raw in zip(batch["position"], batch["article"], strict=True):
        chunks, texts = chunk_articles([Article(**json.loads(raw))], max_chars, overlap)
        positions.append(int(position))
        pairs = [[asdict(c), text] for c, text in zip(chunks, texts, strict=True)]
        payloads.append(json.dumps(pairs, ensure_ascii=False))
    return {"position": positions, "chunks": payloads}


def chunk_articles_ray(
    articles: list[Article], max_chars: int, overlap: int
) -> tuple[list[Chunk], list[str]]:
    """Every article's chunks and embedding texts, in article order, cut in parallel Ray tasks."""
    ray = _ray()
    rows = [
        {"position": i, "article": json.dumps(asdict(a), ensure_ascii=False)} for i, a in enumerate(articles)
    ]
    blocks = max(1, min(64, math.ceil(len(rows) / ARTICLES_PER_TASK)))
    dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
        _chunk_batch, batch_size=ARTICLES_PER_TASK, fn_kwargs={"max_chars": max_chars, "overlap": overlap}
    )
    per_article: list[list[tuple[Chunk, str]]] = [[] for _ in articles]
    for row in dataset.iter_rows():
        per_article[row["position"]] = [(Chunk(**c), text) for c, text in json.loads(row["chunks"])]
    chunks = [chunk for pairs in per_article for chunk, _ in pairs]
    texts = [text for pairs in per_article for _, text in pairs]
    return chunks, texts


# ------------------------------------------------------------------------ embedding, in an actor pool


class _EmbedActor:
    """One Ray actor: loads the model once, then embeds batches of passages."""

    def __init__(self, spec: EmbedderSpec) -> None:
        from qa.index.embedding import Embedder

        self.embedder = Embedder.load(
            spec.model,
            cache_dir=Path(spec.cache_dir) if spec.cache_dir else None,
            passage_prompt=spec.passage_prompt,
            threads=spec.threads,
            device=spec.device,
        )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Rows of (position, text) -> rows of (position, vector)."""
        vectors = self.embedder.embed_passages([str(t) for t in batch["text"]], batch_size=len(batch["text"]))
        return {"position": batch["position"], "vector": vectors}


def _describe_model(spec: EmbedderSpec) -> dict[str, Any]:
    """Name, dimension and passage prompt of the model, read by loading it where the actors will."""
    embedder = _EmbedActor(spec).embedder
    return {"name": embedder.name, "dim": embedder.dim, "passage_prompt": embedder.passage_prompt}


def _folder_dimension(folder: Path) -> int | None:
    """The output dimension of a sentence-transformers folder, from its module configs (no model load);
    None when the modules do not say it plainly (then a worker loads the model to tell)."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        dim = None
        for module in modules:
            config_file = folder / module.get("path", "") / "config.json"
            kind = str(module.get("type", ""))
            if kind.endswith("Pooling"):
                config = json.loads(config_file.read_text(encoding="utf-8"))
                modes = [key for key, on in config.items() if key.startswith("pooling_mode_") and on is True]
                dim = int(config["word_embedding_dimension"]) if len(modes) == 1 else None
            elif kind.endswith("Dense"):
                dim = int(json.loads(config_file.read_text(encoding="utf-8"))["out_features"])
        return dim
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def describe_model(spec: EmbedderSpec) -> dict[str, Any]:
    """Name, dimension and passage prompt of the model: read from its folder here when the folder says
    them, else by loading the model in a Ray task (one model load on a worker)."""
    from qa.index.e5_convert import MODEL_NAME as E5_MODEL_NAME
    from qa.index.e5_convert import ensure_e5_model
    from qa.index.embedding import DEFAULT_CACHE_DIR, configured_passage_prompt

    cache_dir = Path(spec.cache_dir) if spec.cache_dir else None
    if spec.model == E5_MODEL_NAME:
        folder = ensure_e5_model(cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR)
    else:
        folder = Path(spec.model).expanduser()
    prompt = configured_passage_prompt(spec.model, cache_dir, spec.passage_prompt)
    dim = _folder_dimension(folder)
    if prompt is not None and dim is not None:
        return {"name": spec.model, "dim": dim, "passage_prompt": prompt}
    ray = _ray()
    probe = ray.remote(num_cpus=1)(_describe_model)
    try:
        return ray.get(probe.remote(spec))
    except ray.exceptions.RayTaskError as error:
        raise RaySetupError(f"the Ray workers cannot load the model {spec.model!r}: {error.cause}") from None


class RayEmbedder:
    """A `PassageEmbedder` that embeds a whole corpus on a pool of Ray actors (`embed_corpus`)."""

    def __init__(self, spec: EmbedderSpec, actors: int, gpus_per_actor: float) -> None:
        self.spec, self.actors, self.gpus_per_actor = spec, actors, gpus_per_actor
        described = describe_model(spec)
        self.name: str = described["name"]
        self.dim: int = int(described["dim"])
        self.passage_prompt: str = described["passage_prompt"]
        self.device = f"ray: {actors} actor(s) on {spec.device}"

    def embed_passages(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Unit float32 vectors (n, dim) of passages (all of them through the actor pool)."""
        return self.embed_corpus(texts, progress)

    def embed_corpus(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Unit float32 vectors (n, dim): texts sorted by length, batched, spread over the actors."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return vectors
        ray = _ray()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows = [{"position": i, "text": texts[i]} for i in order]
        batch_size = GPU_EMBED_BATCH if self.gpus_per_actor else EMBED_BATCH
        blocks = max(1, math.ceil(len(rows) / batch_size))
        dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            _EmbedActor,
            fn_constructor_kwargs={"spec": self.spec},
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.actors),
            num_cpus=self.spec.threads if not self.gpus_per_actor else 0,
            num_gpus=self.gpus_per_actor,
        )
        with tqdm(total=len(texts), desc="Embedding (Ray)", unit="text", disable=not progress) as bar:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                vectors[batch["position"]] = batch["vector"]
                bar.update(len(batch["position"]))
        return vectors


def plan_actors(device: str, cluster: dict[str, float], actors: int | None = None) -> tuple[str, int, float]:
    """(actor device, number of actors, GPUs per actor) for QA_DEVICE on a cluster with these resources.

    GPUs when the cluster has them and the device allows (auto, cuda, cuda:N): one actor per GPU. Else
    one single-threaded actor per CPU. `actors` overrides the count.
    """
    gpus, cpus = int(cluster.get("GPU", 0)), max(1, int(cluster.get("CPU", 1)))
    if device.startswith("cuda") and not gpus:
        raise RaySetupError(f"QA_DEVICE={device} but the Ray cluster has no GPU: use QA_DEVICE=auto or cpu")
    if device == "mps":
        raise RaySetupError("QA_DEVICE=mps is not offered to Ray actors: use QA_DEVICE=auto or cpu")
    if gpus and device != "cpu":
        return "cuda", actors or gpus, 1.0
    return "cpu", actors or cpus, 0.0


def build_on_ray(
    corpus: Path,
    address: str,
    write: Callable[[_Corpus, RayEmbedder, float], BuildReport],
    model: str,
    cache_dir: Path | None = None,
    passage_prompt: str | None = None,
    device: str = "auto",
    segment: SegmentSettings | None = None,
    num_cpus: int | None = None,
    actors: int | None = None,
) -> BuildReport:
    """Cut `corpus` in Ray tasks and hand it, with an embedder backed by a Ray actor pool, to `write`
    (the store's writer: `write_index` or `write_milvus_index`, given the read corpus, the embedder and
    when the build started). Starts a local Ray for `auto` (`num_cpus` CPUs) and stops it afterwards."""
    started = time.perf_counter()
    started_here = start_ray(address, num_cpus=num_cpus if address == LOCAL else None)
    ray = _ray()
    try:
        actor_device, count, gpus = plan_actors(device, ray.cluster_resources(), actors)
        spec = EmbedderSpec(
            model=model,
            cache_dir=str(cache_dir) if cache_dir else None,
            passage_prompt=passage_prompt,
            device=actor_device,
            threads=1,
        )
        segment = segment or SegmentSettings()
        loaded, problems = load_articles(corpus, segment, segment_all=segment_pages_ray)
        read = corpus_of(Path(corpus), loaded, problems, None, segment, chunk_all=chunk_articles_ray)
        return write(read, RayEmbedder(spec, count, gpus), started)
    finally:
        if started_here:
            ray.shutdown()
