/* samembed grid masonry: inlined after cards.js in the grid template.
   Cards are placed in columns, each card in the column that is shortest so far
   (the leftmost on a tie), so tops never go up from one card to the next: the
   grid reads left to right, then down, in the story's order. Columns are as many
   as fit at 280 px, but never more than there are cards (grid.css counts alike,
   and without script shows the same order as a plain grid).
   Laid out again when the frame's width changes, a card's height changes
   (pictures arriving, a warning opened), a new version is swapped in, and when
   more cards are added: dispatch "samembed:cards-added" on document, or call
   window.samembedLayout(). */
(function () {
  "use strict";
  var d = document, w = window;
  var MIN = 280, queued = false, watched = null;

  function feed() { return d.querySelector("[data-masonry]"); }

  function layout() {
    queued = false;
    var el = feed();
    if (!el) return;
    var cards = Array.prototype.filter.call(el.children, function (c) { return c.classList.contains("post"); });
    var gap = parseFloat(getComputedStyle(el).columnGap) || 12;
    var width = el.clientWidth;
    var cols = Math.max(1, Math.min(cards.length, Math.floor((width + gap) / (MIN + gap))));
    var colWidth = (width - gap * (cols - 1)) / cols;
    var rtl = getComputedStyle(el).direction === "rtl" ? -1 : 1;
    el.classList.add("laid");
    // Widths first, then one read of every height: no layout thrash per card.
    cards.forEach(function (c) { c.style.width = colWidth + "px"; });
    var heights = cards.map(function (c) { return c.getBoundingClientRect().height; });
    var tops = [];
    for (var i = 0; i < cols; i++) tops.push(0);
    cards.forEach(function (c, n) {
      var col = 0;
      for (var k = 1; k < cols; k++) if (tops[k] < tops[col]) col = k;
      // Whole pixels: equal tops stay equal, so ties go left to right.
      c.style.transform = "translate(" + rtl * Math.round(col * (colWidth + gap)) + "px," + tops[col] + "px)";
      tops[col] += Math.ceil(heights[n]) + gap;
    });
    el.style.height = Math.max(0, Math.max.apply(null, tops) - gap) + "px";
  }

  function queue() {
    if (queued) return;
    queued = true;
    w.requestAnimationFrame(layout);
    setTimeout(function () { if (queued) layout(); }, 100);
  }

  function watch() {
    var el = feed();
    if (!el || !w.ResizeObserver) return;
    if (watched) watched.disconnect();
    var width = -1;
    watched = new ResizeObserver(function (entries) {
      // The feed's own height is ours to set: only its width, or a card's height, counts.
      var again = entries.some(function (e) {
        if (e.target !== el) return true;
        var now = e.contentRect.width;
        if (now === width) return false;
        width = now;
        return true;
      });
      if (again) queue();
    });
    watched.observe(el);
    Array.prototype.forEach.call(el.children, function (c) { watched.observe(c); });
  }

  w.samembedLayout = function () { watch(); layout(); };
  d.addEventListener("samembed:cards-added", w.samembedLayout);
  d.addEventListener("samembed:swapped", w.samembedLayout);
  d.addEventListener("samembed:relayout", queue);
  d.addEventListener("load", queue, true); // pictures: load does not bubble
  w.samembedLayout();
})();
