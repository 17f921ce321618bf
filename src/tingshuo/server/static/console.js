// Organizer console: token, rooms, sources (browser microphone via an AudioWorklet, a file
// played as live, the server's sound device), pause/stop, captions, speakers, exports.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const state = {
    token: "", room: null, events: null, view: null, mic: null,
    roomState: "idle", // the selected room's
    busy: null, // {room, kind}: a start, stop, pause or resume on its way
  };
  window.tsConsole = state;
  state.api = (path, opts) => api(path, opts); // for console-anchor.js
  state.starting = (fn) => starting(fn); // for console-stream.js: busy while it starts
  // the other console scripts (speakers, corrections, texts, stream) follow the room chosen
  // and its events: `watch({room(room), event(m)})`, told after the console itself
  const watchers = [];
  state.watch = (watcher) => watchers.push(watcher);

  function error(msg) { $("error").textContent = msg || ""; }

  async function api(path, opts = {}) {
    const headers = { Authorization: `Bearer ${state.token}`, ...(opts.headers || {}) };
    let body = opts.body;
    if (body && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(body);
    }
    const r = await fetch(path, { method: opts.method || "GET", headers, body });
    if (!r.ok) {
      let detail = r.statusText;
      try {
        const j = await r.json();
        detail = typeof j.detail === "string" ? j.detail
          : Array.isArray(j.detail) ? j.detail.map((d) => d.msg).join("; ") : JSON.stringify(j.detail);
      } catch (_) { /* not JSON */ }
      throw new Error(detail || `${r.status} ${r.statusText}`); // the server's words, for people
    }
    return opts.raw ? r : r.status === 204 ? null : r.json();
  }

  async function guarded(fn) {
    error("");
    try { await fn(); } catch (e) { error(e.message); }
  }

  // -- token

  // the rooms and the New room form wait for a token the server accepts
  function showOrganizer(accepted) {
    for (const el of document.querySelectorAll(".organizer")) el.hidden = !accepted;
    $("token-prompt").hidden = accepted;
  }

  async function useToken(t) {
    state.token = t.trim();
    localStorage.setItem("tingshuo-token", state.token);
    // the token comes back as an HttpOnly cookie: sockets and images then carry no ?token=,
    // which access logs would keep
    try {
      await api("/api/login", { method: "POST" });
    } catch (e) {
      showOrganizer(false);
      throw e;
    }
    showOrganizer(true);
    const rooms = await loadRooms();
    // rooms created elsewhere (another console, the API) and their states, without a reload
    clearInterval(state.poll);
    state.poll = setInterval(pollRooms, ROOMS_EVERY_MS);
    return rooms;
  }
  $("save-token").addEventListener("click", () => guarded(() => useToken($("token").value)));

  // -- rooms

  const ROOMS_EVERY_MS = 3000;
  const STATE_NAMES = { idle: "空闲 idle", live: "直播中 live", paused: "已暂停 paused" };

  async function loadRooms() {
    const rooms = await api("/api/rooms");
    showRooms(rooms);
    return rooms;
  }

  let polling = false;
  async function pollRooms() {
    if (polling || document.hidden) return;
    polling = true;
    try { await loadRooms(); } catch (_) { /* the next poll tries again */ } finally { polling = false; }
  }

  function roomBadge(li, s) {
    const badge = li.querySelector(".badge");
    const text = STATE_NAMES[s] || s;
    if (badge.textContent !== text) badge.textContent = text;
    if (badge.className !== `badge ${s}`) badge.className = `badge ${s}`;
  }

  // updated in place: the list neither flickers nor loses its selection
  function showRooms(rooms) {
    const list = $("rooms");
    const known = new Map([...list.children].map((li) => [li.dataset.id, li]));
    const items = rooms.map((r) => {
      let li = known.get(r.id);
      if (!li) {
        li = document.createElement("li");
        li.dataset.id = r.id;
        const badge = document.createElement("span");
        badge.className = "badge";
        li.append(document.createElement("span"), badge);
        li.addEventListener("click", () => guarded(() => select(r.id)));
      }
      const text = `${r.name} · ${r.lang}${r.targets.length ? " → " + r.targets.join(",") : ""}`;
      if (li.firstChild.textContent !== text) li.firstChild.textContent = text;
      roomBadge(li, r.state);
      li.classList.toggle("selected", !!state.room && state.room.id === r.id);
      return li;
    });
    const same = items.length === list.children.length && items.every((li, i) => list.children[i] === li);
    if (!same) list.replaceChildren(...items);
    const selected = state.room && rooms.find((r) => r.id === state.room.id);
    if (selected) showUnspoken(selected.unspoken);
    const busy = state.busy;
    if (busy && busy.kind === "stop" && rooms.some((r) => r.id === busy.room && r.state === "idle")) {
      endBusy(busy.room); // in case the room's own event was missed
    }
  }

  $("create-room").addEventListener("click", () => guarded(async () => {
    const targets = [...$("room-targets").querySelectorAll("input:checked")].map((i) => i.value);
    const room = await api("/api/rooms", {
      method: "POST",
      body: {
        name: $("room-name").value.trim() || "Room",
        lang: $("room-lang").value,
        targets,
        hotwords: $("room-hotwords").value,
        glossary: $("room-glossary").value,
      },
    });
    await loadRooms();
    await select(room.id);
  }));

  // a translated room's first start loads the models: seconds with nothing else to see
  const PROGRESS = {
    start: "正在启动…（首次启动需加载模型，约 20 秒） · Starting… (the first start loads the models, about 20 s)",
    stop: "正在停止… · Stopping…",
  };

  function showState(s) {
    const room = state.room;
    state.roomState = s;
    const badge = $("room-state");
    badge.textContent = s;
    badge.className = `badge ${s}`;
    if (s === "idle" && state.busy && state.busy.kind === "stop" && room && state.busy.room === room.id) {
      state.busy = null; // stopped: what was heard has been transcribed
    }
    const busy = state.busy && room && state.busy.room === room.id ? state.busy.kind : null;
    const running = s === "live" || s === "paused";
    $("btn-mic").disabled = running || !!busy;
    $("btn-file").disabled = running || !!busy;
    $("btn-device").disabled = running || !!busy;
    $("mic-device").disabled = running || !!busy; // the input is chosen before a start
    $("btn-pause").disabled = s !== "live" || !!busy;
    $("btn-resume").disabled = s !== "paused" || !!busy;
    $("btn-stop").disabled = !(running && !busy) && busy !== "start"; // a start can be cancelled
    const progress = $("room-progress");
    progress.textContent = PROGRESS[busy] || "";
    progress.hidden = !PROGRESS[busy];
    const li = room && $("rooms").querySelector(`li[data-id="${CSS.escape(room.id)}"]`);
    if (li) roomBadge(li, s);
  }

  // a request that changes the room is on its way: its buttons wait, and a line says so
  function startBusy(kind) {
    state.busy = { room: state.room.id, kind };
    showState(state.roomState);
    return state.room.id;
  }

  // `kind`: only that one (a start that ends after a Stop leaves the Stop's line)
  function endBusy(roomId, kind) {
    if (!state.busy || state.busy.room !== roomId || (kind && state.busy.kind !== kind)) return;
    state.busy = null;
    if (state.room) showState(state.roomState);
  }

  async function busyWhile(kind, fn) {
    const roomId = startBusy(kind);
    try { await fn(); } finally { endBusy(roomId, kind); }
  }

  // how late this room's captions and translations are, and what is shed to keep up
  const SHED = {
    drafts: "drafts paused", quality: "fast translation model", translation: "translation paused",
  };
  function showLag(m) {
    if (state.roomState === "idle") return; // a late report of a run that has ended
    const el = $("room-lag");
    let text = `captions ${m.caption_s.toFixed(1)} s behind`;
    if (state.room && state.room.targets.length) {
      text += ` · translations ${m.translation_s.toFixed(1)} s`;
    }
    if (m.shed && m.shed !== "none") text += ` · ${SHED[m.shed] || m.shed} to keep up`;
    // the language model's second reading of each caption: whether it keeps up or skips
    if (m.second_pass === "behind") text += " · 复核跳过 second pass skipping captions";
    else if (m.second_pass) text += " · 复核 second pass keeping up";
    el.textContent = text;
    el.classList.toggle("late", m.caption_s > 3 || m.shed === "translation");
    el.hidden = false;
    const behind = Math.round(m.caption_s);
    const warning = $("room-lag-warning");
    Icons.text(warning, "warning", `字幕落后 ${behind} 秒 · Captions are ${behind} s behind`);
    warning.hidden = !(m.caption_s > 3);
  }

  // how the room's input sounds (the server's meter), and what to do about it
  const SOUND = {
    good: "输入良好", quiet: "输入太小：请调高增益", noisy: "话筒听到噪声或其他人声：请用更近的话筒",
    echo: "话筒听到房间的回声：请用调音台的信号或更近的话筒", clipping: "输入削波：请调低增益",
  };
  function showSound(m) {
    const el = $("room-sound");
    let text = `${SOUND[m.verdict] || ""} · ${m.advice} · level ${m.level_db} dBFS · noise ${m.noise_db} dBFS`;
    if (m.echo_s !== undefined) text += ` · echo ${m.echo_s.toFixed(1)} s`;
    if (m.cleaning) text += " · 降噪去混响中 cleaning echo and noise";
    Icons.text(el, m.verdict === "good" ? "mic" : "warning", text);
    el.classList.toggle("late", m.verdict !== "good");
    el.hidden = false;
  }

  // pieces of the spoken interpretation that the voice could not say (the phones and the
  // stream go on to the next piece): how many per language, and the last reason
  function showUnspoken(unspoken) {
    const el = $("room-unspoken");
    const langs = Object.entries(unspoken || {}).filter(([, u]) => u.count);
    const text = langs.map(([lang, u]) => `译音 ${TS.langName(lang)}：${u.count} 段无法朗读 · `
      + `${u.count} ${u.count === 1 ? "piece" : "pieces"} of the ${TS.langName(lang)} interpretation `
      + `could not be spoken (last: ${u.reason})`).join(" | ");
    if (el.dataset.text !== text) {
      el.dataset.text = text;
      if (text) Icons.text(el, "warning", text); else el.replaceChildren();
    }
    el.hidden = !text;
  }

  // captions the database has not taken yet (it is locked, restarting or full)
  let storeTimer = null;
  function showStore(m) {
    const el = $("room-store");
    clearTimeout(storeTimer);
    el.classList.toggle("late", !m.saving || m.lost);
    if (m.lost) Icons.text(el, "warning", "字幕不再保存（等待的太多），只实时显示 · captions are no longer saved (too many waited): shown only");
    else if (!m.saving) Icons.text(el, "warning", `字幕暂时没有保存：${m.waiting} 条等待中 · captions are not being saved: ${m.waiting} waiting`);
    else if (m.waiting) el.textContent = `正在保存 ${m.waiting} 条字幕… · saving ${m.waiting} waiting captions…`;
    else {
      Icons.text(el, "check", "字幕已全部保存 · all captions saved");
      storeTimer = setTimeout(() => { el.hidden = true; }, 15000);
    }
    el.hidden = false;
  }

  // the room's sound stopped being recorded (a full disk): captions go on
  function showRecording(m) {
    const el = $("room-recording");
    el.classList.toggle("late", !m.recording);
    Icons.text(el, "warning", m.message);
    el.hidden = false;
  }

  // distributed mode: the message bus between this server and the workers (Redis) is away
  function showBus(m) {
    const el = $("room-bus");
    if (m.ok) el.replaceChildren();
    else Icons.text(el, "warning", "captions paused: the message bus (Redis) is away; they resume when it is back");
    el.hidden = m.ok;
  }

  // The captions in view: their box takes the window's height below the room's controls (the
  // rundown and speakers come after it), so the newest caption shows without scrolling. A
  // narrow window, one column under the rooms, gives it most of a screen instead.
  const MIN_CAPTIONS_PX = 160; // six lines
  function fitCaptions() {
    const box = $("captions");
    if (!box.offsetParent) return;
    const top = box.getBoundingClientRect().top + window.scrollY;
    const below = window.innerHeight - top - 24;
    const h = top < window.innerHeight ? below : window.innerHeight * 0.6;
    box.style.setProperty("--captions-h", `${Math.round(Math.max(MIN_CAPTIONS_PX, h))}px`);
    if (state.view) state.view.scroll(); // the newest caption stays in sight (while following)
  }
  window.addEventListener("resize", fitCaptions);
  new ResizeObserver(fitCaptions).observe($("room-panel"));

  async function select(id) {
    const room = await api(`/api/rooms/${id}`);
    state.room = room;
    $("room-lag").hidden = true;
    $("room-lag-warning").hidden = true;
    $("room-sound").hidden = true;
    for (const li of $("rooms").children) li.classList.toggle("selected", li.dataset.id === id);
    $("room-panel").hidden = false;
    $("captions-panel").hidden = false;
    $("room-title").textContent = room.name;
    showState(room.state);
    fitCaptions();
    showUnspoken(room.unspoken);
    for (const [el, url] of [["link-phone", room.links.phone], ["link-screen", room.links.screen],
      ["link-obs", room.links.screen + "&transparent=1"]]) {
      $(el).href = url;
      if (el !== "link-obs") $(el).textContent = url;
    }
    $("link-warning").hidden = !room.links.loopback; // phones cannot open localhost
    // the spoken interpretation per language and the original sound, for a stage PC or OBS
    const listen = Object.entries(room.links.interpretation || {});
    listen.push(["原声 original", room.links.original]);
    $("link-listen").replaceChildren("译音 Interpretation (MP3): ", ...listen.flatMap(([lang, url], i) => [
      i ? " · " : "", Object.assign(document.createElement("a"), { href: url, target: "_blank", textContent: TS.langName(lang) }),
    ]));
    const qr = await api(`/api/rooms/${id}/qr.svg`, { raw: true }); // token in the header
    const img = $("qr").querySelector("img");
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(await qr.blob());
    const show = $("show");
    const options = [["src", TS.langName("src")]];
    for (const t of room.targets) options.push([`src,${t}`, `${TS.langName("src")} + ${TS.langName(t)}`]);
    show.replaceChildren(...options.map(([v, l]) => new Option(l, v)));
    show.value = options[options.length - 1][0];
    if (state.events) state.events.close();
    const box = $("captions");
    box.replaceChildren();
    state.view = new TS.Captions(box, { show: show.value.split(","), onSegment: nameSpeaker });
    state.events = new TS.RoomEvents(id, "", (m) => { // "": the login cookie is the token
      if (m.type === "hello" || m.type === "state") showState(m.state);
      if (m.type === "lag") showLag(m);
      if (m.type === "sound") showSound(m);
      if (m.type === "store") showStore(m);
      if (m.type === "recording") showRecording(m);
      if (m.type === "bus") showBus(m);
      if (m.type === "state" && m.state === "idle") {
        $("room-lag").hidden = true;
        $("room-lag-warning").hidden = true;
        $("room-sound").hidden = true;
      }
      if (m.type === "state" && m.error) error(m.error);
      if (m.type === "state" && m.state === "idle") stopMic();
      state.view.handle(m);
      if (window.tsAnchor) window.tsAnchor.handle(m);
      for (const w of watchers) if (w.event) w.event(m);
    });
    for (const w of watchers) if (w.room) w.room(room);
    if (window.tsAnchor) await window.tsAnchor.select(room);
  }
  $("show").addEventListener("change", () => state.view && state.view.setShow($("show").value.split(",")));

  // -- speakers

  // the speakers panel (console-speakers.js) offers to rename that voice everywhere, or to
  // name this caption only
  function nameSpeaker(segmentId, row) {
    if (window.tsSpeakers) window.tsSpeakers.offer(segmentId, row);
  }
  $("btn-rename").addEventListener("click", () => guarded(() =>
    api(`/api/rooms/${state.room.id}/speakers/rename`, {
      method: "POST", body: { old: $("rename-old").value.trim(), new: $("rename-new").value.trim() },
    })));

  // -- sources

  // a start the organizer stopped before it was done: its refusal is no error to show
  async function starting(fn) {
    const roomId = state.room.id;
    state.cancelled = null;
    try {
      await busyWhile("start", fn);
    } catch (e) {
      if (state.cancelled === roomId) return;
      throw e;
    }
  }

  $("btn-file").addEventListener("click", () => guarded(async () => {
    const file = $("file-input").files[0];
    if (!file) throw new Error("choose an audio or video file first");
    const form = new FormData();
    form.append("file", file);
    form.append("speed", "1");
    const roomId = state.room.id;
    await starting(() => api(`/api/rooms/${roomId}/start/file`, { method: "POST", body: form }));
  }));

  $("btn-device").addEventListener("click", () => guarded(() => {
    const roomId = state.room.id;
    return starting(() => api(`/api/rooms/${roomId}/start/device`, { method: "POST", body: {} }));
  }));

  for (const action of ["pause", "resume"]) {
    $(`btn-${action}`).addEventListener("click", () => guarded(() => {
      const roomId = state.room.id;
      return busyWhile(action, () => api(`/api/rooms/${roomId}/${action}`, { method: "POST" }));
    }));
  }

  // Stopping lasts until what was heard is transcribed: the room's `idle` ends it. A room
  // still starting (models loading) is cancelled: the server begins nothing, or ends what began.
  $("btn-stop").addEventListener("click", () => guarded(async () => {
    const roomId = state.room.id;
    const wasStarting = !!(state.busy && state.busy.room === roomId && state.busy.kind === "start");
    if (wasStarting) {
      state.cancelled = roomId;
      if (state.mic && state.mic.room === roomId) stopMic(); // what it kept goes nowhere
    }
    startBusy("stop");
    try {
      await api(`/api/rooms/${roomId}/stop`, { method: "POST" });
    } catch (e) {
      endBusy(roomId, "stop");
      if (!wasStarting) throw e; // else the start had not reached the server yet: nothing to stop
    }
    if (state.room && state.room.id === roomId && state.roomState === "idle") endBusy(roomId, "stop");
    stopMic();
  }));

  // -- the browser microphone: getUserMedia → AudioWorklet (16 kHz s16le, 100 ms frames) →
  // the audio socket. Frames are kept from the moment the microphone opens: until the room
  // says `ready` (a first start loads models for seconds) and while a dropped socket opens
  // again. Then they go in order and the room catches up on what was said meanwhile (the
  // server slows a sender whose backlog passes TINGSHUO_AUDIO_BACKLOG_S). Kept here, not on
  // the server, because only the page hears the microphone while no socket is ready.
  const FRAME_S = 0.1;
  const HOLD_FRAMES = 600; // 60 s kept at most; older frames are dropped, and counted
  const FLOOR_RISE_DB = 0.05; // per frame: the noise floor follows a room that gets louder
  const SOUND_OVER_FLOOR_DB = 10; // a frame this far over the floor is sound, not silence
  const MIC_KEY = "tingshuo-mic"; // the chosen input: {id, label}

  function savedMic() {
    try { return JSON.parse(localStorage.getItem(MIC_KEY) || "null"); } catch (_) { return null; }
  }

  // the inputs the browser knows; their names only once the page may use a microphone
  async function listMics(ask = false) {
    const media = navigator.mediaDevices;
    if (!media || !media.enumerateDevices) return;
    const known = () => media.enumerateDevices().then((all) => all.filter((d) => d.kind === "audioinput"));
    let inputs = await known();
    if (ask && !inputs.some((d) => d.label)) { // the names come with the permission
      try {
        const stream = await media.getUserMedia({ audio: true });
        for (const t of stream.getTracks()) t.stop();
        inputs = await known();
      } catch (_) { /* refused: the list stays unnamed */ }
    }
    const named = inputs.some((d) => d.label);
    const real = inputs.filter((d) => d.deviceId && d.deviceId !== "default" && d.deviceId !== "communications");
    const saved = savedMic();
    const select = $("mic-device");
    const options = [new Option("默认话筒 Default input", "")];
    real.forEach((d, i) => options.push(new Option(d.label || `话筒 ${i + 1} · input ${i + 1}`, d.deviceId)));
    if (saved && !real.some((d) => d.deviceId === saved.id)) {
      options.push(new Option(named ? `${saved.label} (未连接 not connected)` : saved.label, saved.id));
    }
    select.replaceChildren(...options);
    select.value = saved ? saved.id : "";
  }
  if (navigator.mediaDevices) {
    listMics().catch(() => {});
    navigator.mediaDevices.addEventListener("devicechange", () => listMics().catch(() => {}));
  }
  $("mic-device").addEventListener("pointerdown", () => listMics(true).catch(() => {}), { once: true });
  $("mic-device").addEventListener("focus", () => listMics(true).catch(() => {}), { once: true });
  $("mic-device").addEventListener("change", () => {
    const select = $("mic-device");
    if (!select.value) localStorage.removeItem(MIC_KEY);
    else {
      const label = select.selectedOptions[0].textContent;
      localStorage.setItem(MIC_KEY, JSON.stringify({ id: select.value, label }));
    }
  });

  async function openMic() {
    const audio = { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false };
    const saved = savedMic();
    if (saved) {
      try {
        return await navigator.mediaDevices.getUserMedia({ audio: { ...audio, deviceId: { exact: saved.id } } });
      } catch (e) {
        if (e.name !== "OverconstrainedError" && e.name !== "NotFoundError") throw e;
        error(`话筒“${saved.label}”未连接，改用默认话筒 · the input “${saved.label}” is not connected: using the default input`);
      }
    }
    return navigator.mediaDevices.getUserMedia({ audio });
  }

  $("btn-mic").addEventListener("click", () => guarded(async () => {
    if (!navigator.mediaDevices) throw new Error("this page needs https (or localhost) for the microphone");
    const roomId = startBusy("start"); // until the server says `ready`
    state.cancelled = null;
    let stream, ctx;
    try {
      stream = await openMic();
      ctx = soundAt16k(stream);
      await ctx.audioWorklet.addModule("/static/pcm-worklet.js");
      await ctx.resume();
    } catch (e) {
      if (stream) for (const t of stream.getTracks()) t.stop();
      if (ctx) ctx.close();
      endBusy(roomId, "start");
      throw e;
    }
    if (!state.busy || state.busy.room !== roomId || state.busy.kind !== "start") { // stopped meanwhile
      for (const t of stream.getTracks()) t.stop();
      ctx.close();
      return;
    }
    const source = ctx.source;
    const node = new AudioWorkletNode(ctx, "pcm16k");
    const mute = ctx.createGain();
    mute.gain.value = 0;
    source.connect(node).connect(mute).connect(ctx.destination); // keeps the graph pulling
    const mic = (state.mic = {
      stream, ctx, ws: null, retries: 0, room: roomId, ready: false,
      held: [], // frames not sent yet: [{data, sound}]
      captured: 0, sent: 0, sound: 0, dropped: 0, heldAtReady: null, // in frames; seconds at ready
      db: -90, shown: -90, floor: 0,
      device: stream.getAudioTracks()[0].getSettings().deviceId || "",
    });
    $("mic-meter").hidden = false;
    node.port.onmessage = (e) => hear(mic, e.data);
    openAudio(mic);
    listMics().catch(() => {}); // the inputs' names, now that the page may use them
  }));

  // The browser brings the microphone to 16 kHz itself where it can (its resampler filters
  // properly: the worklet then only packs frames); elsewhere the worklet downsamples.
  function soundAt16k(stream) {
    let ctx = null;
    try {
      ctx = new AudioContext({ sampleRate: 16000 });
      ctx.source = ctx.createMediaStreamSource(stream);
      return ctx;
    } catch (_) { // a browser that will not mix sample rates
      if (ctx) ctx.close();
    }
    ctx = new AudioContext();
    ctx.source = ctx.createMediaStreamSource(stream);
    return ctx;
  }

  function levelDb(frame) {
    const pcm = new Int16Array(frame);
    let sum = 0;
    for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
    const rms = Math.sqrt(sum / Math.max(1, pcm.length)) / 32768;
    return rms > 0 ? Math.max(-90, 20 * Math.log10(rms)) : -90;
  }

  function hear(mic, frame) {
    if (state.mic !== mic) return;
    const db = levelDb(frame);
    mic.floor = Math.min(db, mic.floor + FLOOR_RISE_DB);
    mic.db = db;
    mic.captured += 1;
    mic.held.push({ data: frame, sound: db > mic.floor + SOUND_OVER_FLOOR_DB });
    if (mic.held.length > HOLD_FRAMES) {
      mic.held.shift();
      mic.dropped += 1;
    }
    send(mic);
    showMic(mic);
  }

  function send(mic) {
    const ws = mic.ws;
    if (!mic.ready || !ws || ws.readyState !== WebSocket.OPEN) return;
    for (const f of mic.held) {
      ws.send(f.data);
      mic.sent += 1;
      if (f.sound) mic.sound += 1;
    }
    mic.held = [];
  }

  // the meter (falls slowly, like a desk's) and what has gone to the room
  function showMic(mic) {
    mic.shown = Math.max(mic.db, mic.shown - 1.5);
    const meter = $("mic-meter");
    const pct = Math.max(0, Math.min(100, ((mic.shown + 60) / 60) * 100));
    meter.firstElementChild.style.width = `${pct.toFixed(0)}%`;
    meter.classList.toggle("hot", mic.shown > -6);
    meter.setAttribute("aria-valuenow", mic.shown.toFixed(0));
    const level = `level ${mic.db > -90 ? Math.round(mic.db) : "−∞"} dB`.replace("-", "−");
    const secs = (n) => (n * FRAME_S).toFixed(0);
    let text;
    if (!mic.ready) {
      text = `正在等待会场，已保留 ${secs(mic.held.length)} 秒 · waiting for the room: ${secs(mic.held.length)} s kept, sent once it is ready · ${level}`;
    } else {
      text = `已发送 ${secs(mic.sent)} 秒（有声 ${secs(mic.sound)} 秒）· ${secs(mic.sent)} s sent, ${secs(mic.sound)} s with sound · ${level}`;
    }
    if (mic.dropped) text += ` · ${secs(mic.dropped)} s lost while waiting`;
    Icons.text($("mic-level"), "mic", text);
  }

  // The audio socket; one the network or a server going away dropped is opened again (with
  // several servers, the load balancer sends it to another: the room goes on in its session)
  function openAudio(mic) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws/rooms/${mic.room}/audio`); // cookie
    ws.binaryType = "arraybuffer";
    mic.ws = ws;
    mic.ready = false;
    ws.onopen = () => ws.send(JSON.stringify({ type: "start", sample_rate: 16000, format: "s16le" }));
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "ready") {
        if (mic.heldAtReady === null) mic.heldAtReady = mic.held.length * FRAME_S;
        mic.ready = true;
        mic.retries = 0;
        endBusy(mic.room, "start");
        send(mic); // what was said while the room started
      }
    };
    ws.onclose = (e) => {
      if (state.mic !== mic || mic.ws !== ws) return;
      mic.ready = false; // frames are kept again until the next socket is ready
      if ([1001, 1006, 1012].includes(e.code) && mic.retries < 10) {
        mic.retries += 1;
        error(`audio: the connection dropped; reconnecting (${mic.retries})…`);
        // 1012: the server restarts; the same URL reaches another one at once (what is said
        // meanwhile is kept and sent once the socket is ready)
        const wait = e.code === 1012 ? 0 : 1000;
        setTimeout(() => { if (state.mic === mic) openAudio(mic); }, wait);
        return;
      }
      if (e.code !== 1000 && e.code !== 1005 && state.cancelled !== mic.room) {
        error(`audio: ${e.reason || "connection closed"} (${e.code})`);
      }
      stopMic();
    };
  }

  function stopMic() {
    const mic = state.mic;
    if (!mic) return;
    state.mic = null;
    state.lastMic = mic; // its counts, for whoever asks how it went
    endBusy(mic.room, "start"); // refused, or stopped, before `ready`
    for (const t of mic.stream.getTracks()) t.stop();
    mic.ctx.close();
    if (mic.ws && mic.ws.readyState <= WebSocket.OPEN) mic.ws.close(1000, "done");
    $("mic-meter").hidden = true;
    $("mic-level").replaceChildren();
  }

  // -- exports

  $("btn-export").addEventListener("click", () => guarded(async () => {
    const fmt = $("export-format").value;
    const bilingual = $("export-bilingual").checked;
    const r = await api(`/api/rooms/${state.room.id}/export?format=${fmt}&bilingual=${bilingual}`, { raw: true });
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `${state.room.name}.${fmt}`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }));

  // -- start: a token from ?token= or the last one used
  const q = new URLSearchParams(location.search);
  const initial = q.get("token") || localStorage.getItem("tingshuo-token") || "";
  if (q.has("token")) history.replaceState(null, "", location.pathname); // out of history
  if (initial) {
    $("token").value = initial;
    guarded(() => useToken(initial));
  }
})();
