// floradrop's dashboard: plain JavaScript, no build step, no library, nothing from the internet.
// Reads /api/now (the daemon's status snapshot) every 1.5 s while the page is visible, and the
// journal's history and spend on demand. Every change is a POST carrying the page's CSRF token.
"use strict";

const CSRF = document.querySelector('meta[name="floradrop-csrf"]').content;
const ACTIVE = new Set(["uploading", "submitting", "running", "fetching", "filing"]);
const TERMINAL = new Set(["done", "failed", "duplicate", "cancelled"]);
const COLORS = ["#2f6fde", "#1f9d55", "#c98a00", "#8e44ad", "#d14343", "#16a2b8", "#7f8c8d",
  "#e67e22"];
const state = { now: null, page: 1, selected: null, history: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "style") node.style.cssText = value;  // CSSOM: allowed by the CSP
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);
const money = (v) => (v === null || v === undefined ? "–" : "$" + Number(v).toFixed(2));
const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "–");

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  seconds = Math.round(seconds);
  if (seconds < 60) return seconds + " s";
  const m = Math.floor(seconds / 60), s = seconds % 60;
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function toast(message, error) {
  const box = $("toast");
  box.textContent = message;
  box.className = "toast" + (error ? " error" : "");
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 5000);
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Floradrop-CSRF": CSRF },
    body: JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

async function act(body, done) {
  try {
    const reply = await post("/api/action", body);
    toast(reply.message || `${body.action}: done`);
  } catch (error) {
    toast(error.message, true);
  }
  await refreshNow();
  if (done) done();
}

async function openThing(body) {
  try {
    const reply = await post("/api/open", body);
    toast("Opened " + reply.opened);
  } catch (error) {
    toast(error.message, true);
  }
}

function can(action) {
  return state.now && state.now.actions.includes(action);
}

// -- header and Now ----------------------------------------------------------------------------

function renderHeader(now) {
  let line = `${now.running} running, ${now.queued} queued`;
  if (now.held) line += `, ${now.held} held`;
  if (now.to_review) line += `, ${now.to_review} to review`;
  line += `, ${now.done_today} done today`;
  if (now.failed_today) line += `, ${now.failed_today} failed`;
  line += `, ${money(now.spend_today_usd)} spent today`;
  if (now.paused) line = "Paused · " + line;
  if (!now.daemon_running) line = "Daemon not running · " + line;
  $("summary").textContent = line;
  const pause = $("pause-all");
  const action = now.paused ? "resume" : "pause";
  pause.hidden = !can(action);
  pause.textContent = now.paused ? "Resume all" : "Pause all";
  pause.className = now.paused ? "primary" : "";
  pause.onclick = () => act({ action });
  const attention = now.attention;
  $("attention").hidden = !attention;
  if (attention) {
    $("attention-message").textContent = attention.message;
    $("attention-hint").textContent = attention.hint ? "What to do: " + attention.hint : "";
    // Acknowledge clears past failures and the last error (live problems stay until fixed).
    const ackable = attention.kind === "failed_job" || now.last_error;
    $("ack").hidden = !(ackable && can("acknowledge"));
    $("ack").onclick = () => act({ action: "acknowledge" });
  }
}

