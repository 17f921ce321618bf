// Console: the room's rundown for the AI anchor. Load (paste or file, YAML or Markdown; a
// malformed one shows the server's line-numbered error), then step through it. Stepping is
// the room's state on the server: every stage page follows, whoever else has the console open.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const con = window.tsConsole;
  const state = { room: null, plan: null, sounds: 0 };

  function showError(msg) { $("rundown-error").textContent = msg || ""; }

  async function guarded(fn) {
    showError("");
    try { await fn(); } catch (e) { showError(e.message); }
  }

  function describe(seg) {
    const said = Object.values(seg.lines).join(" / ");
    if (seg.kind === "pause") return `${seg.seconds} s`;
    if (seg.kind === "cue") return `${seg.cue} (${seg.seconds} s)`;
    if (seg.kind === "speaker") return `${seg.speaker} ${seg.title} ${said}`.trim();
    return said;
  }

  function render() {
    const plan = state.plan;
    const list = $("rundown-segments");
    const loaded = !!(plan && plan.loaded);
    for (const b of ["previous", "repeat", "next", "skip"]) $(`anchor-${b}`).disabled = !loaded;
    if (!loaded) { list.replaceChildren(); return; }
    const count = plan.segments.length;
    list.replaceChildren(...plan.segments.map((seg, i) => {
      const li = document.createElement("li");
      li.dataset.index = i;
      const num = document.createElement("span");
      num.className = "num";
      num.textContent = `${i + 1}/${count}`; // counted from 1, as the stage counts
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = `${seg.kind} · line ${seg.line}`;
      li.append(num, " ", kind, " ", describe(seg));
      li.classList.toggle("current", i === plan.index);
      li.classList.toggle("skipped", plan.skipped.includes(i));
      return li;
    }));
    const current = list.querySelector("li.current");
    if (current) current.scrollIntoView({ block: "nearest" });
  }

  // the stage page's browser blocks sound until someone clicks on it
  function showMuted(muted) { $("stage-muted").hidden = !muted; }

  async function refresh() {
    if (!state.room) return;
    state.plan = await con.api(`/api/rooms/${state.room.id}/anchor`);
    render();
  }

  async function select(room) {
    state.room = room;
    $("anchor-panel").hidden = false;
    $("link-stage").href = room.links.stage;
    showError("");
    showMuted(false);
    const sounds = state.sounds;
    const sound = await con.api(`/api/rooms/${room.id}/stage/sound`);
    if (sounds === state.sounds && state.room === room) showMuted(sound.muted); // else an event is newer
    await refresh();
  }

  // the room's events: another console (or this one) stepped, or changed the rundown
  function handle(m) {
    if (m.type === "stage_sound") { state.sounds += 1; showMuted(m.muted); return; }
    if (!state.room || !state.plan) return;
    if (m.type === "anchor_rundown") refresh();
    else if ((m.type === "anchor_cue" || m.type === "anchor_skip") && state.plan.loaded) {
      if (m.cue < state.plan.cue) return; // an older step, overtaken by a newer one
      state.plan.cue = m.cue;
      state.plan.index = m.index;
      const skipped = new Set(state.plan.skipped);
      if (m.type === "anchor_skip") skipped.add(m.index); else skipped.delete(m.index);
      state.plan.skipped = [...skipped];
      render();
      if (m.error) showError(`the anchor could not say ${m.error}`);
    }
  }

  $("rundown-file").addEventListener("change", async () => {
    const file = $("rundown-file").files[0];
    if (!file) return;
    $("rundown-text").value = await file.text();
    $("rundown-format").value = /\.(md|markdown)$/i.test(file.name) ? "markdown" : "yaml";
  });

  $("rundown-load").addEventListener("click", () => guarded(async () => {
    state.plan = await con.api(`/api/rooms/${state.room.id}/anchor/rundown`, {
      method: "PUT",
      body: { text: $("rundown-text").value, format: $("rundown-format").value },
    });
    render();
  }));

  $("rundown-clear").addEventListener("click", () => guarded(async () => {
    await con.api(`/api/rooms/${state.room.id}/anchor/rundown`, { method: "DELETE" });
    await refresh();
  }));

  for (const action of ["previous", "repeat", "next", "skip"]) {
    $(`anchor-${action}`).addEventListener("click", () => guarded(async () => {
      const out = await con.api(`/api/rooms/${state.room.id}/anchor/${action}`, { method: "POST" });
      if (out.error) showError(`the anchor could not say ${out.error}`);
    }));
  }

  window.tsAnchor = { select, handle, refresh, get plan() { return state.plan; } };
})();
