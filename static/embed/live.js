/* samembed live updates: inlined after frame.js in live embeds and every screen.
   Asks /live/<slug> (a tiny JSON answered from each server's memory, cacheable
   for a second) every data-poll ms and fetches the document again only when the
   story's version moved; the new copy's data-swap elements replace the old ones.
   New posts arrive with a short animation and a polite announcement; the pause
   button (WCAG 2.2.2) stops both. Hidden tabs do not poll; embeds stop when the
   story is no longer live, screens keep looking slowly. On errors the content
   stays, an offline mark shows, and the next look backs off up to 30 s.
   Its words come from the document (<html data-i18n-*>), in the story's language.
   Events for other scripts: "samembed:controls" (the screen's remote controls)
   and "samembed:swapped" (new content in place).
   Cards the reader added with "Show more" (pager.js, data-more-page) stay
   through a swap after the new first page, with the cards new posts pushed off
   it, and the pager keeps its place.
   /live/ also names the flags' epoch: when a flag that changes the embed moves
   (a ramp, a kill), the document is fetched again (with the epoch in its URL, so
   no CDN answers with the old variant) and swapped in like a new version. */
(function () {
  "use strict";
  var d = document, root = d.documentElement, w = window;
  var slug = root.getAttribute("data-live");
  if (!slug || !w.fetch || !w.DOMParser) return;
  var screen = root.getAttribute("data-template") === "screen";
  var version = +root.getAttribute("data-version") || 0;
  var build = root.getAttribute("data-build");
  var every = Math.max(100, +root.getAttribute("data-poll") || 1000);
  // Back-off grows to 30 polls (30 s at the default interval), never beyond 30 s.
  var SLOW = 30000, MAX_BACKOFF = Math.min(30000, every * 30);
  var pauseButton = d.querySelector("[data-live-pause]");
  var label = d.querySelector("[data-live-label]");
  var say = d.querySelector("[data-live-say]");
  var offline = d.querySelector("[data-offline]");
  var paused = false, failures = 0, timer = 0, busy = false, stopped = false;
  var wanted = 0, retries = 0;
  var epoch = root.getAttribute("data-flags-epoch") || "", wantedEpoch = epoch;
  function word(name) { return root.getAttribute("data-i18n-" + name) || ""; }
  // Screens say who they are on every tenth look (a random id per page), so the
  // producer's remote can count them; the other looks keep the URL every viewer
  // shares, which a CDN answers once for all.
  var screenId = screen ? Math.random().toString(36).slice(2, 12) + Date.now().toString(36) : "";
  var looks = 0;

  // The document's own URL with only the template, theme, page size and embedding
  // origin (the loader's `o`, which picks the flags' variants) kept, plus the version
  // as a cache-buster for CDNs (the origin caches by template, theme, size and variant).
  var tpl = /[?&]template=([a-z]+)/.exec(location.search);
  var thm = /[?&]theme=([a-z]+)/.exec(location.search);
  var lim = /[?&]limit=([0-9]+)/.exec(location.search);
  var org = /[?&]o=([0-9a-z]+)/.exec(location.search);
  function documentUrl(v) {
    return location.pathname + "?" + (tpl ? "template=" + tpl[1] + "&" : "") +
      (thm ? "theme=" + thm[1] + "&" : "") + (lim ? "limit=" + lim[1] + "&" : "") +
      (org ? "o=" + org[1] + "&" : "") + (wantedEpoch !== epoch ? "f=" + wantedEpoch + "&" : "") +
      "v=" + v;
  }

  function schedule(ms) {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(look, ms);
  }

  function setOffline(on) {
    if (offline && offline.hidden === on) offline.hidden = !on;
    root.classList.toggle("offline-now", on);
  }

  function failed() {
    failures += 1;
    setOffline(true);
    var delay = Math.min(MAX_BACKOFF, every * Math.pow(2, failures));
    schedule(delay * (0.8 + Math.random() * 0.4)); // jitter: screens do not return in step
  }

  function look() {
    if (stopped || busy) return;
    if (d.hidden) return; // visibilitychange looks again
    busy = true;
    var ask = "/live/" + encodeURIComponent(slug);
    if (screenId && looks++ % 10 === 0) ask += "?screen=" + screenId;
    fetch(ask, { credentials: "omit" }).then(function (r) {
      if (r.status === 404 || r.status === 410) {
        busy = false;
        setOffline(false);
        if (screen) schedule(SLOW); else stopped = true;
        return;
      }
      if (!r.ok) throw new Error("status " + r.status);
      return r.json().then(function (info) {
        busy = false;
        failures = 0;
        setOffline(false);
        if (screen && info.screen) {
          d.dispatchEvent(new CustomEvent("samembed:controls", { detail: info.screen }));
        }
        var flagsMoved = typeof info.flags === "string" && info.flags !== epoch;
        if ((info.version !== version || flagsMoved) && !paused) {
          wanted = info.version;
          if (flagsMoved) wantedEpoch = info.flags;
          return refresh();
        }
        next(info.live);
      });
    }).catch(function () {
      busy = false;
      failed();
    });
  }

  function next(live) {
    if (live) schedule(every);
    else if (screen) schedule(SLOW);
    else stopped = true; // no longer live: the page stays as it is
  }

  function refresh() {
    busy = true;
    return fetch(documentUrl(wanted), { credentials: "omit" }).then(function (r) {
      // 409: that server has not seen the flags' change yet; look at /live/ again.
      if (r.status === 409 && wantedEpoch !== epoch) return null;
      if (!r.ok) throw new Error("status " + r.status);
      return r.text();
    }).then(function (html) {
      busy = false;
      if (html === null) {
        schedule(Math.min(every, 500));
        return;
      }
      var fresh = new DOMParser().parseFromString(html, "text/html");
      var froot = fresh.documentElement;
      // Not one of our documents (a captive portal, an error page): try again later.
      if (!froot.hasAttribute("data-template")) throw new Error("not an embed document");
      if (!froot.hasAttribute("data-live")) {
        // The story is no longer live: show its last state and stop.
        swap(fresh);
        stopped = true;
        return;
      }
      if (froot.getAttribute("data-build") !== build) {
        // A deploy changed our code: start again with the new one.
        location.reload();
        return;
      }
      var v = +froot.getAttribute("data-version") || 0;
      if (v < wanted && retries < 10) {
        // That server process has not seen the new version yet: ask again shortly.
        retries += 1;
        schedule(Math.min(every, 500));
        return;
      }
      retries = 0;
      failures = 0;
      setOffline(false);
      swap(fresh);
      version = v;
      root.setAttribute("data-version", String(v));
      // The variants this content is for: what an error report names (frame.js).
      if (froot.hasAttribute("data-flags")) root.setAttribute("data-flags", froot.getAttribute("data-flags"));
      else root.removeAttribute("data-flags");
      epoch = wantedEpoch;
      next(froot.hasAttribute("data-on-air"));
    }).catch(function () {
      busy = false;
      failed();
    });
  }

  function ids() {
    var seen = {};
    Array.prototype.forEach.call(d.querySelectorAll("[data-swap=content] [data-post-id]"),
      function (el) { seen[el.getAttribute("data-post-id")] = true; });
    return seen;
  }

  var FEED = "[data-swap=content] [data-carousel-track], [data-swap=content] .feed";
  function postId(item) {
    var p = item.matches("[data-post-id]") ? item : item.querySelector("[data-post-id]");
    return p && p.getAttribute("data-post-id");
  }

  // Before a swap of a feed the reader lengthened: the cards to put back after
  // the new first page (new posts pushed the last ones of the old first page off
  // it; cards missing in its middle were hidden), and the icons they use.
  function keepMore(fresh) {
    var list = d.querySelector(FEED), next = fresh.querySelector(FEED);
    if (!list || !next || !root.hasAttribute("data-paged")) return null;
    var items = Array.prototype.slice.call(list.children);
    var first = items.filter(function (el) { return !el.hasAttribute("data-more-page"); });
    var shown = {};
    Array.prototype.forEach.call(next.children, function (el) { shown[postId(el)] = true; });
    var tail = [];
    if (next.children.length >= first.length) {
      for (var i = first.length - 1; i >= 0 && !shown[postId(first[i])]; i--) tail.unshift(first[i]);
    }
    var keep = tail.concat(items.filter(function (el) { return el.hasAttribute("data-more-page"); }))
      .filter(function (el) { return !shown[postId(el)]; });
    return { items: keep, symbols: Array.prototype.slice.call(d.querySelectorAll(".sprite symbol[id]")) };
  }

  function putBack(kept) {
    var list = d.querySelector(FEED), sprite = d.querySelector(".sprite");
    if (!list) return;
    kept.items.forEach(function (el) {
      el.setAttribute("data-more-page", "");
      el.classList.remove("arrive");
      list.appendChild(el);
    });
    if (sprite) kept.symbols.forEach(function (s) { if (!d.getElementById(s.id)) sprite.appendChild(s); });
  }

  function swap(fresh) {
    var before = ids();
    var kept = keepMore(fresh);
    Array.prototype.forEach.call(d.querySelectorAll("[data-swap]"), function (el) {
      var name = el.getAttribute("data-swap");
      // The pager of a lengthened feed goes on from its own last page.
      if (kept && name === "pager") return;
      var other = fresh.querySelector('[data-swap="' + name + '"]');
      // A part the new version does not have (the Live badge) is emptied.
      if (other) el.parentNode.replaceChild(d.importNode(other, true), el);
      else el.textContent = "";
    });
    if (kept) putBack(kept);
    var added = [];
    Array.prototype.forEach.call(d.querySelectorAll("[data-swap=content] [data-post-id]"), function (el) {
      if (!before[el.getAttribute("data-post-id")]) {
        el.classList.add("arrive");
        added.push(el);
      }
    });
    if (added.length && say) {
      var who = added[0].querySelector(".name");
      // One short message, replaced each time: screen readers hear the latest only.
      say.textContent = added.length === 1
        ? (who ? word("new-post-by").replace("{name}", who.textContent) : word("new-post"))
        : word("new-posts").replace("{count}", added.length);
    }
    d.dispatchEvent(new CustomEvent("samembed:swapped", { detail: { added: added.length } }));
  }

  if (pauseButton) pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", String(paused));
    if (label) label.textContent = word(paused ? "resume" : "pause");
    root.classList.toggle("live-paused", paused);
    if (paused && say) say.textContent = "";
    d.dispatchEvent(new CustomEvent("samembed:paused", { detail: { paused: paused } }));
    if (!paused) schedule(0);
  });

  d.addEventListener("visibilitychange", function () {
    if (!d.hidden && !busy) schedule(0);
  });
  schedule(every);
})();
