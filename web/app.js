// The chat page: asks POST /chat/stream, renders the answer's fields (short answer, its date, each quote
// with its note and citation chip; never the answer text cut apart), and opens the cited article in the
// source pane with the quote highlighted. Plain JS, no build step, no library.
// Everything that comes from the corpus or the user is inserted with textContent, never as HTML.
//
// Accessibility: one polite status region (#announcer) says the finished answer once; the message list is
// not live. The source pane takes focus on its heading when it opens and gives it back to the chip that
// opened it; at phone width it is a modal dialog (the rest is inert, Tab cycles inside, Escape and a tap
// on the backdrop close it).
// Resilience: a failed request says what happened in Chinese, puts the question back and offers 重试;
// GET /health is polled and a banner shows while the server is away; an answer with session_reset says
// the conversation context was lost. Remembering: the conversation (and its session id) is kept in
// localStorage and comes back on reload. Permalinks: /?article=ID&start=S&end=E opens the source pane.
"use strict";

const $ = (id) => document.getElementById(id);
const els = {
  topbar: $("topbar"),
  main: $("main"),
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
  announcer: $("announcer"),
  recent: $("recent"),
  recentList: $("recent-list"),
  clearHistory: $("clear-history"),
  backdrop: $("backdrop"),
  source: $("source"),
  sourceTitle: $("source-title"),
  sourceSubtitle: $("source-subtitle"),
  sourceMeta: $("source-meta"),
  sourceBody: $("source-body"),
  sourceClose: $("source-close"),
  sourcePermalink: $("source-permalink"),
};

const STORE_KEY = "qa.chat.v1"; // {sessionId, turns: [{question, answer}]} of the current conversation
const RECENT_KEY = "qa.recent.v1"; // [{savedAt, sessionId, turns}]: earlier conversations, newest first
const MAX_STORED_TURNS = 50;
const MAX_RECENT = 8;
const HEALTH_EVERY_MS = 3000; // how often the page asks GET /health once it is ready
const RESET_TEXT = "服务器已不记得之前的对话（可能重启过或对话已过期），这个问题是作为新对话回答的，上下文已重置。";

const state = {
  sessionId: null,
  turns: [], // the finished answers of this conversation, as stored
  ready: false,
  online: true,
  busy: false,
  maxChars: 0, // the server's question limit, from GET /health
  conversation: 0, // bumped by "new conversation" so late events of an old stream are dropped
  articles: new Map(), // article id -> article JSON, fetched once
  opener: null, // the control that opened the source pane; focus goes back to it when the pane closes
};

const phone = window.matchMedia("(max-width: 760px)");

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

// The page's one live region. Emptied first so the same sentence twice is said twice.
let announceTimer = 0;
function announce(text) {
  clearTimeout(announceTimer);
  els.announcer.textContent = "";
  announceTimer = setTimeout(() => {
    els.announcer.textContent = text;
  }, 60);
}

// Near the server's limit a counter shows; past it a sentence says so and sending waits: a long paste is
// never cut silently (the real question is often at its end).
const COUNT_FROM = 0.8;
function updateCount() {
  const length = els.question.value.length;
  const limit = state.maxChars;
  const show = Boolean(limit) && length >= COUNT_FROM * limit;
  const wasOver = els.questionCount.classList.contains("over");
  els.questionCount.hidden = !show;
  els.questionCount.classList.toggle("over", tooLong());
  if (show) {
    els.questionCount.textContent = tooLong()
      ? `问题太长：${length.toLocaleString()} 字，最多 ${limit.toLocaleString()} 字，请删减后再发送。`
      : `${length.toLocaleString()} / ${limit.toLocaleString()} 字`;
  }
  if (tooLong() && !wasOver) announce(els.questionCount.textContent);
  setBusy(state.busy);
}

function showBanner(text, kind) {
  els.banner.textContent = text;
  els.banner.className = "banner" + (kind ? " " + kind : "");
  els.banner.hidden = !text;
}

// ---------------------------------------------------------------------------------------------- SSE over fetch

class HttpError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

// POST a JSON body and call onEvent(name, data) for each Server-Sent Event of the response.
async function postStream(url, body, onEvent) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    let detail = "";
    try {
      const payload = await response.json();
      if (payload && payload.detail) detail = payload.detail;
    } catch (_) {
      /* not JSON: the status says enough */
    }
    throw new HttpError(response.status, detail);
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