function jobLine(job) {
  const bits = [job.state];
  if (job.active && job.state === "running") {
    bits.push(`${job.progress}%`);
    bits.push("elapsed " + duration(job.elapsed));
    if (job.eta !== null) bits.push("about " + duration(job.eta) + " left");
  } else if (job.active) {
    bits.push("for " + duration(job.elapsed));
  }
  const buttons = [];
  if (job.asked && can("approve")) {  // held by the big-drop guard: the user's go-ahead
    buttons.push(el("button", { class: "primary", text: "Start", "data-action": "approve",
      onclick: () => act({ action: "approve", job: job.id }) }));
  }
  if (job.cancellable && can("cancel")) {  // no run created yet: nothing is charged
    buttons.push(el("button", { class: "danger", text: "Cancel", "data-action": "cancel",
      onclick: () => act({ action: "cancel", job: job.id }) }));
  }
  return el("li", { "data-job": job.id, "data-state": job.state },
    el("div", {},
      el("div", {}, el("b", { text: job.name }), " ",
        el("span", { class: "state " + job.state, text: job.state })),
      el("div", { class: "meta", text: bits.slice(1).join(" · ") + (bits.length > 1 ? " · " : "") +
        job.technique }),
      job.why ? el("div", { class: "why", text: "Held: " + job.why }) : null,
      job.state === "running" ? el("div", { class: "bar" },
        el("div", { style: `width:${Math.max(2, job.progress)}%` })) : null),
    el("div", { class: "actions" }, buttons));
}

function renderQuestions(now) {
  const box = $("questions");
  box.replaceChildren();
  for (const question of now.questions || []) {
    box.append(el("div", { class: "question", "data-question": question.folder },
      el("b", { text: question.text }),
      el("span", { class: "actions" },
        can("approve") ? el("button", { type: "button", class: "primary", text: "Start",
          "data-action": "approve",
          onclick: () => act({ action: "approve", folder: question.folder }) }) : null,
        can("cancel") ? el("button", { type: "button", class: "danger", text: "Cancel",
          "data-action": "cancel",
          onclick: () => act({ action: "cancel", folder: question.folder }) }) : null)));
  }
}

function renderNow(now) {
  renderQuestions(now);
  const box = $("folders");
  box.replaceChildren();
  if (!now.folders.length) box.append(el("p", { class: "empty", text: "No folders configured." }));
  for (const folder of now.folders) {
    const c = folder.counts;
    const inflight = c.uploading + c.submitting + c.running + c.fetching + c.filing;
    const chips = [
      ["waiting", c.waiting], ["uploading", c.uploading], ["running", c.running + c.submitting],
      ["saving", c.fetching + c.filing], ["held", c.held], ["done", c.done], ["failed", c.failed],
    ].map(([label, n]) => el("span", { class: "chip", "data-count": label, text: `${n} ${label}` }));
    if (folder.review !== null && folder.review !== undefined) {  // a hold point
      chips.push(el("span", { class: "chip" + (folder.review ? " review" : ""), "data-count": "review",
        title: `Outputs waiting in ${folder.review_folder} for you to move to approved or rejected`,
        text: `${folder.review} to review` }));
    }
    const folderPause = folder.paused ? "resume" : "pause";
    const head = el("h2", {}, el("span", { text: folder.name }),
      now.folder_actions.includes(folderPause) ? el("button", {
        type: "button", "data-folder-action": folderPause,
        class: folder.paused ? "primary" : "",
        text: folder.paused ? "Resume folder" : "Pause folder",
        onclick: () => act({ action: folderPause, folder: folder.path }),
      }) : null);
    const batch = folder.batch;
    const card = el("div", { class: "folder", "data-folder": folder.path },
      head,
      el("div", { class: "path", text: `${folder.path} → ${folder.technique}` }),
      el("div", { class: "transfer", "data-transfer": folder.transfer || "upload",
        text: (folder.transfer === "host" ? "Files hosted in your bucket; FLORA fetches a link"
          : "Files uploaded to FLORA") + (folder.links ? " · dropped links run as they are" : "") }),
      el("div", { class: "chips" }, chips),
      batch.total ? el("div", { class: "batch" },
        el("div", { class: "batch-text", text: `${batch.done} of ${batch.total} done` +
          (inflight ? `, ${inflight} in progress` : "") + (folder.paused ? " (folder paused)" : "") }),
        el("div", { class: "bar" }, el("div", { style: `width:${100 * batch.done / batch.total}%` })))
        : el("div", { class: "empty", text: folder.paused ? "Folder paused; nothing waiting." :
          "Nothing in flight." }),
      folder.jobs.length ? el("ul", { class: "jobs-now" }, folder.jobs.map(jobLine)) : null);
    box.append(card);
  }
}

