"""Indexing: seeds build/load, incremental rebuilds, atomic swap, clear errors, problems reported."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa.index.build import EmptyCorpusError, build_index
from qa.index.lexical import tokenize
from qa.index.store import (
    BUILDS_DIR,
    CURRENT_FILE,
    FORMAT_VERSION,
    LOCK_FILE,
    MANIFEST_FILE,
    RECORDS_FILE,
    IndexBusyError,
    IndexCorruptError,
    IndexMissingError,
    index_exists,
    load_index,
)
from qa.ingest.chunking import chunk_article, embedding_text
from qa.records import Article
from qa.settings import PROJECT_ROOT

SEEDS = PROJECT_ROOT / "seeds"

ARTICLES = [
    Article(
        id="news-1",
        title="曹魏古城中秋灯会开幕",
        text="中秋佳节，曹魏古城举办灯会。市民携家人游园赏灯，现场人头攒动。灯会将持续到十月七日。",
        date="2019-09-13",
        source="test",
    ),
    Article(
        id="news-2",
        title="交警整治交通秩序",
        text="市公安局交管部门开展交通秩序整治行动。今年以来共查处交通违法行为二十七万余起。",
        date="2019-09-12",
        source="test",
    ),
    Article(
        id="news-3",
        title="秋粮丰收在望",
        text="农业部门指导农民抢收玉米。全市秋粮播种面积稳中有增，丰收在望。",
        date="2019-09-11",
        source="test",
    ),
]


def write_corpus(folder: Path, articles: list[Article], name: str = "articles.jsonl") -> Path:
    """A corpus folder holding one JSONL export of the articles."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w", encoding="utf-8") as handle:
        for a in articles:
            row = {"id": a.id, "title": a.title, "text": a.text, "date": a.date, "source": a.source}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder


# ------------------------------------------------------------------------------------------ seeds build


def test_seeds_index_loads_with_every_row_aligned(seeds_index_dir: Path) -> None:
    index = load_index(seeds_index_dir)
    assert index.chunks
    assert len(index.chunks) == len(index.dense) == index.lexical.num_docs
    for chunk in index.chunks:
        article = index.articles[chunk.article_id]
        assert chunk.text == article.text[chunk.start : chunk.end]


def test_seeds_manifest_records_model_counts_and_fingerprint(seeds_index_dir: Path, embedder) -> None:
    manifest = load_index(seeds_index_dir).manifest
    assert manifest["format_version"] == FORMAT_VERSION == 4
    assert manifest["model"] == embedder.name
    assert manifest["dim"] == embedder.dim
    assert manifest["counts"]["chunks"] > 0 and manifest["counts"]["articles"] > 0
    assert len(manifest["corpus_fingerprint"]) == 64
    assert {"max_chars", "overlap_sentences"} <= set(manifest["chunking"])
    assert {"faiss-cpu", "bm25s", "jieba"} <= set(manifest["libraries"])
    assert manifest["built_at"].startswith("20")


def test_manifest_records_the_segmentation_settings_and_the_corpus_aliases(seeds_index_dir: Path) -> None:
    from dataclasses import asdict

    from qa.ingest.segment import SegmentSettings

    index = load_index(seeds_index_dir)
    assert index.manifest["segmentation"] == asdict(SegmentSettings())
    assert index.aliases["许昌"] == ("我市", "本市")  # from seeds/aliases.json, not from code


def test_an_index_is_cut_with_the_segmentation_settings_it_is_given(tmp_path: Path, embedder) -> None:
    from qa.ingest.segment import SegmentSettings

    corpus = tmp_path / "pages"
    corpus.mkdir()
    (corpus / "page.txt").write_text("市区新建停车位三千个，方便市民出行。\n停车位建成\n", encoding="utf-8")
    short = SegmentSettings(head_max_lines=4)
    build_index(corpus, tmp_path / "index", embedder, progress=False, segment=short)
    manifest = load_index(tmp_path / "index").manifest
    assert manifest["segmentation"]["head_max_lines"] == 4


def test_bm25_finds_a_seed_article_by_a_headline_word(seeds_index_dir: Path) -> None:
    index = load_index(seeds_index_dir)
    titled = [a for a in index.articles.values() if tokenize(a.title) and not a.untitled]
    assert titled  # a placeholder title ("<page> <date> 无标题") is not the page's text and is not indexed
    for article in titled:
        # The title word printed in the fewest chunk bodies: found through the headline, not the body.
        word = min(tokenize(article.title), key=lambda w: (sum(w in c.text for c in index.chunks), -len(w)))
        rows = [row for row, _ in index.lexical.search(word, 10)]
        assert any(index.chunks[row].article_id == article.id for row in rows), (article.title, word)


def test_dense_search_finds_a_seed_chunk_by_its_own_text(seeds_index_dir: Path, embedder) -> None:
    index = load_index(seeds_index_dir)
    chunk = max(index.chunks, key=lambda c: len(c.text))
    _scores, rows = index.dense.search(embedder.embed_queries([chunk.text]), 5)
    assert index.chunks.index(chunk) in rows[0].tolist()