// What went wrong, as a sentence for the reader (never the browser's raw "Failed to fetch").
function describeFailure(error) {
  if (error instanceof HttpError) {
    if (error.status === 503) return "服务器正忙，或索引还没有准备好，这次没能回答。请稍等片刻再重试。";
    if (error.status === 413) return "问题太长，服务器没有接受。请删减后再发送。";
    if (error.status >= 400 && error.status < 500) return `服务器没有接受这个问题（状态 ${error.status}）。`;
    return `服务器出错了（状态 ${error.status}），这次没能回答。请稍后重试。`;
  }
  if (error && error.interrupted) return "连接中断：回答没有传完。请重试。";
  return "没能连上服务器：问题没有送到，或回答在路上断了（服务器可能已停止，或网络中断）。请稍后重试。";
}

// ---------------------------------------------------------------------------------------------- links

function permalink(articleId, start, end) {
  const params = new URLSearchParams({ article: articleId });
  if (Number.isInteger(start) && Number.isInteger(end)) {
    params.set("start", String(start));
    params.set("end", String(end));
  }
  return `/?${params}`;
}

function askAgainLink(question) {
  return `/?${new URLSearchParams({ ask: question })}`;
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
  card.setAttribute("aria-label", "回答");
  const reset = el("p", "reset-note", RESET_TEXT);
  reset.hidden = true;
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
  sources.setAttribute("aria-label", "出处");
  sources.hidden = true;
  card.append(reset, resolved, badge, short, typing, body, sources);
  item.appendChild(card);
  els.messages.appendChild(item);
  return { item, card, reset, resolved, badge, short, body, typing, sources, shortAnswer: "", citations: [], answer: null };
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

// Where the short answer sits inside a text that starts at article offset `from` and ends at `to`:
// [a, b) relative to that text, or null when the citation does not carry it (or it is not inside).
function answerSpan(citation, from, to) {
  const a = citation.answer_start;
  const b = citation.answer_end;
  if (!Number.isInteger(a) || !Number.isInteger(b) || b <= a || a < from || b > to) return null;
  return [a - from, b - from];
}

// The marks a quote stands between: “ ” or, when it holds “ or ” itself, 「 」 (as answer_prose does).
function quotationMarks(quote) {
  return /[“”]/.test(quote) ? ["「", "」"] : ["“", "”"];
}

// A quote as nodes: the short answer inside it marked when the citation says where it is.
function quoteNodes(citation) {
  const quote = citation.quote;
  const span = answerSpan(citation, citation.start, citation.end);
  if (!span) return [document.createTextNode(quote)];
  return [
    document.createTextNode(quote.slice(0, span[0])),
    el("mark", "answer", quote.slice(span[0], span[1])),
    document.createTextNode(quote.slice(span[1])),
  ];
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
    const [open, close] = quotationMarks(citation.quote);
    msg.body.appendChild(document.createTextNode(`${i ? " " : ""}${open}`));
    msg.body.append(...quoteNodes(citation));
    msg.body.appendChild(document.createTextNode(`${close}${citation.note || ""}`));
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
    chip.setAttribute("aria-hidden", "true");
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

// The answer as plain text for the clipboard: question, short answer, each quote with its article's title,
// date, source and a permalink to the quoted place. No chip digits, no timing.
function answerPlainText(msg, answer) {
  const lines = [`问：${msg.question || answer.question}`];
  if (answer.resolved_question) lines.push(`理解为：${answer.resolved_question}`);
  if (answer.abstained) {
    lines.push(`答：${answer.answer}`);
  } else if (answer.short_answer) {
    lines.push(`答：${answer.short_answer}${answer.short_answer_date ? `（${answer.short_answer_date}）` : ""}`);
  }
  const citations = answer.citations || [];
  if (citations.length) {
    lines.push("依据：");
    for (const c of citations) {
      const where = [c.date, c.source].filter(Boolean).join("，");
      const [open, close] = quotationMarks(c.quote);
      lines.push(`${c.n}. ${open}${c.quote}${close}${c.note || ""}`);
      lines.push(`   ——《${c.title || "无标题"}》${where ? `，${where}` : ""}`);
      lines.push(`   ${location.origin}${permalink(c.article_id, c.start, c.end)}`);
    }
  }
  return lines.join("\n");
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    // No clipboard API here (an insecure origin, a denied permission): the old way.
    const area = el("textarea", "visually-hidden");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (__) {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

// 复制 (the answer as plain text) and 再问一次 (a link: /?ask=..., which the page also follows in place).
function renderTools(msg, answer) {
  const tools = el("div", "answer-tools");
  const copy = el("button", "tool copy", "复制");
  copy.type = "button";
  copy.setAttribute("aria-label", "复制回答（纯文本，含引文与出处）");
  copy.addEventListener("click", async () => {
    const ok = await copyText(answerPlainText(msg, answer));
    copy.textContent = ok ? "已复制" : "复制失败";
    announce(ok ? "回答已复制" : "复制失败：浏览器不允许访问剪贴板");
    setTimeout(() => {
      copy.textContent = "复制";
    }, 2500);
  });
  const again = answer.resolved_question || msg.question || answer.question;
  const link = el("a", "tool ask-again", "再问一次");
  link.href = askAgainLink(again);
  link.title = `再问一次：${again}`;
  link.addEventListener("click", (event) => {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    if (!state.busy) ask(again);
  });
  tools.append(copy, link);
  msg.card.appendChild(tools);
}

// What the status region says once an answer is finished: the short answer and its quotes, not the timing.
function spokenAnswer(answer) {
  const parts = [];
  if (answer.session_reset) parts.push(RESET_TEXT);
  if (answer.abstained) {
    parts.push(answer.answer.startsWith("资料中未找到") ? answer.answer : `资料中未找到。${answer.answer}`);
    return parts.join(" ");
  }
  if (answer.short_answer) {
    parts.push(`回答：${answer.short_answer}${answer.short_answer_date ? `（${answer.short_answer_date}）` : ""}。`);
  }
  const citations = answer.citations || [];
  if (citations.length) {
    parts.push(`依据：${citations.map((c) => quotationMarks(c.quote).join(c.quote)).join("；")}。`);
    parts.push(`共 ${citations.length} 处出处，可用出处按钮查看原文。`);
  } else if (!answer.short_answer) {
    parts.push(answer.answer);
  }
  return parts.join(" ");
}

function showMeta(msg, meta) {
  if (meta.session_reset) msg.reset.hidden = false;
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

function finishMessage(msg, answer, restored) {
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
    const timing = el("p", "timing", `${Math.round(answer.timings_ms.total)} 毫秒`);
    timing.setAttribute("aria-hidden", "true"); // noise for a screen reader
    msg.card.appendChild(timing);
  }
  renderTools(msg, answer);
  renderFeedback(msg, answer);
  if (!restored) {
    announce(spokenAnswer(answer));
    remember(msg.question || answer.question, answer);
  }
}

// A request that failed: a sentence that says what happened, the question back in the box, and 重试.
function showFailure(msg, userItem, question, error) {
  msg.item.classList.remove("pending");
  msg.item.classList.add("error");
  msg.typing.remove();
  const sentence = describeFailure(error);
  msg.body.textContent = sentence;
  const retry = el("button", "tool retry", "重试");
  retry.type = "button";
  retry.addEventListener("click", () => {
    if (state.busy) return;
    userItem.remove();
    msg.item.remove();
    if (els.question.value.trim() === question) {
      els.question.value = "";
      autoGrow();
      updateCount();
    }
    els.question.focus(); // the button is gone; focus stays where the next question is typed
    ask(question);
  });
  const tools = el("div", "answer-tools");
  tools.appendChild(retry);
  msg.card.appendChild(tools);
  if (!els.question.value.trim()) {
    els.question.value = question;
    autoGrow();
    updateCount();
  }
  announce(`${sentence} 问题仍在输入框里。`);
  if (!(error instanceof HttpError)) checkHealth();
}

// A question the server refused (an `error` event): its reason; retrying would not help.
function showRefusal(msg, text) {
  msg.item.classList.remove("pending");
  msg.item.classList.add("error");
  msg.typing.remove();
  msg.body.textContent = `没能回答：${text}`;
  announce(msg.body.textContent);
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
  wrap.append(row, form, status);
  msg.card.appendChild(wrap);

  const say = (text) => {
    status.textContent = text;
    if (text) announce(text);
  };
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
      say("谢谢反馈");
    } catch (error) {
      controls.forEach((c) => { c.disabled = false; });
      say("反馈没能发送（服务器没有收到），请稍后再试。");
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

// ---------------------------------------------------------------------------------------------- remembering

// The current conversation lives in localStorage with its session id, so a reload keeps it; "＋ 新对话"
// moves it to the recent conversations (reopened from the empty screen), and 清除本浏览器里的对话记录
// deletes them all. Abstentions keep their three closest passages; other answers need none.
function storedAnswer(answer) {
  const kept = { ...answer };
  kept.passages = answer.abstained ? (answer.passages || []).slice(0, 3) : [];
  return kept;
}

function save() {
  try {
    if (!state.turns.length) {
      localStorage.removeItem(STORE_KEY);
      return;
    }
    localStorage.setItem(STORE_KEY, JSON.stringify({ sessionId: state.sessionId, turns: state.turns }));
  } catch (_) {
    /* storage full or disabled: the conversation just will not survive a reload */
  }
}

function remember(question, answer) {
  state.turns.push({ question, answer: storedAnswer(answer) });
  state.turns = state.turns.slice(-MAX_STORED_TURNS);
  save();
}

function readStored(key, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(key) || "null");
    return value === null ? fallback : value;
  } catch (_) {
    return fallback;
  }
}

function recentConversations() {
  const list = readStored(RECENT_KEY, []);
  return Array.isArray(list) ? list.filter((c) => c && Array.isArray(c.turns) && c.turns.length) : [];
}

function saveRecent(list) {
  try {
    if (list.length) localStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, MAX_RECENT)));
    else localStorage.removeItem(RECENT_KEY);
  } catch (_) {
    /* storage full or disabled */
  }
}

