/* samembed frame script: runs inside the sandboxed embed iframe (no same-origin,
   so no storage or cookies). Inlined and allowed by its CSP hash. It
   1. tells the loader its height: {type: "samembed:resize", id, height}, and
      WordPress too when it framed us from an oEmbed answer (see below),
   2. keeps <time datetime> relative times current, in the document's language,
   3. drives the ticker's pause button (cards.js drives the carousel),
   4. reports the first script error of a flagged document (data-flags, the
      variants it was rendered for) for the flags' guardrails: in analytics.js's
      batch when it counts this view, else on its own to /flags/error,
   again whenever live.js puts a new version in place ("samembed:swapped").
   The height goes out at once, before images load (they carry their sizes), and
   again on every change of size, so the loader's reserved box is replaced by the
   real one before the reader sees it move. */
(function () {
  "use strict";
  var d = document, root = d.documentElement, w = window;
  var reduce = w.matchMedia && w.matchMedia("(prefers-reduced-motion: reduce)");
  var each = function (sel, el, fn) { Array.prototype.forEach.call((el || d).querySelectorAll(sel), fn); };

  // 1. Resize. The loader names the frame in the fragment: #samembed=<id>.
  var m = /[#&]samembed=([^&]*)/.exec(location.hash);
  var id = m ? decodeURIComponent(m[1]) : null;
  // WordPress frames an unlisted provider's iframe with "#?secret=<a-zA-Z0-9>" and
  // keeps it hidden until the frame posts {secret, message: "height", value}
  // (wp-embed.js; it clamps the height to 200-1000 px). Its "ready" asks again, in
  // case our first message came before its listener.
  var wp = /[#&?]secret=([a-zA-Z0-9]{1,64})(?:&|$)/.exec(location.hash);
  var secret = wp ? wp[1] : null;
  var last = -1, queued = false;
  function post(h) {
    try {
      w.parent.postMessage({ type: "samembed:resize", id: id, height: h }, "*");
      if (secret) w.parent.postMessage({ secret: secret, message: "height", value: h }, "*");
    } catch (e) { /* detached */ }
  }
  function measure() {
    if (!queued) return;
    queued = false;
    var h = Math.ceil(root.getBoundingClientRect().height);
    if (h !== last) {
      last = h;
      post(h);
    }
  }
  if (secret) {
    w.addEventListener("message", function (e) {
      var m = e.data;
      if (e.source === w.parent && m && m.message === "ready" && m.secret === secret) {
        last = -1;
        report();
      }
    });
    // Its sandbox has no popups: a link to our own pages asks WordPress to go there
    // (it does so only for the frame's own host, while the frame has focus).
    // On the window: after the cards' and pager's own handlers (zoom, play, more).
    w.addEventListener("click", function (e) {
      var a = e.target.closest && e.target.closest("a[href]");
      if (!a || e.defaultPrevented || a.host !== location.host || a.pathname === location.pathname) return;
      e.preventDefault();
      w.parent.postMessage({ secret: secret, message: "link", value: a.href }, "*");
    });
  }
  function queue() {
    if (queued) return;
    queued = true;
    w.requestAnimationFrame(measure);
    // Off-screen cross-origin frames may get no animation frames: measure anyway.
    setTimeout(measure, 250);
  }
  function report() { queued = true; measure(); }
  var screen = root.getAttribute("data-template") === "screen";
  // The screen template fills its viewport; the page around it sets its size.
  // Instead, texts cut off by their card fade out (class "clip").
  var clip = function () {
    each(".text", null, function (el) { el.classList.toggle("clip", el.scrollHeight > el.clientHeight + 1); });
  };
  if (screen) {
    w.addEventListener("resize", clip);
    w.addEventListener("load", clip);
    clip();
    if (secret) report(); // WordPress shows the frame only once it has a height
  } else {
    if (w.ResizeObserver) new ResizeObserver(queue).observe(root);
    w.addEventListener("resize", queue);
    w.addEventListener("load", queue);
    d.addEventListener("load", queue, true); // images, capture: load does not bubble
    // This script ends the body: the layout is known now, images or not.
    report();
  }
  // A broken avatar falls back to its initial; a broken picture disappears.
  d.addEventListener("error", function (e) {
    var t = e.target;
    if (t.tagName !== "IMG") return;
    var box = t.parentNode;
    box.removeChild(t);
    if (box.classList.contains("media") && !box.children.length) box.parentNode.removeChild(box);
    queue();
  }, true);

  // 2. Relative times in the story's language (Intl.RelativeTimeFormat), exact
  // times in the reader's own time zone on hover; the server's text stays where
  // Intl is missing.
  var lang = root.lang || "en";
  var rtf = null, short = null, long = null;
  try {
    // Compact where the language has a natural compact form ("5h ago", "5分前"); the
    // narrow style elsewhere gives forms like "-5 min" (French).
    rtf = new Intl.RelativeTimeFormat(lang, { numeric: "auto", style: /^(en|ja)\b/.test(lang) ? "narrow" : "short" });
    short = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short" });
    long = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", year: "numeric" });
  } catch (e) { /* an old browser: keep the server's words */ }
  function relative(t, now) {
    var s = (now - t) / 1000, day = 86400;
    if (s < 45) return rtf.format(0, "second");
    if (s < 3600) return rtf.format(-Math.max(1, Math.round(s / 60)), "minute");
    if (s < day) return rtf.format(-Math.round(s / 3600), "hour");
    if (s < 7 * day) return rtf.format(-Math.round(s / day), "day");
    return (new Date(t).getFullYear() === new Date(now).getFullYear() ? short : long).format(t);
  }
  function times() {
    var now = Date.now();
    each("time[datetime]", null, function (el) {
      var t = Date.parse(el.getAttribute("datetime"));
      if (isNaN(t) || !rtf) return;
      var text = relative(t, now);
      if (el.textContent !== text) el.textContent = text;
      if (!el.hasAttribute("data-local")) {
        el.setAttribute("data-local", "");
        el.title = new Date(t).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
      }
    });
  }
  times();
  setInterval(times, 60000);

  // 3b. Ticker: a second, inert copy of the cards makes the loop seamless; it only
  // runs when the cards overflow the view. The button pauses and resumes it.
  function tickers() { each("[data-ticker]", null, function (tk) {
    var view = tk.querySelector("[data-ticker-view]");
    var track = tk.querySelector("[data-ticker-track]");
    var set = track && track.firstElementChild;
    var button = tk.querySelector("[data-ticker-toggle]");
    if (!view || !set) return;
    var copy = set.cloneNode(true);
    copy.setAttribute("data-clone", "");
    copy.setAttribute("aria-hidden", "true");
    copy.setAttribute("inert", "");
    each("[data-post-id]", copy, function (el) { el.removeAttribute("data-post-id"); });
    each("a, button, [tabindex]", copy, function (el) { el.setAttribute("tabindex", "-1"); });
    track.appendChild(copy);
    function fit() {
      var width = set.getBoundingClientRect().width;
      tk.classList.toggle("run", width > view.clientWidth + 1);
      // About 40 px a second, however many cards there are.
      track.style.setProperty("--tk-dur", Math.max(8, Math.round(width / 40)) + "s");
    }
    if (w.ResizeObserver) new ResizeObserver(fit).observe(view);
    fit();
    if (button) button.addEventListener("click", function () {
      var paused = tk.classList.toggle("paused");
      button.setAttribute("aria-label", paused ? button.dataset.labelPlay : button.dataset.labelPause);
    });
  }); }

  function wire() {
    tickers();
    times();
    if (screen) clip(); else queue();
  }
  tickers();
  d.addEventListener("samembed:swapped", wire);
  // 4. Guardrails: once per document, so a broken variant cannot flood the beacon.
  // The variants are read when the error happens: a live embed swaps them (live.js).
  // analytics.js, when it counts this view, takes the report into its one batch
  // (it cancels the event); otherwise it goes on its own.
  var beaconed = false;
  function failed() {
    var flagged = root.getAttribute("data-flags");
    if (beaconed || !flagged || !navigator.sendBeacon) return;
    beaconed = true;
    var report = new CustomEvent("samembed:error", { detail: flagged, cancelable: true });
    if (d.dispatchEvent(report)) navigator.sendBeacon("/flags/error", flagged);
  }
  w.addEventListener("error", failed);
  w.addEventListener("unhandledrejection", failed);
  // Cards of the next page (pager.js): their times, and the new height at once.
  d.addEventListener("samembed:cards-added", function () { times(); if (!screen) report(); });
})();
