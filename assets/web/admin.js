// The operator page: log in, then poll the booth's status and live log. Everything a
// visitor typed (names in the log) is written as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const admin = { lastSeq: 0, timers: [], paused: false };

function showLogin(message) {
  for (const t of admin.timers) clearInterval(t);
  admin.timers = [];
  $("dashboard").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("password").focus();
}

async function api(path, options) {
  const res = await getJson(`/api/admin/${path}`, options);
  if (res.status === 401) showLogin();
  return res;
}

function post(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await getJson("/api/admin/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ password: $("password").value }),
  });
  if (!res.ok) {
    $("login-error").textContent = (res.body && res.body.msg) || "Could not log in.";
    return;
  }
  $("password").value = "";
  start();
});

function start() {
  $("login").hidden = true;
  $("dashboard").hidden = false;
  refreshStatus();
  refreshLog();
  admin.timers = [setInterval(refreshStatus, 5000), setInterval(refreshLog, 2000)];
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c === null || c === undefined ? "" : String(c);
    tr.append(td);
  }
  return tr;
}

function stats(dl, pairs) {
  dl.replaceChildren();
  for (const [label, value] of pairs) {
    const dt = document.createElement("dt");
    say(dt, label);
    const dd = document.createElement("dd");
    dd.textContent = value;
    dl.append(dt, dd);
  }
}

const seconds = (ms) => (ms === null || ms === undefined ? "–" : `${(ms / 1000).toFixed(1)} s`);
const clock = (unix) => new Date(unix * 1000).toLocaleTimeString();

async function refreshStatus() {
  const res = await api("status");
  if (!res.ok) return;
  const s = res.body;
  const d = s.today;
  admin.paused = s.paused;
  say($("booth-state"), s.paused ? ["일시 정지됨", "Paused: no new visitors"] : ["운영 중", "Open for visitors"]);
  say($("pause"), s.paused ? ["다시 열기", "Resume the booth"] : ["일시 정지", "Pause the booth"]);
  document.body.dataset.paused = String(s.paused);
  // The painters' outage, with its reason, above everything else.
  $("outage").hidden = !s.outage;
  if (s.outage) say($("outage"), ["화가 서버가 응답하지 않아요: " + s.outage, "The painters cannot take work: " + s.outage]);
  stats($("today"), [
    [["방문", "Visits"], d.visits],
    [["만든 티켓", "Tickets made"], d.tickets],
    [["저장한 티켓", "Tickets saved"], d.tickets_saved],
    [["인쇄", "Printed"], d.printed],
    [["인쇄 실패", "Print failures"], d.print_failed],
    [["그림 한 장까지 (중앙값)", "Median time to a painting"], seconds(d.latency_median_ms)],
    [["95번째 백분위", "95th percentile"], seconds(d.latency_p95_ms)],
  ]);
  // The charts are drawn by the server; re-read them when today's figures move.
  const key = JSON.stringify(d);
  if (admin.chartKey !== key) {
    admin.chartKey = key;
    for (const id of ["chart-visits", "chart-time"]) drawChart($(id));
  }
  const painterName = (p) => (T.painter[p] || [p, p]).join(" · ");
  $("painters").tBodies[0].replaceChildren(...d.painters.map(([p, ok, failed]) => row([painterName(p), ok, failed])));
  const b = s.backend;
  stats($("backend"), [
    [["엔진", "Backend"], b.backend],
    [["작업 가능", "Taking work"], b.available ? "yes" : "NO"],
    [["대기 중인 작업", "Jobs waiting"], b.queued === undefined ? "–" : b.queued],
    [["그리는 중인 방문", "Visits being painted"], s.rooms.painting],
    [["대기 중인 QR 코드", "QR codes waiting"], s.rooms.waiting_for_phone],
    [["연결된 화면", "Screens connected"], s.rooms.watched],
  ]);
  $("servers").hidden = !(b.servers && b.servers.length);
  $("servers").tBodies[0].replaceChildren(...(b.servers || []).map((v) => row([v.label, v.healthy ? "yes" : "NO", v.in_flight])));
  $("prints").tBodies[0].replaceChildren(...s.prints.map((p) => row([clock(p.requested_at), `#${p.visit_number}`, p.status, p.message])));
  $("gallery-box").hidden = !s.gallery;
  if (s.gallery) refreshGallery();
  refreshShowcase();
}

