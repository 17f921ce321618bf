// Shared by the console, screen and phone pages: the room's event socket (reconnecting and
// catching up from the store) and a caption view. No dependencies, no network beyond tingshuo.
"use strict";

const TS = (() => {
  const FATAL = new Set([4401, 4403, 4404]); // wrong link: retrying cannot help
  const RESTART = 1012; // Service Restart: a gateway stopping; reconnect now

  function params() {
    const q = new URLSearchParams(location.search);
    const parts = location.pathname.split("/").filter(Boolean); // room/{id}[/screen]
    return { q, roomId: parts[0] === "room" ? decodeURIComponent(parts[1] || "") : null };
  }

  // Events of one room. On reconnect the server sends the stored finals after `since`, then
  // live events: no gap, no duplicate. `since` is the last final held complete: a final
  // whose translations have not all arrived yet is asked for again, with its translations.
  class RoomEvents {
    constructor(roomId, token, onEvent, onStatus) {
      this.roomId = roomId;
      this.token = token;
      this.onEvent = onEvent;
      this.onStatus = onStatus || (() => {});
      this.last = 0; // the newest final received
      this.targets = [];
      this.waiting = new Map(); // final id -> target languages still to come
      this.delay = 500;
      this.closed = false;
      this.connects = 0;
      this.open();
    }

    get since() {
      // at most the last 20 captions wait for translations (one may never come: saturated)
      const ids = [...this.waiting.keys()].sort((a, b) => a - b).slice(-20);
      return ids.length ? ids[0] - 1 : this.last;
    }

    url() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const q = new URLSearchParams({ token: this.token, since: String(this.since) });
      return `${proto}//${location.host}/ws/rooms/${encodeURIComponent(this.roomId)}/events?${q}`;
    }

    open() {
      const ws = (this.ws = new WebSocket(this.url()));
      this.onStatus("connecting");
      ws.onopen = () => { this.delay = 500; this.connects += 1; };
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === "hello") this.targets = m.room.targets || [];
        else if (m.type === "final") this._final(m.segment);
        else if (m.type === "translation" && !m.partial) this._translated(m.segment_id, m.lang);
        else if (m.type === "correction" && !m.translations) this._corrected(m.segment_id, m.lang);
        else if (m.type === "caught_up") this.onStatus("online");
        this.onEvent(m);
      };
      ws.onclose = (e) => {
        if (this.ws !== ws) return;
        if (this.closed) return;
        if (FATAL.has(e.code)) {
          this.onStatus("refused", e.reason || `closed (${e.code})`, e.code);
          return;
        }
        this.onStatus("offline", e.reason);
        // 1012: the server restarts (an upgrade): the same URL reaches another one at once
        if (e.code === RESTART) { this.open(); return; }
        setTimeout(() => this.open(), this.delay);
        this.delay = Math.min(this.delay * 2, 8000);
      };
    }

    _final(seg) {
      if (seg.id > this.last) this.last = seg.id;
      const have = seg.translations || {};
      const missing = this.targets.filter((t) => t !== seg.lang && !have[t]);
      if (missing.length) this.waiting.set(seg.id, new Set(missing));
      else this.waiting.delete(seg.id);
    }

    // a corrected caption is translated again: until then a reconnect asks for it anew
    _corrected(id, lang) {
      const missing = this.targets.filter((t) => t !== lang);
      if (missing.length) this.waiting.set(id, new Set(missing));
    }

    _translated(id, lang) {
      const missing = this.waiting.get(id);
      if (!missing) return;
      missing.delete(lang);
      if (!missing.size) this.waiting.delete(id);
    }

    // for tests and flaky networks: drop the connection as a network would
    drop() { if (this.ws) this.ws.close(); }

    close() { this.closed = true; if (this.ws) this.ws.close(); }
  }

  // Viewers' notice while the server cannot save captions (they are still shown live)
  function storeNotice(el, m) {
    if (m.type === "store") el.hidden = m.saving && !m.lost;
  }

  // A caption list: finals (with translations and speakers) and the open partial.
  // `show` lists what is visible: "src" (what was said) and target language codes.
  class Captions {
    constructor(el, opts = {}) {
      this.el = el;
      this.el.classList.add("captions");
      this.keep = opts.keep || 0; // 0: keep everything (scrollback)
      this.show = new Set(opts.show || ["src"]);
      this.follow = opts.follow !== false;
      this.onSegment = opts.onSegment || null;
      this.rows = new Map();
      this.partial = document.createElement("div");
      this.partial.className = "seg partial";
      this.el.appendChild(this.partial);
    }

    setShow(list) {
      this.show = new Set(list);
      for (const line of this.el.querySelectorAll(".line")) this._visible(line);
      this.scroll();
    }

    _visible(line) {
      const lang = line.dataset.l;
      line.hidden = !(this.show.has(lang) || (lang !== "src" && this.show.has("*")));
    }

    _line(row, lang, cls) {
      let line = row.querySelector(`.line[data-l="${lang}"]`);
      if (!line) {
        line = document.createElement("span");
        line.className = `line ${cls}`;
        line.dataset.l = lang;
        row.appendChild(line);
        this._visible(line);
      }
      return line;
    }

    final(seg) {
      let row = this.rows.get(seg.id);
      if (!row) {
        row = document.createElement("div");
        row.className = "seg final";
        row.dataset.id = seg.id;
        row.lang = seg.lang === "zh" ? "zh-CN" : seg.lang;
        const spk = document.createElement("span");
        spk.className = "spk";
        row.appendChild(spk);
        if (this.onSegment) { // the console: a button names the caption's speaker
          const who = document.createElement("button");
          who.className = "who";
          who.type = "button";
          who.tabIndex = -1;
          who.title = "为这句的发言人命名 · name who said this";
          who.textContent = "发言人 speaker";
          who.addEventListener("click", (e) => { e.stopPropagation(); this.onSegment(seg.id, row); });
          row.appendChild(who);
        }
        this.rows.set(seg.id, row);
        this.el.insertBefore(row, this.partial);
        if (this.keep && this.rows.size > this.keep) {
          const [oldest] = this.rows.keys();
          this.rows.get(oldest).remove();
          this.rows.delete(oldest);
          const [first] = this.rows.values();
          if (first) this._markSpeaker(first);
        }
      }
      const src = this._line(row, "src", "src");
      if (Number(row.dataset.rev || 0) <= (seg.revision || 0)) {
        row.dataset.rev = seg.revision || 0;
        if (!row.classList.contains("editing")) src.textContent = seg.text;
        row.classList.toggle("corrected", !!seg.revision);
      }
      src.lang = row.lang;
      this.speaker(seg.id, seg.speaker);
      for (const [lang, text] of Object.entries(seg.translations || {})) {
        this.translation(seg.id, lang, text);
      }
      this.partial.replaceChildren();
      this.scroll();
    }

    // `how`: "partial" while the model writes (a complete one may already be there from a
    // replay: it stays), "skipped" when translation could not keep up
    translation(id, lang, text, how = "") {
      const row = this.rows.get(id);
      if (!row) return;
      const line = this._line(row, lang, "tr");
      if (how === "partial" && line.textContent && !line.classList.contains("pending")) return;
      line.classList.toggle("pending", how === "partial");
      line.classList.toggle("skipped", how === "skipped");
      line.textContent = how !== "skipped" ? text
        : lang === "zh" ? "（为跟上进度，此句未翻译）" : "(not translated, to keep up)";
      line.lang = lang === "zh" ? "zh-CN" : lang;
      this.scroll();
    }

    // A caption's text corrected (by an operator or the machine's second pass): replaced in
    // place, its translations marked as coming again (unless they come with it: a replay).
    // An older revision than the one shown is ignored; a caption being edited keeps the
    // editor's text (the console tells its editor). False: nothing changed here.
    correction(m) {
      const row = this.rows.get(m.segment_id);
      if (!row || Number(row.dataset.rev || 0) > m.revision) return false;
      const same = Number(row.dataset.rev || 0) === m.revision;
      row.dataset.rev = m.revision;
      row.classList.add("corrected");
      const src = this._line(row, "src", "src");
      if (!row.classList.contains("editing")) src.textContent = m.text;
      if (m.translations) {
        for (const [lang, text] of Object.entries(m.translations)) this.translation(m.segment_id, lang, text);
      } else if (!same) {
        for (const line of row.querySelectorAll(".line.tr")) line.classList.add("pending");
      }
      if (this.follow) this.scroll();
      return !same;
    }

    // A name shows only where the speaker changes: a caption band has no room to repeat it.
    speaker(id, name) {
      const row = this.rows.get(id);
      if (!row) return;
      row.dataset.spk = name || "";
      row.querySelector(".spk").textContent = name ? `${name}:` : "";
      this._markSpeaker(row);
      const next = row.nextElementSibling;
      if (next && next.classList.contains("final")) this._markSpeaker(next);
    }

    _markSpeaker(row) {
      const prev = row.previousElementSibling;
      const same = !!(row.dataset.spk && prev && prev.dataset.spk === row.dataset.spk);
      row.querySelector(".spk").classList.toggle("same", same);
    }

    partialText(p) {
      const stable = document.createElement("span");
      stable.textContent = p.stable;
      const unstable = document.createElement("span");
      unstable.className = "unstable";
      unstable.textContent = p.unstable;
      this.partial.replaceChildren(stable, unstable);
      this.partial.hidden = !this.show.has("src") && this.show.size > 0 && !this.show.has("*");
      this.scroll();
    }

    clearPartial() { this.partial.replaceChildren(); }

    // one place that understands the protocol's event types
    handle(m) {
      if (m.type === "final") this.final(m.segment);
      else if (m.type === "translation") {
        const how = m.partial ? "partial" : m.skipped ? "skipped" : "";
        this.translation(m.segment_id, m.lang, m.text, how);
      }
      else if (m.type === "partial") this.partialText(m);
      else if (m.type === "correction") this.correction(m);
      else if (m.type === "speaker") for (const id of m.segment_ids) this.speaker(id, m.speaker);
      if (this.onChange) this.onChange(m);
      else if (m.type === "state" && m.state !== "live") this.clearPartial();
    }

    scroll() {
      if (this.follow) this.el.scrollTop = this.el.scrollHeight;
    }

    finals() { return [...this.rows.values()].map((r) => r.querySelector(".src").textContent); }

    // anything shown yet (a final or the words of a partial)
    get empty() { return !this.rows.size && !this.partial.textContent; }
  }

  // Page text in the page's language: "zh" (the default for a Chinese hall) or "en".
  function say(lang, zh, en) { return lang === "en" ? en : zh; }

  // What a refused or dropped connection means, for people (close codes from ws.py).
  function refusal(code, lang) {
    if (code === 4404) return say(lang, "没有这个会场：请检查链接或重新扫码。", "No such room: check the link or scan the QR code again.");
    return say(lang, "这个链接无效或已过期：请向主办方索取新的二维码。", "This link is not valid any more: ask the organizer for the QR code again.");
  }

  function langName(code) {
    const names = { src: "原文 Original", zh: "中文", en: "English", ja: "日本語", ko: "한국어" };
    return names[code] || code;
  }

  return { params, RoomEvents, Captions, langName, storeNotice, say, refusal };
})();