// The current conversation goes to the top of the recent ones (when it holds anything).
function archiveCurrent() {
  if (!state.turns.length) return;
  const list = recentConversations();
  list.unshift({ savedAt: new Date().toISOString(), sessionId: state.sessionId, turns: state.turns });
  saveRecent(list);
}

function renderRecent() {
  const list = recentConversations();
  els.recentList.replaceChildren();
  list.forEach((conversation, i) => {
    const item = el("li");
    const button = el("button", "recent-item");
    button.type = "button";
    button.appendChild(el("span", "recent-q", conversation.turns[0].question));
    const when = new Date(conversation.savedAt);
    const date = Number.isNaN(when.getTime()) ? "" : when.toLocaleString("zh-CN", { dateStyle: "short", timeStyle: "short" });
    button.appendChild(el("span", "recent-meta", `${conversation.turns.length} 个问题${date ? " · " + date : ""}`));
    button.addEventListener("click", () => reopen(i));
    item.appendChild(button);
    els.recentList.appendChild(item);
  });
  els.recent.hidden = list.length === 0;
}

// Reopen a recent conversation: it becomes the current one (its session id goes with the next question;
// a server that has forgotten it says so), and the current one takes its place in the list.
function reopen(index) {
  const list = recentConversations();
  const [chosen] = list.splice(index, 1);
  if (!chosen) return;
  if (state.turns.length) list.unshift({ savedAt: new Date().toISOString(), sessionId: state.sessionId, turns: state.turns });
  saveRecent(list);
  state.conversation += 1;
  closeSource(false);
  els.messages.replaceChildren();
  showConversation(chosen);
  save();
  renderRecent();
  setBusy(false);
  els.question.focus();
}

