/* samembed analytics: inlined after frame.js in every embed but the big screen.
   Counts what readers do with the story, never who they are: no cookie, no
   storage, nothing that outlives the page view. The document is shared by every
   reader, so it carries only the story's signed token (<html data-stats>); the
   page view id is made here, at random, and forgotten with the page.
   Events: load (the frame rendered), view (at least half the frame, or half the
   screen for a tall one, on screen for one continuous second), post_view (the
   same for each post), click (a link or picture of a post), more ("Show more"),
   reveal (a content warning opened). They go out in one batch per page view,
   with navigator.sendBeacon as text/plain (no CORS preflight) to /api/v1/events
   (samembed/analytics/collect.py), when the page is hidden (visibilitychange,
   the last event a browser reliably fires before it may discard a page, and
   pagehide). Earlier only when a batch would otherwise wait too long (LONG:
   the server counts by the hour a batch arrives, and a crash loses what is
   still queued) or grow past what one beacon may carry. A script error of a
   flagged document (frame.js) rides in the same batch, so a failing view still
   sends one request. Nothing at all when the reader's browser sends Do Not
   Track or Global Privacy Control, or in studio previews (rendered without a
   token). */
(function () {
  "use strict";
  var d = document, w = window, n = navigator, root = d.documentElement;
  var token = root.getAttribute("data-stats");
  if (!token || !n.sendBeacon || !w.IntersectionObserver || !w.crypto || !w.performance) return;
  if (n.globalPrivacyControl || n.doNotTrack === "1" || w.doNotTrack === "1") return;

  var URL_ = "/api/v1/events", DWELL = 1000, MAX_EVENTS = 200, LONG = 300000;
  var now = function () { return Math.round(performance.now()); };
  var bytes = new Uint8Array(12);
  w.crypto.getRandomValues(bytes);
  var view = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  var origin = "";
  try {
    var anc = location.ancestorOrigins;
    origin = anc && anc.length ? anc[0] : d.referrer ? new URL(d.referrer).origin : "";
  } catch (e) { /* no referrer: an unknown embedder */ }

  // error: null (none), the report (waiting), false (sent).
  var queue = [], once = {}, timer = 0, error = null;
  function send() {
    clearTimeout(timer);
    timer = 0;
    if (!queue.length && typeof error !== "string") return;
    var batch = { k: token, s: token.split(".")[0], p: view, o: origin,
      t: root.getAttribute("data-template"), n: now(), e: queue.splice(0, MAX_EVENTS) };
    if (typeof error === "string") { batch.x = error; error = false; }
    n.sendBeacon(URL_, JSON.stringify(batch));
    if (queue.length) send();
  }
  function later() {
    if (!timer) timer = setTimeout(send, LONG);
  }
  function add(type, post) {
    var key = type + ":" + (post || "");
    if (type !== "more") {
      if (once[key]) return;
      once[key] = 1;
    }
    queue.push([type, post || null, now()]);
    if (queue.length >= MAX_EVENTS) send(); else later();
  }
  // frame.js's report of a script error in a flagged document: ours to carry.
  d.addEventListener("samembed:error", function (e) {
    e.preventDefault();
    if (error === null) { error = e.detail || ""; later(); }
  });

  // Viewable: half the element, or half the screen's height of a tall one, in view
  // for DWELL ms without a break, while the page is visible.
  var steps = [];
  for (var i = 0; i <= 20; i++) steps.push(i / 20);
  var half = function () { return ((w.screen && w.screen.availHeight) || 800) / 2; };
  var dwell = {};
  var io = new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      var el = e.target, post = el === root ? null : el.getAttribute("data-post-id");
      var key = post || "";
      var shown = e.isIntersecting && (e.intersectionRatio >= 0.5 || e.intersectionRect.height >= half());
      if (shown && !dwell[key] && d.visibilityState === "visible") {
        dwell[key] = setTimeout(function () {
          dwell[key] = 0;
          add(post ? "post_view" : "view", post);
          io.unobserve(el);
        }, DWELL);
      } else if (!shown && dwell[key]) {
        clearTimeout(dwell[key]);
        dwell[key] = 0;
      }
    });
  }, { threshold: steps });
  function watch() {
    Array.prototype.forEach.call(d.querySelectorAll("[data-post-id]"), function (el) {
      if (!once["post_view:" + el.getAttribute("data-post-id")]) io.observe(el);
    });
  }
  io.observe(root);
  watch();
  d.addEventListener("samembed:cards-added", watch);
  d.addEventListener("samembed:swapped", watch);

  d.addEventListener("click", function (e) {
    var el = e.target.closest && e.target.closest("a, button");
    if (!el) return;
    if (el.hasAttribute("data-more")) return add("more");
    var card = el.closest("[data-post-id]");
    if (!card) return;
    var post = card.getAttribute("data-post-id");
    // Capture phase: cards.js has not opened it yet.
    if (el.classList.contains("cw-btn")) {
      if (el.getAttribute("aria-expanded") !== "true") add("reveal", post);
    } else if (el.tagName === "A") {
      add("click", post);
    }
  }, true);

  d.addEventListener("visibilitychange", function () {
    if (d.visibilityState !== "hidden") return;
    for (var k in dwell) { clearTimeout(dwell[k]); dwell[k] = 0; }
    send();
  });
  w.addEventListener("pagehide", send);
  add("load");
})();
