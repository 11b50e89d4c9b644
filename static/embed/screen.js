/* samembed big screen: inlined after frame.js and live.js in the screen template.
   Wall mode shows a grid of the newest posts and, when there are more than fit,
   turns to the next ones every `interval` seconds (pinned posts stay); spotlight
   shows one post at a time and advances every `interval` seconds. The producer remote's controls
   (paused, spotlight, advance, mode, interval) arrive from live.js as
   "samembed:controls" and on the header of each new version. */
(function () {
  "use strict";
  var d = document, root = d.documentElement;
  if (root.getAttribute("data-template") !== "screen") return;
  var state = { mode: "wall", interval: 8, paused: false, spotlight: "", advance: -1 };
  var index = 0, timer = 0, held = false;

  function posts() { return d.querySelectorAll("[data-swap=content] .feed > .post"); }

  function show() {
    var all = posts();
    if (!all.length) return;
    var spot = null;
    if (state.spotlight) spot = d.querySelector('.feed > .post[data-post-id="' + state.spotlight + '"]');
    if (!spot) {
      if (index >= all.length) index = 0;
      spot = all[index];
    }
    Array.prototype.forEach.call(all, function (el) {
      if (el !== spot && el.classList.contains("spot")) el.classList.remove("spot");
    });
    var fresh = !spot.classList.contains("spot");
    spot.classList.add("spot");
    var mode = state.spotlight ? "spotlight" : state.mode;
    if (root.getAttribute("data-mode") !== mode) root.setAttribute("data-mode", mode);
    // The spotlit picture is shown large (about 56vw; sizes names three quarters,
    // as render.slot_sizes does): let the browser pick a wider file.
    Array.prototype.forEach.call(d.querySelectorAll(".feed img[sizes]"), function (img) {
      if (!img.hasAttribute("data-sizes")) img.setAttribute("data-sizes", img.sizes);
      var want = mode === "spotlight" && img.closest(".spot") ? "42vw" : img.getAttribute("data-sizes");
      if (img.sizes !== want) img.sizes = want;
    });
    if (fresh) page = 0;
    paginate(spot, mode === "spotlight");
  }

  // Spotlight: a text longer than its card turns pages of whole lines, one page
  // per interval, before the next post; elsewhere it fades out (frame.js).
  var page = 0;
  function paginate(spot, on) {
    Array.prototype.forEach.call(d.querySelectorAll(".feed .text.paged"), function (t) {
      if (!on || !spot.contains(t)) { t.classList.remove("paged"); t.style.maxHeight = ""; t.scrollTop = 0; }
    });
    var old = spot.querySelector(".pages");
    var text = spot.querySelector(".text");
    if (!on || !text) { if (old) old.remove(); return 1; }
    text.classList.remove("clip");
    text.classList.add("paged");
    text.style.maxHeight = "";
    var line = parseFloat(getComputedStyle(text).lineHeight) || 20;
    var room = Math.max(line, Math.floor(text.clientHeight / line) * line);
    var count = Math.max(1, Math.ceil((text.scrollHeight - 1) / room));
    if (count > 1) text.style.maxHeight = room + "px";
    if (page >= count) page = 0;
    text.scrollTop = page * room;
    if (count > 1) {
      if (!old) {
        old = d.createElement("span");
        old.className = "pages";
        var meta = spot.querySelector(".meta");
        if (meta) meta.appendChild(old);
      }
      old.textContent = (page + 1) + " / " + count;
    } else if (old) old.remove();
    return count;
  }
  function pagesLeft() {
    var spot = d.querySelector(".feed > .post.spot");
    var text = spot && spot.querySelector(".text.paged");
    if (!text || !text.style.maxHeight) return false;
    return text.scrollTop + text.clientHeight < text.scrollHeight - 1;
  }

  // GIF-like clips loop muted on a screen (unless reduced motion is asked).
  var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  function gifs() {
    Array.prototype.forEach.call(d.querySelectorAll("video[data-gif]"), function (v) {
      v.muted = true;
      if (!still) { v.autoplay = true; var p = v.play(); if (p && p.catch) p.catch(function () {}); }
    });
  }

  // The CSS grid decides how many cards fit; the ones on show move to the end.
  function turnWall() {
    var all = posts(), shown = [];
    Array.prototype.forEach.call(all, function (el) {
      if (getComputedStyle(el).display !== "none") shown.push(el);
    });
    if (!shown.length || shown.length >= all.length) return;
    var feed = shown[0].parentNode;
    shown.forEach(function (el) {
      if (el.classList.contains("pinned")) return;
      el.classList.remove("arrive"); // moved nodes would play their arrival again
      feed.appendChild(el);
    });
  }

  function tick() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var spotlit = state.spotlight || state.mode === "spotlight";
      if (!state.paused && !held && spotlit && pagesLeft()) {
        page += 1;
        show();
      } else if (!state.paused && !held && !state.spotlight) {
        if (state.mode === "wall") turnWall();
        index += 1;
        show();
      }
      tick();
    }, Math.max(1, state.interval) * 1000);
  }

  function apply(c) {
    var restart = c.interval !== undefined && +c.interval !== state.interval;
    if (c.mode === "wall" || c.mode === "spotlight") state.mode = c.mode;
    if (c.interval !== undefined) state.interval = +c.interval || 8;
    if (c.paused !== undefined) state.paused = !!c.paused;
    if (c.spotlight !== undefined) state.spotlight = c.spotlight || "";
    if (c.advance !== undefined) {
      // A "next" pressed on the remote since we last looked: one step on.
      if (state.advance >= 0 && +c.advance > state.advance) index += 1;
      state.advance = +c.advance;
    }
    root.classList.toggle("held", state.paused);
    show();
    if (restart) tick();
  }

  function fromHeader() {
    var h = d.querySelector("[data-swap=head]");
    if (!h) return;
    apply({
      mode: h.getAttribute("data-mode"),
      interval: h.getAttribute("data-interval"),
      paused: h.getAttribute("data-paused") === "yes",
      spotlight: h.getAttribute("data-spotlight"),
      advance: h.getAttribute("data-advance")
    });
  }

  d.addEventListener("samembed:controls", function (e) { apply(e.detail || {}); });
  d.addEventListener("samembed:swapped", function () { fromHeader(); gifs(); });
  window.addEventListener("resize", function () { show(); });
  gifs();
  // The viewer's own pause button (live.js) holds the rotation as well.
  d.addEventListener("samembed:paused", function (e) { held = !!(e.detail && e.detail.paused); });
  fromHeader();
  tick();
})();
