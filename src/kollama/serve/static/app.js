// kollama web page: plain JS, no build step, no network beyond this server.
"use strict";

const $ = (sel) => document.querySelector(sel);
const keyInput = $("#api-key");
keyInput.value = localStorage.getItem("kollama-key") || "";
keyInput.addEventListener("change", () => { localStorage.setItem("kollama-key", keyInput.value); init(); });

function headers(json = true) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (keyInput.value) h["Authorization"] = "Bearer " + keyInput.value;
  return h;
}

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: { ...headers(!(options.body instanceof FormData)), ...(options.headers || {}) } });
  if (!res.ok) {
    let message = res.status + " " + res.statusText;
    try { const body = await res.json(); message = body.error?.message || body.error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return res;
}

// --- tabs ---------------------------------------------------------------------------------------
document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => {
  document.querySelectorAll(".tab, .panel").forEach((el) => el.classList.remove("active"));
  tab.classList.add("active");
  $("#" + tab.dataset.tab).classList.add("active");
  if (tab.dataset.tab === "reports") loadReports();
  if (tab.dataset.tab === "documents") loadDocuments();
}));

// --- chat ---------------------------------------------------------------------------------------
let history = [];
let controller = null;
let colours = {};

async function loadModels() {
  const select = $("#model");
  const res = await api("/v1/models");
  const models = (await res.json()).data.map((m) => m.id).filter((id) => !id.includes("e5"));
  select.innerHTML = "";
  for (const id of models) select.append(new Option(id, id));
}

function bubble(role, text = "") {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  $("#messages").append(div);
  $("#messages").scrollTop = $("#messages").scrollHeight;
  return div;
}

// Foreign spans as <mark>, coloured per script like the compare report.
function highlighted(text, spans) {
  const frag = document.createDocumentFragment();
  let pos = 0;
  for (const span of [...spans].sort((a, b) => a.start - b.start)) {
    if (span.start < pos) continue;
    frag.append(document.createTextNode(text.slice(pos, span.start)));
    const mark = document.createElement("mark");
    mark.className = "foreign " + span.kind;
    mark.dataset.script = span.script;
    mark.title = span.script + " · " + span.kind;
    mark.style.background = colours[span.script] || "#e5e7eb";
    mark.textContent = text.slice(span.start, span.end);
    frag.append(mark);
    pos = span.end;
  }
  frag.append(document.createTextNode(text.slice(pos)));
  return frag;
}

function showLegend() {
  $("#legend").innerHTML = "";
  for (const [script, colour] of Object.entries(colours)) {
    const s = document.createElement("span");
    s.style.background = colour;
    s.textContent = script;
    $("#legend").append(s);
  }
}

async function markForeign(div, text, prompt, stats, lang = "ko", reason = "") {
  const res = await api("/v1/fidelity", { method: "POST", body: JSON.stringify({ text, prompt, lang }) });
  const report = await res.json();
  colours = report.colours || colours;
  showLegend();
  div.textContent = "";
  div.append(highlighted(report.text ?? text, report.foreign || []));
  const meta = document.createElement("span");
  meta.className = "meta";
  const parts = [(report.pass ? "통과 pass" : "실패 fail") + " (" + lang + ")", "foreign spans " + (report.foreign || []).length];
  if (reason) parts.push("auto: " + reason);
  if (stats) parts.push("lock " + stats.lock + " (" + stats.lock_enforcement + ")", stats.completion_tokens + " tokens", stats.tokens_per_second + " tok/s");
  meta.textContent = parts.join(" · ");
  div.append(meta);
}

async function send(event) {
  event.preventDefault();
  const prompt = $("#prompt").value.trim();
  if (!prompt || controller) return;
  $("#prompt").value = "";
  bubble("user", prompt);
  history.push({ role: "user", content: prompt });
  const div = bubble("assistant");
  div.classList.add("streaming");
  controller = new AbortController();
  $("#send").disabled = true; $("#stop").disabled = false;
  let text = "", stats = null, lang = "ko", reason = "";
  try {
    const res = await api("/v1/chat/completions", {
      method: "POST", signal: controller.signal,
      body: JSON.stringify({ model: $("#model").value, messages: history, stream: true, lock: $("#lock").value,
                             lang: $("#lang").value, max_tokens: Number($("#max-tokens").value) || 256 }),
    });
    lang = res.headers.get("X-Kollama-Lang") || $("#lang").value;  // the decided language when auto
    reason = $("#lang").value === "auto" ? decodeURIComponent(res.headers.get("X-Kollama-Lang-Reason") || "") : "";
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        const data = event.replace(/^data: /, "");
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const delta = chunk.choices?.[0]?.delta?.content;
        if (delta) { text += delta; div.textContent = text; $("#messages").scrollTop = $("#messages").scrollHeight; }
        if (chunk.kollama) stats = chunk.kollama;
      }
    }
    history.push({ role: "assistant", content: text });
    div.classList.remove("streaming");
    div.classList.add("done");
    await markForeign(div, text, prompt, stats, lang, reason);
  } catch (err) {
    div.classList.remove("streaming");
    if (err.name === "AbortError") { div.classList.add("done"); history.push({ role: "assistant", content: text }); }
    else { div.classList.add("error"); div.textContent = (text ? text + "\n" : "") + "⚠ " + err.message; }
  } finally {
    controller = null;
    $("#send").disabled = false; $("#stop").disabled = true;
  }
}

