/* samembed cards: inlined after frame.js in every embed but the big screen.
   1. Content warnings and sensitive media: the server writes them as <details>
      (hidden without script); here each becomes a button with aria-expanded and
      aria-controls, and sensitive pictures stay blurred and inert until shown.
   2. Media: a picture opens in a lightbox (Esc closes, arrows move, focus stays
      inside and returns to the picture); a video plays in place only when asked;
      a GIF-like clip loops muted while on screen, unless reduced motion is asked.
   3. Keyboard: the skip link moves focus past the story; the carousel is one tab
      stop whose arrows, Home and End move focus to a card fully scrolled into view.
   Everything is wired again when live.js swaps in a new version
   ("samembed:swapped") or more cards are added ("samembed:cards-added"). */
(function () {
  "use strict";
  var d = document, w = window, root = d.documentElement;
  var reduce = w.matchMedia && w.matchMedia("(prefers-reduced-motion: reduce)");
  var moving = function () { return !(reduce && reduce.matches); };
  var each = function (sel, el, fn) { Array.prototype.forEach.call((el || d).querySelectorAll(sel), fn); };
  var uid = 0;
  var words = function (key, fallback) {
    var el = d.querySelector("[data-t-" + key + "]");
    return (el && el.getAttribute("data-t-" + key)) || fallback;
  };

  // 1. Warnings ----------------------------------------------------------------
  function reveal(button, open) {
    var box = d.getElementById(button.getAttribute("aria-controls"));
    button.setAttribute("aria-expanded", String(open));
    button.textContent = button.getAttribute(open ? "data-hide" : "data-show");
    var wrap = button.closest("[data-cw], [data-sens]");
    if (wrap) wrap.classList.toggle("open", open);
    if (!box) return;
    if (wrap && wrap.hasAttribute("data-sens")) {
      if (open) box.removeAttribute("inert"); else box.setAttribute("inert", "");
    } else {
      box.hidden = !open;
    }
    d.dispatchEvent(new CustomEvent("samembed:relayout"));
  }
  function upgrade(scope) {
    each("details[data-cw], details[data-sens]", scope, function (det) {
      var sens = det.hasAttribute("data-sens");
      var summary = det.querySelector("summary");
      var body = summary.nextElementSibling;
      var wrap = d.createElement("div");
      wrap.className = det.className;
      wrap.setAttribute(sens ? "data-sens" : "data-cw", "");
      var head = d.createElement(sens ? "div" : "p");
      head.className = sens ? "sens-cover" : "cw-head";
      var pill = summary.querySelector(".cw-btn");
      var button = d.createElement("button");
      button.type = "button";
      button.className = "cw-btn";
      button.setAttribute("data-show", pill.getAttribute("data-show"));
      button.setAttribute("data-hide", pill.getAttribute("data-hide"));
      button.textContent = pill.textContent;
      summary.removeChild(pill);
      while (summary.firstChild) head.appendChild(summary.firstChild);
      body.id = body.id || "cwb" + (++uid);
      button.setAttribute("aria-controls", body.id);
      button.setAttribute("aria-expanded", "false");
      head.appendChild(button);
      if (sens) {
        // The pictures are blurred behind the cover, and out of the tab order.
        body.setAttribute("inert", "");
        wrap.appendChild(body);
        wrap.appendChild(head);
        var label = head.querySelector(".sens-label");
        if (label) { label.id = body.id + "l"; button.setAttribute("aria-describedby", label.id); }
      } else {
        body.hidden = true;
        wrap.appendChild(head);
        wrap.appendChild(body);
      }
      det.parentNode.replaceChild(wrap, det);
    });
  }

  // 2. Media: lightbox, videos, GIFs -----------------------------------------------
  var box = null, opener = null, shots = [], at = 0;
  function button(cls, label, path) {
    var b = d.createElement("button");
    b.type = "button";
    b.className = "lb-" + cls;
    b.setAttribute("aria-label", label);
    b.innerHTML = '<svg class="ic" aria-hidden="true" viewBox="0 0 24 24"><path d="' + path + '"/></svg>';
    return b;
  }
  function lightbox() {
    if (box) return box;
    box = d.createElement("div");
    box.className = "lb";
    box.hidden = true;
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    box.innerHTML = '<figure class="lb-fig"><img class="lb-img" alt=""><figcaption class="lb-cap" dir="auto"></figcaption></figure><p class="lb-count"></p>';
    box.appendChild(button("prev", words("previous", "Previous"), "M15 5l-7 7 7 7"));
    box.appendChild(button("next", words("next", "Next"), "M9 5l7 7-7 7"));
    box.appendChild(button("close", words("close", "Close"), "M6 6l12 12M18 6L6 18"));
    box.addEventListener("click", function (e) {
      var t = e.target.closest("button");
      if (t && t.classList.contains("lb-close")) close();
      else if (t && t.classList.contains("lb-prev")) go(-1);
      else if (t && t.classList.contains("lb-next")) go(1);
      else if (e.target === box) close();
    });
    box.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); close(); }
      else if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
        // The arrow that points at a button moves as that button does: in a
        // right-to-left story "previous" sits on the right.
        e.preventDefault();
        go((e.key === "ArrowRight") === (getComputedStyle(box).direction !== "rtl") ? 1 : -1);
      }
      else if (e.key === "Tab") {
        // Focus stays in the dialog: from the last control back to the first.
        var stops = Array.prototype.filter.call(box.querySelectorAll("button"), function (b) { return !b.hidden; });
        var i = stops.indexOf(d.activeElement);
        e.preventDefault();
        stops[(i + (e.shiftKey ? -1 : 1) + stops.length) % stops.length].focus();
      }
    });
    d.body.appendChild(box);
    return box;
  }
  function show() {
    var a = shots[at], img = a.querySelector("img");
    var pic = box.querySelector(".lb-img");
    pic.src = a.getAttribute("href");
    pic.alt = img ? img.alt : "";
    if (img && img.naturalWidth) { pic.width = img.naturalWidth; pic.height = img.naturalHeight; }
    box.querySelector(".lb-cap").textContent = pic.alt;
    box.setAttribute("aria-label", pic.alt || words("image", "Image {n} of {count}").replace("{n}", at + 1).replace("{count}", shots.length));
    box.querySelector(".lb-count").textContent = shots.length > 1 ? (at + 1) + " / " + shots.length : "";
    box.querySelector(".lb-prev").hidden = box.querySelector(".lb-next").hidden = shots.length < 2;
  }
  function go(step) { at = (at + step + shots.length) % shots.length; show(); }
  function open(a) {
    lightbox();
    opener = a;
    // The pictures of the story that can be shown: not those behind a warning.
    shots = Array.prototype.filter.call(d.querySelectorAll("[data-swap=content] a[data-zoom]"), function (z) {
      return z.offsetParent !== null && !z.closest("[inert], [data-clone]");
    });
    at = Math.max(0, shots.indexOf(a));
    show();
    box.hidden = false;
    root.classList.add("lb-open");
    box.querySelector(".lb-close").focus();
  }
  function close() {
    if (!box || box.hidden) return;
    box.hidden = true;
    root.classList.remove("lb-open");
    if (opener && opener.isConnected) opener.focus();
    opener = null;
  }
  function play(a) {
    var v = d.createElement("video");
    v.controls = true;
    v.playsInline = true;
    v.src = a.getAttribute("data-play");
    var poster = a.querySelector("img");
    if (poster) { v.poster = poster.currentSrc || poster.src; v.width = poster.width; v.height = poster.height; }
    v.className = "played";
    v.setAttribute("aria-label", (a.querySelector(".vh") || a).textContent);
    a.parentNode.replaceChild(v, a);
    v.focus();
    // The reader asked for it: start, with sound.
    var started = v.play();
    if (started && started.catch) started.catch(function () { /* controls remain */ });
  }
  var seen = w.IntersectionObserver && new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      var v = e.target;
      if (e.isIntersecting && moving()) { var p = v.play(); if (p && p.catch) p.catch(function () {}); }
      else v.pause();
    });
  });
  function gifs(scope) {
    each("video[data-gif]", scope, function (v) {
      v.muted = true;
      if (seen && !v.hasAttribute("data-watched")) { v.setAttribute("data-watched", ""); seen.observe(v); }
    });
  }

  d.addEventListener("click", function (e) {
    if (e.defaultPrevented || e.button || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    var t = e.target.closest("a, button");
    if (!t) return;
    if (t.classList.contains("cw-btn") && t.hasAttribute("aria-controls")) {
      reveal(t, t.getAttribute("aria-expanded") !== "true");
    } else if (t.hasAttribute("data-zoom")) {
      e.preventDefault();
      open(t);
    } else if (t.hasAttribute("data-play")) {
      e.preventDefault();
      play(t);
    } else if (t.hasAttribute("data-skip")) {
      e.preventDefault();
      var end = d.getElementById("story-end");
      if (end) end.focus();
    }
  });

  // 3. Carousel: one tab stop, roving focus ---------------------------------------
  function carousel(car) {
    var track = car.querySelector("[data-carousel-track]");
    var prev = car.querySelector("[data-carousel-prev]");
    var next = car.querySelector("[data-carousel-next]");
    if (!track || car.hasAttribute("data-wired")) return;
    car.setAttribute("data-wired", "");
    var cards = function () { return Array.prototype.slice.call(track.querySelectorAll(".slide > .post")); };
    var current = 0;
    // Only the current card and what is inside it are in the tab order.
    function rove(index) {
      var all = cards();
      if (!all.length) return;
      current = Math.max(0, Math.min(all.length - 1, index));
      all.forEach(function (card, i) {
        var on = i === current;
        card.tabIndex = on ? 0 : -1;
        each("a, button, video[controls]", card, function (el) {
          if (on) el.removeAttribute("tabindex"); else el.tabIndex = -1;
        });
      });
    }
    // Right to left, the row starts on the right and scrollLeft runs negative.
    var rtl = getComputedStyle(track).direction === "rtl";
    // The browser places the slide at the row's start (in any direction, even
    // mid-scroll, honouring the track's scroll-padding). Only a start-aligned slide
    // is a snap point of the row: a "nearest" position would snap back out of view.
    function atStart(slide) {
      slide.scrollIntoView({ inline: "start", block: "nearest", behavior: moving() ? "smooth" : "auto" });
    }
    function reveal(card) {
      var view = track.getBoundingClientRect(), box = card.parentNode.getBoundingClientRect();
      if (box.left < view.left - 1 || box.right > view.right + 1) atStart(card.parentNode);
    }
    function focus(index) {
      rove(index);
      var card = cards()[current];
      if (!card) return;
      card.focus({ preventScroll: true });
      reveal(card);
    }
    // The buttons turn a page of cards, for pointers.
    function step(dir) {
      var all = cards();
      if (!all.length) return;
      var view = track.getBoundingClientRect(), first = 0;
      for (var i = 0; i < all.length; i++) {
        var r = all[i].parentNode.getBoundingClientRect();
        if (rtl ? r.left < view.right - 4 : r.right > view.left + 4) { first = i; break; }
      }
      var size = all[0].parentNode.getBoundingClientRect().width || 1;
      var per = Math.max(1, Math.floor(track.clientWidth / size));
      var to = Math.max(0, Math.min(all.length - 1, first + dir * per));
      atStart(all[to].parentNode);
      rove(to);
    }
    var pending = false;
    function update() {
      pending = false;
      var end = track.scrollWidth - track.clientWidth - 2;
      var scrolled = Math.abs(track.scrollLeft);
      if (prev) prev.setAttribute("aria-disabled", String(scrolled <= 2));
      if (next) next.setAttribute("aria-disabled", String(scrolled >= end));
    }
    if (prev) prev.addEventListener("click", function () { step(-1); });
    if (next) next.addEventListener("click", function () { step(1); });
    track.addEventListener("scroll", function () {
      if (!pending) { pending = true; w.requestAnimationFrame(update); }
    }, { passive: true });
    track.addEventListener("focusin", function (e) {
      var card = e.target.closest(".post");
      var i = cards().indexOf(card);
      if (i >= 0 && i !== current) rove(i);
      if (card) reveal(card);
    });
    car.addEventListener("keydown", function (e) {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      var keys = { Home: 0, End: cards().length - 1 };
      keys[rtl ? "ArrowRight" : "ArrowLeft"] = current - 1;
      keys[rtl ? "ArrowLeft" : "ArrowRight"] = current + 1;
      var to = keys[e.key];
      if (to === undefined || e.target.closest("video")) return;
      e.preventDefault();
      focus(to);
    });
    if (w.ResizeObserver) new ResizeObserver(update).observe(track);
    rove(0);
    update();
  }

  function wire() {
    upgrade(d);
    gifs(d);
    each("[data-carousel]", null, carousel);
  }
  wire();
  d.addEventListener("samembed:swapped", wire);
  d.addEventListener("samembed:cards-added", wire);
})();
