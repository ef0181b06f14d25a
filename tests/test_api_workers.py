"""`qa serve --workers N`: several server processes over the same index files, each following the live
build when another process makes a new one live (a sibling's POST /index/rebuild, or `qa index`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.index.build import build_index
from qa.settings import PROJECT_ROOT

NEW_ARTICLE = {
    "id": "workers-follow-1",
    "title": "许昌市科技馆新馆开馆",
    "date": "2023-12-01",
    "text": "本报讯 12月1日，许昌市科技馆新馆开馆，首任馆长为韩启明。新馆展厅面积1.1万平方米。",
}
QUESTIONS = ["魏都区委书记是谁？", "查处的醉驾有多少起？", "市公安局创文指挥部的指挥长是谁？"]


@pytest.fixture
def copies(tmp_path: Path, settings, seeds_index_dir: Path) -> tuple[Path, Path]:
    """Copies of the seeds corpus and index (a build touches the copies only)."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(settings.corpus_dir, corpus)
    shutil.copytree(seeds_index_dir, index_dir)
    return corpus, index_dir


def test_a_server_follows_a_build_another_process_made_live(copies, settings, embedder):
    corpus, index_dir = copies
    app = create_app(
        settings.model_copy(update={"corpus_dir": corpus, "index_dir": index_dir, "reader_dir": None}),
        embedder=embedder,
    )
    with TestClient(app) as client:
        assert app.state.index.wait(600)
        before = client.get("/stats").json()["corpus_fingerprint"]
        assert "韩启明" not in client.post("/ask", json={"question": "科技馆新馆的馆长是谁？"}).text
        # another process (a sibling worker, or `qa index`) makes a new build live in the same folder
        (corpus / "new.jsonl").write_text(
            json.dumps(NEW_ARTICLE, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        build_index(corpus, index_dir, embedder, progress=False)
        deadline = time.monotonic() + 120
        while client.get("/stats").json()["corpus_fingerprint"] == before:
            assert time.monotonic() < deadline, "the server never loaded the new live build"
            time.sleep(0.3)
        assert app.state.index.wait(60)
        answer = client.post("/ask", json={"question": "科技馆新馆的馆长是谁？"}).json()
        assert answer["citations"][0]["article_id"] == "workers-follow-1", answer
        assert "韩启明" in answer["citations"][0]["quote"]
        assert client.get("/index/status").json()["reason"] == "follow"


def _children(pid: int) -> list[str]:
    """The command lines of a process's children."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                found.append(Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode())
    return found


def test_qa_serve_with_two_workers_answers_as_one_process_does(copies, settings, onnx_embedder):
    from qa.service import QAService

    _, index_dir = copies
    # the workers run without the reader (QA_READER_DIR empty, below): so does the one process
    service = QAService.load(settings.model_copy(update={"reader_dir": None}), embedder=onnx_embedder)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "QA_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "QA_READER_DIR": "",
        "QA_CORPUS_DIR": str(settings.corpus_dir),
    }
    command = [sys.executable, "-m", "qa", "serve", "--workers", "2", "--port", str(port), "--index-dir"]
    server = subprocess.Popen(
        [*command, str(index_dir)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            deadline = time.monotonic() + 300
            ready = 0
            while ready < 4:  # several answers in a row: both workers have loaded
                try:
                    ready = ready + 1 if client.get("/health").json().get("status") == "ready" else 0
                except httpx.HTTPError:
                    ready = 0
                assert time.monotonic() < deadline and server.poll() is None, "qa serve never became ready"
                time.sleep(0.5)
            workers = [c for c in _children(server.pid) if "spawn_main" in c and "resource_tracker" not in c]
            assert len(workers) == 2, workers

            def ask(question: str) -> dict:
                return client.post("/ask", json={"question": question}).json()

            with ThreadPoolExecutor(6) as pool:
                replies = list(pool.map(ask, QUESTIONS * 4))
            for question, reply in zip(QUESTIONS * 4, replies, strict=True):
                expected = service.ask(question)
                assert [(c["article_id"], c["start"], c["end"]) for c in reply["citations"]] == [
                    (c.article_id, c.start, c.end) for c in expected.citations
                ]
                assert reply["short_answer"] == expected.short_answer
    finally:
        server.terminate()
        server.wait(60)


def test_worker_listener_gives_accepted_connections_tcp_nodelay():
    """uvicorn binds the workers' socket with proto 0, so asyncio would leave Nagle on and every
    keep-alive request would wait ~40 ms for the client's delayed ACK (uvicorn issue #3149)."""
    import asyncio

    import uvicorn

    from qa.cli import _tcp_listener

    listener = _tcp_listener(uvicorn.Config(create_app, host="127.0.0.1", port=0))
    assert listener.proto == socket.IPPROTO_TCP
    seen: list[int] = []

    class Accepted(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def accept_one() -> None:
        server = await asyncio.get_running_loop().create_server(Accepted, sock=listener)
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()

    asyncio.run(accept_one())
    assert seen and seen[0] != 0
