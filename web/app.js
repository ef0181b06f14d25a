// The chat page: asks POST /chat/stream, renders the answer's fields (short answer, its date, each quote
// with its note and citation chip; never the answer text cut apart), and opens the cited article in the
// source pane with the quote highlighted. Plain JS, no build step, no library.
// Everything that comes from the corpus or the user is inserted with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const els = {
  banner: $("banner"),
  empty: $("empty"),
  examples: $("examples"),
  examplesLabel: $("examples-label"),
  messages: $("messages"),
  chat: $("chat"),
  form: $("ask-form"),
  question: $("question"),
  questionCount: $("question-count"),
  send: $("send"),
  newChat: $("new-chat"),
  source: $("source"),
  sourceTitle: $("source-title"),
  sourceSubtitle: $("source-subtitle"),
  sourceMeta: $("source-meta"),
  sourceBody: $("source-body"),
  sourceClose: $("source-close"),
};

const state = {
  sessionId: null,
  ready: false,
  busy: false,
  maxChars: 0, // the server's question limit, from GET /health
  conversation: 0, // bumped by "new conversation" so late events of an old stream are dropped
  articles: new Map(), // article id -> article JSON, fetched once
};

// ---------------------------------------------------------------------------------------------- DOM helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function scrollChatToEnd() {
  els.chat.scrollTop = els.chat.scrollHeight;
}

function tooLong() {
  return Boolean(state.maxChars) && els.question.value.length > state.maxChars;
}

function setBusy(busy) {
  state.busy = busy;
  els.send.disabled = busy || !state.ready || tooLong();
  els.form.classList.toggle("busy", busy);
}

// Near the server's limit a counter shows; past it a sentence says so and sending waits: a long paste is
// never cut silently (the real question is often at its end).
const COUNT_FROM = 0.8;
function updateCount() {
  const length = els.question.value.length;
  const limit = state.maxChars;
  const show = Boolean(limit) && length >= COUNT_FROM * limit;
  els.questionCount.hidden = !show;
  els.questionCount.classList.toggle("over", tooLong());
  if (show) {
    els.questionCount.textContent = tooLong()
      ? `问题太长：${length.toLocaleString()} 字，最多 ${limit.toLocaleString()} 字，请删减后再发送。`
      : `${length.toLocaleString()} / ${limit.toLocaleString()} 字`;
  }
  setBusy(state.busy);
}

function showBanner(text, kind) {
  els.banner.textContent = text;
  els.banner.className = "banner" + (kind ? " " + kind : "");
  els.banner.hidden = !text;
}

// ---------------------------------------------------------------------------------------------- SSE over fetch

// POST a JSON body and call onEvent(name, data) for each Server-Sent Event of the response.
async function postStream(url, body, onEvent) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    let detail = `服务器返回 ${response.status}`;
    try {
      const payload = await response.json();
      if (payload && payload.detail) detail = payload.detail;
    } catch (_) {
      /* not JSON: keep the status line */
    }
    throw new Error(detail);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue; // keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = val;
        else if (field === "data") data.push(val);
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

// ---------------------------------------------------------------------------------------------- messages

function addUserMessage(text) {
  const item = el("li", "msg user");
  item.appendChild(el("div", "bubble", text));
  els.messages.appendChild(item);
  return item;
}

// A bot message in its "searching" state; returns the parts the stream fills in.
function addBotMessage() {
  const item = el("li", "msg bot pending");
  const card = el("article", "card");
  const resolved = el("p", "resolved");
  resolved.hidden = true;
  const badge = el("p", "badge");
  badge.hidden = true;
  const short = el("p", "short-answer");
  short.hidden = true;
  const body = el("p", "answer-text");
  const typing = el("p", "typing");
  typing.append(el("span", "dot"), el("span", "dot"), el("span", "dot"), el("span", "typing-label", "正在检索报纸…"));
  const sources = el("ol", "sources");
  sources.hidden = true;
  card.append(resolved, badge, short, typing, body, sources);
  item.appendChild(card);
  els.messages.appendChild(item);
  return { item, card, resolved, badge, short, body, typing, sources, shortAnswer: "", citations: [], answer: null };
}

// The short answer and, beside it, its date: fields of the answer (meta event or done), never cut from the text.
function renderShortAnswer(msg, shortAnswer, date) {
  if (!shortAnswer) return;
  msg.shortAnswer = shortAnswer;
  msg.short.replaceChildren(document.createTextNode(shortAnswer));
  if (date) msg.short.appendChild(el("span", "short-note", `（${date}）`));
  msg.short.hidden = false;
}

