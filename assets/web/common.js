// Shared by the kiosk and phone pages: bilingual text, painter cards, the room socket.
"use strict";

const T = {
  painter: {
    picasso: ["피카소", "Picasso"],
    renoir: ["르누아르", "Renoir"],
    vangogh: ["반 고흐", "Van Gogh"],
    lichtenstein: ["리히텐슈타인", "Lichtenstein"],
  },
  status: {
    queued: ["대기 중", "Queued"],
    painting: ["그리는 중", "Painting"],
    done: ["완성", "Done"],
    failed: ["실패", "Failed"],
    ready: ["당신을 기다려요", "Waiting for you"],
  },
  phoneConnected: ["반가워요! 휴대폰에서 이름을 쓰고 사진을 찍거나 골라 주세요", "Welcome! On your phone, type your name and take or choose a photo"],
  painting: ["화가들이 그리고 있어요…", "The painters are at work…"],
  done: ["완성! 휴대폰에서 티켓을 저장하세요", "Done! Save your ticket on your phone"],
  failedAll: ["그림을 완성하지 못했어요. 다시 시도해 주세요", "The paintings could not be made. Please try again"],
  thanks: ["감사합니다!", "Thank you!"],
  queueNext: ["곧 차례예요!", "You're next!"],
  queueAhead: (n) => [`앞에 ${n}명이 기다리고 있어요`, `${n} visitor${n === 1 ? "" : "s"} ahead of you`],
  tryAgain: ["다시 그리기", "Try again"],
  singleTicket: ["이 그림만 티켓으로", "This one as a ticket"],
  retention: (h) => [`사진과 그림은 ${h}시간 뒤 자동으로 삭제돼요.`, `Your photo and paintings are deleted after ${h} hour${h === 1 ? "" : "s"}.`],
  retentionShort: (m) => [`사진과 그림은 ${m}분 뒤 자동으로 삭제돼요.`, `Your photo and paintings are deleted after ${m} minute${m === 1 ? "" : "s"}.`],
  confirmDelete: "사진과 그림을 지금 삭제할까요? 티켓을 먼저 저장하세요. / Delete your photo and paintings now? Save your ticket first.",
  deleted: ["사진과 그림을 삭제했어요. 감사합니다!", "Your photo and paintings are deleted. Thank you!"],
  printing: ["인쇄 중…", "Printing…"],
  printed: ["인쇄를 보냈어요. 프린터에서 가져가세요!", "Sent to the printer. Pick it up there!"],
  saveHintIos: ["티켓 이미지를 길게 눌러 '사진에 저장'을 고르세요.", "Press and hold the ticket, then choose Save to Photos."],
  saved: ["저장했어요!", "Saved!"],
  offline: ["연결이 끊겼어요. 다시 연결하는 중…", "Connection lost. Reconnecting…"],
  errors: {
    "room-taken": ["이미 사용된 QR 코드예요. 키오스크의 새 코드를 스캔하세요.", "This QR code was already used. Please scan the new code on the kiosk."],
    "room-not-found": ["유효하지 않은 QR 코드예요. 키오스크 화면의 코드를 스캔하세요.", "This QR code is not valid. Please scan the code on the kiosk screen."],
    "photo-empty": ["사진이 비어 있어요. 사진을 골라 주세요.", "The photo is empty. Please choose a photo."],
    "photo-missing": ["사진을 골라 주세요.", "Please choose a photo."],
    "photo-too-large": ["사진이 너무 커요. 더 작은 사진을 보내 주세요.", "The photo is too large. Please send a smaller one."],
    "photo-too-many-pixels": ["사진 해상도가 너무 높아요. 더 작은 사진을 보내 주세요.", "The photo has too many pixels. Please send a smaller one."],
    "photo-unsupported-format": ["읽을 수 없는 형식이에요. JPEG, PNG, WebP, GIF 사진을 보내 주세요.", "We cannot read this file. Please send a JPEG, PNG, WebP or GIF photo."],
    "photo-heic": ["HEIC 사진은 읽을 수 없어요. 사진 앱에서 골라 보내거나, 설정 > 카메라 > 포맷에서 '높은 호환성'을 선택해 주세요.", "HEIC photos can't be read here. Choose the photo from your library, or set Settings > Camera > Formats to Most Compatible."],
    "intake-busy": ["지금 사진이 몰려 있어요. 잠시 후 다시 보내 주세요.", "The booth is busy with other photos. Please send yours again in a moment."],
    "painters-offline": ["지금은 그림 서버가 꺼져 있어요. 몇 분 뒤에 다시 시도해 주세요.", "The painting servers are offline right now. Please try again in a few minutes."],
    "too-many-uploads": ["이 기기에서 사진을 너무 많이 보냈어요. 잠시 후 다시 시도해 주세요.", "Too many photos from this device in a minute. Please wait a moment."],
    "too-many-rooms": ["QR 코드가 너무 많이 열려 있어요. 잠시 후 다시 시도해 주세요.", "Too many QR codes are waiting. Please try again in a minute."],
    "still-painting": ["아직 그리는 중이에요. 끝난 뒤에 삭제할 수 있어요.", "The painters are still at work. Delete once they are finished."],
    "nothing-to-retry": ["다시 그릴 그림이 없어요.", "There is nothing to try again."],
    "print-off": ["이 부스는 인쇄를 하지 않아요.", "Printing is turned off on this booth."],
    "print-limit": ["이 티켓은 이미 최대 횟수만큼 인쇄했어요.", "This ticket was already printed as many times as allowed."],
    "print-failed": ["프린터 문제로 인쇄하지 못했어요. 운영자에게 알려 주세요.", null],
    "no-ticket": ["아직 인쇄할 티켓이 없어요.", "There is no ticket to print yet."],
    "intake-failed": ["사진을 처리하지 못했어요. 다시 시도해 주세요.", "The photo could not be processed. Please try again."],
    "photo-corrupt": ["사진 파일이 손상되었어요. 다시 찍거나 골라 주세요.", "The photo file is damaged. Please take or choose it again."],
    "photo-already-received": ["이미 사진을 보냈어요.", "You already sent a photo."],
    "name-required": ["티켓에 넣을 이름을 입력하세요.", "Please type your name for the ticket."],
    "booth-paused": ["부스가 잠시 쉬고 있어요. 몇 분 뒤에 다시 스캔해 주세요.", "The booth is taking a short break. Please scan again in a few minutes."],
    "mode-unavailable": ["이 부스에서는 고를 수 없는 방식이에요.", "This booth does not offer that."],
    "answers-changed": ["앞의 답은 바꿀 수 없어요.", "Earlier answers cannot be changed."],
    "quiz-done": ["이미 질문에 모두 답했어요.", "The quiz is already finished."],
    "not-found": ["찾을 수 없어요. 키오스크의 QR 코드를 다시 스캔하세요.", "Not found. Please scan the kiosk's QR code again."],
    "other-site": ["부스 주소로 직접 열어 주세요. 키오스크의 QR 코드를 스캔하세요.", "Please open the booth's own page: scan the QR code on the kiosk."],
    "internal": ["부스에 문제가 생겼어요. 다시 시도해 주세요.", "Something went wrong on the booth. Please try again."],
    "body-too-large": ["보낸 내용이 너무 커요.", "This request is too large."],
    "join-malformed": ["QR 코드 정보가 올바르지 않아요. 키오스크의 QR 코드를 다시 스캔하세요.", "The QR code's link is incomplete. Please scan the kiosk's QR code again."],
    "upload-malformed": ["사진을 보내지 못했어요. 다시 골라 보내 주세요.", "The photo did not arrive whole. Please choose it and send it again."],
    "unknown-painter": ["이 부스에 없는 화가예요.", "This booth has no such painter."],
    "not-a-quiz": ["이 방문에는 질문이 없어요.", "This visit has no quiz."],
    "photo-first": ["먼저 사진을 보내 주세요.", "Please send your photo first."],
    "typing-malformed": ["이름을 보내지 못했어요.", "The name did not come through."],
    "answers-malformed": ["답을 읽지 못했어요. 다시 골라 주세요.", "The answer did not come through. Please choose again."],
  },
};

