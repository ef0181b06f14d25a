"""How well does the segmenter cut typeset pages into their true articles, overall and per layout feature?

Why: a segmentation change is only safe when it is measured on pages nobody tuned for, and only
useful to measure when the figures say which layout it broke. The pages and gold come from
`benchmarks/typeset.py`; this script runs `qa.ingest.segment.segment_page` on each page and
compares the articles it produces with the true ones:

- body F1: each true article is matched to the produced article of its page sharing the most
  6-character shingles (text NFKC-normalised, letters and digits only, so OCR spaces and
  punctuation repair do not count); F1 of the two shingle sets, 0 when nothing matches.
- exact title: the matched article's title equals the true one after whitespace is removed and
  quote marks are unified.
- merged: a produced article holding >= 30% of the shingles of two or more true articles (counted
  once per produced article; per feature, the true articles caught in one).
- split: a true article whose shingles are spread over 2+ produced articles holding >= 20% each.
- spurious: a produced article whose shingles are mostly (> 50%) in no true article: a caption,
  a byline, a column header, a fragment.
- body lost: the share of a true article's shingles found in no produced article at all (text the
  segmenter dropped, e.g. as masthead), averaged over true articles.
- date: the matched article's date equals the masthead's (or is "" on a page without one).
- untitled: the matched article says the page gave it no headline (`Article.untitled`, a placeholder
  title): counted as "no title", apart from wrong titles (it is not exact either).
- photo: a produced photo-news item (`Article.kind == "photo"`: a caption with its own photo
  headline) is neither matched to a true article nor counted as spurious or merged; `photos` counts them.

    python benchmarks/segmentation.py PAGES_DIR GOLD.jsonl [--json] [--failures] [--out FILE [--key K]]
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))  # typeset.py beside this file
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the local qa package

from typeset import feature_tags

SHINGLE = 6
MERGE_SHARE = 0.30
SPLIT_SHARE = 0.20
SPURIOUS_SHARE = 0.50
_QUOTES = str.maketrans({c: '"' for c in "“”„‟″'‘’「」『』"})


class ArticleLike(Protocol):
    """What scoring reads of a produced article (`qa.records.Article` has it)."""

    title: str
    text: str
    date: str
    # `kind` ("article"/"photo") and `untitled` are read with getattr: defaults "article" and False.


def _norm_text(text: str) -> str:
    """Letters and digits only, NFKC-normalised and lower-cased: what shingles are cut from."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if ch.isalnum())


def shingles(text: str) -> set[str]:
    """The set of 6-character shingles of a text (the whole text when it is shorter)."""
    norm = _norm_text(text)
    if len(norm) < SHINGLE:
        return {norm} if norm else set()
    return {norm[i : i + SHINGLE] for i in range(len(norm) - SHINGLE + 1)}


def norm_title(title: str) -> str:
    """A title compared for exactness: NFKC, no whitespace, one kind of quote mark."""
    return "".join(unicodedata.normalize("NFKC", title).translate(_QUOTES).split())


