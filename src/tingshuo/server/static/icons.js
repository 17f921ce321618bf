// The pages' icons, drawn inline as SVG: they show without an emoji font and fetch nothing.
// Every page may use them (load this script before the page's own):
//   <button data-icon="mic">开始话筒 Start microphone</button>  the icon goes before the text
//                                                             when the page loads (Icons.fill)
//   el.prepend(Icons.make("warning"))                          an <svg class="icon"> to place
//   Icons.text(el, "warning", "Captions are 5 s behind")       an element's text, icon first
// Icons are drawn in the text's colour (currentColor) at the text's size (style.css `.icon`).
"use strict";
const Icons = (() => {
  // 24×24, stroked with currentColor (style.css); a shape that is filled says so
  const SHAPES = {
    mic: '<rect x="9" y="3" width="6" height="11" rx="3"/><path d="M5 11a7 7 0 0 0 14 0M12 18v3M8 21h8"/>',
    file: '<path d="M6 3h8l4 4v14H6z"/><path d="M14 3v4h4M9 13h6M9 17h6"/>',
    speaker: '<path d="M4 9h4l5-4v14l-5-4H4z"/><path d="M16.5 8.5a5 5 0 0 1 0 7M19 6a8.5 8.5 0 0 1 0 12"/>',
    muted: '<path d="M4 9h4l5-4v14l-5-4H4z"/><path d="M17 9.5l5 5M22 9.5l-5 5"/>',
    pause: '<path d="M8 5v14M16 5v14"/>',
    play: '<path class="filled" d="M7 4.5l12 7.5-12 7.5z"/>',
    listen: '<circle cx="12" cy="12" r="9"/><path class="filled" d="M10 8l6 4-6 4z"/>',
    record: '<circle class="filled" cx="12" cy="12" r="6.5"/>',
    stop: '<rect class="filled" x="6" y="6" width="12" height="12" rx="1.5"/>',
    previous: '<path d="M6 5v14"/><path class="filled" d="M19 5.5L9 12l10 6.5z"/>',
    next: '<path d="M18 5v14"/><path class="filled" d="M5 5.5L15 12 5 18.5z"/>',
    repeat: '<path d="M19.5 13A7.5 7.5 0 1 1 17 6.5"/><path d="M19 3v4.5h-4.5"/>',
    skip: '<path d="M4 16a8 8 0 0 1 15-4"/><path d="M20 6.5V12h-5.5"/><circle class="filled" cx="12" cy="19" r="1.6"/>',
    close: '<path d="M6 6l12 12M18 6L6 18"/>',
    warning: '<path d="M12 3.5L2.5 20h19z"/><path d="M12 10v4.5M12 17.2v.1"/>',
    check: '<path d="M4.5 12.5l5 5L19.5 7"/>',
    edit: '<path d="M4 20h4L19 9l-4-4L4 16z"/><path d="M13.5 6.5l4 4"/>',
    here: '<path class="filled" d="M8 5l9 7-9 7z"/>',
    download: '<path d="M12 4v11M7 10l5 5 5-5M5 20h14"/>',
    level: '<path d="M4 20v-4M9 20v-8M14 20V8M19 20V4"/>',
  };
  const NS = "http://www.w3.org/2000/svg";

  function make(name) {
    if (!SHAPES[name]) throw new Error(`no icon ${name}`);
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", `icon icon-${name}`);
    svg.setAttribute("aria-hidden", "true"); // the text beside it says what it is
    svg.innerHTML = SHAPES[name]; // this file's own strings only
    return svg;
  }

  // `el`'s text, with the icon in front (and nothing else: what was there is replaced)
  function text(el, name, words) {
    el.replaceChildren(make(name), words);
  }

  // every [data-icon] under `root` that has no icon yet gets one before its text
  function fill(root = document) {
    for (const el of root.querySelectorAll("[data-icon]")) {
      const first = el.firstElementChild;
      if (first && first.classList.contains("icon")) continue;
      el.prepend(make(el.dataset.icon));
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => fill());
  else fill();
  return { make, text, fill, names: Object.keys(SHAPES) };
})();