// The quiz's questions and texts, and the booth's mode, from /api/quiz.
let quizInfo = null;
async function loadQuiz() {
  if (!quizInfo) {
    const res = await getJson("/api/quiz");
    if (res.ok) quizInfo = res.body;
  }
  return quizInfo;
}

Object.assign(T, {
  quizProgress: (n) => [`질문 ${n} / 8`, `Question ${n} of 8`],
  quizMyPainter: (code, p) => [`${code} · 나의 화가는 ${T.painter[p][0]}`, `${code} · My painter is ${T.painter[p][1]}`],
  quizGood: (p) => [`잘 맞는 화가: ${T.painter[p][0]}`, `Good match: ${T.painter[p][1]}`],
  quizBad: (p) => [`안 맞는 화가: ${T.painter[p][0]}`, `Bad match: ${T.painter[p][1]}`],
  role: { mine: ["나의 화가", "My painter"], good: ["잘 맞는 화가", "Good match"], bad: ["안 맞는 화가", "Bad match"] },
  modeConvert: ["네 화가의 그림 모두 받기", "All four painters paint me"],
  modeQuiz: ["질문 8개로 나의 화가 찾기", "Answer 8 questions to find my painter"],
});

// Draws quiz question `index` (0-based) into `box`: progress, the question, and its
// two answers as buttons (phone, with `onAnswer`) or as plain choices (kiosk).
function renderQuestion(box, index, onAnswer) {
  const q = quizInfo.quiz.questions[index];
  box.replaceChildren();
  const progress = document.createElement("p");
  progress.className = "quiz-progress";
  say(progress, T.quizProgress(index + 1));
  const bar = document.createElement("div");
  bar.className = "quiz-bar";
  const fill = document.createElement("div");
  fill.style.width = `${(index / 8) * 100}%`;
  bar.append(fill);
  const question = document.createElement("p");
  question.className = "quiz-question big";
  say(question, [q.ko, q.en]);
  box.append(progress, bar, question);
  for (const key of ["a", "b"]) {
    const choice = document.createElement(onAnswer ? "button" : "div");
    choice.className = "quiz-choice";
    choice.dataset.answer = key;
    say(choice, [q[key].ko, q[key].en]);
    if (onAnswer) {
      choice.type = "button";
      choice.addEventListener("click", () => onAnswer(key));
    }
    box.append(choice);
  }
}

