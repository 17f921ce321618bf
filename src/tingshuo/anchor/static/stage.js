// The stage: draws the same presenter as the video (shapes from /api/anchor/presenter),
// speaks each rundown segment and highlights subtitles from the synthesizer's timings.
//
// In a room (/room/{id}/stage?token=<viewer>&stage=<key>) the page follows the console: it listens to the
// room's events and speaks each cued line (audio from /api/rooms/{id}/anchor/say). With
// &rehearse=1 and the organizer token it has its own buttons and a paste-a-rundown form.
"use strict";

const query = new URLSearchParams(location.search);
const pageToken = query.get("token") || "";
const roomId = decodeURIComponent(location.pathname.split("/")[2] || "");
const rehearsal = query.get("rehearse") === "1";
const inRoom = !!(roomId && pageToken && !rehearsal); // the audience's page of a room
const auth = pageToken ? { Authorization: `Bearer ${pageToken}` } : {};

const svg = document.getElementById("presenter");
const subtitles = document.getElementById("subtitles");
const statusLine = document.getElementById("status");
const NS = "http://www.w3.org/2000/svg";
let drawing = null;
let plan = null;
let index = -1;
let playing = null; // {audio, lines, lang, units, mouth}
let run = 0; // bumps on every navigation: stale speech stops

function shapeEl(s) {
  let el;
  if (s.kind === "ellipse") {
    el = document.createElementNS(NS, "ellipse");
    for (const k of ["cx", "cy", "rx", "ry"]) el.setAttribute(k, s[k]);
  } else if (s.kind === "rect") {
    el = document.createElementNS(NS, "rect");
    el.setAttribute("x", s.x); el.setAttribute("y", s.y);
    el.setAttribute("width", s.w); el.setAttribute("height", s.h); el.setAttribute("rx", s.r || 0);
  } else {
    el = document.createElementNS(NS, "polygon");
    el.setAttribute("points", s.points.map((p) => p.join(",")).join(" "));
  }
  el.setAttribute("fill", s.fill);
  return el;
}

function draw(mouth, blink) {
  svg.replaceChildren(
    ...drawing.body.map(shapeEl),
    ...drawing.eyes[blink ? "closed" : "open"].map(shapeEl),
    ...drawing.mouths[mouth].map(shapeEl),
  );
  svg.dataset.mouth = mouth;
}

// where the rundown stands: for a rehearsal only; in a room the audience sees this page
// (the console shows the crew where it is)
function progress(text) {
  if (!inRoom) statusLine.textContent = text;
}

function showLines(lines, lang, said) {
  subtitles.replaceChildren();
  for (const [code, text] of Object.entries(lines)) {
    const div = document.createElement("div");
    div.className = "line" + (code === lang ? " speaking" : "");
    div.lang = code;
    if (code === lang) {
      const span = document.createElement("span");
      span.className = "said";
      const n = Math.round(text.length * said);
      span.textContent = text.slice(0, n);
      div.append(span, document.createTextNode(text.slice(n)));
    } else {
      div.textContent = text;
    }
    subtitles.append(div);
  }
  subtitles.dataset.said = said.toFixed(3);
}

function card(heading, text, failed) {
  const el = document.getElementById("card");
  el.style.visibility = heading ? "visible" : "hidden";
  el.classList.toggle("failed", !!failed);
  document.getElementById("card-heading").textContent = heading || "";
  document.getElementById("card-text").textContent = text || "";
}

function frame() {
  const t = performance.now() / 1000;
  const blink = t % 3.7 < 0.15;
  let mouth = "rest";
  if (playing && !playing.audio.paused) {
    const now = playing.audio.currentTime;
    const m = playing.mouth.find((x) => x[0] <= now && now < x[1]);
    if (m) mouth = m[2];
    const done = playing.units.filter((u) => u.end <= now).length;
    showLines(playing.lines, playing.lang, playing.units.length ? done / playing.units.length : 0);
  }
  if (drawing && (svg.dataset.mouth !== mouth || svg.dataset.blink !== String(blink))) {
    draw(mouth, blink);
    svg.dataset.blink = String(blink);
  }
  requestAnimationFrame(frame);
}

