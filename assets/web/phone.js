// The phone: joins the room from the QR link, sends name and photo, shows the paintings
// and the ticket.
"use strict";

const $ = (id) => document.getElementById(id);
let visitId = null;
// Set when the page was opened from a ticket's results link (read-only).
let resultsKey = null;
let roomId = null;
let socket = null;
// Set once the visitor deleted their photos: nothing is fetched or shown after that.
let deleted = false;

function showMessage(pair) {
  say($("message-text"), pair);
  $("message").hidden = false;
  $("upload").hidden = true;
  $("visit").hidden = true;
}

async function start() {
  await loadQuiz();
  if (quizInfo && quizInfo.mode === "both") {
    say($("mode-convert"), T.modeConvert);
    say($("mode-quiz"), T.modeQuiz);
    $("mode-choice").hidden = false;
  }
  const parts = location.pathname.split("/");
  if (parts[1] === "j") {
    const res = await getJson("/api/join", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ room_id: parts[2], secret: location.hash.slice(1) }),
    });
    if (!res.ok) { showMessage(errorText(res.body)); return; }
    // Drop the secret from the address bar; reloads now go to the visit itself.
    history.replaceState(null, "", `/v/${res.body.visit_id}`);
    visitId = res.body.visit_id;
  } else {
    visitId = parts[2];
    // The ticket's "My results" link: its key rides in the fragment. It shows this
    // visit's results, read-only, on any phone.
    resultsKey = new URLSearchParams(location.hash.slice(1)).get("k");
    if (resultsKey) document.body.dataset.resultsOnly = "true";
  }
  await refresh();
}

async function refresh() {
  if (deleted) return;
  const headers = resultsKey ? { "X-Results-Key": resultsKey } : {};
  const res = await getJson(`/api/visits/${visitId}`, { headers });
  if (deleted) return;
  if (!res.ok) { showMessage(errorText(res.body)); return; }
  const v = res.body;
  if (!socket && !resultsKey) {
    roomId = v.room_id;
    socket = openRoomSocket(
      `/api/rooms/${roomId}/events`,
      (ev) => {
        if (ev.type === "preview") { if (ev.visit_id === visitId) showPreview($("cards"), ev.painter, ev.url); return; }
        trackQueue($("queue"), visitId, ev);
        refresh();
      },
      () => refresh(),
    );
    window.articketSocket = socket;
  }
  document.body.dataset.visitStatus = v.status;
  if (v.retention_secs) {
    const s = v.retention_secs;
    say($("retention-note"), s >= 3600 ? T.retention(Math.round(s / 3600)) : T.retentionShort(Math.max(1, Math.round(s / 60))));
  }
  if (v.status === "waiting") {
    $("upload").hidden = false;
    $("visit").hidden = true;
    return;
  }
  $("upload").hidden = true;
  $("visit").hidden = false;
  showQuiz(v, answer);
  renderCards($("cards"), v.results);
  markRoles(v);
  if (!resultsKey) {
    offerRetries(v);
    offerSingleTickets(v);
  }
  if (v.status !== "painting") $("queue").hidden = true;
  const status = { painting: T.painting, done: T.done, failed: T.failedAll }[v.status];
  say($("visit-status"), v.finished ? T.thanks : status);
  if (v.ticket_url) {
    $("ticket").src = v.ticket_url;
    $("save-ticket").href = v.ticket_url;
    $("ticket-box").hidden = false;
    if (v.promo_url) { $("save-promo").href = v.promo_url; $("save-promo").hidden = false; }
  }
}

// Quiz mode: each tap sends every answer so far.
async function answer(key, before) {
  for (const b of $("quiz").querySelectorAll("button")) b.disabled = true;
  const res = await getJson(`/api/visits/${visitId}/answers`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ answers: before + key }),
  });
  if (!res.ok) {
    say($("visit-status"), errorText(res.body));
    for (const b of $("quiz").querySelectorAll("button")) b.disabled = false;
  }
  await refresh();
}

// Each finished painting can also be saved as a ticket of its own, with its tagline.
function offerSingleTickets(v) {
  if (!v.ticket_url) return;
  for (const r of v.results) {
    const card = $("cards").querySelector(`[data-painter="${r.painter}"]`);
    if (r.status !== "done" || card.querySelector("a.single")) continue;
    const a = document.createElement("a");
    a.className = "single";
    a.href = `/api/visits/${visitId}/tickets/${r.painter}`;
    a.download = `articket-${r.painter}.png`;
    say(a, T.singleTicket);
    card.querySelector("figcaption").append(a);
  }
}

