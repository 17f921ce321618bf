// Phone page: listening to the interpretation (耳机听译). With "Listen" on, each caption's
// translation in the chosen language is played in caption order, spoken by tingshuo's voice
// (made once on the server for every listener). A line comes in pieces: its first words are
// cut and spoken while the rest of its translation is still being written. One <audio>
// element with a Media Session, so earphones and a locked screen work where the browser
// allows. Never minutes behind: when a line starts late or others wait, the voice speaks
// faster (1.2× on its brisk 1.1×, pitch kept); a line not begun within DROP_S of its caption, or whose
// translation has not begun within LATE_S, is skipped, and the page says so.
"use strict";
(() => {
  const { q, roomId } = TS.params();
  const token = q.get("token") || "";
  const DROP_S = 7; // a line not begun this long after its caption came is skipped (≤ 8 s behind)
  const LATE_S = 5; // a translation not begun this long after its caption: skipped
  const FAST = 1.2; // on top of the voice's own brisk pace (1.1×): 1.32× in all
  const FASTER_AFTER_S = 3; // a line this late after its caption: spoken faster

  const bar = document.getElementById("listen-bar");
  const toggle = document.getElementById("listen");
  const pick = document.getElementById("listen-lang");
  const said = document.getElementById("listen-state");
  const audio = new Audio();
  audio.preload = "auto";
  audio.preservesPitch = true;

  const player = {
    on: false, lang: "", queue: [], current: null, skipped: 0, played: [], room: null,
    piece: null, // the object URL of the piece being played
    heard: new Set(), // caption ids queued since Listen was turned on
  };
  window.tsListen = player;

  function ui() { return document.documentElement.lang === "en" ? "en" : "zh"; }

  // the voice's choices, named apart from the captions' ("English" twice told nobody which)
  function names() {
    document.getElementById("listen-label").textContent = TS.say(ui(), "译音", "Voice");
    for (const o of pick.options) {
      o.text = o.value === "src" ? TS.say(ui(), "原声", "Original sound") : TS.langName(o.value);
    }
  }
  window.addEventListener("tingshuo-ui", () => { names(); show(); });

  function show() {
    toggle.setAttribute("aria-pressed", String(player.on));
    toggle.classList.toggle("primary", player.on);
    Icons.text(toggle, player.on ? "stop" : "play",
      player.on ? TS.say(ui(), "停止收听", "Stop listening") : TS.say(ui(), "收听译音", "Listen"));
    let text = "";
    if (player.on) {
      // "playing" only while sound plays (not while the rest of a line is awaited)
      const sounding = player.current && !audio.paused && !audio.ended;
      text = sounding ? TS.say(ui(), "正在播放", "playing") : TS.say(ui(), "等待下一句…", "waiting for the next line…");
      if (player.skipped) text += TS.say(ui(), ` · 为跟上进度跳过 ${player.skipped} 句`, ` · ${player.skipped} skipped to keep up`);
    }
    said.textContent = text;
    said.hidden = !player.on;
  }

  function skip(n = 1) { player.skipped += n; show(); }

  const now = () => performance.now() / 1000;

  // a line's `part`-th piece as {url, part} (an object URL), or null when it has no more
  // (the server waits for a piece that is not cut yet). A piece the voice could not say
  // (the console counts it) is passed over for the next one of the line.
  function piece(line, part) {
    const wait = part === 0 ? Math.max(0, line.came + LATE_S - now()) : DROP_S;
    const qs = new URLSearchParams({ lang: player.lang, token, part, wait: wait.toFixed(1) });
    return fetch(`/api/rooms/${encodeURIComponent(roomId)}/speech/${line.id}?${qs}`)
      .then((r) => {
        if (r.status === 422 && r.headers.get("X-Unspoken") && part < 1000) return piece(line, part + 1);
        if (r.status !== 200) return null;
        return r.blob().then((blob) => ({ url: URL.createObjectURL(blob), part }));
      })
      .catch(() => null);
  }

  function next() {
    player.current = null;
    if (!player.on) return show();
    while (player.queue.length && now() - player.queue[0].came > DROP_S) { drop(player.queue.shift()); skip(); }
    const line = player.queue.shift();
    if (!line) return show();
    player.current = line;
    line.part = 0;
    show();
    return playPiece(line);
  }

  async function playPiece(line) {
    if (line.waiting) return; // already on its way to the next piece
    line.waiting = true;
    const got = await line.coming;
    const url = got && got.url;
    line.waiting = false;
    if (player.current !== line || !player.on) { if (url) URL.revokeObjectURL(url); return; }
    const late = now() - line.came > DROP_S;
    if (!url || late) {
      if (url) URL.revokeObjectURL(url);
      if (line.part === 0) skip(); // nothing of it heard
      return next();
    }
    line.part = got.part + 1;
    line.coming = piece(line, line.part); // the next piece is asked for while this one plays
    if (player.piece) URL.revokeObjectURL(player.piece);
    player.piece = url;
    audio.src = url;
    audio.playbackRate = rate(line);
    audio.play().catch(() => next());
  }

  function drop(line) { line.coming.then((got) => got && URL.revokeObjectURL(got.url)); }

  // faster when this line is late or others wait behind it
  function rate(line) { return player.queue.length || now() - line.came > FASTER_AFTER_S ? FAST : 1; }

  audio.addEventListener("playing", () => {
    const line = player.current;
    if (line && line.id && player.played[player.played.length - 1] !== line.id) {
      player.played.push(line.id);
      line.startedAt = now();
    }
    if (line && line.id) audio.playbackRate = rate(line);
    show();
  });
  // only the piece being played moves the player on (not the silent start, not a stale load)
  const ours = () => player.lang !== "src" && player.current && player.current.id && player.piece && audio.src === player.piece;
  audio.addEventListener("ended", () => { show(); if (ours()) playPiece(player.current); });
  audio.addEventListener("error", () => { if (ours()) playPiece(player.current); }); // lost: go on

  function add(id, came) {
    if (player.heard.has(id)) return; // a corrected caption's new translation: not again
    player.heard.add(id);
    const line = { id, came: came === undefined ? now() : came };
    line.coming = piece(line, 0); // asked for at once: ready when its turn comes
    player.queue.push(line);
    if (player.current && player.current.id) audio.playbackRate = FAST; // lines wait: speak faster
    else next();
  }

  function start() {
    player.on = true;
    player.lang = pick.value;
    player.queue = [];
    player.heard = new Set();
    localStorage.setItem("tingshuo-listen-lang", player.lang);
    if ("mediaSession" in navigator) {
      navigator.mediaSession.metadata = new MediaMetadata({
        title: player.room ? player.room.name : "tingshuo",
        artist: `tingshuo · ${TS.langName(player.lang)}`,
      });
      navigator.mediaSession.setActionHandler("pause", stop);
      navigator.mediaSession.setActionHandler("stop", stop);
      navigator.mediaSession.setActionHandler("play", start);
    }
    if (player.lang === "src") { // the room's own sound, live: one ongoing stream
      player.current = { id: 0 };
      audio.src = `/api/rooms/${encodeURIComponent(roomId)}/original.mp3?${new URLSearchParams({ token })}`;
      audio.playbackRate = 1;
      audio.play().catch(() => {});
      return show();
    }
    // the server makes each line as its translation comes, before this phone asks for it
    const qs = new URLSearchParams({ lang: player.lang, token });
    fetch(`/api/rooms/${encodeURIComponent(roomId)}/listen?${qs}`, { method: "POST" }).catch(() => {});
    // a click is what lets a page play sound: an empty start now, the lines later
    audio.src = "data:audio/wav;base64,UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=";
    audio.play().catch(() => {});
    show();
  }

  function stop() {
    player.on = false;
    player.queue.forEach(drop);
    player.queue = [];
    audio.pause();
    player.current = null;
    show();
  }

  toggle.addEventListener("click", () => (player.on ? stop() : start()));
  pick.addEventListener("change", () => { if (player.on) { stop(); start(); } });

  function heard(m) {
    if (player.lang === "src" && m.type !== "hello") return;
    if (m.type === "hello") {
      player.room = m.room;
      // the translations, then the room's own sound (relayed as it is)
      const langs = [...(m.room.targets || []), "src"];
      pick.replaceChildren(...langs.map((t) => new Option(t, t)));
      names();
      const saved = localStorage.getItem("tingshuo-listen-lang");
      if (saved && langs.includes(saved)) pick.value = saved;
      bar.hidden = false;
      show();
      return;
    }
    if (m.replay) return; // what was said before Listen: not read out
    if (m.type === "final" && m.segment.id) {
      // queued at its caption: its pieces are asked for (and waited for) in caption order
      if (player.on) add(m.segment.id, now());
    }
  }

  // phone.js hands each event to its view: this page's events are watched the same way
  const events = window.tsEvents;
  const handle = events.onEvent;
  events.onEvent = (m) => { handle(m); heard(m); };
  show();
})();