function citationChip(msg, n) {
  const chip = el("button", "chip", String(n));
  chip.type = "button";
  chip.dataset.n = String(n);
  chip.title = "查看出处";
  chip.setAttribute("aria-label", `出处 ${n}`);
  chip.addEventListener("click", () => {
    const citation = msg.citations.find((c) => c.n === n);
    if (citation) openCitation(citation, chip);
  });
  return chip;
}

// The body of an answer from its fields: "依据：" (when there is a short answer), then each citation's
// quote, its note (the date of a further quote's report) and its chip. An abstention shows its sentence.
function renderAnswerBody(msg, answer) {
  msg.body.replaceChildren();
  if (answer && answer.abstained) {
    msg.body.textContent = answer.answer;
    return;
  }
  if (msg.shortAnswer && msg.citations.length) msg.body.appendChild(document.createTextNode("依据："));
  msg.citations.forEach((citation, i) => {
    const lead = i ? " " : "";
    msg.body.appendChild(document.createTextNode(`${lead}“${citation.quote}”${citation.note || ""}`));
    msg.body.appendChild(citationChip(msg, citation.n));
  });
}

function renderSources(msg) {
  msg.sources.replaceChildren();
  for (const citation of msg.citations) {
    const row = el("li", "source-row");
    const button = el("button", "source-link");
    button.type = "button";
    const chip = el("span", "chip", String(citation.n));
    const title = el("span", "source-link-title", citation.title || "（无标题）");
    button.append(chip, title);
    if (citation.date) button.appendChild(el("span", "source-link-date", citation.date));
    button.addEventListener("click", () => openCitation(citation, button));
    row.appendChild(button);
    msg.sources.appendChild(row);
  }
  msg.sources.hidden = msg.citations.length === 0;
}

// Abstained answers list the closest passages; each opens its article with the passage marked.
function renderPassages(msg, passages) {
  if (!passages || !passages.length) return;
  const wrap = el("div", "closest");
  wrap.appendChild(el("p", "closest-label", "最接近的段落（点击查看原文）："));
  const list = el("ol", "closest-list");
  for (const passage of passages.slice(0, 3)) {
    const row = el("li");
    const button = el("button", "passage");
    button.type = "button";
    const head = el("span", "passage-title", passage.title || "（无标题）");
    if (passage.date) head.appendChild(el("span", "source-link-date", passage.date));
    const text = passage.text.length > 90 ? passage.text.slice(0, 90) + "…" : passage.text;
    button.append(head, el("span", "passage-text", text));
    button.addEventListener("click", () => openPassage(passage, button));
    row.appendChild(button);
    list.appendChild(row);
  }
  wrap.appendChild(list);
  msg.card.appendChild(wrap);
}

function finishMessage(msg, answer) {
  msg.answer = answer;
  msg.item.classList.remove("pending");
  msg.typing.remove();
  msg.citations = answer.citations || [];
  if (!answer.abstained && !msg.shortAnswer) {
    renderShortAnswer(msg, answer.short_answer, answer.short_answer_date);
  }
  renderAnswerBody(msg, answer);
  renderSources(msg);
  if (answer.abstained) renderPassages(msg, answer.passages);
  if (answer.timings_ms && answer.timings_ms.total !== undefined) {
    msg.card.appendChild(el("p", "timing", `${Math.round(answer.timings_ms.total)} 毫秒`));
  }
  renderFeedback(msg, answer);
}

// ---------------------------------------------------------------------------------------------- feedback