async function refreshNow() {
  try {
    const now = await getJSON("/api/now");
    state.now = now;
    renderHeader(now);
    if (currentPage() === "now") renderNow(now);
  } catch (error) {
    $("summary").textContent = "Cannot reach the daemon: " + error.message;
  }
}

// -- History -----------------------------------------------------------------------------------

function historyParams() {
  const params = new URLSearchParams(new FormData($("search")));
  for (const [key, value] of [...params]) if (!value) params.delete(key);
  params.set("page", state.page);
  if (state.page === 1) params.set("facets", "1");  // the choices, as new ones appear
  return params;
}

function fillSelect(select, values, label) {
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: select.options[0].text }));
  for (const value of values) select.append(el("option", { value, text: label(value) }));
  select.value = current;
}

function thumbCell(job) {
  const first = job.outputs.find((o) => o.exists);
  if (!first) return el("div", { class: "thumb-text", text: job.state === "failed" ? "!" : "–" });
  const img = el("img", { class: "thumb", loading: "lazy", alt: first.name,
    src: `/api/thumb?job=${job.id}&i=${first.index}` });
  img.addEventListener("error", () => img.replaceWith(el("div", { class: "thumb-text",
    text: first.name.split(".").pop().toUpperCase() })));
  return img;
}

async function loadHistory() {
  try {
    const data = await getJSON("/api/history?" + historyParams());
    state.history = data;
    if (data.facets && data.facets.folder) {
      const names = data.folder_names || {};
      fillSelect($("f-folder"), data.facets.folder, (p) => names[p] || p);
      fillSelect($("f-technique"), data.facets.technique, (t) => t);
      fillSelect($("f-state"), data.facets.state, (s) => s);
    }
    const body = $("jobs").tBodies[0];
    body.replaceChildren();
    for (const job of data.rows) {
      const row = el("tr", { "data-job": job.id, "data-state": job.state,
        class: state.selected === job.id ? "selected" : "", onclick: () => showJob(job.id) },
        el("td", {}, thumbCell(job)),
        el("td", {}, el("b", { text: job.name })),
        el("td", { text: job.folder_name }),
        el("td", { text: job.technique }),
        el("td", {}, el("span", { class: "state " + job.state, text: job.state })),
        el("td", { class: "cost", text: money(job.cost) }),
        el("td", { text: when(job.created_at) }),
        el("td", { text: when(job.finished_at) }));
      body.append(row);
    }
    if (!data.rows.length) {
      body.append(el("tr", {}, el("td", { colspan: 8, class: "empty", text: "No jobs match." })));
    }
    $("page-info").textContent = `Page ${data.page} of ${data.pages} · ${data.total} job(s)`;
    $("prev").disabled = data.page <= 1;
    $("next").disabled = data.page >= data.pages;
  } catch (error) {
    toast(error.message, true);
  }
}

