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
  state.starting = (fn) => busyWhile("start", fn); // for console-stream.js: busy while it starts

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

  async function useToken(t) {
    state.token = t.trim();
    localStorage.setItem("tingshuo-token", state.token);
    // the token comes back as an HttpOnly cookie: sockets and images then carry no ?token=,
    // which access logs would keep
    await api("/api/login", { method: "POST" });
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
    $("btn-pause").disabled = s !== "live" || !!busy;
    $("btn-resume").disabled = s !== "paused" || !!busy;
    $("btn-stop").disabled = !running || !!busy;
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

  function endBusy(roomId) {
    if (!state.busy || state.busy.room !== roomId) return;
    state.busy = null;
    if (state.room) showState(state.roomState);
  }

  async function busyWhile(kind, fn) {
    const roomId = startBusy(kind);
    try { await fn(); } finally { endBusy(roomId); }
  }

  // how late this room's captions and translations are, and what is shed to keep up
  const SHED = {
    drafts: "drafts paused", quality: "fast translation model", translation: "translation paused",
  };
  function showLag(m) {
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
    warning.textContent = `⚠ 字幕落后 ${behind} 秒 · Captions are ${behind} s behind`;
    warning.hidden = !(m.caption_s > 3);
  }

  // how the room's input sounds (the server's meter), and what to do about it
  const SOUND = {
    good: "输入良好", quiet: "输入太小：请调高增益", noisy: "话筒听到噪声或其他人声：请用更近的话筒",
    echo: "话筒听到房间的回声：请用调音台的信号或更近的话筒", clipping: "输入削波：请调低增益",
  };
  function showSound(m) {
    const el = $("room-sound");
    let text = `🎤 ${SOUND[m.verdict] || ""} · ${m.advice} · level ${m.level_db} dBFS · noise ${m.noise_db} dBFS`;
    if (m.echo_s !== undefined) text += ` · echo ${m.echo_s.toFixed(1)} s`;
    if (m.cleaning) text += " · 降噪去混响中 cleaning echo and noise";
    if (m.verdict !== "good") text = `⚠ ${text}`;
    el.textContent = text;
    el.classList.toggle("late", m.verdict !== "good");
    el.hidden = false;
  }

  // pieces of the spoken interpretation that the voice could not say (the phones and the
  // stream go on to the next piece): how many per language, and the last reason
  function showUnspoken(unspoken) {
    const el = $("room-unspoken");
    const langs = Object.entries(unspoken || {}).filter(([, u]) => u.count);
    const text = langs.map(([lang, u]) => `⚠ 译音 ${TS.langName(lang)}：${u.count} 段无法朗读 · `
      + `${u.count} ${u.count === 1 ? "piece" : "pieces"} of the ${TS.langName(lang)} interpretation `
      + `could not be spoken (last: ${u.reason})`).join(" | ");
    if (el.textContent !== text) el.textContent = text;
    el.hidden = !text;
  }

  // captions the database has not taken yet (it is locked, restarting or full)
  let storeTimer = null;
  function showStore(m) {
    const el = $("room-store");
    clearTimeout(storeTimer);
    el.classList.toggle("late", !m.saving || m.lost);
    if (m.lost) el.textContent = "⚠ 字幕不再保存（等待的太多），只实时显示 · captions are no longer saved (too many waited): shown only";
    else if (!m.saving) el.textContent = `⚠ 字幕暂时没有保存：${m.waiting} 条等待中 · captions are not being saved: ${m.waiting} waiting`;
    else if (m.waiting) el.textContent = `正在保存 ${m.waiting} 条字幕… · saving ${m.waiting} waiting captions…`;
    else {
      el.textContent = "✓ 字幕已全部保存 · all captions saved";
      storeTimer = setTimeout(() => { el.hidden = true; }, 15000);
    }
    el.hidden = false;
  }

  // distributed mode: the message bus between this server and the workers (Redis) is away
  function showBus(m) {
    const el = $("room-bus");
    el.textContent = m.ok ? "" : "⚠ captions paused: the message bus (Redis) is away; they resume when it is back";
    el.hidden = m.ok;
  }

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
    });
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

  $("btn-file").addEventListener("click", () => guarded(async () => {
    const file = $("file-input").files[0];
    if (!file) throw new Error("choose an audio or video file first");
    const form = new FormData();
    form.append("file", file);
    form.append("speed", "1");
    const roomId = state.room.id;
    await busyWhile("start", () => api(`/api/rooms/${roomId}/start/file`, { method: "POST", body: form }));
  }));

  $("btn-device").addEventListener("click", () => guarded(() => {
    const roomId = state.room.id;
    return busyWhile("start", () => api(`/api/rooms/${roomId}/start/device`, { method: "POST", body: {} }));
  }));

  for (const action of ["pause", "resume"]) {
    $(`btn-${action}`).addEventListener("click", () => guarded(() => {
      const roomId = state.room.id;
      return busyWhile(action, () => api(`/api/rooms/${roomId}/${action}`, { method: "POST" }));
    }));
  }

  // stopping lasts until what was heard is transcribed: the room's `idle` ends it
  $("btn-stop").addEventListener("click", () => guarded(async () => {
    const roomId = startBusy("stop");
    try {
      await api(`/api/rooms/${roomId}/stop`, { method: "POST" });
    } catch (e) {
      endBusy(roomId);
      throw e;
    }
    if (state.room && state.room.id === roomId && state.roomState === "idle") endBusy(roomId);
    stopMic();
  }));

  // Browser microphone: getUserMedia → AudioWorklet (16 kHz s16le) → the audio socket.
  $("btn-mic").addEventListener("click", () => guarded(async () => {
    if (!navigator.mediaDevices) throw new Error("this page needs https (or localhost) for the microphone");
    const roomId = startBusy("start"); // until the server says `ready`
    let stream, ctx;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      ctx = new AudioContext();
      await ctx.audioWorklet.addModule("/static/pcm-worklet.js");
      await ctx.resume();
    } catch (e) {
      if (stream) for (const t of stream.getTracks()) t.stop();
      if (ctx) ctx.close();
      endBusy(roomId);
      throw e;
    }
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "pcm16k");
    const mute = ctx.createGain();
    mute.gain.value = 0;
    source.connect(node).connect(mute).connect(ctx.destination); // keeps the graph pulling
    const mic = (state.mic = { stream, ctx, ws: null, frames: 0, retries: 0, room: roomId });
    openAudio(mic);
    node.port.onmessage = (e) => {
      const ws = mic.ws;
      if (mic.ready && ws && ws.readyState === WebSocket.OPEN) {
        ws.send(e.data);
        mic.frames += 1;
        $("mic-level").textContent = `🎤 已发送 ${(mic.frames / 10).toFixed(0)} 秒 · ${(mic.frames / 10).toFixed(0)} s sent`;
      }
    };
  }));

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
      if (m.type === "ready") { mic.ready = true; mic.retries = 0; endBusy(mic.room); }
    };
    ws.onclose = (e) => {
      if (state.mic !== mic || mic.ws !== ws) return;
      if ([1001, 1006, 1012].includes(e.code) && mic.retries < 10) {
        mic.retries += 1;
        error(`audio: the connection dropped; reconnecting (${mic.retries})…`);
        setTimeout(() => { if (state.mic === mic) openAudio(mic); }, 1000);
        return;
      }
      if (e.code !== 1000 && e.code !== 1005) error(`audio: ${e.reason || "connection closed"} (${e.code})`);
      stopMic();
    };
  }

  function stopMic() {
    const mic = state.mic;
    if (!mic) return;
    state.mic = null;
    if (state.busy && state.busy.kind === "start") endBusy(mic.room); // refused before `ready`
    for (const t of mic.stream.getTracks()) t.stop();
    mic.ctx.close();
    if (mic.ws && mic.ws.readyState === WebSocket.OPEN) mic.ws.close(1000, "done");
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
