"""POST /ask and POST /chat/stream over the real seeds index: answers, streams, and every hostile input."""

from __future__ import annotations

import dataclasses
import json

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app

SEED_QUESTION = "市公安局党委副书记、常务副局长是谁？"  # a short answer the reader is sure of
UNANSWERABLE = "2035年火星基地的宇航员有多少人？"


@pytest.fixture(scope="module")
def client(settings, embedder):
    """A TestClient opened with `with` (the lifespan runs) over the session's seeds index, with the
    default settings (the shipped reader, which shows only the short answers it is sure of)."""
    app = create_app(settings, embedder=embedder)
    with TestClient(app) as client:
        assert app.state.index.wait(600), "the index did not load"
        yield client


def sse_events(text: str) -> list[tuple[str, object]]:
    """(event, parsed data) pairs of a Server-Sent Events body."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def assert_refused(response, status: int, words: str) -> None:
    """A 4xx in the common error shape, with a sentence that says what is wrong and no stack trace."""
    assert response.status_code == status, response.text
    body = response.json()
    assert words.lower() in body["detail"].lower(), body
    assert "Traceback" not in response.text


def test_ask_returns_the_answer_object_with_verbatim_citations(client, service):
    response = client.post("/ask", json={"question": SEED_QUESTION})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "question",
        "answer",
        "short_answer",
        "short_answer_date",
        "abstained",
        "citations",
        "passages",
        "session_id",
        "resolved_question",
        "timings_ms",
        "session_reset",
    }
    assert body["short_answer"] and body["short_answer"] in body["answer"]
    assert not body["abstained"]
    assert body["session_id"]
    citation = body["citations"][0]
    article = client.get(f"/articles/{citation['article_id']}").json()
    assert article["text"][citation["start"] : citation["end"]] == citation["quote"]


def test_ask_honours_top_k(client):
    body = client.post("/ask", json={"question": SEED_QUESTION, "top_k": 2}).json()
    assert len(body["passages"]) <= 2


def test_ask_accepts_filters(client):
    response = client.post(
        "/ask", json={"question": SEED_QUESTION, "filters": {"date_from": "1990", "date_to": "1990-12-31"}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["citations"] == []


def test_unanswerable_question_is_abstained(client):
    body = client.post("/ask", json={"question": UNANSWERABLE}).json()
    assert body["abstained"] is True
    assert body["citations"] == []


def test_follow_up_in_the_same_session_is_resolved(client):
    first = client.post("/ask", json={"question": "今年以来许昌市区查处了多少起醉驾？"}).json()
    second = client.post("/ask", json={"question": "酒驾呢？", "session_id": first["session_id"]}).json()
    assert second["session_id"] == first["session_id"]
    assert "酒驾" in second["resolved_question"] and "查处" in second["resolved_question"]


def test_chat_stream_sends_pieces_then_citations_then_done(client):
    with client.stream("POST", "/chat/stream", json={"question": SEED_QUESTION}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events("".join(response.iter_text()))
    names = [name for name, _ in events]
    assert names[0] == "status" and names[1] == "meta"
    assert names[-2:] == ["citations", "done"]
    tokens = [data["text"] for name, data in events if name == "token"]
    assert len(tokens) > 1
    done = events[-1][1]
    assert "".join(tokens) == done["answer"]
    assert events[-2][1] == done["citations"]
    assert done["short_answer"] and not done["abstained"]
    meta = events[1][1]
    assert meta["short_answer"] == done["short_answer"]
    assert meta["short_answer_date"] == done["short_answer_date"]


@pytest.fixture(scope="module")
def every_short_answer_client(settings, embedder):
    """The same app, showing every short answer the reader reads (`QA_ANSWER__SURE_MIN=0`)."""
    shown = dataclasses.replace(settings.answer, sure_min=0.0)
    app = create_app(settings.model_copy(update={"answer": shown}), embedder=embedder)
    with TestClient(app) as client:
        assert app.state.index.wait(600), "the index did not load"
        yield client


def test_answer_carries_the_short_answers_date_and_the_quote_notes_as_fields(every_short_answer_client):
    body = every_short_answer_client.post(
        "/ask", json={"question": "振德集团华中区域总部建设项目总投资多少？"}
    ).json()
    first, second = body["citations"]
    assert body["short_answer_date"] == first["date"]
    assert body["answer"].startswith(f"{body['short_answer']}（{body['short_answer_date']}）。依据：")
    assert first["note"] == "" and second["note"] == f"（{second['date']}的报道）"


def test_chat_stream_keeps_the_citation_markers_whole(client):
    with client.stream("POST", "/chat/stream", json={"question": SEED_QUESTION}) as response:
        events = sse_events("".join(response.iter_text()))
    tokens = [data["text"] for name, data in events if name == "token"]
    assert "[1]" in tokens


def test_chat_stream_refuses_a_blank_question_before_streaming(client):
    assert_refused(client.post("/chat/stream", json={"question": "   "}), 422, "empty")


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"question": ""}, 422, "question is empty"),
        ({"question": " \t\n "}, 422, "question is empty"),
        ({"question": "问" * 2001}, 422, "too long"),
        ({"question": 42}, 422, "must be a string"),
        ({"question": ["a"]}, 422, "must be a string"),
        ({"question": "a", "top_k": 0}, 422, "top_k"),
        ({"question": "a", "top_k": 51}, 422, "top_k"),
        ({"question": "a", "top_k": "5"}, 422, "must be an integer"),
        ({"question": "a", "top_k": True}, 422, "must be an integer"),
        ({"question": "a", "colour": "red"}, 422, "'colour' is not a field"),
        ({"question": "a", "filters": {"date_from": "2020/01"}}, 422, "YYYY-MM-DD"),
        ({"question": "a", "filters": {"when": "2020"}}, 422, "not a field"),
        ({"question": "a", "filters": "2020"}, 422, "JSON object"),
        ({"question": "a", "session_id": "../../etc/passwd"}, 422, "session_id"),
        ({}, 422, "'question' is required"),
        ([], 422, "must be a JSON object"),
        ("question", 422, "must be a JSON object"),
        (None, 422, "body is missing"),
    ],
)
def test_ask_refuses_hostile_json_with_a_sentence(client, body, status, words):
    assert_refused(client.post("/ask", json=body), status, words)


def test_question_limit_follows_the_max_question_chars_setting(settings, embedder, reader):
    app = create_app(
        settings.model_copy(update={"max_question_chars": 100}), embedder=embedder, reader=reader
    )
    with TestClient(app) as short_client:
        assert app.state.index.wait(600), "the index did not load"
        response = short_client.post("/ask", json={"question": "问" * 150})
        assert_refused(response, 422, "at most 100 characters")
        assert response.json()["errors"] == [
            {"field": "question", "message": "'question' is too long: at most 100 characters."}
        ]
        assert_refused(short_client.post("/chat/stream", json={"question": "问" * 101}), 422, "at most 100")
        assert short_client.post("/ask", json={"question": "问" * 100}).status_code == 200
        question = short_client.get("/openapi.json").json()["components"]["schemas"]["AskIn"]["properties"]
        assert question["question"]["maxLength"] == 100


def test_default_question_limit_is_2000_in_the_schema(client):
    question = client.get("/openapi.json").json()["components"]["schemas"]["AskIn"]["properties"]["question"]
    assert question["maxLength"] == 2000
    assert "2,000 characters" in question["description"]


def test_invalid_json_is_400(client):
    response = client.post("/ask", content=b'{"question": "a",', headers={"content-type": "application/json"})
    assert_refused(response, 400, "not valid JSON")


def test_body_that_is_not_json_is_refused(client):
    response = client.post("/ask", content=b"question=a", headers={"content-type": "text/plain"})
    assert_refused(response, 422, "JSON object")


def test_huge_body_is_413_by_content_length(client):
    response = client.post("/ask", content=b"x" * 100_000, headers={"content-type": "application/json"})
    assert_refused(response, 413, "too large")


def test_huge_body_without_content_length_is_413(client):
    chunks = (b"x" * 4096 for _ in range(40))
    response = client.post("/ask", content=chunks, headers={"content-type": "application/json"})
    assert_refused(response, 413, "too large")


def test_lying_content_length_is_400(client):
    response = client.post(
        "/ask", content=b"{}", headers={"content-type": "application/json", "content-length": "abc"}
    )
    assert response.status_code == 400


def test_wrong_method_and_unknown_path_are_explained(client):
    assert_refused(client.get("/ask"), 405, "use POST")
    assert_refused(client.get("/no-such-thing"), 404, "nothing at /no-such-thing")


def test_a_question_beyond_the_in_flight_limit_gets_503_with_retry_after_and_is_counted(
    settings, embedder, reader
):
    from qa.api.app import create_app

    app = create_app(settings.model_copy(update={"max_in_flight": 2}), embedder=embedder, reader=reader)
    with TestClient(app) as client:
        assert app.state.index.wait(600)
        app.state.admission.in_flight = 2  # two questions are being answered right now
        busy = client.post("/ask", json={"question": "魏都区委书记是谁？"})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert "again in a moment" in busy.json()["detail"]
        assert client.post("/chat/stream", json={"question": "魏都区委书记是谁？"}).status_code == 503
        stats = client.get("/stats").json()  # other routes are not held back
        assert stats["questions_refused_busy"] == 2 and stats["questions_in_flight"] == 2
        app.state.admission.in_flight = 1
        assert client.post("/ask", json={"question": "魏都区委书记是谁？"}).status_code == 200
        assert app.state.admission.in_flight == 1  # the answered question gave its slot back


def test_many_clients_at_once_get_answers_or_503_never_an_error(settings, embedder, reader):
    """A real server with room for two questions; twelve clients ask together."""
    import threading

    import httpx
    import uvicorn

    from qa.api.app import create_app

    app = create_app(settings.model_copy(update={"max_in_flight": 2}), embedder=embedder, reader=reader)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert app.state.index.wait(600)
    statuses: list[int] = []

    def one() -> None:
        response = httpx.post(f"{url}/ask", json={"question": "魏都区委书记是谁？"}, timeout=120)
        assert response.status_code == 200 or response.headers.get("retry-after") == "1"
        statuses.append(response.status_code)

    clients = [threading.Thread(target=one) for _ in range(12)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    server.should_exit = True
    thread.join(30)
    assert len(statuses) == 12 and set(statuses) <= {200, 503} and 200 in statuses
    assert app.state.admission.in_flight == 0
