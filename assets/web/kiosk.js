// The kiosk: shows a fresh room's QR code amid the attract loop, then the visit live,
// then resets. The page's stage (welcome, painting, results) is `body[data-stage]`;
// the stylesheet sizes everything from the screen for each.
"use strict";

const kiosk = {
  room: null,       // {room_id, kiosk_token, qr_svg_url, idle_reset_secs, finished_hold_secs, attract_refresh_secs}
  socket: null,
  idleTimer: null,
  resetTimer: null,
  visitId: null,
  showcase: [],     // the attract loop's paintings: [{painter, image_url}]
  showcaseSamples: false,
  attractTimer: null,
  refreshTimer: null,
  attractNext: 0,   // the tile that changes next
  attractCursor: {}, // per painter: the painting its tile shows next
};

const $ = (id) => document.getElementById(id);
// The finale where the booth prints; elsewhere it is T.done.
const donePrint = ["완성! 휴대폰에 티켓을 저장하거나 여기서 인쇄하세요", "Done! Save your ticket on your phone, or print it here"];

function setStage(stage) {
  document.body.dataset.stage = stage;
}

// The four painters, in the order the booth shows them.
const PAINTERS = ["picasso", "renoir", "vangogh", "lichtenstein"];

async function newRoom() {
  clearTimeout(kiosk.idleTimer);
  clearTimeout(kiosk.resetTimer);
  clearTimeout(kiosk.resultsTimer);
  kiosk.resultsTimer = null;
  kiosk.finishing = false;
  if (kiosk.socket) kiosk.socket.close();
  const res = await getJson("/api/rooms", { method: "POST" });
  // A paused booth shows a break; with no painter answering (and no fallback), the
  // painters are resting. Either way the kiosk asks again until it gets a room.
  const code = res.status === 503 && res.body ? res.body.code : null;
  const paused = code === "booth-paused";
  const resting = code === "painters-offline";
  $("paused").hidden = !paused;
  $("resting").hidden = !resting;
  if (paused || resting) {
    $("welcome").hidden = true;
    $("visit").hidden = true;
    setStage(paused ? "paused" : "resting");
  }
  if (!res.ok) { setTimeout(newRoom, paused || resting ? 5000 : 3000); return; }
  kiosk.room = res.body;
  $("qr").src = kiosk.room.qr_svg_url;
  $("qr").dataset.roomId = kiosk.room.room_id;
  $("cards").replaceChildren();
  $("photo-card").hidden = true;
  $("photo").removeAttribute("src");
  $("visitor-name").textContent = "";
  for (const id of ["quiz", "quiz-result"]) {
    $(id).replaceChildren();
    $(id).hidden = true;
    delete $(id).dataset.index;
    delete $(id).dataset.painter;
  }
  $("queue").hidden = true;
  document.body.removeAttribute("data-quiz");
  $("finale").hidden = true;
  $("print-box").hidden = true;
  $("print-status").textContent = "";
  kiosk.visitId = null;
  $("welcome").hidden = false;
  $("visit").hidden = true;
  setStage("welcome");
  loadShowcase();
  const path = `/api/rooms/${kiosk.room.room_id}/events?kiosk_token=${encodeURIComponent(kiosk.room.kiosk_token)}`;
  kiosk.socket = openRoomSocket(path, onEvent, refresh);
}

// Any activity pushes the idle reset further away.
function touch() {
  clearTimeout(kiosk.idleTimer);
  kiosk.idleTimer = setTimeout(newRoom, kiosk.room.idle_reset_secs * 1000);
}

