/* samembed live updates: inlined after frame.js in live embeds and every screen.
   Asks /live/<slug> (a tiny JSON answered from each server's memory, cacheable
   for a second) every data-poll ms and fetches the document again only when the
   story's version moved; the new copy's data-swap elements replace the old ones.
   New posts arrive with a short animation and a polite announcement; the pause
   button (WCAG 2.2.2) stops both. Hidden tabs do not poll; embeds stop when the
   story is no longer live, screens keep looking slowly. On errors the content
   stays, an offline mark shows, and the next look backs off up to 30 s.
   Events for other scripts: "samembed:controls" (the screen's remote controls)
   and "samembed:swapped" (new content in place). */
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
  // Screens say who they are on every tenth look (a random id per page), so the
  // producer's remote can count them; the other looks keep the URL every viewer
  // shares, which a CDN answers once for all.
  var screenId = screen ? Math.random().toString(36).slice(2, 12) + Date.now().toString(36) : "";
  var looks = 0;

  // The document's own URL with only the template kept, plus the version as a
  // cache-buster for CDNs (the origin caches by template alone).
  var tpl = /[?&]template=([a-z]+)/.exec(location.search);
  function documentUrl(v) {
    return location.pathname + "?" + (tpl ? "template=" + tpl[1] + "&" : "") + "v=" + v;
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
        if (info.version !== version && !paused) {
          wanted = info.version;
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
      if (!r.ok) throw new Error("status " + r.status);
      return r.text();
    }).then(function (html) {
      busy = false;
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

  function swap(fresh) {
    var before = ids();
    Array.prototype.forEach.call(d.querySelectorAll("[data-swap]"), function (el) {
      var name = el.getAttribute("data-swap");
      var other = fresh.querySelector('[data-swap="' + name + '"]');
      // A part the new version does not have (the Live badge) is emptied.
      if (other) el.parentNode.replaceChild(d.importNode(other, true), el);
      else el.textContent = "";
    });
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
        ? "New post" + (who ? " by " + who.textContent : "")
        : added.length + " new posts";
    }
    d.dispatchEvent(new CustomEvent("samembed:swapped", { detail: { added: added.length } }));
  }

  if (pauseButton) pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", String(paused));
    if (label) label.textContent = paused ? "Resume updates" : "Pause updates";
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