// 有用 sends at once; 没用 first opens an optional comment box, whose 提交 sends. POST /feedback keeps the
// verdict with the question, how it was understood, the answer and its citations (an operator exports them
// with `qa feedback export --jsonl`).
function renderFeedback(msg, answer) {
  const wrap = el("div", "feedback");
  const row = el("div", "feedback-row");
  row.setAttribute("role", "group");
  row.setAttribute("aria-label", "这个回答有用吗？");
  const useful = el("button", "feedback-button", "有用");
  const notUseful = el("button", "feedback-button", "没用");
  for (const button of [useful, notUseful]) {
    button.type = "button";
    button.setAttribute("aria-pressed", "false");
  }
  row.append(el("span", "feedback-label", "这个回答："), useful, notUseful);
  const form = el("div", "feedback-form");
  form.hidden = true;
  const comment = el("textarea", "feedback-comment");
  comment.rows = 2;
  comment.maxLength = 2000;
  comment.placeholder = "哪里不对？（可不填）";
  comment.setAttribute("aria-label", "说明哪里不对（可不填）");
  const submit = el("button", "feedback-submit", "提交");
  submit.type = "button";
  form.append(comment, submit);
  const status = el("p", "feedback-status");
  status.setAttribute("role", "status");
  wrap.append(row, form, status);
  msg.card.appendChild(wrap);

  const press = (chosen) => {
    useful.setAttribute("aria-pressed", String(chosen === useful));
    notUseful.setAttribute("aria-pressed", String(chosen === notUseful));
  };
  const send = async (verdict) => {
    const controls = [useful, notUseful, submit];
    controls.forEach((c) => { c.disabled = true; });
    status.textContent = "正在发送…";
    try {
      const response = await fetch("/feedback", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(feedbackBody(msg, answer, verdict, comment.value.trim())),
      });
      if (!response.ok) throw new Error(String(response.status));
      form.hidden = true;
      status.textContent = "谢谢反馈";
    } catch (error) {
      controls.forEach((c) => { c.disabled = false; });
      status.textContent = "反馈没能发送（服务器没有收到），请稍后再试。";
    }
  };
  useful.addEventListener("click", () => {
    press(useful);
    send("useful");
  });
  notUseful.addEventListener("click", () => {
    press(notUseful);
    form.hidden = false;
    status.textContent = "";
    comment.focus();
  });
  submit.addEventListener("click", () => send("not_useful"));
}

function feedbackBody(msg, answer, verdict, comment) {
  const body = {
    question: msg.question || answer.question,
    answer: answer.answer || answer.short_answer || "（空）",
    verdict,
    citations: (answer.citations || []).map((c) => ({
      article_id: c.article_id, start: c.start, end: c.end, quote: c.quote,
    })),
  };
  if (answer.resolved_question) body.resolved_question = answer.resolved_question;
  if (answer.short_answer) body.short_answer = answer.short_answer;
  if (answer.session_id) body.session_id = answer.session_id;
  if (comment) body.comment = comment;
  return body;
}

function showMeta(msg, meta) {
  if (meta.resolved_question) {
    msg.resolved.textContent = `理解为：${meta.resolved_question}`;
    msg.resolved.hidden = false;
  }
  if (meta.abstained) {
    msg.item.classList.add("abstained");
    msg.badge.textContent = "资料中未找到";
    msg.badge.hidden = false;
  } else {
    renderShortAnswer(msg, meta.short_answer, meta.short_answer_date);
  }
}

function showError(msg, text) {
  msg.item.classList.remove("pending");
  msg.item.classList.add("error");
  msg.typing.remove();
  msg.body.textContent = `没能回答：${text}`;
}

// ---------------------------------------------------------------------------------------------- asking

async function ask(question) {
  question = question.trim();
  if (!question || state.busy || !state.ready) return;
  const conversation = state.conversation;
  els.empty.hidden = true;
  addUserMessage(question);
  const msg = addBotMessage();
  msg.question = question;
  scrollChatToEnd();
  setBusy(true);
  const body = { question };
  if (state.sessionId) body.session_id = state.sessionId;
  try {
    await postStream("/chat/stream", body, (name, data) => {
      if (conversation !== state.conversation) return;
      if (name === "meta") {
        if (data.session_id) state.sessionId = data.session_id;
        showMeta(msg, data);
      } else if (name === "citations") {
        // "token" events carry the answer as text for other clients; the page renders the fields.
        msg.typing.remove();
        msg.citations = data;
        renderAnswerBody(msg, null);
        renderSources(msg);
      } else if (name === "done") {
        if (data.session_id) state.sessionId = data.session_id;
        finishMessage(msg, data);
      } else if (name === "error") {
        showError(msg, data.detail || "问题无法处理");
      }
      scrollChatToEnd();
    });
    if (msg.item.classList.contains("pending")) showError(msg, "连接中断，请重试");
  } catch (error) {
    showError(msg, error.message || String(error));
  } finally {
    if (conversation === state.conversation) setBusy(false);
    scrollChatToEnd();
  }
}

function newConversation() {
  state.conversation += 1;
  state.sessionId = null;
  els.messages.replaceChildren();
  els.empty.hidden = false;
  closeSource();
  setBusy(false);
  els.question.value = "";
  autoGrow();
  els.question.focus();
}

// ---------------------------------------------------------------------------------------------- source pane

async function fetchArticle(articleId) {
  if (state.articles.has(articleId)) return state.articles.get(articleId);
  const response = await fetch(`/articles/${encodeURIComponent(articleId)}`);
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(payload.detail || `服务器返回 ${response.status}`);
  state.articles.set(articleId, payload);
  return payload;
}

