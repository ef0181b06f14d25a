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

from qa.answer.compose import in_quotation_marks
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
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server_url)
    page.wait_for_function("() => !document.getElementById('send').disabled")
    yield page
    context.close()
    assert errors == []  # no script error, no request blocked by the Content-Security-Policy


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


def expected_short_answer(answer: dict) -> str:
    """What the page shows large: the short answer field and, beside it, its date field."""
    if not answer["short_answer"]:
        return ""
    date = f"（{answer['short_answer_date']}）" if answer["short_answer_date"] else ""
    return answer["short_answer"] + date


def expected_answer_text(answer: dict) -> str:
    """The answer body from its fields: 依据： (with a short answer), each quote, its note, its chip."""
    quotes = " ".join(f"{in_quotation_marks(c['quote'])}{c['note']}{c['n']}" for c in answer["citations"])
    return ("依据：" if answer["short_answer"] and answer["citations"] else "") + quotes


def test_seed_question_streams_an_answer_with_a_chip_that_opens_the_highlighted_quote(page, server_url):
    page.locator(".example").first.wait_for()  # example questions from the corpus on the empty screen
    ask(page, SEED_QUESTION)
    answer = httpx.post(f"{server_url}/ask", json={"question": SEED_QUESTION}, timeout=60).json()
    bot = page.locator(".msg.bot").last
    short = bot.locator(".short-answer")
    # shown exactly when the answer has one (a trained reader may leave it out: the quote still answers)
    assert (short.inner_text() if short.is_visible() else "") == expected_short_answer(answer)
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
    """Whatever the fields hold (the reader decides the short answer and so its date and the notes), the
    page shows them as fields: the date beside the short answer, each note after its quote."""
    question = "振德集团华中区域总部建设项目总投资多少？"
    answer = httpx.post(f"{server_url}/ask", json={"question": question}, timeout=60).json()
    assert answer["citations"]
    ask(page, question)
    bot = page.locator(".msg.bot").last
    short = bot.locator(".short-answer")
    assert (short.inner_text() if short.is_visible() else "") == expected_short_answer(answer)
    if answer["short_answer_date"]:
        assert bot.locator(".short-note").inner_text() == f"（{answer['short_answer_date']}）"
    assert bot.locator(".answer-text").inner_text() == expected_answer_text(answer)
    assert bot.locator(".answer-text .chip").count() == len(answer["citations"])
    TEST_OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(TEST_OUTPUT / "answered-dated.png"))


def test_a_quote_holding_quotation_marks_stands_between_corner_brackets_not_doubled_marks(page, server_url):
    question = "魏都区“我与政协”征文活动到什么时候截止？"
    answer = httpx.post(f"{server_url}/ask", json={"question": question}, timeout=60).json()
    assert any("“" in c["quote"] for c in answer["citations"])  # the quote names “我与政协” itself
    ask(page, question)
    text = page.locator(".msg.bot").last.locator(".answer-text").inner_text()
    assert text == expected_answer_text(answer)
    assert "「" in text and "““" not in text and "””" not in text


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


# ------------------------------------------------------------------------------------------ accessibility
# axe-core (bundled by the PyPI package axe-playwright-python, so no network) runs inside the page with the
# WCAG 2.0/2.1/2.2 A and AA rules and axe's best practices (landmarks, regions); a serious or critical
# violation fails the test and is written to test-output/axe-<state>.json.

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
ABSTAINED_QUESTION = "2035年火星基地的宇航员有多少人？"


