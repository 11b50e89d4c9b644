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
    spot.classList.add("spot");
    var mode = state.spotlight ? "spotlight" : state.mode;
    if (root.getAttribute("data-mode") !== mode) root.setAttribute("data-mode", mode);
    // A text cut off by its card fades out (frame.js does this on load and resize).
    var text = spot.querySelector(".text");
    if (text) text.classList.toggle("clip", text.scrollHeight > text.clientHeight + 1);
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
      if (!state.paused && !held && !state.spotlight) {
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
  d.addEventListener("samembed:swapped", fromHeader);
  // The viewer's own pause button (live.js) holds the rotation as well.
  d.addEventListener("samembed:paused", function (e) { held = !!(e.detail && e.detail.paused); });
  fromHeader();
  tick();
})();