def _score_page(
    name: str, produced: Sequence[ArticleLike], gold: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per true article results and the page's own counts (produced, merged, spurious, photos)."""
    photos = [a for a in produced if getattr(a, "kind", "article") == "photo"]
    produced = [a for a in produced if getattr(a, "kind", "article") != "photo"]
    true_sets = [shingles(row["body"]) for row in gold]
    made_sets = [shingles(article.text) for article in produced]
    overlap = [[len(t & m) for m in made_sets] for t in true_sets]
    in_merge: set[int] = set()
    merged = 0
    for j in range(len(produced)):
        holders = [i for i, t in enumerate(true_sets) if t and overlap[i][j] >= MERGE_SHARE * len(t)]
        if len(holders) >= 2:
            merged += 1
            in_merge.update(holders)
    spurious = []
    for j, article in enumerate(produced):
        best = max((overlap[i][j] for i in range(len(gold))), default=0)
        if not made_sets[j] or best <= SPURIOUS_SHARE * len(made_sets[j]):
            spurious.append({"title": article.title, "text": article.text[:40]})
    everything = set().union(*made_sets) if made_sets else set()
    results = []
    for i, row in enumerate(gold):
        t = true_sets[i]
        j = max(range(len(produced)), key=lambda k: overlap[i][k], default=None)
        hit = overlap[i][j] if j is not None else 0
        f1 = 2 * hit / (len(t) + len(made_sets[j])) if hit else 0.0
        shares = sum(1 for k in range(len(produced)) if t and overlap[i][k] >= SPLIT_SHARE * len(t))
        match = produced[j] if hit else None
        results.append(
            {
                "page": name,
                "title": row["title"],
                "produced_title": match.title if match else None,
                "title_exact": bool(match) and norm_title(match.title) == norm_title(row["title"]),
                "untitled": bool(match) and bool(getattr(match, "untitled", False)),
                "body_f1": f1,
                "merged": i in in_merge,
                "split": shares >= 2,
                "lost": len(t - everything) / len(t) if t else 0.0,
                "date_ok": bool(match) and match.date == row.get("date", ""),
                "tags": feature_tags(row["features"]),
            }
        )
    counts = {"produced": len(produced), "merged": merged, "spurious": spurious, "photos": len(photos)}
    return results, {"page": name, **counts}


def _figures(results: Sequence[dict[str, Any]], pages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The summary figures of some true articles and the pages they sit on."""
    n = len(results)
    return {
        "pages": len(pages),
        "articles_true": n,
        "articles_produced": sum(p["produced"] for p in pages),
        "title_exact": round(sum(r["title_exact"] for r in results) / n, 4) if n else 0.0,
        "title_untitled": round(sum(r["untitled"] for r in results) / n, 4) if n else 0.0,
        "body_f1": round(sum(r["body_f1"] for r in results) / n, 4) if n else 0.0,
        "merged": sum(p["merged"] for p in pages),
        "articles_in_merge": sum(r["merged"] for r in results),
        "split": sum(r["split"] for r in results),
        "body_lost": round(sum(r["lost"] for r in results) / n, 4) if n else 0.0,
        "spurious": sum(len(p["spurious"]) for p in pages),
        "date_ok": round(sum(r["date_ok"] for r in results) / n, 4) if n else 0.0,
        "photos": sum(p["photos"] for p in pages),
    }


def score_articles(
    produced: dict[str, Sequence[ArticleLike]], gold_rows: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Score produced articles per page (page file -> articles) against the gold rows."""
    by_page: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in gold_rows:
        by_page[row["page"]].append(row)
    results: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    for name in sorted(by_page):
        page_results, page = _score_page(name, produced.get(name, []), by_page[name])
        page["tags"] = sorted({tag for r in page_results for tag in r["tags"]})
        results += page_results
        pages.append(page)
    per_feature = {}
    for tag in sorted({tag for r in results for tag in r["tags"]}):
        tagged = [r for r in results if tag in r["tags"]]
        per_feature[tag] = _figures(tagged, [p for p in pages if tag in p["tags"]])
    overall = _figures(results, pages)
    overall["merged_per_100"] = round(100 * overall["merged"] / max(1, overall["articles_true"]), 2)
    overall["title_wrong"] = round(1 - overall["title_exact"] - overall["title_untitled"], 4)
    failures = [r for r in results if not r["title_exact"] or r["body_f1"] < 0.9 or r["merged"] or r["split"]]
    spurious = [{"page": p["page"], **s} for p in pages for s in p["spurious"]]
    return {"overall": overall, "per_feature": per_feature, "failures": failures, "spurious": spurious}


def score(
    pages_dir: Path, gold_path: Path, segment: Callable[[str, str], Sequence[ArticleLike]] | None = None
) -> dict[str, Any]:
    """Segment every page of `pages_dir` (with the project's segmenter unless given) and score it."""
    if segment is None:
        from qa.ingest.segment import segment_page
        from qa.records import Page

        def segment(name: str, text: str) -> Sequence[ArticleLike]:
            return segment_page(Page(source=name, text=text))

    gold_rows = [json.loads(line) for line in gold_path.read_text(encoding="utf-8").splitlines() if line]
    names = sorted({row["page"] for row in gold_rows})
    produced = {name: segment(name, (pages_dir / name).read_text(encoding="utf-8")) for name in names}
    return score_articles(produced, gold_rows)


def render(report: dict[str, Any]) -> str:
    """The report as a plain-text table: overall, then each feature, worst exact-title rate first."""
    head = f"{'feature':26} {'pages':>5} {'true':>5} {'made':>5} {'title':>6} {'bodyF1':>6} "
    head += f"{'merged':>6} {'inMrg':>5} {'split':>5} {'spur':>5} {'lost':>5} {'date':>5} {'noTtl':>5}"
    lines = [head, "-" * len(head)]

    def row(label: str, f: dict[str, Any]) -> str:
        return (
            f"{label:26} {f['pages']:5d} {f['articles_true']:5d} {f['articles_produced']:5d} "
            f"{f['title_exact']:6.3f} {f['body_f1']:6.3f} {f['merged']:6d} {f['articles_in_merge']:5d} "
            f"{f['split']:5d} {f['spurious']:5d} {f['body_lost']:5.3f} {f['date_ok']:5.2f} "
            f"{f['title_untitled']:5.3f}"
        )

    lines.append(row("ALL", report["overall"]))
    lines.append("")
    for tag, figures in sorted(report["per_feature"].items(), key=lambda kv: (kv[1]["title_exact"], kv[0])):
        lines.append(row(tag, figures))
    return "\n".join(lines)


def main() -> None:
    """CLI: score the segmenter on a typeset set and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", type=Path, help="folder of page .txt files (typeset.py's DIR/pages)")
    parser.add_argument("gold", type=Path, help="gold.jsonl written by typeset.py")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    parser.add_argument("--failures", action="store_true", help="also list each failed true article")
    parser.add_argument("--out", type=Path, help="also write the figures (no per-article lists) to this JSON")
    parser.add_argument(
        "--key", help="with --out: store the figures under this key, keeping the file's others"
    )
    args = parser.parse_args()
    report = score(args.pages, args.gold)
    if args.out:
        slim: dict[str, Any] = {"overall": report["overall"], "per_feature": report["per_feature"]}
        if args.key:
            old = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
            slim = {**old, args.key: {"pages_dir": str(args.pages), **slim}}
        args.out.write_text(json.dumps(slim, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    print(render(report))
    if args.failures:
        print()
        for r in report["failures"]:
            flags = " ".join(k for k in ("merged", "split", "untitled") if r[k])
            print(f"{r['page']} f1={r['body_f1']:.2f} {flags} | {r['title']} | -> {r['produced_title']}")
        for s in report["spurious"]:
            print(f"{s['page']} SPURIOUS | {s['title']} | {s['text']}")


if __name__ == "__main__":
    main()
