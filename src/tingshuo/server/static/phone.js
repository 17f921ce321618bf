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

  select.addEventListener("change", () => {
    view.setShow(select.value.split(","));
    localStorage.setItem("tingshuo-lang", select.value);
  });

  const labels = { connecting: "…", online: "live", offline: "reconnecting", refused: "no access" };
  const events = new TS.RoomEvents(roomId, token, (m) => {
    if (m.type === "hello") {
      document.getElementById("name").textContent = m.room.name;
      document.title = `${m.room.name} · tingshuo`;
      const options = [["src", TS.langName("src")]];
      for (const t of m.room.targets) {
        options.push([`src,${t}`, `${TS.langName("src")} + ${TS.langName(t)}`]);
        options.push([t, TS.langName(t)]);
      }
      select.replaceChildren(...options.map(([v, label]) => new Option(label, v)));
      const wanted = q.get("lang") || saved || "src";
      select.value = options.some(([v]) => v === wanted) ? wanted : "src";
      view.setShow(select.value.split(","));
    }
    TS.storeNotice(notice, m);
    view.handle(m);
    if (following) toBottom();
  }, (state, why) => {
    badge.textContent = labels[state] || state;
    badge.className = `badge ${state === "online" ? "live" : state === "connecting" ? "" : "offline"}`;
    badge.title = why || "";
  });
  window.tsEvents = events;
})();