function clearHistory() {
  state.conversation += 1;
  state.sessionId = null;
  state.turns = [];
  try {
    localStorage.removeItem(STORE_KEY);
    localStorage.removeItem(RECENT_KEY);
  } catch (_) {
    /* nothing stored */
  }
  closeSource(false);
  els.messages.replaceChildren();
  els.empty.hidden = false;
  renderRecent();
  setBusy(false);
  announce("本浏览器里的对话记录已清除。");
  els.question.focus();
}

function restore() {
  const stored = readStored(STORE_KEY, null);
  renderRecent();
  if (!stored || !Array.isArray(stored.turns) || !stored.turns.length) return;
  showConversation(stored);
}

function showConversation(stored) {
  state.sessionId = typeof stored.sessionId === "string" ? stored.sessionId : null;
  state.turns = stored.turns.filter((t) => t && typeof t.question === "string" && t.answer);
  for (const turn of state.turns) {
    addUserMessage(turn.question);
    const msg = addBotMessage();
    msg.question = turn.question;
    showMeta(msg, turn.answer);
    finishMessage(msg, turn.answer, true);
  }
  els.empty.hidden = state.turns.length > 0;
  scrollChatToEnd();
}

// ---------------------------------------------------------------------------------------------- asking

async function ask(question) {
  question = question.trim();
  if (!question || state.busy || !state.ready) return;
  const conversation = state.conversation;
  els.empty.hidden = true;
  const userItem = addUserMessage(question);
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
        finishMessage(msg, data, false);
      } else if (name === "error") {
        showRefusal(msg, data.detail || "问题无法处理");
      }
      scrollChatToEnd();
    });
    if (conversation === state.conversation && msg.item.classList.contains("pending")) {
      showFailure(msg, userItem, question, { interrupted: true });
    }
  } catch (error) {
    if (conversation === state.conversation) showFailure(msg, userItem, question, error);
  } finally {
    if (conversation === state.conversation) setBusy(false);
    scrollChatToEnd();
  }
}