const wait = (s) => new Promise((r) => setTimeout(r, s * 1000));

function fetchSpeech(seg, lang) {
  if (seg.roomIndex !== undefined) { // a line of the room's rundown, synthesized once
    const q = new URLSearchParams({ index: seg.roomIndex, lang });
    return fetch(`/api/rooms/${encodeURIComponent(roomId)}/anchor/say?${q}`, { headers: auth });
  }
  return fetch("/api/anchor/say", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...auth },
    body: JSON.stringify({ text: seg.lines[lang], lang }),
  });
}

async function speak(seg, lang, token) {
  const res = await fetchSpeech(seg, lang);
  const body = await res.json();
  if (token !== run) return;
  if (!res.ok) { // a failed line is shown, never skipped silently
    card(`line ${seg.line} (${lang}) failed`, body.detail, true);
    showLines(seg.lines, lang, 0);
    await wait(3);
    return;
  }
  const audio = new Audio(body.audio);
  playing = { audio, lines: seg.lines, lang, units: body.units, mouth: body.mouth };
  await new Promise((resolve) => {
    audio.onended = resolve;
    audio.onerror = resolve;
    audio.play().then(() => reportSound(false), (e) => {
      if (e.name === "NotAllowedError") { // the browser's autoplay policy: a click lets it speak
        statusLine.textContent = "click the page to allow sound";
        reportSound(true);
      } else statusLine.textContent = `the voice cannot play: ${e.message}`;
      resolve();
    });
  });
  if (token === run) showLines(seg.lines, lang, 1);
}

function silence() {
  run++;
  if (playing) playing.audio.pause();
  playing = null;
}

async function perform(i) {
  await performSegment(plan.segments[i], i, plan.segments.length);
}

async function performSegment(seg, i, total) {
  silence();
  const token = run;
  index = i;
  progress(`${i + 1}/${total} · rundown line ${seg.line}`);
  card(null);
  subtitles.replaceChildren();
  // the speaker's name card is up while the anchor introduces them
  if (seg.kind === "speaker") card(seg.speaker, seg.title);
  for (const [n, lang] of seg.speak.entries()) {
    if (token !== run) return;
    if (n) await wait(0.5);
    await speak(seg, lang, token);
  }
  if (token !== run) return;
  if (seg.kind === "pause") await wait(seg.seconds);
  // a cue card is for the crew: in a room the audience sees this page, and the console
  // shows the cue; a rehearsal or a stage page on its own shows it here
  if (seg.kind === "cue" && !inRoom) card(seg.cue, seg.title);
}

async function loadRundown(text, format) {
  const res = await fetch("/api/anchor/rundown", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text, format }),
  });
  const body = await res.json();
  if (!res.ok) { statusLine.textContent = body.detail; return false; }
  plan = body;
  index = -1;
  document.getElementById("title").textContent = plan.title;
  statusLine.textContent = `${plan.segments.length} segments: press next to start`;
  return true;
}

const form = document.getElementById("rundown-form");
document.getElementById("load").onclick = () => { form.style.display = "flex"; };
document.getElementById("cancel").onclick = () => { form.style.display = "none"; };
form.onsubmit = async (e) => {
  e.preventDefault();
  const format = form.querySelector("input[name=format]:checked").value;
  if (await loadRundown(document.getElementById("rundown-text").value, format)) {
    form.style.display = "none";
  }
};
document.getElementById("next").onclick = () => plan && index + 1 < plan.segments.length && perform(index + 1);
document.getElementById("prev").onclick = () => plan && index > 0 && perform(index - 1);
document.getElementById("repeat").onclick = () => plan && index >= 0 && perform(index);
document.getElementById("skip").onclick = silence;

// -- in a room: follow the console through the room's events

let lastCue = 0;
let roomEvents = null;