$("#chat-form").addEventListener("submit", send);
// Enter sends, except while an IME is composing (a Hangul syllable being typed: the Enter commits the
// syllable, it must not send half a message). isComposing, and keyCode 229 for browsers that report it so.
let composing = false;
$("#prompt").addEventListener("compositionstart", () => { composing = true; });
$("#prompt").addEventListener("compositionend", () => { composing = false; });
$("#prompt").addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || e.shiftKey) return;
  if (e.isComposing || composing || e.keyCode === 229) return;
  send(e);
});
$("#stop").addEventListener("click", () => controller && controller.abort());
$("#clear").addEventListener("click", () => { history = []; $("#messages").innerHTML = ""; });

// --- documents (RAG) --------------------------------------------------------------------------
let ragAvailable = false;

async function loadDocuments() {
  $("#rag-missing").hidden = ragAvailable;
  $("#rag-ui").hidden = !ragAvailable;
  if (!ragAvailable) return;
  const docs = (await (await api("/v1/rag/documents")).json()).documents || [];
  const body = $("#doc-table tbody");
  body.innerHTML = "";
  for (const d of docs) {
    const row = body.insertRow();
    row.insertCell().textContent = d.title || d.filename;
    row.insertCell().textContent = d.status + (d.error ? ": " + d.error : "");
    row.insertCell().textContent = d.pages ?? "";
  }
  if (docs.some((d) => d.status === "queued" || d.status === "ingesting")) setTimeout(loadDocuments, 1000);
}

$("#upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("#upload-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  try { await api("/v1/rag/documents", { method: "POST", body: form }); }
  catch (err) { alert(err.message); }
  $("#upload-file").value = "";
  loadDocuments();
});

$("#ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = $("#question").value.trim();
  if (!question) return;
  const out = $("#rag-answer");
  out.textContent = "…";
  try {
    const res = await api("/v1/rag/ask", { method: "POST", body: JSON.stringify({ question, model: $("#model").value, lock: $("#lock").value,
                                                                       extractive: $("#extractive").checked }) });
    const answer = await res.json();
    out.textContent = answer.answer;
    const list = document.createElement("ul");
    for (const c of answer.citations || []) {
      const li = document.createElement("li");
      li.className = "citation";
      const a = document.createElement("a");
      a.textContent = "[" + (c.title || c.document) + " p." + c.page + "]";
      if (c.url) {
        // with an API key a plain link cannot send it: fetch the PDF, open it at the cited page
        a.href = c.url;
        a.addEventListener("click", async (e) => {
          if (!keyInput.value) return;
          e.preventDefault();
          const blob = await (await api(c.url.split("#")[0])).blob();
          window.open(URL.createObjectURL(blob) + "#" + c.url.split("#")[1], "_blank");
        });
      }
      a.target = "_blank";
      li.append(a);
      list.append(li);
    }
    out.append(list);
  } catch (err) { out.textContent = "⚠ " + err.message; }
});

// --- reports ----------------------------------------------------------------------------------
async function loadReports() {
  const list = $("#report-list");
  list.innerHTML = "";
  const reports = (await (await api("/v1/reports")).json()).reports;
  if (!reports.length) { list.innerHTML = "<li>No saved compare reports (run <code>kollama compare ... --out DIR</code>, then <code>kollama serve --reports DIR</code>).</li>"; return; }
  for (const r of reports) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = "#"; a.textContent = r.name + " — " + new Date(r.modified * 1000).toLocaleString();
    a.addEventListener("click", async (e) => {
      e.preventDefault();
      const html = await (await api("/v1/reports/" + r.id)).blob();
      window.open(URL.createObjectURL(html), "_blank");
    });
    li.append(a);
    list.append(li);
  }
}

async function init() {
  try {
    await loadModels();
    const health = await (await api("/health")).json();
    ragAvailable = !!health.rag;
  } catch (err) { bubble("error", "⚠ " + err.message); }
}
init();