// Show an article, marking text[start:end] and scrolling it into view.
function showArticle(article, start, end) {
  els.sourceTitle.textContent = article.title || "（无标题）";
  els.sourceSubtitle.textContent = article.subtitle || "";
  els.sourceSubtitle.hidden = !article.subtitle;
  const meta = [article.date, article.source, article.byline].filter(Boolean).join(" · ");
  els.sourceMeta.textContent = meta;
  const text = article.text || "";
  const body = els.sourceBody;
  body.replaceChildren();
  let mark = null;
  if (start !== null && start >= 0 && end > start && end <= text.length) {
    mark = el("mark", "quote", text.slice(start, end));
    body.append(document.createTextNode(text.slice(0, start)), mark, document.createTextNode(text.slice(end)));
  } else {
    body.textContent = text;
  }
  els.source.hidden = false;
  document.body.classList.add("source-open");
  if (mark) {
    requestAnimationFrame(() => {
      mark.scrollIntoView({ block: "center", behavior: "instant" });
      mark.classList.add("flash");
    });
  } else {
    body.scrollTop = 0;
  }
}

function setActive(button) {
  for (const node of document.querySelectorAll(".active-source")) node.classList.remove("active-source");
  if (button) button.classList.add("active-source");
}

async function openCitation(citation, button) {
  setActive(button);
  try {
    const article = await fetchArticle(citation.article_id);
    showArticle(article, citation.start, citation.end);
  } catch (error) {
    showSourceError(error);
  }
}

async function openPassage(passage, button) {
  setActive(button);
  try {
    const article = await fetchArticle(passage.article_id);
    const at = article.text.indexOf(passage.text);
    showArticle(article, at >= 0 ? at : null, at >= 0 ? at + passage.text.length : null);
  } catch (error) {
    showSourceError(error);
  }
}

function showSourceError(error) {
  els.sourceTitle.textContent = "无法打开原文";
  els.sourceSubtitle.hidden = true;
  els.sourceMeta.textContent = "";
  els.sourceBody.textContent = error.message || String(error);
  els.source.hidden = false;
  document.body.classList.add("source-open");
}

function closeSource() {
  els.source.hidden = true;
  document.body.classList.remove("source-open");
  setActive(null);
}

// ---------------------------------------------------------------------------------------------- start-up

async function loadExamples() {
  try {
    const response = await fetch("/examples?limit=4");
    if (!response.ok) return;
    const payload = await response.json();
    els.examples.replaceChildren();
    for (const example of payload.examples || []) {
      const item = el("li");
      const button = el("button", "example");
      button.type = "button";
      button.appendChild(el("span", "example-q", example.question));
      button.appendChild(el("span", "example-from", `出自《${example.title}》`));
      button.addEventListener("click", () => ask(example.question));
      item.appendChild(button);
      els.examples.appendChild(item);
    }
    els.examplesLabel.hidden = els.examples.children.length === 0;
  } catch (_) {
    /* examples are a nicety; the chat works without them */
  }
}

async function waitUntilReady() {
  for (;;) {
    try {
      const response = await fetch("/health");
      const payload = await response.json();
      // The question limit is the server's setting, never a number copied into the page.
      if (payload.max_question_chars) state.maxChars = payload.max_question_chars;
      if (response.ok) {
        state.ready = true;
        showBanner("");
        setBusy(false);
        loadExamples();
        return;
      }
      const kind = payload.status === "error" ? "error" : "info";
      showBanner(payload.status === "error" ? payload.detail : `正在准备索引，请稍候……（${payload.detail}）`, kind);
    } catch (_) {
      showBanner("无法连接服务器，正在重试……", "error");
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function autoGrow() {
  els.question.style.height = "auto";
  els.question.style.height = Math.min(els.question.scrollHeight, 160) + "px";
}

els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = els.question.value;
  if (!text.trim() || state.busy || !state.ready || tooLong()) return;
  els.question.value = "";
  autoGrow();
  updateCount();
  ask(text);
});

els.question.addEventListener("keydown", (event) => {
  // Enter sends; Shift+Enter breaks the line; Enter that confirms an IME candidate does neither.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    els.form.requestSubmit();
  }
});
els.question.addEventListener("input", () => {
  autoGrow();
  updateCount();
});
els.newChat.addEventListener("click", newConversation);
els.sourceClose.addEventListener("click", closeSource);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !els.source.hidden) closeSource();
});

setBusy(false);
waitUntilReady();
els.question.focus();
