"""`qa index --ray`: a local Ray (num_cpus=2, started by the build) cuts and embeds the seeds into the index
the local build makes: same articles, chunk ids, texts and offsets, vectors at cosine >= 0.999, the same
answers; into Milvus too. A cluster that does not answer, a device the cluster lacks, an address that is
not one: a sentence. Real Ray, real model, real FAISS and milvus-lite."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qa.cli import cli
from qa.index.errors import RaySetupError
from qa.index.ray_build import plan_actors, start_ray
from qa.index.store import load_index
from qa.service import QAService, rebuild_index
from qa.settings import Settings

DEV = Path(__file__).parent / "data" / "dev.jsonl"
DEV_QUESTIONS = [
    row["question"]
    for row in map(json.loads, DEV.read_text(encoding="utf-8").splitlines())
    if "question" in row  # single questions; chats ask them turn by turn
]


@pytest.fixture(scope="module")
def ray_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The session's settings with an empty index folder of its own (threads=2: the local Ray's CPUs)."""
    return settings.model_copy(update={"index_dir": tmp_path_factory.mktemp("ray-index"), "threads": 2})


@pytest.fixture(scope="module")
def ray_build(ray_settings: Settings):
    """The report of `qa index --ray auto` over the seeds."""
    return rebuild_index(ray_settings, progress=False, ray_address="auto")


def _rows(index) -> list[dict]:
    return [asdict(index.chunks[row]) for row in range(len(index.chunks))]


def test_ray_build_cuts_the_same_articles_and_chunks_as_the_local_build(ray_build, ray_settings, settings):
    local, on_ray = load_index(settings.index_dir), load_index(ray_settings.index_dir)
    assert ray_build.chunks == len(local.chunks) > 100
    assert _rows(on_ray) == _rows(local)  # ids, article ids, texts, offsets, in the same order
    assert {k: asdict(v) for k, v in on_ray.articles.items()} == {
        k: asdict(v) for k, v in local.articles.items()
    }
    for key in ("corpus_fingerprint", "counts", "chunking", "segmentation", "model_id"):
        assert on_ray.manifest[key] == local.manifest[key], key


def test_ray_vectors_agree_with_the_local_build(ray_build, ray_settings, settings):
    local, on_ray = load_index(settings.index_dir), load_index(ray_settings.index_dir)
    cosines = np.sum(local.dense.vectors() * on_ray.dense.vectors(), axis=1)
    assert cosines.min() >= 0.999, cosines.min()


def test_ray_build_report_names_the_actor_pool(ray_build):
    assert (ray_build.embedded, ray_build.reused) == (ray_build.chunks, 0)
    assert ray_build.device == "ray: 2 actor(s) on cpu"
    assert "on ray: 2 actor(s) on cpu" in ray_build.summary()


def test_ray_built_index_answers_every_dev_question_like_the_local_one(
    ray_build, ray_settings, service, embedder
):
    on_ray = QAService.load(ray_settings, embedder=embedder)
    assert len(DEV_QUESTIONS) >= 80
    for question in DEV_QUESTIONS:
        local, ray_answer = service.ask(question), on_ray.ask(question)
        assert [(c.article_id, c.start, c.end) for c in ray_answer.citations] == [
            (c.article_id, c.start, c.end) for c in local.citations
        ], question
        assert (ray_answer.short_answer, ray_answer.abstained) == (local.short_answer, local.abstained)


def test_ray_rebuild_of_an_unchanged_corpus_starts_no_ray(ray_build, ray_settings):
    report = rebuild_index(ray_settings, progress=False, ray_address="127.0.0.1:9")  # would not answer
    assert report.unchanged


def test_ray_build_into_milvus_reuses_the_local_vectors(ray_build, ray_settings, tmp_path, embedder):
    milvus = ray_settings.model_copy(update={"store": "milvus", "milvus_uri": str(tmp_path / "qa.db")})
    report = rebuild_index(milvus, progress=False, ray_address="auto")
    assert (report.chunks, report.embedded) == (ray_build.chunks, 0)
    answer = QAService.load(milvus, embedder=embedder).ask(DEV_QUESTIONS[0])
    assert answer.citations and not answer.abstained


def test_cli_ray_address_that_does_not_answer_is_one_sentence(tmp_path):
    result = CliRunner().invoke(
        cli, ["index", "--corpus", "seeds", "--index-dir", str(tmp_path), "--ray", "127.0.0.1:9", "--quiet"]
    )
    assert result.exit_code == 1
    assert "the Ray cluster at 127.0.0.1:9 does not answer" in result.output
    assert "Traceback" not in result.output


def test_something_that_is_not_a_ray_address_is_one_sentence():
    with pytest.raises(RaySetupError, match="is not a Ray address"):
        start_ray("nonsense")


def test_actors_take_the_clusters_gpus_and_refuse_cuda_without_them():
    assert plan_actors("auto", {"CPU": 16.0, "GPU": 4.0}) == ("cuda", 4, 1.0)
    assert plan_actors("cpu", {"CPU": 16.0, "GPU": 4.0}) == ("cpu", 16, 0.0)
    assert plan_actors("auto", {"CPU": 2.0}) == ("cpu", 2, 0.0)
    assert plan_actors("auto", {"CPU": 2.0}, actors=1) == ("cpu", 1, 0.0)
    with pytest.raises(RaySetupError, match="has no GPU"):
        plan_actors("cuda", {"CPU": 2.0})


def test_a_missing_ray_extra_is_refused_in_one_sentence(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as if `.[ray]` was not installed
    with pytest.raises(RaySetupError, match=r"pip install -e '\.\[ray\]'"):
        start_ray("auto")


def test_readme_documents_the_ray_build():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert "qa index --ray auto" in readme