function onEvent(ev) {
  if (kiosk.visitId) trackQueue($("queue"), kiosk.visitId, ev);
  // The visitor deleted their photos (or they expired): never show them again. The
  // operator's "reset kiosk" and "pause" also start over (a paused booth shows a break).
  if (ev.type === "visit_deleted" || ev.type === "kiosk_reset") { newRoom(); return; }
  // Paused mid-visit: the visit finishes on screen, and the next reset shows the break.
  // The same when the painters stop answering: a kiosk with no visitor shows them resting.
  if (ev.type === "booth_paused" || ev.type === "painters_resting") {
    if (!kiosk.visitId) newRoom();
    return;
  }
  // The name as the visitor types it, before the photo.
  if (ev.type === "visitor_typing") {
    if (document.body.dataset.stage === "joined") $("visitor-name").textContent = ev.name;
    return;
  }
  if (ev.type === "visitor_finished") {
    say($("visit-status"), T.thanks);
    clearTimeout(kiosk.resetTimer);
    kiosk.finishing = true;
    kiosk.resetTimer = setTimeout(newRoom, kiosk.room.finished_hold_secs * 1000);
    return;
  }
  // A preview needs no re-read either: the frame shows it.
  if (ev.type === "preview") {
    showPreview($("cards"), ev.painter, ev.url);
    touch();
    return;
  }
  // Step progress needs no re-read: the card's bar moves.
  if (ev.type === "painter" && ev.status === "painting" && ev.progress != null && !ev.image_url) {
    showProgress($("cards"), ev.painter, ev.progress);
    touch();
    return;
  }
  refresh();
}

// Re-reads the room's whole state; the screen is always drawn from it.
async function refresh() {
  const room = kiosk.room;
  const res = await getJson(`/api/rooms/${room.room_id}`, {
    headers: { Authorization: `Bearer ${room.kiosk_token}` },
  });
  if (!res.ok || kiosk.room !== room || !res.body.joined) return;
  touch();
  const v = res.body.visit;
  kiosk.visitId = v.visit_id;
  if (v.status !== "painting") $("queue").hidden = true;
  $("welcome").hidden = true;
  $("visit").hidden = false;
  // Before the photo the name comes as it is typed (visitor_typing); after, as stored.
  if (v.status !== "waiting") $("visitor-name").textContent = v.name || "";
  if (v.photo_url && $("photo").getAttribute("src") !== v.photo_url) $("photo").src = v.photo_url;
  $("photo-card").hidden = !v.photo_url;
  showQuiz(v, null);
  // A quiz on screen takes room from the frames (see style.css).
  document.body.toggleAttribute("data-quiz", !$("quiz").hidden || !$("quiz-result").hidden);
  // Joined, no photo yet: the four frames wait for the visitor.
  const waiting = v.status === "waiting";
  renderCards($("cards"), waiting ? PAINTERS.map((painter) => ({ painter, status: "ready" })) : v.results);
  if (!waiting) {
    // Frames of painters this visit does not get (a quiz visit, a chosen few) go.
    const wanted = new Set(v.results.map((r) => r.painter));
    for (const card of $("cards").querySelectorAll(".card")) {
      if (!wanted.has(card.dataset.painter)) card.remove();
    }
  }
  markRoles(v);
  const over = v.status === "done" || v.status === "failed";
  setStage(over ? "results" : waiting ? "joined" : "painting");
  // The results stay up `results_secs` for the visitor, then the next person's turn.
  if (over && !kiosk.resultsTimer && !kiosk.finishing) {
    kiosk.resultsTimer = setTimeout(newRoom, room.results_secs * 1000);
  }
  const printable = room.print_enabled && v.ticket_url;
  $("print-box").hidden = !printable;
  $("finale").hidden = !over;
  if (over) say($("finale-text"), v.status === "done" ? (printable ? donePrint : T.done) : T.failedAll);
  const status = { waiting: T.phoneConnected, painting: T.painting, done: T.done, failed: T.failedAll }[v.status];
  say($("visit-status"), v.finished ? T.thanks : status);
  // The finale says it larger; the line above returns for the thank-you.
  $("visit-status").hidden = over && !v.finished;
  document.body.dataset.visitStatus = v.status;
}

