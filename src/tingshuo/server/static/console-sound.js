// Organizer console: a caption's own sound, and the session read again (issue 27).
//
// Hearing it: each final caption has a play button (shown on hover and focus; a click on the
// text itself still opens the editor) and Alt+P plays the caption being corrected or the one
// focused. One shared <audio> holds the session's whole recording (GET
// /api/sessions/{id}/audio, the login cookie authorizes it; the server answers Range, so the
// browser seeks): it seeks to the caption's start and pauses at its end, so its currentTime
// runs on the session's clock, the captions' own. While a room is live the newest ~2 s are not
// stored yet: a caption past the stored end is waited for, then said to come later. A session
// with no sound (recording off, deleted) says why in one line.
//
// Reading it again: once the room's session has ended, "Read again" asks the server for the
// full-quality pass over its sound (POST /api/sessions/{id}/retranscribe) and shows its
// progress, then how many captions changed; the changed ones come as `correction` events.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const con = window.tsConsole;
  const box = $("captions");
  const KEY = "Alt+P"; // Option+P on a Mac; Ctrl+Space is the input method's switch on many desks
  const SLACK_S = 0.05; // a caption ending this far past the stored sound is still all there
  const WAIT_TRIES = 3; // while live: the next page is stored within 2 s
  const WAIT_MS = 1500;
  const POLL_MS = 1000;

  function el(tag, props = {}, ...children) {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  }

  let room = null;
  const spans = new Map(); // caption id -> {session, start, end}
  let lastSession = null; // the session of the newest caption: the live one while live

  // -- the one player, and one line that says what it does

  const audio = el("audio", { id: "caption-sound", preload: "none" });
  audio.hidden = true;
  // beside "Show": one line, never two (the captions below do not move); all of it on hover
  const status = el("span", { id: "sound-status", className: "sound-status", role: "status" });
  const showRow = $("show").closest(".row");
  showRow.append(status);
  box.after(audio);

  function say(icon, text, warn = false) {
    status.title = text || "";
    status.classList.toggle("warn", !!text && warn);
    if (!text) status.replaceChildren();
    else Icons.text(status, icon, text);
  }

  const clock = (s) => {
    const m = Math.floor(s / 60);
    return `${m}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
  };

  // -- the play button on each final caption

  const rowOf = (id) => box.querySelector(`.seg.final[data-id="${id}"]`);
  const TITLE = `播放这句的原声（修改时按 ${KEY}）· play what was said (${KEY} while correcting)`;

  function button(row) {
    if (row.querySelector(":scope > .hear")) return;
    const b = el("button", { type: "button", className: "hear icon-button", title: TITLE, tabIndex: -1 },
      Icons.make("listen"));
    b.setAttribute("aria-label", TITLE);
    b.setAttribute("aria-keyshortcuts", KEY);
    // the editor keeps its focus and caret; the row's own click (corrections) is not told
    b.addEventListener("mousedown", (e) => e.preventDefault());
    b.addEventListener("click", (e) => { e.stopPropagation(); toggle(Number(row.dataset.id)); });
    row.append(b);
  }

  function known(seg) {
    if (seg.id == null || !seg.session_id) return;
    spans.set(seg.id, { session: seg.session_id, start: seg.start, end: seg.end });
    lastSession = seg.session_id;
    const row = rowOf(seg.id);
    if (row) button(row);
  }

  box.addEventListener("keydown", (e) => {
    if (!e.altKey || e.ctrlKey || e.metaKey || e.code !== "KeyP") return;
    const row = e.target.closest(".seg.final");
    if (!row) return;
    e.preventDefault(); // no "π" typed into the caption on a Mac
    toggle(Number(row.dataset.id));
  });

  // -- playing

  let playing = null; // {id, row, end, started}: loading until started
  let asked = 0; // each play or stop: an older one still loading gives way
  let loaded = { session: null, url: "" };
  let loads = 0;
  let watch = null;

  function toggle(id) {
    if (playing && playing.id === id) stop();
    else play(id);
  }

  function mark(row, on) {
    if (!row) return;
    row.classList.toggle("playing", on);
    const b = row.querySelector(":scope > .hear");
    if (b) b.setAttribute("aria-pressed", on ? "true" : "false");
  }

  function stop(keepLine = false) {
    asked += 1;
    clearInterval(watch);
    watch = null;
    if (playing) mark(playing.row, false);
    playing = null;
    if (!audio.paused) audio.pause();
    if (!keepLine) say();
  }

  // `ok` happens, or `bad`, or `ms` pass
  function when(ok, bad, ms) {
    return new Promise((resolve, reject) => {
      const done = (f, v) => {
        clearTimeout(timer);
        audio.removeEventListener(ok, good);
        if (bad) audio.removeEventListener(bad, fail);
        f(v);
      };
      const good = () => done(resolve);
      const fail = () => done(reject, new Error("media"));
      const timer = setTimeout(() => done(reject, new Error("timeout")), ms);
      audio.addEventListener(ok, good);
      if (bad) audio.addEventListener(bad, fail);
    });
  }

  // the session's sound in the player; again (a new URL) when it has grown since, while live
  async function load(session, fresh) {
    if (loaded.session === session && !fresh && audio.readyState >= 1) return;
    loads += 1;
    const url = `/api/sessions/${encodeURIComponent(session)}/audio?load=${loads}`;
    loaded = { session, url };
    audio.src = url;
    audio.load();
    try {
      await when("loadedmetadata", "error", 20000);
    } catch (e) {
      loaded = { session: null, url: "" };
      throw new Error(await refusal(session, e.message));
    }
  }

  // why the player could not load it: the server's reason (recording off, deleted…)
  async function refusal(session, how) {
    try {
      await con.api(`/api/sessions/${encodeURIComponent(session)}/audio`, { raw: true, headers: { Range: "bytes=0-0" } });
    } catch (e) {
      return `没有录音 · no sound: ${e.message.replace(/^session \S+ has no sound: /, "")}`;
    }
    return how === "timeout" ? "录音加载超时 · the sound took too long to load"
      : "浏览器无法播放这段录音 · this browser cannot play the sound (Ogg/Opus)";
  }

  const live = (span) => con.roomState !== "idle" && span.session === lastSession;

  function waitForSound() {
    say("listen", "正在等待这句的声音保存… · waiting for this caption's sound to be stored…");
    return new Promise((r) => setTimeout(r, WAIT_MS));
  }

  async function play(id) {
    stop();
    const mine = asked;
    const span = spans.get(id);
    const row = rowOf(id);
    if (!span || !row) return;
    playing = { id, row, end: span.end, started: false };
    mark(row, true);
    say("listen", `正在加载第 ${id} 句的声音… · loading caption ${id}'s sound…`);
    try {
      let fresh = live(span); // a live session's file grows: the newest of it
      for (let tries = 0; ; tries++) {
        try {
          await load(span.session, fresh);
        } catch (e) { // a live session's first page is 2 s away
          if (!live(span) || tries >= WAIT_TRIES) throw e;
        }
        if (mine !== asked) return;
        if (!loaded.session) { await waitForSound(); if (mine !== asked) return; continue; }
        const duration = audio.duration;
        // Infinity: a length the browser has not found; the seek below finds out
        if (!Number.isFinite(duration) || span.end <= duration + SLACK_S) break;
        if (!fresh) { fresh = true; continue; } // loaded before: it may have grown since
        if (!live(span)) {
          if (span.start < duration - SLACK_S) break; // what there is of it
          throw new Error("录音在这句之前就停止了 · the recording stopped before this caption");
        }
        if (tries >= WAIT_TRIES) {
          throw new Error("这句的声音还没保存好（每 2 秒保存一次），请稍后再试 · "
            + "this caption's sound is not stored yet (it is saved every 2 s): try again in a moment");
        }
        await waitForSound();
        if (mine !== asked) return;
        fresh = true;
      }
      audio.currentTime = span.start;
      if (audio.seeking) await when("seeked", "error", 15000);
      if (mine !== asked) return;
      await audio.play();
      if (mine !== asked) return;
      playing.started = true;
    } catch (e) {
      if (mine !== asked) return;
      stop(true);
      say("warning", e.message.startsWith("media") || e.message === "timeout"
        ? "无法播放这句的声音 · the caption's sound could not be played" : e.message, true);
      return;
    }
    if (mine !== asked) return;
    say("listen", `正在播放第 ${id} 句 ${clock(span.start)}–${clock(span.end)} · playing caption ${id}`);
    // timeupdate comes every ~250 ms: a finer look, so it stops at the caption's end
    watch = setInterval(atEnd, 25);
  }

  function atEnd() {
    if (playing && playing.started && audio.currentTime >= playing.end) stop();
  }
  audio.addEventListener("timeupdate", atEnd);
  audio.addEventListener("ended", () => { if (playing && playing.started) stop(); });
  audio.addEventListener("pause", () => { if (playing && playing.started) stop(); });

  // -- reading the session again

  // a row of its own under "Show", once the room's session has ended
  const reread = el("div", { id: "reread", className: "row reread", hidden: true });
  const rereadStart = el("button", {
    id: "reread-start", type: "button",
    title: "用完整质量重新识别上一场的录音（人工修改过的字幕保持不变）· read the last session's sound again at full quality (captions an operator corrected stay as they are)",
  }, Icons.make("repeat"), "重新识别 Read again");
  const rereadBar = el("progress", { id: "reread-progress", max: 1, value: 0, hidden: true });
  const rereadPct = el("span", { id: "reread-pct", className: "pct", hidden: true });
  const rereadNote = el("span", { id: "reread-note", role: "status" });
  reread.append(rereadStart, rereadBar, rereadPct, rereadNote);
  showRow.after(reread);

  function showBar(on) {
    if (reread.hidden === !on) return;
    reread.hidden = !on;
    window.dispatchEvent(new Event("resize")); // the captions' box fits what is left (console.js)
  }

  const NO_SOUND = { off: "the recording was off", forgotten: "it was deleted", none: "not recorded" };
  let session = null; // the room's last session, ended
  let poll = null;
  let polling = false;

  function showRun(run) {
    const running = !!run && run.state === "running";
    rereadStart.disabled = running;
    rereadBar.hidden = !run;
    rereadPct.hidden = !run;
    if (!run) { rereadNote.replaceChildren(); reread.classList.remove("failed"); return; }
    const p = run.state === "done" ? 1 : Math.max(0, Math.min(1, run.progress || 0));
    rereadBar.value = p;
    rereadPct.textContent = `${Math.round(p * 100)} %`;
    reread.classList.toggle("failed", run.state === "failed");
    if (run.state === "running") rereadNote.textContent = "正在重新识别… · reading it again…";
    else if (run.state === "done") {
      Icons.text(rereadNote, "check", `完成：${run.changed} 句已更新，${run.kept} 句保留人工修改 · `
        + `done: ${run.changed} captions changed, ${run.kept} kept as corrected`);
    } else Icons.text(rereadNote, "warning", `失败 failed: ${run.note || "unknown"}`);
  }

  function stopPolling() { clearInterval(poll); poll = null; }

  function follow(sid) {
    stopPolling();
    poll = setInterval(async () => {
      if (polling || !room || !session || session.id !== sid) return;
      polling = true;
      try {
        // the room's list of sessions: small, where the session itself carries every caption
        const all = await con.api(`/api/rooms/${encodeURIComponent(room.id)}/sessions`);
        if (!session || session.id !== sid) return;
        const run = (all.find((s) => s.id === sid) || {}).retranscribe;
        showRun(run);
        if (!run || run.state !== "running") stopPolling();
      } catch (e) {
        Icons.text(rereadNote, "warning", e.message);
      } finally { polling = false; }
    }, POLL_MS);
  }

  // the bar shows once the room is idle and has a session that ended
  async function lookUp() {
    const r = room;
    stopPolling();
    if (!r || con.roomState !== "idle") { showBar(false); session = null; return; }
    let all;
    try { all = await con.api(`/api/rooms/${encodeURIComponent(r.id)}/sessions`); } catch (_) { return; }
    if (room !== r || con.roomState !== "idle") return;
    const last = all.length ? all[all.length - 1] : null;
    session = last && last.status !== "live" ? last : null;
    showBar(!!session);
    if (!session) return;
    showRun(session.retranscribe || null);
    if (session.audio && session.audio !== "kept") { // nothing to read: say so before a click
      rereadStart.disabled = true;
      Icons.text(rereadNote, "warning", `没有录音，无法重新识别 · no sound kept (${NO_SOUND[session.audio] || session.audio}): nothing to read again`);
    }
    if (session.retranscribe && session.retranscribe.state === "running") follow(session.id);
  }

  rereadStart.addEventListener("click", async () => {
    if (!session) return;
    const sid = session.id;
    rereadStart.disabled = true;
    try {
      const out = await con.api(`/api/sessions/${encodeURIComponent(sid)}/retranscribe`, { method: "POST" });
      showRun((out && out.retranscribe) || { state: "running", progress: 0 });
      follow(sid);
    } catch (e) { // 409: another console started it already; its run is followed then
      await lookUp();
      if (!poll) Icons.text(rereadNote, "warning", e.message);
    }
  });

  // -- the room and its events

  con.watch({
    room: (next) => {
      stop();
      room = next;
      spans.clear();
      lastSession = null;
      loaded = { session: null, url: "" };
      audio.removeAttribute("src");
      audio.load();
      showBar(false);
      session = null;
      stopPolling();
      lookUp();
    },
    event: (m) => {
      if (m.type === "final") known(m.segment);
      if (m.type === "state") {
        if (m.state === "idle") setTimeout(lookUp, 300); // its end written first
        else { showBar(false); stopPolling(); }
      }
    },
  });

  window.tsSound = { play, stop, audio, spans, lookUp, key: KEY };
})();