def serious_axe_violations(page, state: str) -> list[dict]:
    """axe's serious and critical violations on the page as it is now (all of them saved for reading)."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    results = axe.Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    violations = results.response["violations"]
    TEST_OUTPUT.mkdir(exist_ok=True)
    (TEST_OUTPUT / f"axe-{state}.json").write_text(
        json.dumps(
            [
                {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
                for v in violations
            ],
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def open_page(browser, url: str, **context_options):
    """A new browser context on `url`, once the page can send; returns the page (close its context)."""
    options = {"viewport": {"width": 1280, "height": 860}, "locale": "zh-CN", **context_options}
    context = browser.new_context(**options)
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("() => !document.getElementById('send').disabled")
    return page


def open_first_chip(page):
    """Click chip 1 of the last answer and wait for the source pane to show the marked quote."""
    chip = page.locator(".msg.bot").last.locator(".answer-text .chip").first
    chip.click()
    page.locator("#source-body mark.quote").wait_for()
    return chip


@pytest.mark.parametrize(
    "state", ["empty", "answer-with-source", "abstention", "phone", "dark", "dark-abstention"]
)
def test_axe_finds_no_serious_or_critical_violation(browser, server_url, state):
    options = {}
    if state == "phone":
        options = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    if state.startswith("dark"):
        options = {"color_scheme": "dark"}
    page = open_page(browser, server_url, **options)
    if state == "empty":
        page.locator(".example").first.wait_for()
    elif state.endswith("abstention"):
        ask(page, ABSTAINED_QUESTION)
        assert page.locator(".msg.bot.abstained").count() == 1
    else:
        ask(page, SEED_QUESTION)
        open_first_chip(page)
        page.wait_for_timeout(300)  # the quote's flash is over before colours are measured
    page.screenshot(path=str(TEST_OUTPUT / f"axe-{state}.png"))
    assert serious_axe_violations(page, state) == []
    page.context.close()


def test_landmarks_hold_the_header_the_conversation_and_the_input(page):
    assert page.locator("header.topbar").count() == 1
    main = page.locator("main")
    assert main.count() == 1
    assert main.locator("#messages").count() == 1 and main.locator("form#ask-form").count() == 1
    source = page.locator("#source")
    assert source.get_attribute("role") == "complementary"
    assert source.get_attribute("aria-labelledby") == "source-title"


def test_the_source_pane_heading_takes_focus_and_the_close_button_gives_it_back_to_the_chip(page):
    ask(page, SEED_QUESTION)
    chip = open_first_chip(page)
    assert page.evaluate("() => document.activeElement.id") == "source-title"
    page.click("#source-close")
    assert page.locator("#source").is_hidden()
    assert chip.evaluate("c => c === document.activeElement")


def test_escape_in_source_pane_returns_focus_to_chip(page):
    ask(page, SEED_QUESTION)
    chip = open_first_chip(page)
    page.focus("#source-body")
    page.keyboard.press("Escape")
    assert page.locator("#source").is_hidden()
    assert page.evaluate("() => document.activeElement !== document.body")
    assert chip.evaluate("c => c === document.activeElement")


def test_the_source_text_is_focusable_and_scrolls_from_the_keyboard(browser, server_url):
    page = open_page(browser, server_url, viewport={"width": 1280, "height": 520})
    ask(page, SEED_QUESTION)
    open_first_chip(page)
    body = page.locator("#source-body")
    assert body.evaluate("b => b.scrollHeight > b.clientHeight + 100")  # there is something to scroll
    page.keyboard.press("Tab")  # heading -> 本段链接 -> 关闭 -> the text
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert body.evaluate("b => b === document.activeElement")
    page.keyboard.press("Home")
    page.wait_for_function("() => document.getElementById('source-body').scrollTop === 0")
    page.keyboard.press("PageDown")
    page.wait_for_function("() => document.getElementById('source-body').scrollTop > 100")
    page.context.close()


def test_at_phone_width_the_sheet_is_a_modal_dialog_that_traps_focus(browser, server_url):
    page = open_page(
        browser, server_url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    ask(page, SEED_QUESTION)
    chip = open_first_chip(page)
    sheet = page.locator("#source")
    assert sheet.get_attribute("role") == "dialog" and sheet.get_attribute("aria-modal") == "true"
    assert page.locator("main").evaluate("m => m.inert") and page.locator("header").evaluate("h => h.inert")
    inside = "() => document.getElementById('source').contains(document.activeElement)"
    for _ in range(8):  # Tab never leaves the sheet, forwards or backwards
        page.keyboard.press("Tab")
        assert page.evaluate(inside)
    for _ in range(5):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(inside)
    page.keyboard.press("Escape")
    assert sheet.is_hidden() and chip.evaluate("c => c === document.activeElement")
    assert not page.locator("main").evaluate("m => m.inert")
    page.screenshot(path=str(TEST_OUTPUT / "phone-after-sheet.png"))
    page.context.close()


def test_at_phone_width_a_tap_on_the_backdrop_closes_the_sheet(browser, server_url):
    page = open_page(
        browser, server_url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    ask(page, SEED_QUESTION)
    chip = open_first_chip(page)
    page.screenshot(path=str(TEST_OUTPUT / "phone-sheet-modal.png"))
    page.touchscreen.tap(195, 30)  # above the sheet, on the backdrop
    page.locator("#source").wait_for(state="hidden")
    assert chip.evaluate("c => c === document.activeElement")
    page.context.close()


def test_citation_chips_and_the_answers_controls_are_at_least_24px(page):
    ask(page, SEED_QUESTION)
    bot = page.locator(".msg.bot").last
    targets = bot.locator("button:visible, a:visible")
    assert targets.count() >= 6  # chips, sources, 复制, 再问一次, 有用, 没用
    for i in range(targets.count()):
        box = targets.nth(i).bounding_box()
        assert box and box["width"] >= 24 and box["height"] >= 24, targets.nth(i).inner_text()


def test_keyboard_focus_is_visible(page):
    ask(page, SEED_QUESTION)
    chip = page.locator(".msg.bot .answer-text .chip").first
    chip.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # a keyboard move, so :focus-visible applies
    assert chip.evaluate("c => c === document.activeElement && c.matches(':focus-visible')")
    style = chip.evaluate("c => { const s = getComputedStyle(c); return [s.outlineStyle, s.outlineWidth]; }")
    assert style[0] != "none" and float(style[1].removesuffix("px")) >= 2


# ------------------------------------------------------------------------------------------ screen readers

RECORD_ANNOUNCEMENTS = """() => {
    window.__said = [];
    const region = document.getElementById('announcer');
    new MutationObserver(() => { if (region.textContent) window.__said.push(region.textContent); })
        .observe(region, {childList: true, characterData: true, subtree: true});
}"""


def test_one_polite_status_region_announces_the_finished_answer_once(page):
    live = "[aria-live], [role=status], [role=alert], [role=log]"
    assert page.locator(live).count() == 1
    region = page.locator(live).first
    assert region.get_attribute("aria-live") == "polite" and region.get_attribute("role") == "status"
    assert page.locator("#messages").get_attribute("aria-live") is None
    page.evaluate(RECORD_ANNOUNCEMENTS)
    ask(page, SEED_QUESTION)
    page.wait_for_function("() => window.__said.length > 0")
    page.wait_for_timeout(500)
    said = page.evaluate("() => window.__said")
    assert len(said) == 1
    short = page.locator(".msg.bot .short-answer").inner_text()
    quote = page.locator("#messages .answer-text").inner_text().split("“")[1].split("”")[0]
    assert short.split("（")[0] in said[0] and quote in said[0]
    assert "毫秒" not in said[0] and "正在检索" not in said[0]
    assert page.locator(live).count() == 1  # the answer added no live region of its own


# ------------------------------------------------------------------------------------------ remembering


def test_conversation_survives_a_reload_with_its_session(page):
    ask(page, SEED_QUESTION)
    ask(page, "那指挥部的政委呢？")
    before = page.locator("#messages").inner_text()
    session = page.evaluate("() => JSON.parse(localStorage.getItem('qa.chat.v1')).sessionId")
    assert session
    page.reload()
    page.wait_for_function("() => !document.getElementById('send').disabled")
    assert page.locator(".msg.bot").count() == 2 and page.locator(".msg.user").count() == 2
    assert page.locator("#messages").inner_text() == before
    assert page.locator("#empty").is_hidden()
    ask(page, "那指挥长呢？")  # the restored session id goes with the next question: still a follow-up
    assert "市公安局创文" in page.locator(".msg.bot").last.locator(".resolved").inner_text()
    assert page.locator(".msg.bot").last.locator(".reset-note").is_hidden()
    assert page.evaluate("() => JSON.parse(localStorage.getItem('qa.chat.v1')).sessionId") == session


def test_new_chat_keeps_the_old_one_in_recent_conversations_and_clear_deletes_them(page):
    ask(page, SEED_QUESTION)
    page.click("#new-chat")
    assert page.locator(".msg").count() == 0 and page.locator("#empty").is_visible()
    recent = page.locator(".recent-item")
    assert recent.count() == 1 and SEED_QUESTION in recent.first.inner_text()
    page.reload()
    page.wait_for_function("() => !document.getElementById('send').disabled")
    assert page.locator(".msg").count() == 0 and recent.count() == 1  # a new chat stays new on reload
    page.screenshot(path=str(TEST_OUTPUT / "recent.png"))
    assert serious_axe_violations(page, "recent") == []
    recent.first.click()
    assert page.locator(".msg.user .bubble").inner_text() == SEED_QUESTION
    assert page.locator(".msg.bot .answer-text .chip").count() >= 1
    page.click("#new-chat")
    page.get_by_role("button", name="清除本浏览器里的对话记录").click()
    assert recent.count() == 0 and page.locator("#recent").is_hidden()
    page.reload()
    page.wait_for_function("() => !document.getElementById('send').disabled")
    assert page.locator(".msg").count() == 0 and recent.count() == 0
    assert page.evaluate(
        "() => [localStorage.getItem('qa.chat.v1'), localStorage.getItem('qa.recent.v1')]"
    ) == [
        None,
        None,
    ]


# ------------------------------------------------------------------------------------------ keeping


def test_copy_puts_the_answer_on_the_clipboard_as_plain_text(browser, server_url):
    page = open_page(browser, server_url, permissions=["clipboard-read", "clipboard-write"])
    ask(page, SEED_QUESTION)
    answer = httpx.post(f"{server_url}/ask", json={"question": SEED_QUESTION}, timeout=60).json()
    bot = page.locator(".msg.bot").last
    bot.get_by_role("button", name="复制回答（纯文本，含引文与出处）").click()
    bot.locator(".copy", has_text="已复制").wait_for()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith(f"问：{SEED_QUESTION}\n")
    if answer["short_answer"]:
        assert f"答：{answer['short_answer']}" in copied
    for citation in answer["citations"]:
        assert f"“{citation['quote']}”" in copied
        assert f"《{citation['title']}》" in copied and citation["date"] in copied
        assert citation["source"] in copied
        assert f"/?article={citation['article_id']}&start={citation['start']}&end={citation['end']}" in copied
    assert "毫秒" not in copied and "有用" not in copied


def test_permalink_opens_straight_into_the_source_pane_with_the_span_highlighted(browser, server_url):
    answer = httpx.post(f"{server_url}/ask", json={"question": SEED_QUESTION}, timeout=60).json()
    citation = answer["citations"][0]
    article = httpx.get(f"{server_url}/articles/{citation['article_id']}", timeout=30).json()
    link = f"/?article={citation['article_id']}&start={citation['start']}&end={citation['end']}"
    page = open_page(browser, server_url + link)
    mark = page.locator("#source-body mark.quote")
    mark.wait_for()
    assert mark.inner_text() == article["text"][citation["start"] : citation["end"]] == citation["quote"]
    assert mark.is_visible()
    assert page.locator("#source-title").inner_text() == article["title"]
    assert page.evaluate("() => document.activeElement.id") == "source-title"
    assert page.locator("#source-permalink").get_attribute("href") == link
    page.screenshot(path=str(TEST_OUTPUT / "permalink.png"))
    page.keyboard.press("Escape")
    assert page.evaluate("() => location.search") == ""  # closed: the address is the chat again
    page.context.close()


def test_opening_a_source_puts_its_permalink_in_the_address_bar(page):
    ask(page, SEED_QUESTION)
    open_first_chip(page)
    citation = page.evaluate(
        "() => JSON.parse(localStorage.getItem('qa.chat.v1')).turns[0].answer.citations[0]"
    )
    expected = f"?article={citation['article_id']}&start={citation['start']}&end={citation['end']}"
    assert page.evaluate("() => location.search") == expected


def test_ask_again_link_asks_the_same_question_again(page):
    ask(page, SEED_QUESTION)
    link = page.locator(".msg.bot").last.get_by_role("link", name="再问一次")
    assert link.get_attribute("href").startswith("/?ask=")
    link.click()
    page.wait_for_function(
        "() => document.querySelectorAll('.msg.bot').length === 2"
        " && !document.querySelectorAll('.msg.bot')[1].classList.contains('pending')"
    )
    assert page.locator(".msg.user .bubble").nth(1).inner_text() == SEED_QUESTION
    first, second = (page.locator(".msg.bot").nth(i).locator(".answer-text").inner_text() for i in (0, 1))
    assert first == second


def test_the_ask_again_address_asks_on_arrival(browser, server_url):
    page = open_page(browser, f"{server_url}/?ask={SEED_QUESTION}")
    page.wait_for_function(
        "() => { const m = document.querySelector('.msg.bot');"
        " return m && !m.classList.contains('pending'); }",
        timeout=60_000,
    )
    assert page.locator(".msg.user .bubble").inner_text() == SEED_QUESTION
    assert page.evaluate("() => location.search") == ""
    page.context.close()


def test_the_short_answer_is_marked_inside_its_quote_when_the_answer_says_where(page, server_url):
    """Citations carry answer_start/answer_end (or null): the page marks exactly that span, nothing else."""
    ask(page, SEED_QUESTION)
    stored = page.evaluate("() => JSON.parse(localStorage.getItem('qa.chat.v1')).turns[0].answer")
    bot = page.locator(".msg.bot").last
    marks = bot.locator(".answer-text mark.answer")
    spans = [c for c in stored["citations"] if c.get("answer_start") is not None]
    assert marks.count() == len(spans)
    for i, citation in enumerate(spans):
        quote = citation["quote"]
        a, b = citation["answer_start"] - citation["start"], citation["answer_end"] - citation["start"]
        assert marks.nth(i).inner_text() == quote[a:b]
    if spans:
        bot.locator(".answer-text .chip").nth(stored["citations"].index(spans[0])).click()
        inner = page.locator("#source-body mark.quote mark.answer")
        inner.wait_for()
        article = httpx.get(f"{server_url}/articles/{spans[0]['article_id']}", timeout=30).json()
        assert inner.inner_text() == article["text"][spans[0]["answer_start"] : spans[0]["answer_end"]]


def test_answer_offsets_mark_the_short_answer_in_the_quote_and_in_the_source_pane(browser, server_url):
    """A stored answer (as the page keeps it) whose citation says where its short answer is: after a reload
    the page marks that span inside the quote and, once the chip is clicked, inside the article."""
    answer = httpx.post(f"{server_url}/ask", json={"question": SEED_QUESTION}, timeout=60).json()
    citation = answer["citations"][0]
    short = answer["short_answer"] or ""
    at = citation["quote"].find(short) if short else -1
    if at < 0:  # whatever the reader picks, a span inside the quote stands for it
        short, at = citation["quote"][2:6], 2
    citation["answer_start"] = citation["start"] + at
    citation["answer_end"] = citation["answer_start"] + len(short)
    stored = {"sessionId": None, "turns": [{"question": SEED_QUESTION, "answer": answer}]}
    page = open_page(browser, server_url)
    page.evaluate("s => localStorage.setItem('qa.chat.v1', JSON.stringify(s))", stored)
    page.reload()
    page.wait_for_function("() => !document.getElementById('send').disabled")
    mark = page.locator(".answer-text mark.answer")
    assert mark.count() == 1 and mark.inner_text() == short
    assert page.locator(".answer-text").inner_text() == expected_answer_text(answer)
    page.locator(".answer-text .chip").first.click()
    inner = page.locator("#source-body mark.quote mark.answer")
    inner.wait_for()
    article = httpx.get(f"{server_url}/articles/{citation['article_id']}", timeout=30).json()
    assert inner.inner_text() == article["text"][citation["answer_start"] : citation["answer_end"]]
    page.screenshot(path=str(TEST_OUTPUT / "answer-span.png"))
    page.context.close()


# ------------------------------------------------------------------------------------------ appearance


def test_dark_mode_keeps_the_page_dark_and_readable(browser, server_url):
    page = open_page(browser, server_url, color_scheme="dark")
    ask(page, SEED_QUESTION)
    open_first_chip(page)
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    channels = [int(x) for x in background.removeprefix("rgb(").removesuffix(")").split(",")]
    assert max(channels) < 60  # dark paper (contrast is axe's job: the "dark" state above)
    page.wait_for_timeout(300)
    page.screenshot(path=str(TEST_OUTPUT / "dark.png"))
    page.context.close()


def test_reduced_motion_turns_animations_off(browser, server_url):
    page = open_page(browser, server_url, reduced_motion="reduce")
    ask(page, SEED_QUESTION)
    open_first_chip(page)
    page.wait_for_selector("#source-body mark.quote.flash")
    assert page.locator("mark.quote").evaluate("m => getComputedStyle(m).animationName") == "none"
    assert page.locator("#chat").evaluate("c => getComputedStyle(c).scrollBehavior") == "auto"
    page.context.close()
    page = open_page(browser, server_url)  # without the preference the quote flashes
    ask(page, SEED_QUESTION)
    open_first_chip(page)
    page.wait_for_selector("#source-body mark.quote.flash")
    assert page.locator("mark.quote").evaluate("m => getComputedStyle(m).animationName") == "flash"
    page.context.close()


# ------------------------------------------------------------------------------------------ resilience


def test_an_answer_says_whether_the_server_still_knew_its_session(server_url):
    """session_reset: false for a new conversation and a live session, true for an id the server does not
    hold (restarted, expired, evicted: the question was answered without the earlier turns)."""
    with httpx.Client(base_url=server_url, timeout=60) as client:
        first = client.post("/ask", json={"question": SEED_QUESTION}).json()
        assert first["session_reset"] is False
        follow = client.post(
            "/ask", json={"question": "那指挥部的政委呢？", "session_id": first["session_id"]}
        )
        assert follow.json()["session_reset"] is False
        unknown = client.post("/ask", json={"question": SEED_QUESTION, "session_id": "never-issued-0001"})
        assert unknown.status_code == 200 and unknown.json()["session_reset"] is True


# A server of its own, on a port of its own, that a test stops and starts again (a new app, as a real
# restart: the sessions it held are gone).


class RestartableServer:
    """A uvicorn server in a thread on a fixed port; `stop()` and `start()` again a fresh app."""

    def __init__(self, make_app) -> None:
        self.make_app = make_app
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve a new app and wait until its index is loaded."""
        config = uvicorn.Config(self.make_app(), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail("the restartable server did not become ready")

    def stop(self) -> None:
        """Shut the server down; its port refuses connections afterwards."""
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(30)
            self.server = None


@pytest.fixture
def restartable(settings, embedder, reader):
    server = RestartableServer(lambda: create_app(settings, embedder=embedder, reader=reader))
    server.start()
    yield server
    server.stop()


def test_a_failed_request_says_what_happened_keeps_the_question_and_retry_answers(browser, restartable):
    page = open_page(browser, restartable.url)
    restartable.stop()
    page.fill("#question", SEED_QUESTION)
    page.press("#question", "Enter")
    bot = page.locator(".msg.bot.error")
    bot.wait_for(timeout=30_000)
    sentence = bot.locator(".answer-text").inner_text()
    assert "没能连上服务器" in sentence and "Failed to fetch" not in page.content()
    assert page.input_value("#question") == SEED_QUESTION  # the question is still there to send again
    retry = bot.get_by_role("button", name="重试")
    assert retry.is_visible()
    page.locator("#banner").wait_for(timeout=15_000)
    page.screenshot(path=str(TEST_OUTPUT / "error-server-gone.png"))
    assert serious_axe_violations(page, "error") == []
    restartable.start()
    retry.click()
    page.wait_for_function(
        "() => { const m = document.querySelectorAll('.msg.bot'); return m.length === 1"
        " && !m[0].classList.contains('pending') && !m[0].classList.contains('error'); }",
        timeout=60_000,
    )
    assert page.locator(".msg.bot .answer-text .chip").count() >= 1
    assert page.locator(".msg.user").count() == 1  # the failed try is replaced, not left above
    assert page.input_value("#question") == ""
    assert page.evaluate("() => document.activeElement.id") == "question"  # not dropped to <body>
    page.context.close()


def test_a_banner_shows_while_the_server_is_unreachable_and_goes_when_it_is_back(browser, restartable):
    page = open_page(browser, restartable.url)
    banner = page.locator("#banner")
    assert banner.is_hidden()
    restartable.stop()
    banner.wait_for(timeout=15_000)
    assert "无法连接服务器" in banner.inner_text()
    page.screenshot(path=str(TEST_OUTPUT / "banner-server-gone.png"))
    restartable.start()
    banner.wait_for(state="hidden", timeout=15_000)
    page.context.close()


def test_a_cut_network_shows_the_banner_at_once_and_hides_it_when_back(browser, server_url):
    """The browser's offline/online events make the page look at /health without waiting for its poll."""
    page = open_page(browser, server_url)
    banner = page.locator("#banner")
    assert banner.is_hidden()
    page.context.set_offline(True)
    banner.wait_for(timeout=1500)  # well before the next 3 s poll
    assert "无法连接服务器" in banner.inner_text()
    page.context.set_offline(False)
    banner.wait_for(state="hidden", timeout=1500)
    page.context.close()


def test_a_follow_up_the_restarted_server_no_longer_knows_says_the_context_was_reset(browser, restartable):
    page = open_page(browser, restartable.url)
    ask(page, SEED_QUESTION)
    assert page.locator(".reset-note").first.is_hidden()
    restartable.stop()
    restartable.start()  # a new process: the conversation's session is gone
    ask(page, "那指挥部的政委呢？")
    note = page.locator(".msg.bot").last.locator(".reset-note")
    assert note.is_visible() and "上下文已重置" in note.inner_text()
    page.screenshot(path=str(TEST_OUTPUT / "session-reset.png"))
    page.context.close()
