// Organizer console: correcting captions from the keyboard, and the room's correction rules.
// A final caption is edited in place: click its text or press Enter on it; Enter saves, Esc
// cancels, ↑/↓ move between captions (while editing they save first). Every page replaces
// the caption (a `correction` event) and it is translated again. A save that replaced one
// word or phrase offers the rule "always replace X with Y" in one click.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const con = window.tsConsole;
  const box = $("captions");
  // this console's own id: its saves are known as its own, another console's are not
  const EDITOR = `c-${Math.random().toString(36).slice(2, 10)}`;
  let room = null;
  let editing = null; // {row, id, before, rev}
  const mine = new Map(); // caption id -> revision this console saved last

  function el(tag, props = {}, ...children) {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  }

  // one line under the captions: what happened to a save, or what changed under the editor
  const notice = el("div", { id: "correction-notice", className: "notice", role: "status", hidden: true });
  const noticeText = el("span");
  const suggest = el("button", { id: "rule-suggest", className: "primary", hidden: true });
  const noticeClose = el("button", { className: "icon-button", title: "close" }, Icons.make("close"));
  noticeClose.setAttribute("aria-label", "close");
  notice.append(noticeText, " ", suggest, " ", noticeClose);
  box.after(notice);
  noticeClose.addEventListener("click", () => { notice.hidden = true; });

  function tell(text, rule = null) {
    noticeText.textContent = text;
    suggest.hidden = !rule;
    if (rule) {
      suggest.textContent = `总是把“${rule.wrong}”改成“${rule.right}” · Always replace “${rule.wrong}” with “${rule.right}”`;
      suggest.onclick = () => guarded(async () => {
        const out = await con.api(`/api/rooms/${room.id}/rules`, { method: "POST", body: rule });
        showRules(out);
        tell(`规则已加 · rule added: ${rule.wrong} => ${rule.right}`);
      });
    }
    notice.hidden = false;
  }

  async function guarded(fn) {
    try { await fn(); } catch (e) { tell(e.message); }
  }

  // -- editing

  const finals = () => [...box.querySelectorAll(".seg.final")];

  function prepare(row) {
    if (row.tabIndex !== 0) row.tabIndex = 0;
  }

  function startEdit(row) {
    if (editing && editing.row === row) return;
    if (editing) cancel();
    const src = row.querySelector(".line.src");
    if (!src) return;
    prepare(row);
    editing = { row, id: Number(row.dataset.id), before: src.textContent, rev: Number(row.dataset.rev || 0) };
    row.classList.add("editing");
    try { src.contentEditable = "plaintext-only"; } catch (_) { src.contentEditable = "true"; }
    if (src.contentEditable !== "plaintext-only") src.contentEditable = "true";
    src.spellcheck = false;
    src.focus();
    const range = document.createRange(); // the caret at the end: the usual fix is a word there
    range.selectNodeContents(src);
    range.collapse(false);
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function finish(showText) {
    const { row } = editing;
    const src = row.querySelector(".line.src");
    src.contentEditable = "false";
    row.classList.remove("editing");
    if (showText !== undefined) src.textContent = showText;
    editing = null;
    return row;
  }

  // back to what every page shows now (a correction that came in meanwhile, or the old text)
  function cancel() {
    const row = editing.row;
    finish(row.dataset.theirs || editing.before);
    delete row.dataset.theirs;
    row.focus();
  }

  async function save(then) {
    const { row, id, before, rev } = editing;
    const text = row.querySelector(".line.src").textContent.replace(/\s+/g, " ").trim();
    if (text === before && !row.dataset.theirs) { finish(before); then ? then(row) : row.focus(); return; }
    if (!text) { tell("文字是空的，字幕保持原样 · the text is empty: the caption is kept as it was"); return; }
    finish();
    delete row.dataset.theirs;
    try {
      const out = await con.api(`/api/rooms/${room.id}/segments/${id}`, {
        method: "PATCH", body: { text, revision: rev, editor: EDITOR },
      });
      mine.set(id, out.segment.revision);
      con.view.correction({ segment_id: id, text: out.segment.text, revision: out.segment.revision });
      if (out.replaced) {
        tell(`这句刚被另一个控制台改过，已被你的修改覆盖（保留在历史中）：“${out.replaced.text}” · `
          + `another console had just corrected this caption; your save replaced it (kept in its history)`,
          out.suggestion);
      } else if (out.suggestion) tell("已保存 · saved", out.suggestion);
      else notice.hidden = true;
    } catch (e) {
      row.querySelector(".line.src").textContent = before;
      tell(e.message);
    }
    then ? then(row) : row.focus();
  }

  function neighbour(row, step) {
    const all = finals();
    const i = all.indexOf(row);
    return all[i + step] || null;
  }

  box.addEventListener("click", (e) => {
    const src = e.target.closest(".seg.final .line.src");
    if (src) startEdit(src.closest(".seg.final"));
  });

  box.addEventListener("keydown", (e) => {
    const row = e.target.closest(".seg.final");
    if (!row) return;
    if (editing && editing.row === row) {
      if (e.key === "Enter") { e.preventDefault(); save(); }
      else if (e.key === "Escape") { e.preventDefault(); cancel(); }
      else if (e.key === "ArrowUp" || e.key === "ArrowDown") {
        e.preventDefault();
        const step = e.key === "ArrowUp" ? -1 : 1;
        save((r) => { const next = neighbour(r, step); if (next) startEdit(next); else r.focus(); });
      }
      return;
    }
    if (e.key === "Enter") { e.preventDefault(); startEdit(row); }
    else if (e.key === "ArrowUp" || e.key === "ArrowDown") {
      e.preventDefault();
      const next = neighbour(row, e.key === "ArrowUp" ? -1 : 1);
      if (next) { prepare(next); next.focus(); next.scrollIntoView({ block: "nearest" }); }
    }
  });

  // captions become focusable as they come; the newest one is where ↑ starts
  new MutationObserver(() => { for (const row of finals()) prepare(row); })
    .observe(box, { childList: true });

  // another console's save (or the machine's second pass) of a caption this one touches
  function corrected(m) {
    const row = box.querySelector(`.seg.final[data-id="${m.segment_id}"]`);
    if (!row || (m.editor && m.editor === EDITOR)) return;
    const who = {
      model: "机器复核 the machine's second pass",
      reread: "重新识别 the full-quality reading again",
    }[m.by] || "另一个控制台 another console";
    if (editing && editing.id === m.segment_id) {
      row.dataset.theirs = m.text;
      editing.rev = m.revision; // saving now replaces it knowingly
      tell(`你正在改的这句刚被${who}改成：“${m.text}”。Enter 用你的，Esc 用它的 · `
        + `this caption was changed under you (Enter keeps yours, Esc takes theirs)`);
    } else if (mine.has(m.segment_id) && mine.get(m.segment_id) < m.revision) {
      mine.set(m.segment_id, m.revision);
      tell(`你改过的第 ${m.segment_id} 句又被${who}改成：“${m.text}” · a caption you corrected was changed again`);
    }
  }

  // -- rules

  const rulesPanel = el("details", { id: "rules-panel" });
  const rulesText = el("textarea", {
    id: "rules-text", rows: 5, spellcheck: false,
    placeholder: "错的 => 对的，每行一条 · wrong => right, one per line\n例如 e.g.  请凉 => 清凉",
  });
  const rulesSave = el("button", { id: "rules-save", className: "primary", textContent: "保存规则 Save rules" });
  const rulesError = el("p", { id: "rules-error", className: "error", role: "alert" });
  const rulesServer = el("p", { id: "rules-server", className: "hint" });
  rulesPanel.append(
    el("summary", { textContent: "纠错规则 Correction rules" }),
    el("p", { className: "hint", textContent: "用于字幕、草稿和翻译；右边的词会被优先识别 · applied to captions, drafts and what is translated; the right side becomes a hot word" }),
    rulesText, el("div", { className: "row" }, rulesSave), rulesError, rulesServer,
  );
  notice.after(rulesPanel);

  function showRules(out) {
    rulesText.value = out.rules;
    rulesError.textContent = "";
    rulesServer.textContent = out.server ? `全局规则 server-wide rules: ${out.server.trim().split("\n").join(" · ")}` : "";
  }

  rulesSave.addEventListener("click", async () => {
    try {
      showRules(await con.api(`/api/rooms/${room.id}/rules`, { method: "PUT", body: { rules: rulesText.value } }));
    } catch (e) { rulesError.textContent = e.message; }
  });

  async function select(next) {
    room = next;
    editing = null;
    mine.clear();
    notice.hidden = true;
    if (room) {
      try { showRules(await con.api(`/api/rooms/${room.id}/rules`)); } catch (e) { rulesError.textContent = e.message; }
    }
  }

  con.watch({
    room: select,
    event: (m) => { if (m.type === "correction" && !m.replay) corrected(m); },
  });

  window.tsCorrections = { editor: EDITOR, edit: startEdit };
})();