async function showJob(id) {
  state.selected = id;
  for (const row of $("jobs").tBodies[0].rows) {
    row.classList.toggle("selected", row.dataset.job === String(id));
  }
  let job;
  try {
    job = await getJSON("/api/job?id=" + id);
  } catch (error) {
    toast(error.message, true);
    return;
  }
  const history = state.history || { actions: [] };
  const outputs = job.outputs.map((o) => el("figure", {},
    el("img", { src: `/api/thumb?job=${job.id}&i=${o.index}`, alt: o.name, loading: "lazy",
      onerror: (e) => { e.target.replaceWith(el("div", { class: "thumb-text", text: "file" })); } }),
    el("figcaption", {}, el("a", { href: "#history", text: o.name,
      onclick: (e) => { e.preventDefault(); openThing({ job: job.id, what: "output", index: o.index }); } }))));
  const buttons = [];
  if (job.outputs.length) {
    buttons.push(el("button", { type: "button", text: "Open output", "data-open": "output",
      onclick: () => openThing({ job: job.id, what: "output", index: 0 }) }));
    buttons.push(el("button", { type: "button", text: "Open its folder", "data-open": "output_folder",
      onclick: () => openThing({ job: job.id, what: "output_folder", index: 0 }) }));
  }
  if (job.report_path) {
    buttons.push(el("button", { type: "button", text: "Open error report", "data-open": "report",
      onclick: () => openThing({ job: job.id, what: "report" }) }));
  }
  buttons.push(el("button", { type: "button", text: "Show original", "data-open": "folder",
    onclick: () => openThing({ job: job.id, what: "folder" }) }));
  if (TERMINAL.has(job.state) && history.actions.includes("retry")) {
    buttons.push(el("button", { type: "button", class: "primary", text: "Retry (new paid run)",
      "data-action": "retry", onclick: () => act({ action: "retry", job: job.id }, loadHistory) }));
  }
  if (["waiting", "held", "uploading"].includes(job.state) && history.actions.includes("cancel")) {
    buttons.push(el("button", { type: "button", class: "danger", text: "Cancel",
      "data-action": "cancel", onclick: () => act({ action: "cancel", job: job.id }, loadHistory) }));
  }
  const facts = [
    ["State", job.state], ["Folder", job.folder_name], ["Technique", job.technique],
    ["Source", job.folder + "/" + job.rel_path], ["Now at", job.now_at],
    ["Cost", money(job.cost)], ["Quoted", money(job.run_cost)], ["Run id", job.run_id || "–"],
    ["Dropped", when(job.created_at)], ["Submitted", when(job.submitted_at)],
    ["Completed", when(job.completed_at)], ["Finished", when(job.finished_at)],
  ];
  if (job.note) facts.push(["Note", job.note]);
  if (job.error_message) facts.push(["Error", `${job.error_code || ""} ${job.error_message}`.trim()]);
  const detail = $("detail");
  detail.hidden = false;
  detail.replaceChildren(
    el("h3", { text: job.name }),
    el("dl", {}, facts.map(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
    outputs.length ? el("div", { class: "outputs" }, outputs) : null,
    job.report ? el("pre", { class: "report", text: job.report }) : null,
    el("div", { class: "actions" }, buttons));
}

// -- Spend -------------------------------------------------------------------------------------

function renderChart(data) {
  const groups = Object.keys(data.series);
  const n = data.periods.length;
  const totals = data.periods.map((_, i) => groups.reduce((sum, g) => sum + data.series[g][i], 0));
  const budgetLines = [];
  if (data.budgets.daily) budgetLines.push({ label: "Daily budget", value: data.budgets.daily,
    color: "#d14343" });
  if (data.group_by === "folder") {
    groups.forEach((g, gi) => {
      const b = data.budgets.folders[g];
      if (b) budgetLines.push({ label: `Budget ${data.folder_names[g] || g}`, value: b,
        color: COLORS[gi % COLORS.length] });
    });
  }
  const peak = Math.max(0.01, ...totals, ...budgetLines.map((b) => b.value * Math.max(...data.days)));
  const W = 900, H = 320, L = 56, B = 40, T = 16, R = 16;
  const plotW = W - L - R, plotH = H - T - B, step = plotW / n, barW = step * 0.64;
  const y = (v) => T + plotH - (v / peak) * plotH;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Spend per " + data.period);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  for (let i = 0; i <= 4; i++) {
    const v = (peak * i) / 4;
    add("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e3e6ec" });
    add("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#667085" },
      "$" + v.toFixed(2));
  }
  data.periods.forEach((period, i) => {
    let base = 0;
    const x = L + i * step + (step - barW) / 2;
    groups.forEach((g, gi) => {
      const v = data.series[g][i];
      if (v > 0) {
        const rect = add("rect", { x, y: y(base + v), width: barW, height: y(base) - y(base + v),
          fill: COLORS[gi % COLORS.length], "data-period": period, "data-group": g });
        const title = document.createElementNS(ns, "title");
        title.textContent = `${data.folder_names[g] || g}, ${period}: $${v.toFixed(2)}`;
        rect.append(title);
      }
      base += v;
    });
    const label = data.period === "month" ? period : period.slice(5);
    if (n <= 16 || i % 2 === 0) {
      add("text", { x: L + i * step + step / 2, y: H - B + 16, "text-anchor": "middle",
        "font-size": 11, fill: "#667085" }, label);
    }
  });
  for (const line of budgetLines) {  // a daily budget is drawn per period: × days in it
    const points = data.periods.map((_, i) => {
      const x0 = L + i * step, x1 = x0 + step, yy = y(line.value * data.days[i]);
      return `${x0},${yy} ${x1},${yy}`;
    }).join(" ");
    add("polyline", { points, fill: "none", stroke: line.color, "stroke-width": 2,
      "stroke-dasharray": "6 4", class: "budget" });
    add("text", { x: W - R, y: y(line.value * data.days[n - 1]) - 4, "text-anchor": "end",
      "font-size": 11, fill: line.color }, line.label + (data.period === "day" ? "" :
      ` ($${line.value.toFixed(2)}/day)`));
  }
  $("chart").replaceChildren(svg);
  const head = $("spend-table").tHead, body = $("spend-table").tBodies[0];
  head.replaceChildren(el("tr", {}, el("th", { text: data.group_by }), el("th", { text: "Total" }),
    el("th", { text: "Latest " + data.period })));
  body.replaceChildren();
  groups.forEach((g, gi) => {
    const total = data.series[g].reduce((a, b) => a + b, 0);
    body.append(el("tr", {}, el("td", {}, el("span", { class: "swatch",
      style: `background:${COLORS[gi % COLORS.length]}` }), data.folder_names[g] || g),
    el("td", { text: money(total) }), el("td", { text: money(data.series[g][n - 1]) })));
  });
  if (!groups.length) body.append(el("tr", {}, el("td", { colspan: 3, class: "empty",
    text: "Nothing charged in this range." })));
}

