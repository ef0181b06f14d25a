"""The peer: Langchain-Chatchat's retrieval recipe, built with the real LangChain packages.

What Chatchat deploys for Chinese document QA (server/file_rag/retrievers/ensemble.py and its
kb settings): a recursive character splitter with Chinese separators, chunks of 250 characters with
50 overlap; a LangChain FAISS vector store (L2 on normalised vectors); a `BM25Retriever` over the same
chunks with `jieba.lcut_for_search` as preprocess_func; an `EnsembleRetriever` fusing the two with
weights 0.5/0.5 (weighted reciprocal rank); top-3. The embedding model is ours (multilingual-e5-small
with its `query: `/`passage: ` prompts), wrapped as a LangChain `Embeddings`, so only the pipeline
differs. Needs the `bench` extra: `pip install -e '.[bench]'`.

    python benchmarks/peer.py "许昌市 ..."        # build the peer over the seeds, ask one question
"""

from __future__ import annotations

import hashlib
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _common import CACHE_DIR, log

warnings.filterwarnings("ignore", category=DeprecationWarning, module="langchain_community")

CHUNK_SIZE = 250
CHUNK_OVERLAP = 50
TOP_K = 3
WEIGHTS = (0.5, 0.5)
# Chatchat's ChineseRecursiveTextSplitter order: paragraphs, lines, sentence ends, clause marks.
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "，", ""]


def _langchain():
    """Import the LangChain pieces (a clear message when the bench extra is missing)."""
    try:
        import jieba
        from langchain_classic.retrievers import EnsembleRetriever
        from langchain_community.retrievers import BM25Retriever
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document
        from langchain_core.embeddings import Embeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise SystemExit(f"the peer needs the bench extra: pip install -e '.[bench]' ({error})") from error
    return (
        jieba,
        EnsembleRetriever,
        BM25Retriever,
        FAISS,
        Document,
        Embeddings,
        RecursiveCharacterTextSplitter,
    )


def _known_vectors(index_dir: Path) -> dict[str, np.ndarray]:
    """Vectors of a built product index keyed by qa.index.build.vector_key (model + exact text)."""
    from qa.index.dense import DenseIndex

    build = index_dir / "builds" / (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    keys = (build / "vector_keys.txt").read_text(encoding="utf-8").split()
    vectors = DenseIndex.load(build / "dense.faiss").vectors()
    return dict(zip(keys, vectors, strict=True))


def e5_embeddings(embedder, cache_name: str | None = None, reuse_index: Path | None = None):
    """Our Embedder as a LangChain `Embeddings` (e5 prompts applied by the embedder itself).

    With `cache_name`, passage vectors are cached under /tmp by a hash of the texts, and with
    `reuse_index` a window whose exact text our index already embedded (same model, same prompt,
    same text: qa.index.build.vector_key) takes that vector instead of being embedded again; quality and
    latency runs use both so the RGB corpus is not re-embedded each time. Build timings use neither.
    """
    *_, Embeddings, _splitter = _langchain()

    def embed(texts: list[str]) -> np.ndarray:
        """Passage vectors, reusing the index's vectors for texts it already holds."""
        if reuse_index is None:
            return np.asarray(embedder.embed_passages(texts, batch_size=32), np.float32)
        from qa.index.build import vector_key

        known = _known_vectors(reuse_index)
        model_id = f"{embedder.name}|{embedder.passage_prompt}"
        keys = [vector_key(model_id, text) for text in texts]
        missing = [i for i, key in enumerate(keys) if key not in known]
        log(
            f"peer embeddings: {len(texts) - len(missing)} reused from {reuse_index}, {len(missing)} to embed"
        )
        vectors = np.zeros((len(texts), embedder.dim), np.float32)
        for i, key in enumerate(keys):
            if key in known:
                vectors[i] = known[key]
        if missing:
            vectors[missing] = embedder.embed_passages([texts[i] for i in missing], batch_size=32)
        return vectors

    class E5Embeddings(Embeddings):
        """multilingual-e5-small through qa.index.embedding.Embedder."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            """Passage vectors ("passage: " prefix), normalised."""
            texts = list(texts)
            if cache_name is None:
                return embed(texts).tolist()
            digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
            path = CACHE_DIR / f"peer-{cache_name}-{digest}.npy"
            if path.exists():
                return np.load(path).tolist()
            vectors = embed(texts)
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            np.save(path, vectors)
            return vectors.tolist()

        def embed_query(self, text: str) -> list[float]:
            """Query vector ("query: " prefix), normalised."""
            return embedder.embed_queries([text])[0].tolist()

    return E5Embeddings()


@dataclass
class Peer:
    """The built peer pipeline: the ensemble and its two retrievers."""

    ensemble: object
    bm25: object
    vector: object
    chunks: int
    build_s: float
    timings: dict[str, float] = field(default_factory=dict)

    def search(self, question: str) -> list[str]:
        """The recipe's answer context: doc ids of the fused top-3 (what the LLM would be given)."""
        return [doc.metadata["doc_id"] for doc in self.ensemble.invoke(question)]

    def ranked(self, question: str, depth: int = 10) -> tuple[list, list]:
        """(Documents of the recipe's top-3 fusion, Documents of the same fusion over top-`depth` lists).

        The second list lets hit@5 and MRR@10 be measured; fusion is LangChain's own
        `weighted_reciprocal_rank`, only the per-retriever depth differs.
        """
        self.bm25.k = depth
        self.vector.search_kwargs["k"] = depth
        try:
            lexical = self.bm25.invoke(question)
            dense = self.vector.invoke(question)
        finally:
            self.bm25.k = TOP_K
            self.vector.search_kwargs["k"] = TOP_K
        top3 = self.ensemble.weighted_reciprocal_rank([lexical[:TOP_K], dense[:TOP_K]])
        deep = self.ensemble.weighted_reciprocal_rank([lexical, dense])
        return top3, deep


def split_documents(documents: list[tuple[str, str]]):
    """LangChain Documents of ≤250-char windows (50 overlap), each tagged with its source doc id."""
    *_, Document, _emb, RecursiveCharacterTextSplitter = _langchain()
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, separators=SEPARATORS, keep_separator="end"
    )
    return splitter.split_documents(
        [Document(page_content=text, metadata={"doc_id": doc_id}) for doc_id, text in documents]
    )