// The attract loop's paintings, one row per visit, each with a button that deletes the
// visit (the operator's way to take someone off the screen).
async function refreshShowcase() {
  const res = await api("showcase");
  if (!res.ok) return;
  const visits = new Map();
  for (const p of res.body.paintings) {
    if (!visits.has(p.visit_number)) visits.set(p.visit_number, []);
    visits.get(p.visit_number).push(p);
  }
  const rows = [...visits].map(([number, paintings]) => {
    const row = document.createElement("div");
    row.className = "showcase-visit";
    row.dataset.visit = String(number);
    const label = document.createElement("strong");
    label.textContent = `#${number}`;
    row.append(label, ...paintings.map((p) => {
      const img = document.createElement("img");
      img.src = p.image_url;
      img.alt = `#${number} ${p.painter}`;
      return img;
    }));
    const del = document.createElement("button");
    del.type = "button";
    del.className = "secondary";
    say(del, ["이 방문 삭제", "Delete this visit"]);
    del.addEventListener("click", async () => {
      if (!confirm(`#${number}: 사진과 그림을 모두 삭제할까요? / Delete this visit's photo and paintings?`)) return;
      const r = await post(`visits/${number}/delete`);
      $("action-status").textContent = r.ok ? `Visit #${number} deleted.` : `Could not delete visit #${number}.`;
      refreshShowcase();
    });
    row.append(del);
    return row;
  });
  if (rows.length === 0) {
    const none = document.createElement("p");
    say(none, ["동의한 방문자가 아직 없어요. 대기 화면은 화가들의 예시를 보여 줘요.", "No visitor has agreed yet; the waiting screen shows the painters' samples."]);
    rows.push(none);
  }
  $("showcase").replaceChildren(...rows);
}

// Fetches a server-drawn SVG chart and puts it into the page (not as an <img>, so its
// text gets the page's Hangul font). The SVG is parsed as XML: nothing in it runs.
async function drawChart(figure) {
  const res = await fetch(figure.dataset.src, { credentials: "same-origin" });
  if (!res.ok) return;
  const doc = new DOMParser().parseFromString(await res.text(), "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") return;
  figure.replaceChildren(document.importNode(svg, true));
}

async function refreshLog() {
  const res = await api(`log?after=${admin.lastSeq}`);
  if (!res.ok) return;
  const list = $("log");
  for (const line of res.body.lines) {
    admin.lastSeq = Math.max(admin.lastSeq, line.seq);
    const li = document.createElement("li");
    li.className = `log-${line.level}`;
    li.textContent = `${clock(line.at)}  ${line.text}`;
    list.prepend(li);
  }
  while (list.children.length > 300) list.lastElementChild.remove();
}

async function refreshGallery() {
  const res = await api("gallery");
  if (!res.ok) return;
  $("gallery").replaceChildren(...res.body.paintings.map((p) => {
    const img = document.createElement("img");
    img.src = p.image_url;
    img.alt = `#${p.visit_number} ${p.painter}`;
    img.loading = "lazy";
    return img;
  }));
}

$("pause").addEventListener("click", async () => {
  const res = await post("pause", { paused: !admin.paused });
  if (res.ok) refreshStatus();
});

$("reset-kiosk").addEventListener("click", async () => {
  const res = await post("reset-kiosk");
  $("action-status").textContent = res.ok ? "The kiosk is showing a fresh QR code." : "Could not reset the kiosk.";
});

$("logout").addEventListener("click", async () => {
  await post("logout");
  showLogin();
});

// Already logged in (the cookie is HttpOnly): the status call tells.
(async () => {
  const res = await getJson("/api/admin/status");
  if (res.ok) start(); else showLogin();
})();
