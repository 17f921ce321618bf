// HTTPS on the LAN (server/https.py), for the pages that need the microphone (/console,
// /learn). Browsers give getUserMedia only to secure pages (https://, or localhost): on any
// other page this says so in words, with what to do, instead of the browser's raw error. On
// the console of a server started with --https it shows the certificate's fingerprint and
// how phones come to trust it.
(() => {
  "use strict";
  const el = (tag, props = {}, ...children) => {
    const e = Object.assign(document.createElement(tag), props);
    e.append(...children);
    return e;
  };
  const style = el("style", {textContent: `
    .insecure { margin: 0; padding: .7em 1em; background: #fef2f2; color: #991b1b;
      border-bottom: 2px solid #b91c1c; line-height: 1.5; }
    .insecure code, #tls-panel code { font-size: .9em; background: #fff; padding: 0 .2em;
      border-radius: 3px; word-break: break-all; }
    .insecure.flash { outline: 3px solid #b91c1c; }
    #tls-panel .fingerprint { font-family: ui-monospace, monospace; font-size: .8em;
      word-break: break-all; }
    #tls-panel img { float: right; width: 96px; height: 96px; margin: 0 0 .4em .6em; }
    #tls-panel details { margin-top: .4em; font-size: .9em; }
    #tls-panel ol { margin: .3em 0; padding-left: 1.3em; }`});
  document.head.append(style);

  // what a person on this page must do to record, in both languages; null when it can
  function insecureReason() {
    if (window.isSecureContext) return null;
    const local = `http://localhost${location.port ? ":" + location.port : ""}${location.pathname}`;
    return {
      zh: "此页面不安全（http://），浏览器不允许它使用麦克风。请打开 https:// 链接" +
        "（主办方以 tingshuo serve --https 启动服务器），或在服务器本机上打开 ",
      en: "This page is not secure (http://), so the browser does not let it use the " +
        "microphone. Open its https:// link (the organizer starts the server with " +
        "tingshuo serve --https), or on the server itself open ",
      local,
    };
  }

  let banner = null;
  const reason = insecureReason();
  if (reason) {
    banner = el("p", {id: "insecure", className: "insecure"},
      reason.zh, el("code", {}, reason.local), "。 · ",
      reason.en, el("code", {}, reason.local), ".");
    banner.setAttribute("role", "alert");
    document.body.prepend(banner);
  }

  // for the page's own status line (learn.html's Record): short, the banner says the rest
  window.tingshuoInsecure = () => reason &&
    "无法使用麦克风：此页面不安全（http://），请看页面顶部 · No microphone: this page is not " +
    "secure (http://); see the top of the page for what to do";

  // the console's "Start microphone": say why here, rather than the browser's TypeError
  document.addEventListener("click", (e) => {
    if (!banner || !e.target.closest || !e.target.closest("#btn-mic")) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    banner.scrollIntoView({block: "start"});
    banner.classList.remove("flash");
    void banner.offsetWidth;
    banner.classList.add("flash");
  }, true);

  const panel = document.getElementById("tls-panel");
  if (!panel || reason) return;
  fetch("/api/tls").then((r) => (r.ok ? r.json() : null)).then((tls) => {
    if (tls) showCertificate(panel, tls);
  }).catch(() => {});

  function showCertificate(panel, tls) {
    const steps = (title, ...items) =>
      el("details", {}, el("summary", {}, title), el("ol", {}, ...items.map((t) => el("li", {}, t))));
    const link = el("a", {href: tls.trust_url, download: "tingshuo-ca.crt"},
      tls.own ? "下载证书 Download the certificate" : "下载根证书 Download the CA certificate");
    panel.replaceChildren(
      el("h2", {}, "HTTPS 证书 Certificate"),
      el("img", {src: tls.trust_qr, alt: "QR code of the certificate download"}),
      el("div", {}, "SHA-256 指纹 fingerprint:"),
      el("div", {className: "fingerprint", id: "tls-fingerprint"}, tls.fingerprint),
      el("p", {},
        tls.own
          ? "主办方自己的证书 The organizer's own certificate (--certfile). "
          : "手机信任一次本机的根证书，之后就不再警告 · Phones trust this server's CA once, then " +
            "open its https:// links without a warning. ",
        link, " · ", el("span", {}, "手机 phones: "), el("code", {id: "tls-link"}, tls.trust_link)),
      el("div", {className: "fingerprint"},
        "根证书 CA SHA-256: ", el("span", {id: "tls-ca-fingerprint"}, tls.trust_fingerprint)),
      steps("Android 安卓",
        "扫码或打开上面的链接下载 · Scan the code or open the link to download it.",
        "设置 → 安全 → 加密与凭据 → 安装证书 → CA 证书 · Settings → Security → Encryption & " +
          "credentials → Install a certificate → CA certificate, and pick tingshuo-ca.crt."),
      steps("iPhone / iPad",
        "用 Safari 打开链接，允许下载描述文件 · Open the link in Safari and allow the profile.",
        "设置 → 通用 → VPN与设备管理 → 安装 · Settings → General → VPN & Device Management → " +
          "Install.",
        "设置 → 通用 → 关于本机 → 证书信任设置 → 打开 · Settings → General → About → " +
          "Certificate Trust Settings → turn it on."),
      steps("电脑 Desktop",
        "Windows: 打开文件 → 安装证书 → “受信任的根证书颁发机构” · open the file → Install " +
          "Certificate → Trusted Root Certification Authorities.",
        "macOS: 用“钥匙串访问”打开 → 始终信任 · open it in Keychain Access → Always Trust.",
        "Linux / Firefox: 设置 → 证书 → 颁发机构 → 导入 · Settings → Certificates → " +
          "Authorities → Import, trusted for websites."),
      el("p", {style: "font-size:.85em;color:#6b7280"},
        "不安装也可以：在浏览器的警告页点“高级 → 继续” · Or, without installing it: accept " +
        "the browser's warning once (Advanced → Proceed); check that the fingerprint it shows " +
        "is the one above."),
    );
    panel.hidden = false;
  }
})();