async function loadSpend() {
  try {
    const params = new URLSearchParams(new FormData($("spend-form")));
    renderChart(await getJSON("/api/spend?" + params));
  } catch (error) {
    toast(error.message, true);
  }
}

// -- pages -------------------------------------------------------------------------------------

function currentPage() {
  const page = location.hash.replace("#", "");
  return ["now", "history", "spend"].includes(page) ? page : "now";
}

function show() {
  const page = currentPage();
  for (const name of ["now", "history", "spend"]) {
    $("page-" + name).hidden = name !== page;
    $("tab-" + name).classList.toggle("active", name === page);
  }
  if (page === "now" && state.now) renderNow(state.now);
  if (page === "history") loadHistory();
  if (page === "spend") loadSpend();
}

function tick() {
  if (document.visibilityState === "visible") {
    refreshNow();
    const page = currentPage();
    if (page === "history" && state.page === 1) loadHistory();
    if (page === "spend") loadSpend();
  }
}

window.addEventListener("hashchange", show);
$("search").addEventListener("submit", (e) => { e.preventDefault(); state.page = 1; loadHistory(); });
$("prev").addEventListener("click", () => { state.page = Math.max(1, state.page - 1); loadHistory(); });
$("next").addEventListener("click", () => { state.page += 1; loadHistory(); });
$("period").addEventListener("change", loadSpend);
$("group").addEventListener("change", loadSpend);
refreshNow().then(show);
let ticks = 0;
setInterval(() => {
  ticks += 1;
  if (currentPage() === "now" || ticks % 3 === 0) tick();
}, 1500);
