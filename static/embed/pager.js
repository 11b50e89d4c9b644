/* samembed pager: inlined after frame.js (and live.js) in every template but the
   screen.
   1. "Show more" ([data-more]: the next page's embed document, same origin, a
      cached URL) fetches that document and appends its cards to the feed, with
      the icons they use; focus moves to the first new card; the button takes the
      new page's next URL, or goes at the end. Appended cards are marked
      data-more-page, so live.js keeps them across its swaps. Without script the
      button is a link to the same page of the story's own page.
   2. A frame the publisher bounded (data-max-height: "bounded" in the fragment)
      scrolls inside; a "more below" cue shows while there is more below.
   Tells other scripts (masonry, cards, frame) with "samembed:cards-added"
   ({detail: {added: n}}) on document. */
(function () {
  "use strict";
  var d = document, root = d.documentElement, w = window;
  var FEED = "[data-carousel-track], .feed";

  function feed(doc) {
    var content = doc.querySelector("[data-swap=content]");
    return content && content.querySelector(FEED);
  }

  function symbols(fresh) {
    var sprite = d.querySelector(".sprite");
    if (!sprite) return;
    Array.prototype.forEach.call(fresh.querySelectorAll(".sprite symbol[id]"), function (s) {
      if (!d.getElementById(s.id)) sprite.appendChild(d.importNode(s, true));
    });
  }

  function relabel(list) {
    // Carousel slides say "n of m" in the story's words: m grows with each page.
    var slides = list.querySelectorAll('[aria-roledescription="slide"]');
    var holder = list.closest("[data-slide-of]");
    var words = holder ? holder.getAttribute("data-slide-of") : "{index} / {count}";
    Array.prototype.forEach.call(slides, function (el, i) {
      el.setAttribute("aria-label", words.replace("{index}", i + 1).replace("{count}", slides.length));
    });
  }

  function append(fresh) {
    var list = feed(d), from = feed(fresh);
    if (!list || !from) return 0;
    symbols(fresh);
    var seen = {}, first = null, added = 0;
    Array.prototype.forEach.call(list.querySelectorAll("[data-post-id]"), function (el) {
      seen[el.getAttribute("data-post-id")] = true;
    });
    Array.prototype.slice.call(from.children).forEach(function (item) {
      var post = item.matches("[data-post-id]") ? item : item.querySelector("[data-post-id]");
      if (post && seen[post.getAttribute("data-post-id")]) return;
      var node = d.importNode(item, true);
      node.setAttribute("data-more-page", "");
      list.appendChild(node);
      added += 1;
      if (!first) first = node.matches("[data-post-id]") ? node : node.querySelector("[data-post-id]") || node;
    });
    relabel(list);
    if (first) {
      first.setAttribute("tabindex", "-1");
      first.focus({ preventScroll: true });
      if (first.scrollIntoView) first.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
    // The carousel's buttons look at the track again.
    list.dispatchEvent(new Event("scroll"));
    return added;
  }

  function wire(button) {
    if (!button || button.hasAttribute("data-wired")) return;
    button.setAttribute("data-wired", "");
    button.setAttribute("role", "button");
    var label = button.textContent, busy = false;
    function more(e) {
      e.preventDefault();
      if (busy || !w.fetch || !w.DOMParser) return;
      busy = true;
      button.setAttribute("aria-disabled", "true");
      button.textContent = button.getAttribute("data-loading") || label;
      fetch(button.getAttribute("data-more"), { credentials: "omit" }).then(function (r) {
        if (!r.ok) throw new Error("status " + r.status);
        return r.text();
      }).then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        if (!fresh.documentElement.hasAttribute("data-template")) throw new Error("not an embed");
        var added = append(fresh);
        var next = fresh.querySelector("[data-swap=pager] [data-more]");
        busy = false;
        button.removeAttribute("aria-disabled");
        button.textContent = label;
        if (next) {
          button.setAttribute("data-more", next.getAttribute("data-more"));
          button.setAttribute("href", next.getAttribute("href"));
        } else {
          button.parentNode.removeChild(button);
        }
        root.setAttribute("data-paged", "");
        d.dispatchEvent(new CustomEvent("samembed:cards-added", { detail: { added: added } }));
      }).catch(function () {
        // Leave the button to try again; the link still leads to the story's page.
        busy = false;
        button.removeAttribute("aria-disabled");
        button.textContent = label;
      });
    }
    button.addEventListener("click", more);
    button.addEventListener("keydown", function (e) { if (e.key === " ") more(e); });
  }

  function pager() { wire(d.querySelector("[data-swap=pager] [data-more]")); }
  pager();
  d.addEventListener("samembed:swapped", pager);

  // 2. Bounded by the publisher: the cue says there is more below, and scrolls to it.
  if (/[#&]bounded(?:[=&]|$)/.test(location.hash)) {
    root.classList.add("bounded");
    var cue = d.createElement("button");
    cue.type = "button";
    cue.className = "cue";
    cue.setAttribute("aria-hidden", "true");
    cue.tabIndex = -1;
    cue.textContent = "\u2193";
    cue.addEventListener("click", function () {
      w.scrollBy({ top: Math.round(w.innerHeight * 0.8), behavior: "smooth" });
    });
    d.body.appendChild(cue);
    var pending = false;
    var look = function () {
      pending = false;
      cue.hidden = w.scrollY + w.innerHeight >= root.scrollHeight - 4;
    };
    var soon = function () { if (!pending) { pending = true; w.requestAnimationFrame(look); } };
    w.addEventListener("scroll", soon, { passive: true });
    w.addEventListener("resize", soon);
    if (w.ResizeObserver) new ResizeObserver(soon).observe(d.body);
    look();
  }
})();
