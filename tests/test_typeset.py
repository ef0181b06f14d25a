"""The page typesetter (benchmarks/typeset.py) and the segmentation score (benchmarks/segmentation.py).

The typesetter must be reproducible and honest (every gold title and body really is on its page,
every layout feature really occurs); the score must give 1.0 to a perfect segmentation and count a
merge, a split and a stray caption once. The score is fed articles directly, so these tests do not
run the segmenter and stay fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from qa.records import Article

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import segmentation  # noqa: E402
import typeset  # noqa: E402

Pages = list[tuple[str, list[dict[str, Any]]]]


@pytest.fixture(scope="module")
def articles() -> list[typeset.SourceArticle]:
    if not typeset.CRUD_CORPUS.exists():
        pytest.skip(f"{typeset.CRUD_CORPUS} is not here")
    return typeset.load_crud_articles()


@pytest.fixture(scope="module")
def pages(articles: list[typeset.SourceArticle]) -> Pages:
    return typeset.typeset_pages(articles, seed=1, n_pages=24)


def _squash(text: str) -> str:
    return "".join(text.split())


def _gold_as_produced(pages: Pages) -> dict[str, list[Article]]:
    """What a perfect segmenter would return for each page file."""
    return {
        f"p{n:03d}.txt": [
            Article(id=str(i), title=row["title"], text=row["body"], date=row["date"])
            for i, row in enumerate(gold)
        ]
        for n, (_, gold) in enumerate(pages)
    }


def _gold_rows(pages: Pages) -> list[dict[str, Any]]:
    return [{"page": f"p{n:03d}.txt", **row} for n, (_, gold) in enumerate(pages) for row in gold]


def test_only_clean_short_headlines_are_used(articles: list[typeset.SourceArticle]) -> None:
    assert len(articles) >= 50
    assert all(5 <= len(a.title) <= 28 and len(a.paragraphs) >= 2 for a in articles)
    assert not any("记者" in p or "摄" in p for a in articles for p in a.paragraphs)


def test_same_seed_gives_the_same_pages(articles: list[typeset.SourceArticle], pages: Pages) -> None:
    assert typeset.typeset_pages(articles, seed=1, n_pages=24) == pages
    assert typeset.typeset_pages(articles, seed=2, n_pages=24) != pages


def test_every_gold_title_and_body_is_on_its_page(pages: Pages) -> None:
    for text, gold in pages:
        page = _squash(text)
        for row in gold:
            assert _squash(row["title"]) in page
            assert _squash(row["body"]) in page
            assert "摄" not in row["body"] and not row["body"].startswith("本报讯")


def test_every_layout_feature_occurs_in_a_24_page_set(pages: Pages) -> None:
    seen = {tag for _, gold in pages for row in gold for tag in typeset.feature_tags(row["features"])}
    assert set(typeset.ALL_TAGS) <= seen, set(typeset.ALL_TAGS) - seen


def test_pages_carry_the_seed_layout_marks(pages: Pages) -> None:
    text = "\n".join(page for page, _ in pages)
    for mark in ("本报讯（记者", "□ 记者", "通讯员", "下转第", "上接第", " 摄", "——", "星期"):
        assert mark in text, mark


def test_perfect_segmentation_scores_one(pages: Pages) -> None:
    report = segmentation.score_articles(_gold_as_produced(pages), _gold_rows(pages))
    overall = report["overall"]
    assert overall["title_exact"] == 1.0 and overall["body_f1"] == 1.0 and overall["date_ok"] == 1.0
    assert (overall["merged"], overall["split"], overall["spurious"]) == (0, 0, 0)
    assert overall["articles_true"] == overall["articles_produced"] == sum(len(g) for _, g in pages)
    assert all(figures["title_exact"] == 1.0 for figures in report["per_feature"].values())


def test_two_gold_articles_merged_count_as_one_merge(pages: Pages) -> None:
    produced = _gold_as_produced(pages)
    first, second, *rest = produced["p000.txt"]
    produced["p000.txt"] = [Article(id="m", title=first.title, text=first.text + "\n" + second.text), *rest]
    overall = segmentation.score_articles(produced, _gold_rows(pages))["overall"]
    assert overall["merged"] == 1 and overall["articles_in_merge"] == 2
    assert overall["split"] == 0 and overall["spurious"] == 0


def test_a_split_article_and_a_caption_article_are_counted(pages: Pages) -> None:
    produced = _gold_as_produced(pages)
    first, *rest = produced["p000.txt"]
    half = len(first.text) // 2
    caption = Article(id="c", title="图片新闻", text="9月4日，工人正在调试生产线上的机器人。本报记者 程萍 摄")
    produced["p000.txt"] = [
        Article(id="a", title=first.title, text=first.text[:half]),
        Article(id="b", title="", text=first.text[half:]),
        caption,
        *rest,
    ]
    report = segmentation.score_articles(produced, _gold_rows(pages))
    assert report["overall"]["split"] == 1 and report["overall"]["spurious"] == 1
    assert report["spurious"][0]["title"] == "图片新闻"


def test_a_photo_item_is_not_counted_as_a_spurious_article(pages: Pages) -> None:
    produced = _gold_as_produced(pages)
    photo = Article(id="p", title="p000 无标题", text="9月4日，工人正在调试生产线上的机器人。", kind="photo")
    produced["p000.txt"] = [*produced["p000.txt"], photo]
    overall = segmentation.score_articles(produced, _gold_rows(pages))["overall"]
    assert overall["spurious"] == 0 and overall["photos"] == 1
    assert overall["articles_produced"] == overall["articles_true"]


def test_an_untitled_article_counts_as_no_title_not_as_a_wrong_title(pages: Pages) -> None:
    produced = _gold_as_produced(pages)
    first, *rest = produced["p000.txt"]
    produced["p000.txt"] = [Article(id="u", title="p000 无标题", text=first.text, untitled=True), *rest]
    overall = segmentation.score_articles(produced, _gold_rows(pages))["overall"]
    n = overall["articles_true"]
    assert overall["title_exact"] == round((n - 1) / n, 4)
    assert overall["title_untitled"] == round(1 / n, 4) and overall["title_wrong"] == 0.0


def test_score_reads_a_written_set(pages: Pages, tmp_path: Path) -> None:
    typeset.write_set(pages[:3], tmp_path)
    gold = [json.loads(line) for line in (tmp_path / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == ["p000.txt", "p001.txt", "p002.txt"]
    by_page = _gold_as_produced(pages[:3])

    def fake_segment(name: str, text: str) -> list[Article]:
        assert text == pages[int(name[1:4])][0]
        return by_page[name]

    report = segmentation.score(tmp_path / "pages", tmp_path / "gold.jsonl", segment=fake_segment)
    assert report["overall"]["articles_true"] == len(gold)
    assert report["overall"]["title_exact"] == 1.0
    assert "line_width" not in segmentation.render(report).split("\n")[2]


def test_ocr_spreads_a_justified_line_but_keeps_numbers_whole() -> None:
    assert typeset._spread("挫败乌军20架无人机") == "挫 败 乌 军 20 架 无 人 机"


def test_a_page_prints_its_headlines_on_one_side_unless_mixed(pages: Pages) -> None:
    for _, gold in pages:
        sides = {row["features"]["headline"] for row in gold}
        mode = gold[0]["features"]["page_headlines"]
        assert mode == "mixed" or sides == {mode}


def test_perfect_segmentation_loses_no_text(pages: Pages) -> None:
    report = segmentation.score_articles(_gold_as_produced(pages), _gold_rows(pages))
    assert report["overall"]["body_lost"] == 0.0
    produced = _gold_as_produced(pages)
    produced["p000.txt"] = produced["p000.txt"][1:]
    assert segmentation.score_articles(produced, _gold_rows(pages))["overall"]["body_lost"] > 0.0