function newConversation() {
  archiveCurrent();
  state.conversation += 1;
  state.sessionId = null;
  state.turns = [];
  save();
  renderRecent();
  els.messages.replaceChildren();
  els.empty.hidden = false;
  closeSource(false);
  setBusy(false);
  els.question.value = "";
  autoGrow();
  updateCount();
  els.question.focus();
}

// ---------------------------------------------------------------------------------------------- source pane

async function fetchArticle(articleId) {
  if (state.articles.has(articleId)) return state.articles.get(articleId);
  const response = await fetch(`/articles/${encodeURIComponent(articleId)}`);
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(response.status === 404 ? "找不到这篇文章（可能已不在索引中）。" : `服务器返回 ${response.status}`);
  }
  state.articles.set(articleId, payload);
  return payload;
}

// At phone width the open pane is a modal dialog: the rest of the page is inert and a backdrop covers it.
function applyModal() {
  const modal = !els.source.hidden && phone.matches;
  if (modal) {
    els.source.setAttribute("role", "dialog");
    els.source.setAttribute("aria-modal", "true");
  } else {
    els.source.setAttribute("role", "complementary");
    els.source.removeAttribute("aria-modal");
  }
  els.topbar.inert = modal;
  els.main.inert = modal;
  els.backdrop.hidden = !modal;
}

function openPane(opener, link) {
  if (opener) state.opener = opener;
  els.source.hidden = false;
  document.body.classList.add("source-open");
  applyModal();
  els.sourcePermalink.hidden = !link;
  if (link) {
    els.sourcePermalink.href = link;
    history.replaceState(null, "", link);
  }
  els.sourceTitle.focus({ preventScroll: true });
}

// Show an article, marking text[start:end] (and the short answer inside it) and scrolling it into view.
function showArticle(article, start, end, citation, opener) {
  els.sourceTitle.textContent = article.title || "（无标题）";
  els.sourceSubtitle.textContent = article.subtitle || "";
  els.sourceSubtitle.hidden = !article.subtitle;
  const meta = [article.date, article.source, article.byline].filter(Boolean).join(" · ");
  els.sourceMeta.textContent = meta;
  const text = article.text || "";
  const body = els.sourceBody;
  body.replaceChildren();
  let mark = null;
  const spanned = Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end > start && end <= text.length;
  if (spanned) {
    mark = el("mark", "quote");
    const span = citation ? answerSpan(citation, start, end) : null;
    const quote = text.slice(start, end);
    if (span) {
      mark.append(
        document.createTextNode(quote.slice(0, span[0])),
        el("mark", "answer", quote.slice(span[0], span[1])),
        document.createTextNode(quote.slice(span[1])),
      );
    } else {
      mark.textContent = quote;
    }
    body.append(document.createTextNode(text.slice(0, start)), mark, document.createTextNode(text.slice(end)));
  } else {
    body.textContent = text;
  }
  openPane(opener, permalink(article.id, spanned ? start : null, spanned ? end : null));
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
    showArticle(article, citation.start, citation.end, citation, button);
  } catch (error) {
    showSourceError(error, button);
  }
}

async function openPassage(passage, button) {
  setActive(button);
  try {
    const article = await fetchArticle(passage.article_id);
    const at = article.text.indexOf(passage.text);
    showArticle(article, at >= 0 ? at : null, at >= 0 ? at + passage.text.length : null, null, button);
  } catch (error) {
    showSourceError(error, button);
  }
}

function showSourceError(error, opener) {
  els.sourceTitle.textContent = "无法打开原文";
  els.sourceSubtitle.hidden = true;
  els.sourceMeta.textContent = "";
  els.sourceBody.textContent = error instanceof TypeError ? "没能连上服务器，请稍后再试。" : error.message;
  openPane(opener, null);
}