def build_peer(documents: list[tuple[str, str]], embeddings) -> Peer:
    """Split, embed, index: the whole Chatchat ingestion, timed step by step."""
    jieba, EnsembleRetriever, BM25Retriever, FAISS, *_ = _langchain()
    started = time.perf_counter()
    chunks = split_documents(documents)
    split_s = time.perf_counter() - started
    store = FAISS.from_documents(chunks, embeddings, normalize_L2=True)
    embed_s = time.perf_counter() - started - split_s
    bm25 = BM25Retriever.from_documents(chunks, preprocess_func=jieba.lcut_for_search)
    bm25.k = TOP_K
    vector = store.as_retriever(search_kwargs={"k": TOP_K})
    ensemble = EnsembleRetriever(retrievers=[bm25, vector], weights=list(WEIGHTS))
    build_s = time.perf_counter() - started
    return Peer(
        ensemble=ensemble,
        bm25=bm25,
        vector=vector,
        chunks=len(chunks),
        build_s=build_s,
        timings={
            "split_s": round(split_s, 2),
            "embed_and_faiss_s": round(embed_s, 2),
            "bm25_s": round(build_s - split_s - embed_s, 2),
        },
    )


def seeds_documents() -> list[tuple[str, str]]:
    """The seeds as the peer sees them: our cleaned articles (title + text), one document each.

    Giving the peer our OCR repair and article split is generous to it; it isolates the retrieval
    recipe, which is what is compared.
    """
    from _common import SEEDS_DIR

    from qa.ingest.segment import load_articles

    articles, _ = load_articles(SEEDS_DIR)
    return [(a.id, f"{a.title}\n{a.text}" if a.title else a.text) for a in articles]


def rgb_documents() -> list[tuple[str, str]]:
    """The RGB passages, one document each (id = the passage id the questions cite)."""
    from _common import RGB_CORPUS, read_jsonl

    return [(row["id"], row["text"]) for row in read_jsonl(RGB_CORPUS)]


def main() -> None:
    """Build the peer over the seeds and answer the question given on the command line."""
    from _common import load_embedder, set_threads

    set_threads()
    question = sys.argv[1] if len(sys.argv) > 1 else "许昌"
    log("building the peer over the seeds")
    peer = build_peer(seeds_documents(), e5_embeddings(load_embedder()))
    print(f"{peer.chunks} chunks in {peer.build_s:.1f} s {peer.timings}")
    for doc in peer.ensemble.invoke(question):
        print(doc.metadata["doc_id"], doc.page_content[:80].replace("\n", " "))


if __name__ == "__main__":
    main()
