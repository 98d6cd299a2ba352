// The kiosk: shows a fresh room's QR code, then the visit live, then resets.
"use strict";

const kiosk = {
  room: null,       // {room_id, kiosk_token, qr_svg_url, idle_reset_secs, finished_hold_secs}
  socket: null,
  idleTimer: null,
  resetTimer: null,
  visitId: null,
};

const $ = (id) => document.getElementById(id);

async function newRoom() {
  clearTimeout(kiosk.idleTimer);
  clearTimeout(kiosk.resetTimer);
  if (kiosk.socket) kiosk.socket.close();
  const res = await getJson("/api/rooms", { method: "POST" });
  const paused = res.status === 503 && res.body && res.body.code === "booth-paused";
  $("paused").hidden = !paused;
  if (paused) { $("welcome").hidden = true; $("visit").hidden = true; }
  if (!res.ok) { setTimeout(newRoom, paused ? 5000 : 3000); return; }
  kiosk.room = res.body;
  $("qr").src = kiosk.room.qr_svg_url;
  $("qr").dataset.roomId = kiosk.room.room_id;
  $("cards").replaceChildren();
  $("photo").hidden = true;
  $("photo").removeAttribute("src");
  $("visitor-name").textContent = "";
  for (const id of ["quiz", "quiz-result"]) {
    $(id).replaceChildren();
    $(id).hidden = true;
    delete $(id).dataset.index;
    delete $(id).dataset.painter;
  }
  $("queue").hidden = true;
  $("print-box").hidden = true;
  $("print-status").textContent = "";
  kiosk.visitId = null;
  $("welcome").hidden = false;
  $("visit").hidden = true;
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
  if (ev.type === "booth_paused") { if (!kiosk.visitId) newRoom(); return; }
  if (ev.type === "visitor_finished") {
    say($("visit-status"), T.thanks);
    clearTimeout(kiosk.resetTimer);
    kiosk.resetTimer = setTimeout(newRoom, kiosk.room.finished_hold_secs * 1000);
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
  $("visitor-name").textContent = v.name || "";
  if (v.photo_url) { $("photo").src = v.photo_url; $("photo").hidden = false; }
  showQuiz(v, null);
  renderCards($("cards"), v.results);
  markRoles(v);
  $("print-box").hidden = !(room.print_enabled && v.ticket_url);
  const status = { waiting: T.phoneConnected, painting: T.painting, done: T.done, failed: T.failedAll }[v.status];
  say($("visit-status"), v.finished ? T.thanks : status);
  document.body.dataset.visitStatus = v.status;
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
