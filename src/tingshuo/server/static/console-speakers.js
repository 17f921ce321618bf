// Organizer console: the room's voices. Each is listed with how many captions it has;
// renaming one renames every caption of that voice, past and future (pages, exports, and
// the live diarizer); two voices heard for one person are merged. A clicked caption comes
// here too: rename its voice everywhere, or name only that caption (the voice was misheard).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const con = window.tsConsole;
  const panel = $("speakers-panel");
  const rows = new Map(); // name -> its <li>
  let room = null;
  let timer = null;

  function el(tag, props = {}, ...children) {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  }

  const list = el("ul", { id: "speakers-list", className: "rooms" });
  const from = el("select", { id: "merge-from", style: "width:12em" });
  const into = el("select", { id: "merge-into", style: "width:12em" });
  const merge = el("button", { id: "btn-merge", textContent: "合并 Merge" });
  const errorLine = el("p", { id: "speakers-error", className: "error", role: "alert" });
  // the caption clicked last: its voice renamed everywhere, or that caption alone
  const offer = el("div", { id: "speaker-offer", hidden: true });
  const offerWhat = el("div", { className: "hint" });
  const offerName = el("input", { type: "text", id: "offer-name", style: "width:14em" });
  const offerAll = el("button", { id: "offer-all", className: "primary", textContent: "改名 Rename everywhere" });
  const offerOne = el("button", { id: "offer-one", textContent: "只改这一句 This caption only" });
  const offerCancel = el("button", { id: "offer-cancel", className: "icon-button", title: "cancel" }, Icons.make("close"));
  offerCancel.setAttribute("aria-label", "cancel");
  offer.append(offerWhat, el("div", { className: "row" }, offerName, offerAll, offerOne, offerCancel));
  panel.append(
    el("h2", {}, "发言人 Speakers ", el("small", {
      textContent: "(改名会改掉这个声音的全部字幕，包括以后的 · renaming changes every caption of that voice, later ones too)",
    })),
    offer,
    list,
    el("div", { className: "row" }, "合并 Merge", from, "→", into, merge),
    errorLine,
  );

  function showError(msg) { errorLine.textContent = msg || ""; }

  async function guarded(fn) {
    showError("");
    try { await fn(); } catch (e) { showError(e.message); }
  }

  const base = () => `/api/rooms/${room.id}/speakers`;

  async function rename(old, name) {
    name = name.trim();
    if (!name || name === old) return;
    await con.api(`${base()}/rename`, { method: "POST", body: { old, new: name } });
    await refresh();
  }

  function row(name) {
    const input = el("input", { type: "text", value: name, style: "width:12em" });
    input.setAttribute("aria-label", `new name for ${name}`);
    const save = () => guarded(() => rename(name, input.value));
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") save(); });
    const li = el("li", { className: "row" },
      el("span", { className: "name", textContent: name }),
      el("span", { className: "count" }), input,
      el("button", { textContent: "改名 Rename", onclick: save }));
    li.dataset.name = name;
    return li;
  }

  // updated in place: a name being typed is not lost when a caption arrives
  function render(speakers) {
    const names = new Set(speakers.map((s) => s.name));
    for (const [name, li] of rows) if (!names.has(name)) { li.remove(); rows.delete(name); }
    for (const s of speakers) {
      if (!rows.has(s.name)) rows.set(s.name, row(s.name));
      rows.get(s.name).querySelector(".count").textContent = `${s.captions} 条字幕 captions`;
    }
    const ordered = speakers.map((s) => rows.get(s.name));
    if (ordered.some((li, i) => list.children[i] !== li)) list.append(...ordered);
    for (const select of [from, into]) {
      const chosen = select.value;
      select.replaceChildren(...speakers.map((s) => new Option(s.name, s.name)));
      if (names.has(chosen)) select.value = chosen;
    }
    if (!names.has(into.value) || into.value === from.value) {
      const other = speakers.find((s) => s.name !== from.value);
      if (other) into.value = other.name;
    }
    merge.disabled = speakers.length < 2;
  }

  async function refresh() {
    if (!room) return;
    const id = room.id;
    const speakers = await con.api(base());
    if (room && room.id === id) render(speakers);
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(() => guarded(refresh), 300); // a replay's captions: one request
  }

  function select(next) {
    room = next;
    rows.clear();
    list.replaceChildren();
    offer.hidden = true;
    panel.hidden = !room;
    showError("");
    if (room) soon();
  }

  merge.addEventListener("click", () => guarded(async () => {
    if (from.value === into.value) throw new Error("选两个不同的发言人 · choose two different speakers");
    await con.api(`${base()}/merge`, { method: "POST", body: { from: from.value, into: into.value } });
    await refresh();
  }));

  // -- a clicked caption (console.js hands it over)

  let offered = null; // {id, speaker}

  function offerFor(segmentId, captionRow) {
    const speaker = captionRow.dataset.spk || "";
    offered = { id: segmentId, speaker };
    const text = (captionRow.querySelector(".src") || captionRow).textContent;
    offerWhat.textContent = `${speaker || "（无发言人 no speaker）"} · “${text.slice(0, 40)}”`;
    offerName.value = speaker;
    offerAll.disabled = !speaker;
    offer.hidden = false;
    panel.scrollIntoView({ block: "nearest" });
    offerName.focus();
    offerName.select();
  }

  async function nameOffered(everywhere) {
    const { id, speaker } = offered;
    const name = offerName.value.trim();
    if (everywhere) await rename(speaker, name);
    else {
      await con.api(`/api/rooms/${room.id}/segments/${id}/speaker`, {
        method: "PUT", body: { speaker: name || null },
      });
      await refresh();
    }
    offer.hidden = true;
  }

  offerAll.addEventListener("click", () => guarded(() => nameOffered(true)));
  offerOne.addEventListener("click", () => guarded(() => nameOffered(false)));
  offerCancel.addEventListener("click", () => { offer.hidden = true; });
  offerName.addEventListener("keydown", (e) => {
    if (e.key === "Enter") guarded(() => nameOffered(!!offered.speaker));
    if (e.key === "Escape") offer.hidden = true;
  });

  con.watch({
    room: select,
    event: (m) => { if (m.type === "final" || m.type === "speaker") soon(); },
  });

  window.tsSpeakers = { offer: offerFor, refresh, get room() { return room; } };
})();
