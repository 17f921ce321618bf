// Organizer console: the room's prepared texts (文稿): a speech's script, the agenda, slides.
// Added by dropping a file on the panel, choosing one, or pasting text; listed with their
// passages and how far their translation is; their terms (the room's hot words) dropped one
// by one. The chosen text's passages are shown with the line where the speaker is (the
// room's `script` events); a click on a line re-anchors a live room there. Captions in a
// text's writing (`source: "script"`) are marked in the caption list.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const con = window.tsConsole;
  const panel = $("texts-panel");
  const KINDS = ".txt,.md,.markdown,.docx,.pdf,.pptx,text/plain,text/markdown,application/pdf,"
    + "application/vnd.openxmlformats-officedocument.wordprocessingml.document,"
    + "application/vnd.openxmlformats-officedocument.presentationml.presentation";
  const POLL_MS = 5000; // texts added elsewhere, and their translations made in idle time

  const state = {
    room: null,
    texts: [], // as GET …/texts lists them
    shown: "", // the list as rendered last (JSON): redrawn only when it changed
    chosen: null, // the text whose passages are shown (GET …/texts/{id}, with its lines)
    place: {}, // lang -> {text_id, index}: where the speaker is
    uploads: 0,
  };

  function el(tag, props = {}, ...children) {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  }

  // -- the panel

  const fileInput = el("input", { type: "file", id: "texts-file", accept: KINDS, multiple: true, hidden: true });
  const addFile = el("button", { id: "texts-add-file", type: "button", textContent: "添加文件… Add a file…" });
  const pasteOpen = el("button", { id: "texts-paste-open", type: "button", textContent: "粘贴文字 Paste text" });
  const drop = el("div", { id: "texts-drop", className: "drop" },
    el("div", { className: "hint", textContent: "把文件拖到这里 · Drop a file here (TXT, Markdown, DOCX, PDF, PPTX)" }),
    el("div", { className: "row" }, addFile, pasteOpen, fileInput));

  const pasteName = el("input", { type: "text", id: "texts-paste-name", placeholder: "讲稿 Keynote script" });
  const pasteText = el("textarea", {
    id: "texts-paste-text", rows: 5,
    placeholder: "各位来宾，大家好！\n一段一行，可附译文 · one passage a line; a translation may follow each",
  });
  const pasteAdd = el("button", { id: "texts-paste-add", type: "button", className: "primary", textContent: "添加 Add" });
  const pasteCancel = el("button", { id: "texts-paste-cancel", type: "button", textContent: "取消 Cancel" });
  const paste = el("div", { id: "texts-paste", hidden: true },
    el("label", { htmlFor: "texts-paste-name", textContent: "名称 Name" }), pasteName,
    el("label", { htmlFor: "texts-paste-text", textContent: "文字 Text" }), pasteText,
    el("div", { className: "row" }, pasteAdd, pasteCancel));

  const status = el("p", { id: "texts-status", className: "notice", role: "status", hidden: true });
  const errorLine = el("p", { id: "texts-error", className: "error", role: "alert" });
  const list = el("ul", { id: "texts-list", className: "texts" });

  const where = el("span", { id: "texts-where", className: "where" });
  const follow = el("input", { type: "checkbox", id: "texts-follow", checked: true });
  const terms = el("div", { id: "texts-terms", className: "chips" });
  const lines = el("ol", { id: "texts-lines", className: "passages", start: 1 });
  const view = el("div", { id: "texts-view", hidden: true },
    el("div", { className: "row between" }, where,
      el("label", { className: "inline", title: "发言人讲到另一份文稿时，显示那一份 · show the text the speaker is in" },
        follow, " 跟随 Follow")),
    el("div", { className: "terms-head", textContent: "热词 Hot words（× 去掉 drops one）" }),
    terms,
    lines,
    el("div", { className: "hint", textContent: "直播时点一句，字幕从那里继续跟随 · while live, click a line: captions follow on from there" }));

  panel.append(
    el("h2", {}, "文稿 Prepared texts ", el("small", { textContent: "（字幕跟随文稿的写法 · captions that follow a text show its writing）" })),
    drop, paste, status, errorLine, list, view,
  );

  function showError(msg) { errorLine.textContent = msg || ""; }

  let statusTimer = null;
  function say(text, fade = false) {
    clearTimeout(statusTimer);
    status.textContent = text || "";
    status.hidden = !text;
    if (text && fade) statusTimer = setTimeout(() => { status.hidden = true; }, 10000);
  }

  async function guarded(fn) {
    showError("");
    try { await fn(); } catch (e) { showError(e.message); }
  }

  const base = () => `/api/rooms/${encodeURIComponent(state.room.id)}/texts`;

  // -- the list

  // the translations a text has or the room wants: "English 3/12"
  function progress(text) {
    const targets = new Set(Object.keys(text.translated));
    for (const t of (state.room && state.room.targets) || []) if (t !== text.lang) targets.add(t);
    return [...targets].map((t) => `${TS.langName(t)} ${text.translated[t] || 0}/${text.passages}`);
  }

  function item(text) {
    const at = Object.values(state.place).find((p) => p.text_id === text.id);
    const remove = el("button", {
      type: "button", className: "remove icon-button", title: `删除 Remove “${text.name}”`,
    }, Icons.make("close"));
    remove.setAttribute("aria-label", `删除 Remove ${text.name}`);
    remove.addEventListener("click", (e) => {
      e.stopPropagation();
      guarded(() => removeText(text));
    });
    const meta = [text.kind.toUpperCase(), `${text.passages} 段 passages`];
    if (text.pages) meta.push(`${text.pages} 页 pages`);
    const li = el("li", { tabIndex: 0 },
      el("span", { className: "name", textContent: text.name }),
      el("span", { className: "meta", textContent: meta.join(" · ") }),
      el("span", { className: "tr", textContent: progress(text).map((p) => `译 ${p}`).join(" · ") }),
      el("span", { className: "at" }, ...(at ? [Icons.make("here"), `第 ${at.index + 1} 段 · at ${at.index + 1}`] : [])),
      remove);
    li.dataset.id = text.id;
    li.classList.toggle("selected", !!state.chosen && state.chosen.id === text.id);
    li.addEventListener("click", () => guarded(() => choose(text.id)));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") guarded(() => choose(text.id)); });
    return li;
  }

  function renderList() {
    const shown = JSON.stringify([state.texts, state.place, state.chosen && state.chosen.id]);
    if (shown === state.shown) return;
    state.shown = shown;
    list.replaceChildren(...state.texts.map(item));
    if (!state.texts.length) {
      list.append(el("li", { className: "empty", textContent: "还没有文稿 · no texts yet" }));
    }
  }

  async function loadList() {
    const room = state.room;
    const texts = await con.api(base());
    if (state.room !== room) return;
    state.texts = texts;
    renderList();
    // the shown text's translations came on (made in the translator's idle time) or it went
    const chosen = state.chosen && texts.find((t) => t.id === state.chosen.id);
    if (state.chosen && !chosen) showText(null);
    else if (chosen && JSON.stringify(chosen.translated) !== JSON.stringify(state.chosen.translated)) {
      await choose(chosen.id, false);
    }
  }

  async function removeText(text) {
    if (!confirm(`删除文稿“${text.name}”？字幕不再跟随它，它的热词也去掉 · `
      + `Remove “${text.name}”? Captions stop following it and its hot words go.`)) return;
    await con.api(`${base()}/${text.id}`, { method: "DELETE" });
    if (state.chosen && state.chosen.id === text.id) showText(null);
    await loadList();
    say(`已删除“${text.name}” · removed`, true);
  }

  // -- adding

  async function added(text) {
    say(`已添加“${text.name}”：${text.passages} 段，${text.terms.length} 个热词 · added: `
      + `${text.passages} passages, ${text.terms.length} hot words`
      + (text.ready_s != null ? ` (${text.ready_s} s)` : ""), true);
    await loadList();
    await choose(text.id);
  }

  // one file after another; a refused one says why in one line, and the list stays as it was
  async function upload(files) {
    if (!state.room || !files.length) return;
    showError("");
    const room = state.room;
    state.uploads += 1;
    panel.classList.add("busy");
    try {
      for (const file of files) {
        say(`正在上传“${file.name}”… · Uploading “${file.name}”…`);
        const form = new FormData();
        form.append("file", file, file.name);
        let text;
        try {
          text = await con.api(`/api/rooms/${encodeURIComponent(room.id)}/texts`, { method: "POST", body: form });
        } catch (e) {
          say("");
          showError(e.message);
          return;
        }
        if (state.room === room) await added(text);
      }
    } finally {
      state.uploads -= 1;
      if (!state.uploads) panel.classList.remove("busy");
    }
  }

  addFile.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    const files = [...fileInput.files];
    fileInput.value = ""; // the same file again is a change too
    upload(files);
  });

  pasteOpen.addEventListener("click", () => {
    paste.hidden = !paste.hidden;
    if (!paste.hidden) pasteText.focus();
  });
  pasteCancel.addEventListener("click", () => { paste.hidden = true; });
  pasteAdd.addEventListener("click", () => guarded(async () => {
    const body = pasteText.value.trim();
    if (!body) throw new Error("文字是空的 · the text is empty");
    const name = pasteName.value.trim() || body.split("\n")[0].slice(0, 30);
    say(`正在添加“${name}”… · Adding “${name}”…`);
    let text;
    try {
      text = await con.api(base(), { method: "POST", body: { name, text: body } });
    } catch (e) { say(""); throw e; }
    pasteName.value = "";
    pasteText.value = "";
    paste.hidden = true;
    await added(text);
  }));

  // drag and drop onto the panel
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
  panel.addEventListener("dragover", (e) => {
    if (!hasFiles(e) || !state.room) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    panel.classList.add("drag-over");
  });
  panel.addEventListener("dragleave", (e) => {
    if (!panel.contains(e.relatedTarget)) panel.classList.remove("drag-over");
  });
  panel.addEventListener("drop", (e) => {
    panel.classList.remove("drag-over");
    if (!hasFiles(e)) return;
    e.preventDefault();
    upload([...e.dataTransfer.files]);
  });
  // a file dropped beside the panel would open in the tab, in place of the live console
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (e) => {
      if (!hasFiles(e) || panel.contains(e.target)) return;
      if (e.target instanceof HTMLInputElement && e.target.type === "file") return;
      e.preventDefault();
      if (type === "dragover") e.dataTransfer.dropEffect = "none";
    });
  }

  // -- a text's terms and passages

  function chip(term) {
    const drop = el("button", { type: "button", className: "x", textContent: "×" });
    drop.setAttribute("aria-label", `去掉热词 drop ${term}`);
    drop.addEventListener("click", () => guarded(() => dropTerm(term)));
    const span = el("span", { className: "chip" }, el("span", { textContent: term }), drop);
    span.dataset.term = term;
    return span;
  }

  function renderTerms() {
    const text = state.chosen;
    terms.replaceChildren(...text.terms.map(chip));
    if (!text.terms.length) terms.append(el("span", { className: "hint", textContent: "（没有 none）" }));
  }

  async function dropTerm(term) {
    const text = state.chosen;
    const left = text.terms.filter((t) => t !== term);
    const out = await con.api(`${base()}/${text.id}`, { method: "PATCH", body: { terms: left } });
    if (state.chosen !== text) return;
    text.terms = out.terms;
    renderTerms();
    await loadList();
  }

  function renderLines() {
    const text = state.chosen;
    const targets = (state.room.targets || []).filter((t) => t !== text.lang);
    lines.lang = text.lang === "zh" ? "zh-CN" : text.lang;
    lines.replaceChildren(...text.lines.map((line, i) => {
      const li = el("li", { className: "line" }, el("span", { className: "src", textContent: line.text }));
      for (const t of targets) {
        const tr = line.translations[t];
        if (tr) li.append(el("span", { className: "tr", lang: t === "zh" ? "zh-CN" : t, textContent: tr }));
      }
      li.dataset.index = i;
      return li;
    }));
    highlight(true);
  }

  function showText(text) {
    state.chosen = text;
    view.hidden = !text;
    if (text) {
      renderTerms();
      renderLines();
    } else {
      lines.replaceChildren();
      terms.replaceChildren();
    }
    state.shown = "";
    renderList();
  }

  async function choose(id, scroll = true) {
    const room = state.room;
    const text = await con.api(`${base()}/${id}`);
    if (state.room !== room) return;
    const same = state.chosen && state.chosen.id === id;
    const top = lines.scrollTop;
    showText(text);
    if (same && !scroll) lines.scrollTop = top; // a refresh: the operator's scroll stays
  }

  // -- where the speaker is

  function placeOf(text) {
    const p = text && state.place[text.lang];
    return p && p.text_id === text.id ? p.index : null;
  }

  function highlight(scroll) {
    const text = state.chosen;
    if (!text) return;
    const at = placeOf(text);
    for (const li of lines.children) {
      const i = Number(li.dataset.index);
      const here = i === at;
      li.classList.toggle("here", here);
      li.classList.toggle("said", at !== null && i < at);
      if (here) li.setAttribute("aria-current", "location"); else li.removeAttribute("aria-current");
    }
    if (at === null) where.textContent = `${text.name} · ${text.lines.length} 段 passages`;
    else Icons.text(where, "here", `讲到第 ${at + 1}/${text.lines.length} 段 · at passage ${at + 1} of ${text.lines.length}`);
    const here = lines.querySelector("li.here");
    // the list alone scrolls (not the page: the operator may be reading the captions)
    if (here && scroll) lines.scrollTop = here.offsetTop - lines.clientHeight / 3;
  }

  // the room's `script` event: the passage said last (or an operator's re-anchoring)
  async function moved(m) {
    state.place[m.lang] = { text_id: m.text_id, index: m.index };
    if (!state.texts.some((t) => t.id === m.text_id)) await loadList(); // added elsewhere
    renderList();
    const elsewhere = !state.chosen || state.chosen.id !== m.text_id;
    if (elsewhere && (follow.checked || !state.chosen)) await choose(m.text_id);
    else highlight(true);
  }

  lines.addEventListener("click", (e) => {
    const li = e.target.closest("li.line");
    if (!li || !state.chosen) return;
    const text = state.chosen;
    const index = Number(li.dataset.index);
    guarded(async () => {
      await con.api(`${base()}/place`, { method: "POST", body: { text_id: text.id, index } });
      // the room's `script` event follows; shown at once here
      state.place[text.lang] = { text_id: text.id, index };
      highlight(false);
      renderList();
    });
  });

  // -- captions in a text's writing

  const captions = $("captions");
  function mark(m) {
    if (m.type === "final") {
      const row = captions.querySelector(`.seg.final[data-id="${m.segment.id}"]`);
      if (row) {
        const script = m.segment.source === "script";
        row.classList.toggle("script", script);
        if (script) row.title = "字幕跟随文稿 · in the prepared text's writing"; else row.removeAttribute("title");
      }
      if (con.view) con.view.partial.classList.remove("script");
    } else if (m.type === "partial" && con.view) {
      con.view.partial.classList.toggle("script", m.source === "script");
    } else if (m.type === "correction") { // an operator's words now, not the text's
      const row = captions.querySelector(`.seg.final[data-id="${m.segment_id}"]`);
      if (row && !m.translations) { row.classList.remove("script"); row.removeAttribute("title"); }
    }
  }

  // -- the room

  async function select(room) {
    state.room = room;
    state.texts = [];
    state.place = {};
    state.shown = "";
    showError("");
    say("");
    paste.hidden = true;
    showText(null);
    panel.hidden = !room;
    if (!room) return;
    await loadList();
    const place = await con.api(`${base()}/place`);
    if (state.room !== room) return;
    state.place = place;
    renderList();
    const at = Object.values(place)[0];
    const first = at ? at.text_id : state.texts.length ? state.texts[0].id : null;
    if (first !== null) await choose(first);
  }

  let polling = false;
  setInterval(async () => {
    if (!state.room || polling || document.hidden || state.uploads) return;
    polling = true;
    try { await loadList(); } catch (_) { /* the next poll tries again */ } finally { polling = false; }
  }, POLL_MS);

  con.watch({
    room: (room) => guarded(() => select(room)),
    event: (m) => {
      mark(m);
      if (m.type === "script" && state.room) guarded(() => moved(m));
    },
  });

  window.tsTexts = { get state() { return state; }, select, refresh: loadList };
})();
