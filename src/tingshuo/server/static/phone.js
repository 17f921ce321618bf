// Phone page: the whole session to scroll back through, a language choice, and a connection
// that comes back after a drop and fills in what was missed from the store.
"use strict";
(() => {
  const { q, roomId } = TS.params();
  const token = q.get("token") || "";
  const el = document.getElementById("captions");
  const view = new TS.Captions(el, { keep: 0, follow: false });
  window.tsCaptions = view;
  const select = document.getElementById("langs");
  const notice = document.getElementById("store-notice");
  const badge = document.getElementById("status");
  const follow = document.getElementById("follow");
  const saved = localStorage.getItem("tingshuo-lang");
  let following = true;

  // follow the newest caption unless the reader has scrolled up
  function atBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  }
  function toBottom() { window.scrollTo(0, document.body.scrollHeight); }
  window.addEventListener("scroll", () => {
    following = atBottom();
    follow.style.display = following ? "none" : "block";
  });
  follow.addEventListener("click", () => { following = true; toBottom(); });

  const empty = document.getElementById("empty");
  select.addEventListener("change", () => {
    choose(select.value);
    localStorage.setItem("tingshuo-lang", select.value);
  });

  // the page speaks the language the reader chose to read: English for an English-only view;
  // until the room is known (or when the link is refused), the browser's language
  const browser = (navigator.languages || [navigator.language]).map((t) => (t || "").toLowerCase());
  const browserUi = browser.length && browser[0].startsWith("zh") ? "zh" : browser.some((t) => t.startsWith("en")) ? "en" : "zh";
  let ui = browserUi;
  document.documentElement.lang = ui === "en" ? "en" : "zh-CN";
  const pickLangs = document.getElementById("langs-pick");
  let room = null;
  let state = "idle";
  let wasLive = false;
  let link = "connecting";
  let refusedCode = 0;

  // of the languages shown, the browser's if it is one of them (an English reader of
  // "Original + English" reads English), else the first
  function uiLang(value) {
    const shown = value.split(",").map((v) => (v === "src" ? (room && room.lang === "en" ? "en" : "zh") : v));
    if (shown.includes(browserUi)) return browserUi;
    return shown[0] === "en" ? "en" : "zh";
  }

  // the language to start in: the link's, the reader's last choice, else the browser's when
  // the room has it (its own language: the original; a target: that translation)
  function startingLang(options) {
    const have = (v) => options.some(([o]) => o === v);
    for (const v of [q.get("lang"), saved]) if (v && have(v)) return v;
    for (const tag of navigator.languages || [navigator.language]) {
      const code = (tag || "").toLowerCase().split("-")[0];
      if (code === room.lang) return "src";
      if (have(code)) return code;
    }
    return "src";
  }

  function choose(value) {
    select.value = value;
    view.setShow(value.split(","));
    ui = uiLang(value);
    for (const option of select.options) option.text = optionLabel(option.value);
    document.documentElement.lang = ui === "en" ? "en" : "zh-CN";
    follow.textContent = TS.say(ui, "↓ 最新", "↓ Live");
    document.getElementById("langs-label").textContent = TS.say(ui, "字幕", "Captions");
    window.dispatchEvent(new Event("tingshuo-ui")); // the Listen bar speaks it too
    render();
  }

  // short enough for a phone's width: "原文 + English", "Original + English"
  function optionLabel(value) {
    const original = TS.say(ui, "原文", "Original");
    return value.split(",").map((v) => (v === "src" ? original : TS.langName(v))).join(" + ");
  }

  // one badge for the connection and the room: what a reader needs to know at a glance
  function render() {
    let text;
    let cls = "";
    if (link === "refused") {
      text = TS.say(ui, "无法打开", "no access");
      cls = "offline";
      empty.textContent = TS.refusal(refusedCode, ui);
      // a page about the link, not an empty room: its title says so, no language to choose
      const title = refusedCode === 4404 ? TS.say(ui, "没有这个会场", "No such room")
        : TS.say(ui, "链接无效", "Link not valid");
      document.getElementById("name").textContent = title;
      document.title = `${title} · tingshuo`;
      pickLangs.hidden = true;
    } else if (link === "offline") {
      text = TS.say(ui, "重新连接…", "reconnecting…");
      cls = "offline";
    } else if (link === "connecting") {
      text = TS.say(ui, "连接中…", "connecting…");
    } else if (state === "live") {
      text = TS.say(ui, "直播中", "live");
      cls = "live";
    } else if (state === "paused") {
      text = TS.say(ui, "暂停", "paused");
      cls = "paused";
    } else {
      text = wasLive || view.rows.size ? TS.say(ui, "已结束", "ended") : TS.say(ui, "未开始", "not started");
    }
    badge.textContent = text;
    badge.className = `badge ${cls}`;
    badge.dataset.state = link === "online" ? state : link;
    badge.dataset.link = link;
    if (link !== "refused") {
      empty.textContent = state === "idle" && (wasLive || view.rows.size)
        ? TS.say(ui, "会议已结束。", "The session has ended.")
        : TS.say(ui, "等待发言…", "Waiting for speech…");
      empty.hidden = !view.empty && !(state === "idle" && wasLive);
    } else {
      empty.hidden = false;
    }
  }

  const events = new TS.RoomEvents(roomId, token, (m) => {
    if (m.type === "hello") {
      room = m.room;
      document.getElementById("name").textContent = m.room.name;
      document.title = `${m.room.name} · tingshuo`;
      const options = [["src"]];
      for (const t of m.room.targets) options.push([`src,${t}`], [t]);
      select.replaceChildren(...options.map(([v]) => new Option(v, v)));
      pickLangs.hidden = false;
      state = m.state || "idle";
      wasLive = wasLive || state !== "idle";
      choose(startingLang(options));
    } else if (m.type === "state") {
      state = m.state;
      wasLive = wasLive || state !== "idle";
    }
    TS.storeNotice(notice, m);
    view.handle(m);
    render();
    if (following) toBottom();
  }, (s, why, code) => {
    link = s;
    refusedCode = code || 0;
    badge.title = why || "";
    render();
  });
  window.tsEvents = events;
})();
