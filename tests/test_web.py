"""The chat page in a real chromium (Playwright) against a real uvicorn server over the seeds index."""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time

import httpx
import pytest
import uvicorn

from qa.api.app import create_app
from qa.settings import PROJECT_ROOT

pytestmark = pytest.mark.browser

TEST_OUTPUT = PROJECT_ROOT / "test-output"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SEED_QUESTION = "市公安局创文指挥部的指挥长是谁？"
XSS = "<img src=x onerror=alert(1)><script>window.__xss=1</script>"


def _free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(settings, embedder, reader):
    """A real uvicorn server in a thread, ready (index loaded) before the tests start."""
    app = create_app(settings, embedder=embedder, reader=reader)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    else:
        pytest.fail("the server did not become ready")
    yield url
    server.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server_url):
    """A fresh page on the chat, with dialogs recorded (an XSS would open one)."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(server_url)
    page.wait_for_function("() => !document.getElementById('send').disabled")
    yield page
    context.close()


def ask(page, question: str) -> None:
    """Type a question, press Enter, wait for the answer to finish streaming."""
    count = page.locator(".msg.bot").count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    bot = page.locator(".msg.bot").nth(count)
    bot.wait_for()
    page.wait_for_function(
        "n => { const m = document.querySelectorAll('.msg.bot')[n];"
        " return m && !m.classList.contains('pending'); }",
        arg=count,
        timeout=60_000,
    )


def test_seed_question_streams_an_answer_with_a_chip_that_opens_the_highlighted_quote(page):
    page.locator(".example").first.wait_for()  # example questions from the corpus on the empty screen
    ask(page, SEED_QUESTION)
    bot = page.locator(".msg.bot").last
    short = bot.locator(".short-answer").inner_text()
    assert short
    answer_text = bot.locator(".answer-text").inner_text()
    chip = bot.locator(".answer-text .chip").first
    assert chip.inner_text() == "1"
    chip.click()
    mark = page.locator("#source-body mark.quote")
    mark.wait_for()
    quote = mark.inner_text()
    assert len(quote) > 10 and quote in answer_text  # the highlighted passage is the quoted one
    assert page.locator("#source-title").inner_text()
    assert mark.is_visible()
    TEST_OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(TEST_OUTPUT / "answered.png"))


def test_short_answer_date_and_further_quote_note_are_rendered_from_the_answer_fields(page, server_url):
    question = "振德集团华中区域总部建设项目总投资多少？"
    answer = httpx.post(f"{server_url}/ask", json={"question": question}, timeout=60).json()
    assert answer["short_answer_date"] and answer["citations"][1]["note"]
    ask(page, question)
    bot = page.locator(".msg.bot").last
    assert (
        bot.locator(".short-answer").inner_text()
        == f"{answer['short_answer']}（{answer['short_answer_date']}）"
    )
    assert bot.locator(".short-note").inner_text() == f"（{answer['short_answer_date']}）"
    quotes = " ".join(f"“{c['quote']}”{c['note']}{c['n']}" for c in answer["citations"])
    assert bot.locator(".answer-text").inner_text() == f"依据：{quotes}"
    assert bot.locator(".answer-text .chip").count() == len(answer["citations"])
    TEST_OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(TEST_OUTPUT / "answered-dated.png"))


def test_a_long_paste_is_never_cut_the_page_says_it_is_too_long(page, settings):
    """The limit comes from GET /health (index.html has none); past it a sentence shows, sending waits."""
    limit = settings.max_question_chars
    pasted = "许" * limit + "魏都区委书记是谁？"
    page.fill("#question", pasted)
    assert page.input_value("#question") == pasted  # nothing silently cut off the end
    count = page.locator("#question-count")
    assert count.is_visible() and "问题太长" in count.inner_text() and f"{limit:,}" in count.inner_text()
    assert page.is_disabled("#send")
    page.screenshot(path=str(TEST_OUTPUT / "too-long.png"))
    page.fill("#question", "许" * (limit - 10))
    assert "问题太长" not in count.inner_text() and f"/ {limit:,}" in count.inner_text()
    assert not page.is_disabled("#send")
    page.fill("#question", "魏都区委书记是谁？")
    assert not count.is_visible()


def test_follow_up_question_continues_the_conversation(page):
    ask(page, "今年以来许昌市区查处了多少起醉驾？")
    ask(page, "酒驾呢？")
    bots = page.locator(".msg.bot")
    assert bots.count() == 2
    assert "酒驾" in bots.nth(1).locator(".resolved").inner_text()


def test_unanswerable_question_looks_abstained(page):
    ask(page, "2035年火星基地的宇航员有多少人？")
    bot = page.locator(".msg.bot").last
    assert "abstained" in bot.get_attribute("class")
    assert bot.locator(".badge").inner_text() == "资料中未找到"
    assert bot.locator(".answer-text .chip").count() == 0
    confident_border = "rgb(176, 38, 29)"
    assert bot.locator(".card").evaluate("e => getComputedStyle(e).borderLeftColor") != confident_border


def test_xss_probe_is_shown_as_characters(page):
    ask(page, XSS)
    assert page.locator(".msg.user .bubble").last.inner_text() == XSS
    assert page.evaluate("() => window.__xss") is None
    assert page.locator(".messages img").count() == 0
    assert page.dialogs == []


def test_new_conversation_clears_the_chat(page):
    ask(page, SEED_QUESTION)
    page.click("#new-chat")
    assert page.locator(".msg").count() == 0
    assert page.locator("#empty").is_visible()


def test_phone_width_layout(browser, server_url):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    page.goto(server_url)
    page.wait_for_function("() => !document.getElementById('send').disabled")
    ask(page, SEED_QUESTION)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    TEST_OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(TEST_OUTPUT / "answered-phone.png"))
    page.locator(".msg.bot .answer-text .chip").first.click()
    page.locator("#source-body mark.quote").wait_for()
    page.screenshot(path=str(TEST_OUTPUT / "source-phone.png"))
    context.close()


def test_ask_latency_over_http_is_recorded(server_url):
    """~50 dev questions over real HTTP; p50/p95 go to test-output/api_latency.json (no timing assert)."""
    rows = [
        json.loads(line) for line in (PROJECT_ROOT / "tests" / "data" / "dev.jsonl").open(encoding="utf-8")
    ]
    questions = [row["question"] for row in rows if "question" in row][:50]
    timings = []
    with httpx.Client(base_url=server_url, timeout=60) as client:
        for question in questions:
            started = time.perf_counter()
            response = client.post("/ask", json={"question": question})
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
    timings.sort()
    figures = {
        "questions": len(timings),
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 1),
        "max_ms": round(timings[-1], 1),
    }
    TEST_OUTPUT.mkdir(exist_ok=True)
    (TEST_OUTPUT / "api_latency.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


def test_api_docs_work_with_the_network_cut(browser, server_url):
    """Every request to another host is refused: Swagger UI still renders the operations from our files."""
    context = browser.new_context()
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.route(
        "**/*", lambda route: route.continue_() if route.request.url.startswith(server_url) else route.abort()
    )
    page.goto(f"{server_url}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() >= 8
    assert errors == []  # no blocked script, style or request under the Content-Security-Policy
    page.screenshot(path=str(TEST_OUTPUT / "docs-offline.png"))
    context.close()


def test_not_useful_with_a_comment_is_sent_and_stored(page, settings):
    from qa.feedback import FeedbackStore

    ask(page, SEED_QUESTION)
    bot = page.locator(".msg.bot").last
    useful, not_useful = bot.get_by_role("button", name="有用"), bot.get_by_role("button", name="没用")
    assert useful.get_attribute("aria-pressed") == "false"
    box = not_useful.bounding_box()
    assert box and box["width"] >= 24 and box["height"] >= 24
    not_useful.click()
    assert not_useful.get_attribute("aria-pressed") == "true"
    comment = f"浏览器测试：答非所问 {time.time_ns()}"
    bot.locator(".feedback-comment").fill(comment)
    bot.get_by_role("button", name="提交").click()
    status = bot.locator(".feedback-status")
    status.filter(has_text="谢谢反馈").wait_for(timeout=10_000)
    TEST_OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(TEST_OUTPUT / "feedback.png"))
    [record] = [r for r in FeedbackStore.beside(settings.index_dir).list(500, 0) if r["comment"] == comment]
    assert record["verdict"] == "not_useful"
    assert record["question"] == SEED_QUESTION
    assert record["answer"] and record["citations"]
    assert record["citations"][0]["quote"]