// Draws a finished quiz: the type and painter, who they are, and the two matches.
function renderQuizResult(box, quiz) {
  const texts = quizInfo.quiz.painters[quiz.painter];
  const lines = [
    ["quiz-type big", T.quizMyPainter(quiz.personality, quiz.painter)],
    ["quiz-about", [texts.ko, texts.en]],
    ["quiz-match", T.quizGood(quiz.good)],
    ["quiz-line", [texts.good_ko, texts.good_en]],
    ["quiz-match", T.quizBad(quiz.bad)],
    ["quiz-line", [texts.bad_ko, texts.bad_en]],
  ];
  box.replaceChildren(...lines.map(([cls, pair]) => {
    const p = document.createElement("p");
    p.className = cls;
    say(p, pair);
    return p;
  }));
  box.dataset.painter = quiz.painter;
}

// A quiz visit on either screen: the next question while answers are missing (the
// painters work meanwhile), then the visitor's painter and matches. The page has
// #quiz and #quiz-result; `onAnswer(key, answersSoFar)` makes the answers buttons
// (the phone), without it they are plain text (the kiosk).
function showQuiz(v, onAnswer) {
  const q = v.quiz;
  const box = document.getElementById("quiz");
  const result = document.getElementById("quiz-result");
  box.hidden = !(q && !q.personality && quizInfo);
  result.hidden = !(q && q.personality && quizInfo);
  if (!q || !quizInfo) return;
  if (!q.personality) {
    const index = String(q.answers.length);
    if (box.dataset.index === index) return; // already showing it
    box.dataset.index = index;
    renderQuestion(box, q.answers.length, onAnswer && ((key) => onAnswer(key, q.answers)));
  } else if (result.dataset.painter !== q.painter) {
    renderQuizResult(result, q);
  }
}

// On a finished quiz, each card says whose it is: the visitor's painter, the good
// match or the bad match.
function markRoles(v) {
  const q = v.quiz;
  const roles = q && q.personality ? { [q.painter]: "mine", [q.good]: "good", [q.bad]: "bad" } : {};
  for (const card of document.querySelectorAll("#cards .card")) {
    const role = roles[card.dataset.painter];
    if (card.dataset.role === role) continue;
    let badge = card.querySelector(".role");
    if (!role) { delete card.dataset.role; if (badge) badge.remove(); continue; }
    card.dataset.role = role;
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "role";
      card.querySelector("figcaption").prepend(badge);
    }
    say(badge, T.role[role]);
  }
}

// Writes a bilingual pair into an element as two spans; text only, never HTML.
function say(el, pair) {
  el.replaceChildren();
  const ko = document.createElement("span");
  ko.lang = "ko";
  ko.textContent = pair[0];
  const en = document.createElement("span");
  en.lang = "en";
  en.textContent = pair[1];
  el.append(ko, " ", en);
}

