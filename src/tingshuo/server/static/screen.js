// Projector page: a caption band of whole lines, the partial lighter below the last finals.
// ?token=… (viewer) · ?lang=src,en (what shows) · ?lines=N (lines in the band) ·
// ?transparent=1 (OBS: a band of 2 lines at the bottom of a transparent frame) · ?qr=0
"use strict";
(() => {
  const { q, roomId } = TS.params();
  const token = q.get("token") || "";
  const obs = q.get("transparent") === "1";
  if (obs) document.body.classList.add("transparent");
  const el = document.getElementById("captions");
  const view = new TS.Captions(el, { keep: 30 });
  window.tsCaptions = view;
  const select = document.getElementById("langs");
  const notice = document.getElementById("store-notice");
  const status = document.getElementById("status");
  const waiting = document.getElementById("waiting");
  const qr = document.getElementById("qr");
  let state = "idle";
  let wasLive = false;

  function choices(targets) {
    const out = [["src", TS.langName("src")]];
    for (const t of targets) {
      out.push([`src,${t}`, `${TS.langName("src")} + ${TS.langName(t)}`]);
      out.push([t, TS.langName(t)]);
    }
    return out;
  }

  function setLangs(value) {
    view.setShow(value.split(","));
    select.value = value;
    layout();
  }

  select.addEventListener("change", () => setLangs(select.value));

  // The band holds a whole number of lines (every line box has the same height), sits at
  // the bottom, and stays below the QR code: no line is ever cut or under the code.
  function layout() {
    const lh = parseFloat(getComputedStyle(el).lineHeight);
    if (!lh) return;
    const margin = window.innerHeight * (obs ? 0.04 : 0.06);
    const top = qr.hidden ? window.innerHeight * 0.03 : qr.getBoundingClientRect().bottom + 8;
    const room = Math.max(1, Math.floor((window.innerHeight - top - margin) / lh));
    const asked = parseInt(q.get("lines") || (obs ? "2" : "0"), 10);
    const lines = asked > 0 ? Math.min(asked, room) : room;
    el.style.height = `${lines * lh}px`;
    el.style.bottom = `${margin}px`;
    el.dataset.lines = String(lines);
    trim();
  }

  // The band begins with a caption's first line: one that only partly fits (its tail alone
  // at the top, "做。") is hidden whole, unless it is the newest, longer than the band.
  function trim() {
    const top = el.getBoundingClientRect().top;
    const shown = [...el.children].filter((c) => c.offsetHeight > 0);
    shown.forEach((child, i) => {
      const box = child.getBoundingClientRect();
      const cut = box.top < top - 0.5 && box.bottom > top + 0.5 && i < shown.length - 1;
      child.classList.toggle("cut", cut);
    });
  }
  window.addEventListener("resize", layout);
  if (document.fonts) document.fonts.ready.then(layout);

  function showWaiting() {
    waiting.hidden = !view.empty;
    const line = waiting.querySelector(".what");
    line.textContent = state === "idle" && wasLive ? "会议已结束 · The session has ended"
      : state === "paused" ? "暂停中 · Paused" : "等待发言… · Waiting for speech…";
  }

  const events = new TS.RoomEvents(roomId, token, (m) => {
    if (m.type === "hello") {
      document.title = `${m.room.name} · tingshuo`;
      waiting.querySelector(".title").textContent = m.room.name;
      state = m.state || "idle";
      wasLive = wasLive || state !== "idle";
      const options = choices(m.room.targets);
      select.replaceChildren(...options.map(([v, label]) => new Option(label, v)));
      const wanted = q.get("lang") || (m.room.targets.length ? `src,${m.room.targets[0]}` : "src");
      if (q.get("qr") !== "0" && !obs) {
        qr.querySelector("img").src = `/api/rooms/${encodeURIComponent(roomId)}/qr.svg?token=${encodeURIComponent(token)}`;
        qr.hidden = false;
      }
      setLangs(options.some(([v]) => v === wanted) ? wanted : "src");
    } else if (m.type === "state") {
      state = m.state;
      wasLive = wasLive || state !== "idle";
    }
    TS.storeNotice(notice, m);
    view.handle(m);
    trim();
    showWaiting();
  }, (s, why, code) => {
    status.textContent = s === "online" || s === "connecting" ? ""
      : s === "refused" ? TS.refusal(code, "zh") + " " + TS.refusal(code, "en")
      : "连接中断，正在重连… · Reconnecting…";
    status.classList.toggle("loud", s === "refused");
    status.dataset.link = s;
  });
  window.tsEvents = events;
  qr.querySelector("img").addEventListener("load", layout);
  layout();
})();
