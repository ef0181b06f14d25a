"""Records on disk: articles and chunks in records.sqlite, read on demand by a loaded index."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from qa.index.errors import IndexCorruptError
from qa.index.record_store import ArticleTable, ChunkTable, RecordStore, write_records
from qa.index.store import load_index
from qa.records import Article, Chunk

ARTICLES = [
    Article(
        id="a-1",
        title="曹魏古城中秋灯会开幕",
        text="中秋佳节，曹魏古城举办灯会。市民携家人游园赏灯。",
        date="2019-09-13",
        source="page-01.txt",
        byline="本报记者 张三",
        subtitle="游园赏灯 欢度佳节",
    ),
    Article(
        id="a-2",
        title="2019-09 许昌日报 第2版",
        text="图为市民在鹿鸣湖畔散步。（摄影 李四）",
        date="2019-09",
        source="page-02.txt",
        kind="photo",
        untitled=True,
    ),
    Article(id="a-3", title="", text="", date="", source=""),
    Article(id="a-0", title="秋粮丰收", text="农业部门指导农民抢收玉米。丰收在望。", date="2019-09-13"),
]
CHUNKS = [
    Chunk(id="a-1#0", article_id="a-1", start=0, end=14, text=ARTICLES[0].text[0:14]),
    Chunk(id="a-1#1", article_id="a-1", start=14, end=23, text=ARTICLES[0].text[14:23]),
    Chunk(id="a-2#0", article_id="a-2", start=0, end=20, text=ARTICLES[1].text[0:20]),
    Chunk(id="a-0#0", article_id="a-0", start=0, end=13, text=ARTICLES[3].text[0:13]),
]


@pytest.fixture
def records(tmp_path: Path) -> Iterator[RecordStore]:
    write_records(tmp_path / "records.sqlite", ARTICLES, CHUNKS)
    store = RecordStore(tmp_path / "records.sqlite")
    yield store
    store.close()


def test_records_round_trip_every_field_of_every_article_and_chunk(records: RecordStore) -> None:
    chunks, articles = ChunkTable(records), ArticleTable(records)
    assert list(chunks) == [chunks[row] for row in range(len(chunks))] == CHUNKS
    assert [articles[a.id] for a in ARTICLES] == ARTICLES
    assert list(articles) == [a.id for a in ARTICLES]  # build order, as the JSONL files kept it
    assert list(articles.values()) == ARTICLES
    assert list(articles.items()) == [(a.id, a) for a in ARTICLES]
    assert isinstance(articles["a-2"].untitled, bool) and articles["a-2"].untitled


def test_article_table_behaves_like_a_read_only_mapping(records: RecordStore) -> None:
    articles = ArticleTable(records)
    assert len(articles) == len(articles.values()) == len(ARTICLES)
    assert "a-1" in articles and "missing" not in articles and 3 not in articles
    assert articles.get("missing") is None and articles.get("\ud800") is None  # a lone surrogate: absent
    with pytest.raises(KeyError):
        articles["missing"]
    assert dict(articles) == {a.id: a for a in ARTICLES}


def test_chunk_table_behaves_like_a_sequence(records: RecordStore) -> None:
    chunks = ChunkTable(records)
    assert chunks[-1] == CHUNKS[-1] and chunks[1:3] == CHUNKS[1:3]
    assert chunks.index(CHUNKS[2]) == 2
    with pytest.raises(IndexError):
        chunks[len(CHUNKS)]


def test_articles_in_date_order_match_sorting_them_all(records: RecordStore) -> None:
    expected = sorted(ARTICLES, key=lambda a: (a.date, a.id))
    assert list(ArticleTable(records).in_date_order()) == expected


def test_records_are_written_once(tmp_path: Path) -> None:
    write_records(tmp_path / "records.sqlite", ARTICLES, CHUNKS)
    with pytest.raises(FileExistsError):
        write_records(tmp_path / "records.sqlite", ARTICLES, CHUNKS)


def test_concurrent_reads_from_threads_see_the_same_records(tmp_path: Path) -> None:
    articles = [Article(id=f"n-{i}", title=f"标题{i}", text=f"正文{i}。" * 5) for i in range(300)]
    chunks = [Chunk(f"n-{i}#0", f"n-{i}", 0, 4, a.text[:4]) for i, a in enumerate(articles)]
    write_records(tmp_path / "records.sqlite", articles, chunks)
    store = RecordStore(tmp_path / "records.sqlite")
    table, by_id = ChunkTable(store, cache_size=16), ArticleTable(store, cache_size=16)

    def read(seed: int) -> bool:
        rows = random.Random(seed).sample(range(len(chunks)), len(chunks))
        return all(table[r] == chunks[r] and by_id[chunks[r].article_id] == articles[r] for r in rows)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(read, range(16)))
    store.close()


def test_a_damaged_records_file_gives_index_corrupt_error_with_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    write_records(path, ARTICLES, CHUNKS * 200)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptError, match="run `qa index` to rebuild"):
        store = RecordStore(path)
        list(ChunkTable(store))
    path.write_bytes(b"\0" * len(data))
    with pytest.raises(IndexCorruptError, match=r"cannot read .*records\.sqlite.*run `qa index` to rebuild"):
        RecordStore(path)


def test_index_records_are_read_from_disk_on_demand(seeds_index_dir: Path) -> None:
    def held_chunks() -> int:
        gc.collect()
        return sum(type(obj) is Chunk for obj in gc.get_objects())

    before = held_chunks()
    index = load_index(seeds_index_dir)
    assert held_chunks() == before  # loading makes no Chunk objects: they come when asked for
    assert isinstance(index.chunks, ChunkTable) and isinstance(index.articles, ArticleTable)
    chunk = index.chunks[len(index.chunks) - 1]
    assert chunk.text == index.articles[chunk.article_id].text[chunk.start : chunk.end]
