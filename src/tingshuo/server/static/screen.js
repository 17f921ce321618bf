// Projector page: big bilingual captions, the partial lighter below the last finals.
// ?token=… (viewer) · ?lang=src,en (what shows) · ?transparent=1 (OBS) · ?qr=0 (no QR code)
"use strict";
(() => {
  const { q, roomId } = TS.params();
  const token = q.get("token") || "";
  if (q.get("transparent") === "1") document.body.classList.add("transparent");
  const view = new TS.Captions(document.getElementById("captions"), { keep: 30 });
  window.tsCaptions = view;
  const select = document.getElementById("langs");
  const notice = document.getElementById("store-notice");
  const status = document.getElementById("status");

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
  }

  select.addEventListener("change", () => setLangs(select.value));

  const events = new TS.RoomEvents(roomId, token, (m) => {
    if (m.type === "hello") {
      document.title = `${m.room.name} · tingshuo`;
      const options = choices(m.room.targets);
      select.replaceChildren(...options.map(([v, label]) => new Option(label, v)));
      const wanted = q.get("lang") || (m.room.targets.length ? `src,${m.room.targets[0]}` : "src");
      setLangs(options.some(([v]) => v === wanted) ? wanted : "src");
      if (q.get("qr") !== "0" && q.get("transparent") !== "1") {
        const qr = document.getElementById("qr");
        qr.querySelector("img").src = `/api/rooms/${encodeURIComponent(roomId)}/qr.svg?token=${encodeURIComponent(token)}`;
        qr.hidden = false;
      }
    }
    TS.storeNotice(notice, m);
    view.handle(m);
  }, (state, why) => {
    status.textContent = state === "online" ? "" : `${state}${why ? ": " + why : ""}`;
  });
  window.tsEvents = events;
})();