// The attract loop: the waiting screen's tiles cycle through recent paintings of
// visitors who agreed to be shown (or the painters' samples), re-read every
// `attract_refresh_secs` so a deleted visit leaves the screen.
async function loadShowcase() {
  clearTimeout(kiosk.refreshTimer);
  const room = kiosk.room;
  if (!room) return;
  const every = (room.attract_refresh_secs || 15) * 1000;
  // Only the waiting screen shows the loop; during a visit, just keep the timer.
  if ($("welcome").hidden) { kiosk.refreshTimer = setTimeout(loadShowcase, every); return; }
  const res = await getJson(`/api/rooms/${room.room_id}/showcase`, {
    headers: { Authorization: `Bearer ${room.kiosk_token}` },
  });
  if (kiosk.room !== room) return;
  if (res.ok) {
    kiosk.showcase = res.body.paintings;
    kiosk.showcaseSamples = res.body.samples;
    drawAttract();
  }
  kiosk.refreshTimer = setTimeout(loadShowcase, every);
}

// One tile per painter, beside the QR card (never behind it): each tile cycles through
// that painter's paintings, or shows the painter's sample when it has none.
function drawAttract() {
  const box = $("attract");
  if (box.children.length === 0) {
    for (const painter of PAINTERS) {
      const tile = document.createElement("figure");
      tile.className = "tile";
      tile.dataset.painter = painter;
      const img = document.createElement("img");
      img.alt = "";
      img.addEventListener("load", () => tile.classList.add("shown"));
      // A painting deleted since the list was read: show nothing until the next one.
      img.addEventListener("error", () => { tile.classList.remove("shown"); img.removeAttribute("src"); });
      const cap = document.createElement("figcaption");
      say(cap, T.painter[painter]);
      tile.append(img, cap);
      box.append(tile);
    }
  }
  for (const tile of box.children) {
    const urls = attractList(tile.dataset.painter);
    const img = tile.querySelector("img");
    // A tile keeps what it shows while that is still listed, so a refresh does not
    // flash the screen; anything no longer listed goes at once.
    if (img.getAttribute("src") && urls.includes(img.getAttribute("src"))) continue;
    kiosk.attractCursor[tile.dataset.painter] = 0;
    showInTile(tile, urls[0]);
  }
  clearInterval(kiosk.attractTimer);
  kiosk.attractTimer = setInterval(stepAttract, 4000);
}

// The image URLs one painter's tile cycles through, newest first.
function attractList(painter) {
  const mine = kiosk.showcase.filter((p) => p.painter === painter).map((p) => p.image_url);
  return mine.length ? mine : [`/api/samples/${painter}`];
}

function showInTile(tile, url) {
  const img = tile.querySelector("img");
  if (img.getAttribute("src") !== url) {
    tile.classList.remove("shown");
    img.src = url;
  }
}

// Every few seconds the next tile turns to its painter's next painting.
function stepAttract() {
  if ($("welcome").hidden) return;
  const tiles = $("attract").children;
  if (tiles.length === 0) return;
  const tile = tiles[kiosk.attractNext % tiles.length];
  kiosk.attractNext += 1;
  const painter = tile.dataset.painter;
  const urls = attractList(painter);
  kiosk.attractCursor[painter] = ((kiosk.attractCursor[painter] || 0) + 1) % urls.length;
  showInTile(tile, urls[kiosk.attractCursor[painter]]);
}

// Print: the server prints a press once, so a double tap is harmless; the answer (or
// the printer's complaint, for the operator) shows under the button.
$("print").addEventListener("click", async () => {
  const room = kiosk.room;
  if (!kiosk.visitId) return;
  $("print").disabled = true;
  $("print-status").className = "";
  say($("print-status"), T.printing);
  const res = await getJson(`/api/visits/${kiosk.visitId}/print`, {
    method: "POST",
    headers: { Authorization: `Bearer ${room.kiosk_token}` },
  });
  $("print").disabled = false;
  if (res.ok) {
    say($("print-status"), T.printed);
  } else {
    $("print-status").className = "error";
    say($("print-status"), errorText(res.body));
  }
});

loadQuiz().finally(newRoom);
