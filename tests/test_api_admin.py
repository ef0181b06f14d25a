"""Admin endpoints: token checks, uploads and what they refuse, rebuilds swapped in under load."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEED_QUESTION = "市公安局创文指挥部的指挥长是谁？"
NEW_ARTICLE = {
    "id": "upload-library",
    "title": "市图书馆新馆正式开放",
    "date": "2020-12-01",
    "text": "本报讯 12月1日，许昌市图书馆新馆正式开放。新馆建筑面积3.2万平方米，共有阅览座位1800个，"
    "每天可接待读者5000人次。",
}


@pytest.fixture(scope="module")
def admin_app(tmp_path_factory, settings, embedder, reader, seeds_index_dir):
    """An app with an admin token over copies of the seeds corpus and index (rebuilds touch the copies)."""
    root = tmp_path_factory.mktemp("admin")
    corpus, index_dir = root / "corpus", root / "index"
    shutil.copytree(settings.corpus_dir, corpus)
    shutil.copytree(seeds_index_dir, index_dir)
    app = create_app(
        settings.model_copy(update={"corpus_dir": corpus, "index_dir": index_dir, "admin_token": TOKEN}),
        embedder=embedder,
        reader=reader,
    )
    return app


@pytest.fixture(scope="module")
def client(admin_app):
    """A TestClient opened with `with` on the admin app, the index loaded."""
    with TestClient(admin_app) as client:
        assert admin_app.state.index.wait(600)
        yield client


def wait_rebuilt(client: TestClient, app) -> dict:
    """Wait for the running rebuild and return its final status."""
    assert app.state.index.wait(600)
    return client.get("/index/status").json()


@pytest.mark.parametrize(("method", "path"), [("post", "/index/rebuild"), ("post", "/documents")])
def test_admin_endpoints_are_401_without_a_token(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "admin token" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path"), [("post", "/index/rebuild"), ("post", "/documents")])
def test_admin_endpoints_are_403_with_a_wrong_token(client, method, path):
    response = getattr(client, method)(path, headers={"Authorization": "Bearer not-the-token"})
    assert response.status_code == 403
    assert response.json()["detail"] == "The admin token is wrong."


def test_admin_endpoints_refuse_everyone_when_no_token_is_configured(settings, embedder, reader):
    app = create_app(settings.model_copy(update={"admin_token": None}), embedder=embedder, reader=reader)
    with TestClient(app) as client:
        response = client.post("/index/rebuild", headers=AUTH)
        assert response.status_code == 403
        assert "QA_ADMIN_TOKEN" in response.json()["detail"]
        app.state.index.wait(600)


def test_index_status_is_public_and_reports_the_startup_load(client):
    body = client.get("/index/status").json()
    assert body["state"] == "succeeded"
    assert body["reason"] == "startup"


def test_rebuild_swaps_the_index_while_questions_keep_being_answered(client, admin_app):
    before = admin_app.state.service
    session = client.post("/ask", json={"question": "今年以来许昌市区查处了多少起醉驾？"}).json()[
        "session_id"
    ]
    started = client.post("/index/rebuild", headers=AUTH)
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "running"
    answered_during = 0
    while admin_app.state.index.running:
        response = client.post("/ask", json={"question": SEED_QUESTION})
        assert response.status_code == 200, response.text
        assert response.json()["citations"]
        answered_during += 1
    status = wait_rebuilt(client, admin_app)
    assert status["state"] == "succeeded", status
    assert status["reused"] == status["chunks"] and status["embedded"] == 0
    assert answered_during >= 1
    assert admin_app.state.service is not before
    after = client.post("/ask", json={"question": SEED_QUESTION})
    assert after.status_code == 200 and after.json()["citations"]
    follow_up = client.post("/ask", json={"question": "酒驾呢？", "session_id": session}).json()
    assert "酒驾" in follow_up["resolved_question"], "the conversation did not survive the swap"


def test_a_second_rebuild_while_one_runs_is_409(client, admin_app):
    first = client.post("/index/rebuild", headers=AUTH)
    second = client.post("/index/rebuild", headers=AUTH)
    assert first.status_code == 202
    assert second.status_code == 409
    assert "already running" in second.json()["detail"]
    wait_rebuilt(client, admin_app)


def test_upload_adds_an_article_that_is_answered_after_the_rebuild(client, admin_app):
    export = json.dumps(NEW_ARTICLE, ensure_ascii=False).encode()
    response = client.post(
        "/documents", headers=AUTH, files={"files": ("library.jsonl", export, "application/x-ndjson")}
    )
    assert response.status_code == 202, response.text
    assert response.json()["saved"] == ["library.jsonl"]
    status = wait_rebuilt(client, admin_app)
    assert status["state"] == "succeeded" and status["reason"] == "upload"
    assert status["embedded"] >= 1
    assert client.get("/articles/upload-library").json()["title"] == NEW_ARTICLE["title"]
    answer = client.post("/ask", json={"question": "许昌市图书馆新馆共有阅览座位多少个？"}).json()
    assert answer["citations"] and answer["citations"][0]["article_id"] == "upload-library"


@pytest.mark.parametrize(
    ("name", "data", "status", "words"),
    [
        ("page.txt", b"\xff\xfe\xfa binary \x00\x01", 415, "not UTF-8"),
        ("page.txt", "一页\x00文字".encode(), 415, "NUL"),
        ("scan.pdf", b"%PDF-1.4", 422, ".txt"),
        ("../../evil.txt", "文字".encode(), 422, "plain file name"),
        (".hidden.txt", "文字".encode(), 422, "plain file name"),
        ("empty.txt", b"  \n ", 422, "empty"),
        ("bad.jsonl", b'{"text": "ok"}\n{not json', 422, "line 2"),
        ("list.jsonl", b"[1, 2]", 422, "JSON object"),
        ("notext.jsonl", b'{"title": "no text"}', 422, "no text"),
    ],
)
def test_upload_refuses_what_is_not_a_page_or_an_export(client, admin_app, name, data, status, words):
    before = sorted(p.name for p in admin_app.state.settings.corpus_dir.iterdir())
    response = client.post("/documents", headers=AUTH, files={"files": (name, data)})
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert sorted(p.name for p in admin_app.state.settings.corpus_dir.iterdir()) == before


def test_upload_over_the_size_limit_is_413(client):
    big = ("文" * 2_000_000).encode()
    response = client.post("/documents", headers=AUTH, files={"files": ("big.txt", big)})
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_upload_without_files_is_422(client):
    response = client.post("/documents", headers=AUTH)
    assert response.status_code == 422
    assert "'files' is required" in response.json()["detail"]


def test_upload_with_broken_multipart_is_400(client):
    headers = {**AUTH, "content-type": "multipart/form-data; boundary=xyz"}
    response = client.post("/documents", headers=headers, content=b"garbage")
    assert response.status_code == 400
    assert "multipart" in response.json()["detail"].lower()