async function roomPlan() {
  const res = await fetch(`/api/rooms/${encodeURIComponent(roomId)}/anchor`, { headers: auth });
  const body = await res.json();
  if (!res.ok) { statusLine.textContent = body.detail; return; }
  plan = body.loaded ? body : null;
  lastCue = Math.max(lastCue, body.cue);
  document.getElementById("title").textContent = plan ? plan.title : "AI 主播 · AI anchor";
  if (!plan) progress("waiting for a rundown");
  else if (body.index < 0) progress(`${plan.segments.length} segments: waiting for the first cue`);
  else if (!playing && index < 0) { // opened mid-event: show where the console stands
    index = body.index;
    progress(`${index + 1}/${plan.segments.length} · rundown line ${plan.segments[index].line}`);
    showLines(plan.segments[index].lines, null, 0);
  }
}

// -- sound: a browser plays nothing before someone clicks the page (unless a kiosk allows
// autoplay); the console is told, so the crew knows before the anchor is silent in the hall

let muted = null; // null: not known yet

function tellSound(m) {
  muted = m;
  if (!inRoom) return;
  // the stage link's own key: only the stage, not a phone with the viewer link, reports it
  const key = new URLSearchParams({ stage: query.get("stage") || "" });
  fetch(`/api/rooms/${encodeURIComponent(roomId)}/stage/sound?${key}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...auth },
    body: JSON.stringify({ muted: m }),
  }).then((r) => { if (!r.ok && muted === m) muted = null; }, () => { if (muted === m) muted = null; });
}

function reportSound(m) {
  if (m !== muted) tellSound(m);
}

// whether sound may play now, without playing any (an AudioContext starts only where it may)
async function soundAllowed() {
  if (navigator.getAutoplayPolicy) return navigator.getAutoplayPolicy("mediaelement") === "allowed";
  const ctx = new AudioContext();
  try {
    await Promise.race([ctx.resume(), wait(0.5)]);
    return ctx.state === "running";
  } finally {
    ctx.close();
  }
}

async function checkSound() {
  try {
    reportSound(!(await soundAllowed()));
  } catch (_) { /* no Web Audio: the first line's play() tells */ }
}

// a click allows sound: retry, and tell the console
document.addEventListener("click", () => {
  if (muted === false) return;
  checkSound().then(() => {
    if (muted === false && statusLine.textContent === "click the page to allow sound") {
      statusLine.textContent = "sound on";
    }
  });
});

let hellos = 0;

function onRoomEvent(m) {
  if (m.type === "hello") {
    roomPlan();
    if (hellos++ && muted !== null) tellSound(muted); // reconnected: the server may have restarted
  }
  else if (m.type === "anchor_rundown") { silence(); card(null); subtitles.replaceChildren(); roomPlan(); }
  else if (m.type === "anchor_cue" && m.cue > lastCue) {
    lastCue = m.cue;
    const seg = { ...m.segment, roomIndex: m.index };
    performSegment(seg, m.index, plan ? plan.segments.length : m.index + 1);
  } else if (m.type === "anchor_skip" && m.cue > lastCue) {
    lastCue = m.cue;
    silence();
    card(null);
    subtitles.replaceChildren();
    progress(`${m.index + 1} skipped`);
  }
}

if (roomId && pageToken && !rehearsal) {
  document.querySelectorAll("#controls button").forEach((b) => { b.hidden = true; });
  roomEvents = new TS.RoomEvents(roomId, pageToken, onRoomEvent, (s, why) => {
    if (s === "refused") statusLine.textContent = why;
    document.body.dataset.connection = s;
  });
  checkSound();
}

// for tests: drive the stage from outside
window.tingshuoStage = {
  loadRundown, perform, get plan() { return plan; }, get events() { return roomEvents; },
};

fetch("/api/anchor/presenter").then((r) => r.json()).then((d) => {
  drawing = d;
  draw("rest", false);
  requestAnimationFrame(frame);
});
