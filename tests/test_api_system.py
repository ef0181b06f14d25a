"""/health, /stats, /articles/{id}, /examples, the page, OpenAPI; first start and a failed load."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.index.store import index_exists

TINY_EXPORT = [
    {
        "id": "tiny-library",
        "title": "市图书馆新馆开放",
        "date": "2020-12-01",
        "text": "本报讯 12月1日，许昌市图书馆新馆正式开放。新馆建筑面积3.2万平方米，共有阅览座位1800个。",
    },
    {
        "id": "tiny-bridge",
        "title": "清潩河大桥通车",
        "date": "2020-12-02",
        "text": "本报讯 12月2日，清潩河大桥正式通车。大桥全长860米，总投资2.1亿元。",
    },
]


@pytest.fixture(scope="module")
def client(settings, embedder, reader):
    """A TestClient opened with `with` (the lifespan runs) over the session's seeds index."""
    app = create_app(settings, embedder=embedder, reader=reader)
    with TestClient(app) as client:
        assert app.state.index.wait(600), "the index did not load"
        yield client


def test_health_is_ready_once_the_index_is_loaded(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_health_tells_the_page_the_servers_question_limit(settings, embedder, reader):
    assert settings.max_question_chars == 2000
    small = settings.model_copy(update={"max_question_chars": 120})
    with TestClient(create_app(small, embedder=embedder, reader=reader)) as client:
        assert client.get("/health").json()["max_question_chars"] == 120


def test_stats_describe_the_live_index(client, service):
    body = client.get("/stats").json()
    assert body["articles"] == len(service.index.articles)
    assert body["chunks"] == len(service.index.chunks)
    assert body["model"] == "multilingual-e5-small"
    assert body["built_at"] and len(body["corpus_fingerprint"]) == 64


def test_article_is_returned_whole(client, service):
    article = next(iter(service.index.articles.values()))
    body = client.get(f"/articles/{article.id}").json()
    assert body["id"] == article.id
    assert body["title"] == article.title
    assert body["text"] == article.text
    assert set(body) == {"id", "title", "text", "date", "source", "byline", "subtitle", "kind", "untitled"}


def test_unknown_article_is_404_with_a_sentence(client):
    response = client.get("/articles/no-such-article")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("No article with id 'no-such-article'")


def test_overlong_article_id_is_422(client):
    response = client.get("/articles/" + "x" * 300)
    assert response.status_code == 422
    assert "too long" in response.json()["detail"]


def test_examples_are_questions_the_index_answers_from_their_article(client):
    examples = client.get("/examples?limit=3").json()["examples"]
    assert 1 <= len(examples) <= 3
    for example in examples:
        answer = client.post("/ask", json={"question": example["question"]}).json()
        assert not answer["abstained"], example
        assert answer["citations"][0]["article_id"] == example["article_id"]


def test_examples_limit_is_checked(client):
    assert client.get("/examples?limit=0").status_code == 422
    assert client.get("/examples?limit=abc").status_code == 422


def test_page_and_its_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js"' in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_page_script_never_inserts_html():
    from qa.api.routes.web import WEB_DIR

    script = (WEB_DIR / "app.js").read_text(encoding="utf-8")
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script


def test_openapi_lists_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/ask",
        "/chat/stream",
        "/articles/{article_id}",
        "/health",
        "/stats",
        "/examples",
        "/index/status",
        "/index/rebuild",
        "/documents",
    ):
        assert path in paths


def test_first_start_builds_the_index_then_answers(tmp_path, settings, embedder, reader):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = "\n".join(json.dumps(a, ensure_ascii=False) for a in TINY_EXPORT)
    (corpus / "tiny.jsonl").write_text(lines + "\n", encoding="utf-8")
    index_dir = tmp_path / "index"
    app = create_app(
        settings.model_copy(update={"corpus_dir": corpus, "index_dir": index_dir}),
        embedder=embedder,
        reader=reader,
    )
    with TestClient(app) as client:
        assert app.state.index.wait(600)
        assert client.get("/health").status_code == 200
        assert client.get("/stats").json()["articles"] == 2
        status = client.get("/index/status").json()
        assert status["state"] == "succeeded" and status["reason"] == "startup" and status["articles"] == 2
        assert client.get("/articles/tiny-bridge").json()["title"] == "清潩河大桥通车"
    assert index_exists(index_dir)


def test_health_is_503_with_the_reason_when_the_index_cannot_be_built(tmp_path, settings, embedder, reader):
    empty = tmp_path / "empty-corpus"
    empty.mkdir()
    app = create_app(
        settings.model_copy(update={"corpus_dir": empty, "index_dir": tmp_path / "index"}),
        embedder=embedder,
        reader=reader,
    )
    with TestClient(app) as client:
        assert app.state.index.wait(600)
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "error"
        assert "no articles" in health.json()["detail"]
        ask = client.post("/ask", json={"question": "什么？"})
        assert ask.status_code == 503
        assert "could not be loaded" in ask.json()["detail"]
        assert client.get("/index/status").json()["state"] == "failed"


def test_every_response_carries_the_security_headers(client):
    for response in (
        client.get("/"),
        client.get("/health"),
        client.get("/docs"),
        client.get("/no-such-page"),
    ):
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    streamed = client.post("/chat/stream", json={"question": "魏都区委书记是谁？"})
    assert streamed.headers["x-content-type-options"] == "nosniff"


def test_docs_load_every_file_from_this_server(client):
    import re

    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/static/") for s in sources)
    assert "<script>" not in page.text  # the policy allows no inline script
    for source in sources:
        assert client.get(source).status_code == 200, source


def test_a_photo_item_and_a_placeholder_title_are_flagged_in_the_article(client, service):
    photo = next(a for a in service.index.articles.values() if a.kind == "photo")
    assert client.get(f"/articles/{photo.id}").json()["kind"] == "photo"
    untitled = next(a for a in service.index.articles.values() if a.untitled)
    body = client.get(f"/articles/{untitled.id}").json()
    assert body["untitled"] is True and body["title"] == untitled.title