def test_index_exists_only_after_a_build(seeds_index_dir: Path, tmp_path: Path) -> None:
    assert index_exists(seeds_index_dir)
    assert not index_exists(tmp_path)


# ------------------------------------------------------------------------------------------ incremental


def test_second_build_of_an_unchanged_corpus_embeds_nothing(tmp_path: Path, embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    first = build_index(corpus, tmp_path / "index", embedder, progress=False)
    second = build_index(corpus, tmp_path / "index", embedder, progress=False)
    assert first.embedded == first.chunks > 0 and first.reused == 0
    assert second.embedded == 0 and second.reused == second.chunks == first.chunks
    assert (
        load_index(tmp_path / "index").manifest["corpus_fingerprint"]
        == (json.loads((first.path / MANIFEST_FILE).read_text())["corpus_fingerprint"])
    )


def test_changing_one_article_reembeds_only_its_changed_chunks(tmp_path: Path, embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    build_index(corpus, tmp_path / "index", embedder, progress=False)
    old = ARTICLES[1]
    new = Article(**{**old.__dict__, "text": old.text + "交警提醒市民文明出行。"})
    write_corpus(corpus, [ARTICLES[0], new, ARTICLES[2]])

    report = build_index(corpus, tmp_path / "index", embedder, progress=False)

    old_texts = {embedding_text(c, old) for c in chunk_article(old)}
    changed = [c for c in chunk_article(new) if embedding_text(c, new) not in old_texts]
    assert report.embedded == len(changed) > 0
    assert report.reused == report.chunks - len(changed)
    loaded = load_index(tmp_path / "index")
    assert loaded.articles["news-2"].text == new.text
    rows = [row for row, _ in loaded.lexical.search("文明出行", 3)]
    assert loaded.chunks[rows[0]].article_id == "news-2"


def test_reused_vectors_equal_freshly_embedded_ones(tmp_path: Path, embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    build_index(corpus, tmp_path / "index", embedder, progress=False)
    build_index(corpus, tmp_path / "index", embedder, progress=False)
    index = load_index(tmp_path / "index")
    texts = [embedding_text(c, index.articles[c.article_id]) for c in index.chunks]
    fresh = embedder.embed_passages(texts)
    assert abs(index.dense.vectors() - fresh).max() < 1e-4


def test_rebuild_keeps_only_the_new_and_the_replaced_build(tmp_path: Path, embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    reports = [build_index(corpus, tmp_path / "index", embedder, progress=False) for _ in range(3)]
    kept = {p.name for p in (tmp_path / "index" / BUILDS_DIR).iterdir()}
    assert kept == {reports[1].build_id, reports[2].build_id}
    assert (tmp_path / "index" / CURRENT_FILE).read_text().strip() == reports[2].build_id


def test_summary_names_the_counts(tmp_path: Path, embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    report = build_index(corpus, tmp_path / "index", embedder, progress=False)
    summary = report.summary()
    assert f"{report.articles} articles" in summary and f"{report.chunks} chunks" in summary
    assert "chunks/s" in summary and report.chunks_per_s > 0


# ------------------------------------------------------------------------------------------ problems


def test_bad_corpus_lines_are_reported_and_the_rest_indexed(tmp_path: Path, embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    (corpus / "broken.jsonl").write_text('{"id": "x", "text": \n not json at all\n', encoding="utf-8")
    report = build_index(corpus, tmp_path / "index", embedder, progress=False)
    assert report.problems
    assert any("broken.jsonl" in str(problem) for problem in report.problems)
    assert set(load_index(tmp_path / "index").articles) >= {a.id for a in ARTICLES}


def test_corpus_without_articles_is_refused_and_leaves_no_index(tmp_path: Path, embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with pytest.raises(EmptyCorpusError, match="no articles"):
        build_index(corpus, tmp_path / "index", embedder, progress=False)
    assert not index_exists(tmp_path / "index")


# ------------------------------------------------------------------------------------------ errors


def test_loading_a_missing_index_says_to_run_qa_index(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="qa index"):
        load_index(tmp_path / "nowhere")


def test_loading_with_another_model_is_refused(tmp_path: Path, embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    build_index(corpus, tmp_path / "index", embedder, progress=False)
    assert load_index(tmp_path / "index", model=embedder.name).manifest["model"] == embedder.name
    with pytest.raises(IndexCorruptError, match="other-model"):
        load_index(tmp_path / "index", model="other-model")


def _drop_last_chunk(build: Path) -> None:
    """Damage: the records file loses its last chunk (and says so in its header)."""
    with sqlite3.connect(build / RECORDS_FILE) as connection:
        connection.execute("DELETE FROM chunks WHERE row = (SELECT max(row) FROM chunks)")
        connection.execute("UPDATE meta SET value = value - 1 WHERE key = 'chunks'")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda build: (build / MANIFEST_FILE).write_text("{not json"), "cannot read"),
        (lambda build: (build / MANIFEST_FILE).write_text('{"format_version": 99}'), "format version"),
        (_drop_last_chunk, "disagree"),
        (lambda build: (build / RECORDS_FILE).write_bytes(b"not a database" * 100), "cannot read"),
        (lambda build: (build / RECORDS_FILE).unlink(), "no records file"),
        (lambda build: (build / "dense.faiss").unlink(), "no dense index"),
    ],
    ids=[
        "manifest-not-json",
        "manifest-future-format",
        "records-one-chunk-short",
        "records-not-sqlite",
        "records-missing",
        "dense-missing",
    ],
)
def test_damaged_index_gives_a_clear_error(tmp_path: Path, embedder, damage, message: str) -> None:
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    report = build_index(corpus, tmp_path / "index", embedder, progress=False)
    damage(report.path)
    with pytest.raises(IndexCorruptError, match=message):
        load_index(tmp_path / "index")


def test_old_format_index_asks_for_rebuild(tmp_path: Path, embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    report = build_index(corpus, tmp_path / "index", embedder, progress=False)
    manifest_path = report.path / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest_path.write_text(json.dumps({**manifest, "format_version": 1}), encoding="utf-8")
    (report.path / RECORDS_FILE).unlink()  # a format-1 build kept its records in JSONL files
    rebuild = f"format version 1, this code reads {FORMAT_VERSION}: run `qa index` to rebuild"
    with pytest.raises(IndexCorruptError, match=rebuild):
        load_index(tmp_path / "index")


def test_current_pointing_at_a_missing_build_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / CURRENT_FILE).write_text("20200101T000000-deadbeef\n")
    with pytest.raises(IndexCorruptError, match="qa index"):
        load_index(tmp_path)


def test_a_second_concurrent_build_is_refused(tmp_path: Path, embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    with open(index_dir / LOCK_FILE, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(IndexBusyError, match="another build"):
            build_index(corpus, index_dir, embedder, progress=False)


# ------------------------------------------------------------------------------------------ atomic swap


def test_half_written_build_folder_is_ignored_then_cleaned_up(tmp_path: Path, embedder) -> None:
    corpus = write_corpus(tmp_path / "corpus", ARTICLES)
    first = build_index(corpus, tmp_path / "index", embedder, progress=False)
    leftover = tmp_path / "index" / BUILDS_DIR / "20990101T000000-halfdone"
    leftover.mkdir()
    (leftover / "dense.faiss").write_bytes(b"truncated")
    assert load_index(tmp_path / "index").manifest["build_id"] == first.build_id
    build_index(corpus, tmp_path / "index", embedder, progress=False)
    assert not leftover.exists()


KILLED_BUILD = """
import sys
from pathlib import Path
from qa.index.embedding import Embedder
from qa.index.build import build_index
embedder = Embedder.load("multilingual-e5-small", cache_dir=Path(sys.argv[3]))
build_index(Path(sys.argv[1]), Path(sys.argv[2]), embedder, progress=True)
"""


def _wait_for(process: subprocess.Popen, marker: bytes, seconds: float) -> bytes:
    """Read the process's stderr until `marker` shows up (or fail after `seconds`)."""
    seen = b""
    deadline = time.monotonic() + seconds
    os.set_blocking(process.stderr.fileno(), False)
    while marker not in seen:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"build never reached {marker!r}: {seen.decode(errors='replace')[-2000:]}")
        chunk = process.stderr.read(4096)
        if chunk:
            seen += chunk
        else:
            time.sleep(0.05)
    return seen


def test_rebuild_killed_while_embedding_leaves_the_previous_index_whole(
    tmp_path: Path, embedder, model_cache_dir: Path
) -> None:
    index_dir = tmp_path / "index"
    first = build_index(write_corpus(tmp_path / "small", ARTICLES), index_dir, embedder, progress=False)
    before = load_index(index_dir).manifest
    # A bigger, different corpus: slices of the seed pages, so the rebuild has plenty to embed.
    text = "".join(path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt")))
    big = [
        Article(id=f"slice-{i}", title=f"切片{i}", text=text[i : i + 400]) for i in range(0, len(text), 400)
    ]
    big_corpus = write_corpus(tmp_path / "big", big)

    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(big_corpus), str(index_dir), str(model_cache_dir)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        cwd=PROJECT_ROOT,
    )
    try:
        _wait_for(process, b"Embedding", seconds=300)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    assert (index_dir / CURRENT_FILE).read_text().strip() == first.build_id
    after = load_index(index_dir)
    assert after.manifest == before
    assert set(after.articles) == {a.id for a in ARTICLES}
    assert len(after.chunks) == len(after.dense) == after.lexical.num_docs