// Close the pane; focus goes back to the control that opened it when focus was in the pane (or nowhere).
function closeSource(restoreFocus = true) {
  if (els.source.hidden) return;
  const focusWasInPane = els.source.contains(document.activeElement) || document.activeElement === document.body;
  els.source.hidden = true;
  document.body.classList.remove("source-open");
  applyModal();
  setActive(null);
  if (new URLSearchParams(location.search).has("article")) history.replaceState(null, "", "/");
  const opener = state.opener;
  state.opener = null;
  if (restoreFocus && focusWasInPane) {
    if (opener && opener.isConnected) opener.focus();
    else els.question.focus();
  }
}

// Inside the modal sheet, Tab and Shift+Tab cycle through the sheet's controls.
function trapTab(event) {
  if (event.key !== "Tab" || els.source.hidden || !phone.matches) return;
  const focusable = [...els.source.querySelectorAll("a[href], button:not([disabled]), [tabindex]")].filter(
    (node) => node.tabIndex >= 0 && !node.hidden && node.getClientRects().length > 0,
  );
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  const inside = els.source.contains(document.activeElement);
  if (event.shiftKey && (!inside || document.activeElement === first || document.activeElement === els.sourceTitle)) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && (!inside || document.activeElement === last)) {
    event.preventDefault();
    first.focus();
  }
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

const OFFLINE_TEXT = "无法连接服务器：服务器没有响应（可能已停止，或网络中断）。页面会自动重试，连上后这条提示会消失。";

// One look at GET /health: the banner says whether the server is away, loading, or (no banner) ready.
async function checkHealth() {
  let payload = null;
  let ok = false;
  try {
    const response = await fetch("/health", { cache: "no-store", signal: AbortSignal.timeout(5000) });
    payload = await response.json();
    ok = response.ok;
  } catch (_) {
    if (state.online) announce(OFFLINE_TEXT);
    state.online = false;
    showBanner(OFFLINE_TEXT, "error");
    return false;
  }
  // The question limit is the server's setting, never a number copied into the page.
  if (payload && payload.max_question_chars) state.maxChars = payload.max_question_chars;
  if (!state.online) announce("已重新连上服务器。");
  state.online = true;
  if (ok) {
    showBanner("");
    return true;
  }
  const error = payload && payload.status === "error";
  showBanner(error ? payload.detail : `正在准备索引，请稍候……（${payload ? payload.detail : ""}）`, error ? "error" : "info");
  return false;
}

async function waitUntilReady() {
  while (!(await checkHealth())) await new Promise((resolve) => setTimeout(resolve, 2000));
  state.ready = true;
  updateCount();
  setBusy(state.busy);
  loadExamples();
  await followUrl();
  setInterval(checkHealth, HEALTH_EVERY_MS);
}

// /?article=ID&start=S&end=E opens that article with the span marked; /?ask=Q asks Q (the 再问一次 link).
async function followUrl() {
  const params = new URLSearchParams(location.search);
  const articleId = params.get("article");
  const asked = params.get("ask");
  if (articleId) {
    const start = Number.parseInt(params.get("start") || "", 10);
    const end = Number.parseInt(params.get("end") || "", 10);
    try {
      const article = await fetchArticle(articleId);
      const ok = Number.isInteger(start) && Number.isInteger(end);
      showArticle(article, ok ? start : null, ok ? end : null, null, null);
    } catch (error) {
      showSourceError(error, null);
    }
  } else if (asked) {
    history.replaceState(null, "", "/");
    ask(asked);
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
els.clearHistory.addEventListener("click", clearHistory);
els.sourceClose.addEventListener("click", () => closeSource());
els.backdrop.addEventListener("click", () => closeSource());
els.sourcePermalink.addEventListener("click", async (event) => {
  if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  const ok = await copyText(els.sourcePermalink.href);
  announce(ok ? "本段链接已复制" : "复制失败：浏览器不允许访问剪贴板");
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !els.source.hidden) {
    event.preventDefault();
    closeSource();
  } else {
    trapTab(event);
  }
});
phone.addEventListener("change", applyModal);
// The browser's own word on the network makes the page look at /health at once.
window.addEventListener("online", checkHealth);
window.addEventListener("offline", checkHealth);

restore();
setBusy(false);
waitUntilReady();
if (!new URLSearchParams(location.search).has("article")) els.question.focus();