// Once the others are finished, a painter that failed gets a "try again" button.
function offerRetries(v) {
  for (const r of v.results) {
    const card = $("cards").querySelector(`[data-painter="${r.painter}"]`);
    let button = card.querySelector("button.retry");
    const wanted = r.status === "failed" && v.status !== "painting";
    if (!wanted) { if (button) button.remove(); continue; }
    if (button) continue;
    button = document.createElement("button");
    button.type = "button";
    button.className = "retry secondary";
    say(button, T.tryAgain);
    button.addEventListener("click", async () => {
      button.disabled = true;
      const res = await getJson(`/api/visits/${visitId}/painters/${r.painter}/retry`, { method: "POST" });
      if (!res.ok) { say($("visit-status"), errorText(res.body)); button.disabled = false; return; }
      button.remove();
      await refresh();
    });
    card.querySelector("figcaption").append(button);
  }
}

$("photo-input").addEventListener("change", () => {
  const file = $("photo-input").files[0];
  if (file) { $("preview").src = URL.createObjectURL(file); $("preview").hidden = false; }
});

// The kiosk greets the visitor by name as they type it (a moment after each key).
let typingTimer = null;
$("name").addEventListener("input", () => {
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => {
    fetch(`/api/visits/${visitId}/typing`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: $("name").value }),
    }).catch(() => {});
  }, 300);
});

$("upload").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("send").disabled = true;
  $("upload-error").textContent = "";
  const form = new FormData();
  form.append("name", $("name").value);
  if (!$("mode-choice").hidden) {
    form.append("mode", document.querySelector("input[name=mode]:checked").value);
  }
  // Off unless the visitor ticks it: only then do their paintings join the kiosk's
  // attract loop.
  if ($("on-screen").checked) form.append("on_screen", "1");
  form.append("photo", $("photo-input").files[0]);
  let res = await getJson(`/api/visits/${visitId}/photo`, { method: "POST", body: form });
  // A busy booth says when to come back; try again by ourselves a few times first.
  for (let tries = 0; res.status === 503 && res.retryAfter > 0 && tries < 5; tries++) {
    say($("upload-error"), errorText(res.body));
    await new Promise((resolve) => setTimeout(resolve, res.retryAfter * 1000));
    res = await getJson(`/api/visits/${visitId}/photo`, { method: "POST", body: form });
  }
  $("send").disabled = false;
  $("upload-error").textContent = "";
  if (!res.ok) { say($("upload-error"), errorText(res.body)); return; }
  await refresh();
});

// Save ticket: the share sheet with the PNG itself where the browser can share files
// (iOS Safari, Android Chrome), so it goes straight to Photos; otherwise the plain
// download link, with a long-press hint on iPhones. Never a ZIP.
const isIos = /iPad|iPhone|iPod/.test(navigator.userAgent)
  || (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
$("save-ticket").addEventListener("click", async (e) => {
  const url = $("save-ticket").getAttribute("href");
  // Saved: "Finish" becomes the step in reach.
  document.body.dataset.saved = "true";
  // Counted for the operator's "tickets saved"; the answer does not matter.
  if (url) fetch(`/api/visits/${visitId}/saved`, { method: "POST", credentials: "same-origin" }).catch(() => {});
  if (!url || !navigator.canShare) {
    if (isIos) { say($("save-hint"), T.saveHintIos); $("save-hint").hidden = false; }
    return; // the link downloads
  }
  e.preventDefault();
  try {
    const blob = await (await fetch(url, { credentials: "same-origin" })).blob();
    const file = new File([blob], "articket-ticket.png", { type: "image/png" });
    if (navigator.canShare({ files: [file] })) {
      await navigator.share({ files: [file], title: "Articket" });
      say($("save-hint"), T.saved);
      $("save-hint").hidden = false;
      return;
    }
  } catch (err) {
    if (err && err.name === "AbortError") return; // the visitor closed the share sheet
  }
  // Sharing files is not possible here: download, and explain on iPhones.
  if (isIos) { say($("save-hint"), T.saveHintIos); $("save-hint").hidden = false; }
  const a = document.createElement("a");
  a.href = url;
  a.download = "articket-ticket.png";
  a.click();
});

$("delete").addEventListener("click", async () => {
  if (!window.confirm(T.confirmDelete)) return;
  deleted = true;
  const res = await getJson(`/api/visits/${visitId}/delete`, { method: "POST" });
  if (!res.ok) { deleted = false; say($("visit-status"), errorText(res.body)); return; }
  if (socket) socket.close();
  showMessage(T.deleted);
});

$("finish").addEventListener("click", async () => {
  await getJson(`/api/visits/${visitId}/finish`, { method: "POST" });
  say($("visit-status"), T.thanks);
});

start();