// An error's bilingual text. A pair with null English shows the server's own message,
// which names the actual problem (e.g. the printer's complaint for the operator).
function errorText(body) {
  const pair = body && T.errors[body.code];
  if (pair) return [pair[0], pair[1] === null ? body.msg : pair[1]];
  return ["문제가 생겼어요. 다시 시도해 주세요.", (body && body.msg) || "Something went wrong. Please try again."];
}

// Renders the four painter cards from a visit's results, keyed by painter id.
function renderCards(container, results) {
  for (const r of results) {
    let card = container.querySelector(`[data-painter="${r.painter}"]`);
    if (!card) {
      card = document.createElement("figure");
      card.className = "card";
      card.dataset.painter = r.painter;
      const frame = document.createElement("div");
      frame.className = "frame";
      const img = document.createElement("img");
      img.alt = (T.painter[r.painter] || [r.painter, r.painter])[1];
      img.hidden = true;
      // Revealed with a short animation once the picture has arrived (none where the
      // visitor prefers reduced motion: see style.css).
      img.addEventListener("load", () => card.classList.add("revealed"));
      const progress = document.createElement("div");
      progress.className = "progress";
      progress.append(document.createElement("div"));
      frame.append(img, progress);
      const cap = document.createElement("figcaption");
      const name = document.createElement("span");
      name.className = "painter";
      say(name, T.painter[r.painter] || [r.painter, r.painter]);
      const status = document.createElement("span");
      status.className = "status";
      cap.append(name, status);
      card.append(frame, cap);
      container.append(card);
    }
    if (r.status !== "painting") delete card.dataset.preview;
    if (r.status !== "painting" && card.dataset.progress) {
      delete card.dataset.progress;
      card.querySelector(".progress div").style.width = "";
    }
    card.dataset.status = r.status;
    say(card.querySelector(".status"), T.status[r.status] || [r.status, r.status]);
    const img = card.querySelector("img");
    if (r.image_url && img.getAttribute("src") !== r.image_url) {
      img.src = r.image_url;
      img.hidden = false;
    }
  }
}

// A painter's steps so far (0–1), where the backend reports them: the card's bar
// fills; without them the card shows an indeterminate "painting" state.
function showProgress(container, painter, fraction) {
  const card = container.querySelector(`[data-painter="${painter}"]`);
  if (!card || card.dataset.status === "done") return;
  const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
  card.dataset.progress = String(pct);
  card.querySelector(".progress div").style.width = `${pct}%`;
}

// A look at a painting as it emerges (`preview` events): shown in the painter's
// frame until the painting itself arrives. Previews live only in the server's memory.
function showPreview(container, painter, url) {
  const card = container.querySelector(`[data-painter="${painter}"]`);
  if (!card || card.dataset.status === "done") return;
  const img = card.querySelector("img");
  card.dataset.preview = "1";
  img.src = url;
  img.hidden = false;
}

// The visit's place in the painters' queue, from `queue` events. Hidden once a painter
// starts (progress or a result) or the visit ends.
function trackQueue(el, visitId, ev) {
  if (ev.visit_id !== visitId) return;
  if (ev.type === "queue") {
    say(el, ev.visits_ahead === 0 ? T.queueNext : T.queueAhead(ev.visits_ahead));
    el.hidden = false;
  } else if ((ev.type === "painter" && (ev.progress || ev.status === "done")) || ev.type === "visit_done") {
    el.hidden = true;
  }
}

// Opens the room socket and keeps it open. `onEvent` gets every event; `onOpen` runs
// after each (re)connect so the page re-reads the whole state over HTTP.
function openRoomSocket(path, onEvent, onOpen) {
  let socket = null;
  let closedByUs = false;
  let delay = 500;
  const status = document.getElementById("connection");
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${proto}//${location.host}${path}`);
    socket.onopen = () => { delay = 500; status.replaceChildren(); onOpen(); };
    socket.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (ev.type === "resync") { onOpen(); } else { onEvent(ev); }
    };
    socket.onclose = () => {
      if (closedByUs) return;
      say(status, T.offline);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 8000);
    };
  }
  connect();
  return {
    close() { closedByUs = true; if (socket) socket.close(); },
    // For tests and diagnostics: drop the connection as a network would.
    drop() { if (socket) socket.close(); },
  };
}

async function getJson(url, options) {
  const res = await fetch(url, Object.assign({ credentials: "same-origin" }, options));
  let body = null;
  try { body = await res.json(); } catch { /* empty body */ }
  const retryAfter = Number(res.headers.get("Retry-After")) || 0;
  return { ok: res.ok, status: res.status, body, retryAfter };
}
