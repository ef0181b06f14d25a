"""Feedback: the SQLite store beside the index, POST/GET /feedback, and `qa feedback export --jsonl`."""

from __future__ import annotations

import io
import json
import shutil
import threading

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.cli import cli
from qa.evaluation import read_questions
from qa.feedback import FEEDBACK_FILE, FeedbackStore

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RECORD = {
    "question": "那指挥部的政委呢？",
    "resolved_question": "市公安局创文指挥部的政委是谁？",
    "answer": "市公安局创文指挥部政委为某某[1]。",
    "short_answer": "某某",
    "citations": [{"article_id": "a1", "start": 3, "end": 9, "quote": "政委为某某"}],
    "verdict": "not_useful",
    "comment": "答的是指挥长",
    "session_id": "abc-123",
}


@pytest.fixture
def store(tmp_path):
    """An empty store in a fresh folder."""
    return FeedbackStore.beside(tmp_path)


# ------------------------------------------------------------------------------------------ store


def test_store_lives_beside_the_index_outside_builds(tmp_path):
    FeedbackStore.beside(tmp_path)
    assert (tmp_path / FEEDBACK_FILE).is_file()
    assert not (tmp_path / "builds").exists()


def test_add_then_list_round_trips_every_field(store):
    new_id = store.add(RECORD)
    [record] = store.list(10, 0)
    assert record["id"] == new_id
    for key, value in RECORD.items():
        assert record[key] == value
    assert record["time"].endswith("+00:00")


def test_list_is_newest_first_and_pages(store):
    ids = [store.add({**RECORD, "question": f"问题{n}"}) for n in range(5)]
    assert [r["id"] for r in store.list(2, 0)] == ids[::-1][:2]
    assert [r["id"] for r in store.list(2, 4)] == [ids[0]]


@pytest.mark.parametrize(
    "bad",
    [
        {"verdict": "maybe"},
        {"question": "  "},
        {"answer": None},
        {"comment": "长" * 2001},
        {"citations": [{"article_id": "a1", "start": 9, "end": 3}]},
        {"citations": "a1"},
    ],
)
def test_a_bad_record_is_refused_and_stores_nothing(store, bad):
    store.add(RECORD)
    with pytest.raises(ValueError):
        store.add({**RECORD, **bad})
    assert store.count() == 1


def test_adds_from_many_threads_all_land(store):
    def add_some(thread: int) -> None:
        for n in range(10):
            store.add({**RECORD, "question": f"线程{thread}问题{n}"})

    threads = [threading.Thread(target=add_some, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = store.list(500, 0)
    assert len(records) == 80
    assert len({r["id"] for r in records}) == 80


def test_export_is_a_dev_set_that_read_questions_reads(store, tmp_path):
    store.add({**RECORD, "verdict": "useful", "comment": None})
    store.add(RECORD)
    handle = io.StringIO()
    assert store.export_jsonl(handle) == 2
    path = tmp_path / "cases.jsonl"
    path.write_text(handle.getvalue(), encoding="utf-8")
    useful, wrong = read_questions(path)
    assert useful["question"] == RECORD["question"]
    assert useful["answers"] == ["某某"]
    assert wrong["answers"] == []
    assert wrong["verdict"] == "not_useful"
    assert wrong["comment"] == "答的是指挥长"
    assert wrong["resolved_question"] == RECORD["resolved_question"]
    assert wrong["citations"] == RECORD["citations"]
    assert wrong["time"]


# ------------------------------------------------------------------------------------------ API


@pytest.fixture(scope="module")
def client(tmp_path_factory, settings, embedder, reader, seeds_index_dir):
    """An app with an admin token over a copy of the seeds index (its feedback file is the copy's)."""
    index_dir = tmp_path_factory.mktemp("feedback") / "index"
    shutil.copytree(seeds_index_dir, index_dir)
    (index_dir / FEEDBACK_FILE).unlink(missing_ok=True)
    app = create_app(
        settings.model_copy(update={"index_dir": index_dir, "admin_token": TOKEN}),
        embedder=embedder,
        reader=reader,
    )
    with TestClient(app) as client:
        assert app.state.index.wait(600)
        client.index_dir = index_dir
        yield client


def test_post_feedback_is_201_and_listed_with_the_token(client):
    response = client.post("/feedback", json=RECORD)
    assert response.status_code == 201, response.text
    new_id = response.json()["id"]
    listed = client.get("/feedback", headers=AUTH)
    assert listed.status_code == 200
    body = listed.json()
    assert body["items"][0]["id"] == new_id
    assert body["items"][0]["comment"] == "答的是指挥长"
    assert body["items"][0]["citations"] == RECORD["citations"]
    assert body["total"] >= 1
    assert FeedbackStore.beside(client.index_dir).list(1, 0)[0]["id"] == new_id


def test_get_feedback_is_401_without_a_token(client):
    response = client.get("/feedback")
    assert response.status_code == 401
    assert "admin token" in response.json()["detail"]


def test_get_feedback_is_403_with_a_wrong_token(client):
    response = client.get("/feedback", headers={"Authorization": "Bearer not-the-token"})
    assert response.status_code == 403
    assert response.json()["detail"] == "The admin token is wrong."


@pytest.mark.parametrize(
    ("change", "field"),
    [({"verdict": "meh"}, "verdict"), ({"comment": "长" * 2001}, "comment")],
)
def test_post_feedback_refuses_bad_fields_with_422(client, change, field):
    before = FeedbackStore.beside(client.index_dir).count()
    response = client.post("/feedback", json={**RECORD, **change})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert FeedbackStore.beside(client.index_dir).count() == before


# ------------------------------------------------------------------------------------------ CLI


def test_cli_feedback_export_writes_jsonl(tmp_path):
    store = FeedbackStore.beside(tmp_path)
    store.add(RECORD)
    out = tmp_path / "cases.jsonl"
    result = CliRunner().invoke(
        cli, ["feedback", "export", "--jsonl", "--index-dir", str(tmp_path), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    [row] = read_questions(out)
    assert row["question"] == RECORD["question"] and row["answers"] == []
    to_stdout = CliRunner().invoke(cli, ["feedback", "export", "--jsonl", "--index-dir", str(tmp_path)])
    assert to_stdout.exit_code == 0, to_stdout.output
    assert json.loads(to_stdout.stdout.splitlines()[0])["verdict"] == "not_useful"


def test_cli_feedback_export_without_feedback_says_so(tmp_path):
    result = CliRunner().invoke(cli, ["feedback", "export", "--jsonl", "--index-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "No feedback has been stored yet" in result.output
