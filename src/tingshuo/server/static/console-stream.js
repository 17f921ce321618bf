// Organizer console: a room from a network stream (RTMP, SRT, RTSP, HLS, Icecast, UDP): a URL
// and a button beside the other sources (POST …/start/url), and the room's `stream` events
// in words: "stream lost, reconnecting (try 3)…" while it drops, "stream back after 10.2 s;
// 10.2 s of sound lost" when it returns.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const con = window.tsConsole;
  const place = $("stream-source");
  if (!con || !place) return;
  const BACK_SHOWN_MS = 15000; // the return's line stays this long

  const url = Object.assign(document.createElement("input"), {
    type: "url", id: "stream-url", className: "device", placeholder: "rtmp:// · http://…/live.m3u8",
    title: "a stream this server can reach: RTMP, SRT, RTSP, HLS, Icecast (http), UDP MPEG-TS",
  });
  url.setAttribute("aria-label", "stream URL");
  url.value = localStorage.getItem("tingshuo-stream-url") || "";
  const button = Object.assign(document.createElement("button"), {
    id: "btn-stream", textContent: "串流 Listen to stream",
  });
  place.replaceChildren(url, button);
  const notice = Object.assign(document.createElement("p"), {
    id: "room-stream", className: "lag notice", hidden: true,
  });
  notice.setAttribute("role", "status");
  const progress = $("room-progress");
  progress.parentNode.insertBefore(notice, progress);

  // the same turns as the other sources: console.js greys them while the room runs or starts
  const device = $("btn-device");
  const follow = () => { button.disabled = device.disabled; };
  new MutationObserver(follow).observe(device, { attributes: true, attributeFilter: ["disabled"] });
  follow();

  button.addEventListener("click", async () => {
    const error = $("error");
    error.textContent = "";
    const roomId = con.room && con.room.id;
    const target = url.value.trim();
    try {
      if (!roomId) throw new Error("choose a room first");
      if (!target) throw new Error("give the stream's URL first (rtmp://, srt://, http://…/live.m3u8)");
      localStorage.setItem("tingshuo-stream-url", target);
      const start = () => con.api(`/api/rooms/${roomId}/start/url`, { method: "POST", body: { url: target } });
      await (con.starting ? con.starting(start) : start()); // console.js: busy, and Stop cancels
    } catch (e) {
      error.textContent = e.message;
    }
  });

  let hideTimer = null;
  function show(m) {
    clearTimeout(hideTimer);
    notice.textContent = m.message;
    notice.classList.toggle("late", !m.back);
    notice.hidden = false;
    if (m.back) hideTimer = setTimeout(() => { notice.hidden = true; }, BACK_SHOWN_MS);
  }

  con.watch({
    room: () => { notice.hidden = true; },
    event: (m) => {
      if (m.type === "stream") show(m);
      if (m.type === "state" && m.state === "idle") notice.hidden = true;
    },
  });
})();
