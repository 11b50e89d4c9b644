/* samembed loader: turns each <blockquote class="samembed" data-story="..."> into a
   sandboxed, lazy, self-resizing iframe. Safe to include any number of times;
   window.samembed.load(root) scans again for placeholders added later.
   data-template (any case), data-theme (light, dark or auto: the page's mode),
   data-limit (posts per page, 1-100) and data-max-height (px: the frame
   scrolls inside beyond it) are checked: a bad
   value falls back to the default with a console warning, never an error in the
   page. Each frame starts at the height its placeholder reserved (the snippet's
   min-height), else at one guessed from its template, page size and width, so
   the page barely moves when the frame reports its own. In the
   page's <head> it waits for the placeholders, and the page does not move at all
   when the frames appear.
   Served minified at /embed.js (see samembed/embed/loader.py). */
(function (w, d) {
  if (w.samembed) { w.samembed.load(); return; }
  var origin = new URL((d.currentScript || d.querySelector('script[src$="/embed.js"]')).src,
    location.href).origin;
  var frames = {};
  var n = 0;
  // The page's origin as `o`, FNV-1a in base 36 (samembed.flags.origin_unit): the
  // frame's URL differs per origin, so a CDN never hands one origin's variant of a
  // flag to another; the server keys its own cache on the variant.
  for (var u = 2166136261, j = 0, p = location.origin; j < p.length;)
    u = Math.imul(u ^ p.charCodeAt(j++), 16777619);
  // Posts per page of each template, as the server's defaults.
  var LIMITS = { list: 20, grid: 20, carousel: 10, ticker: 20, screen: 24 };

  function id() {
    var a = new Uint32Array(2);
    crypto.getRandomValues(a);
    return a[0].toString(36) + a[1].toString(36) + (++n);
  }

  function warn(a, v) { console.warn('samembed: ignoring data-' + a + '="' + v + '"'); return 0; }

  // data-<a> as a whole number within [lo, hi], else 0 (with a warning if set).
  function num(q, a, lo, hi) {
    var v = q.getAttribute('data-' + a);
    return v == null ? 0 : /^\d+$/.test(v) && v >= lo && v <= hi ? +v : warn(a, v);
  }

  // The height a template's first page of k posts is likely to take at width x.
  function guess(t, k, x) {
    return { carousel: 700, ticker: 200, screen: x * 9 / 16 }[t] ||
      Math.ceil(k / (t === 'grid' ? Math.max(1, (x - 12) / 284 | 0) : 1)) * 400 + 110;
  }

  function load(root) {
    var all = (root || d).querySelectorAll('blockquote.samembed[data-story]');
    for (var i = 0; i < all.length; i++) {
      var q = all[i];
      // Still being parsed (the loader is in the <head>): its link text is to come.
      if (d.readyState === 'loading' && !q.nextSibling) continue;
      var f = d.createElement('iframe'), k = id(), s = q.dataset,
        t = (s.template || '').toLowerCase(), l = num(q, 'limit', 1, 100),
        m = num(q, 'max-height', 40, 1e6), h = num(q, 'height', 40, 1e6), x = [];
      if (t && !LIMITS[t]) t = warn('template', t) || '';
      if (t) x.push('template=' + t);
      if (s.theme) /^(light|dark|auto)$/.test(s.theme) ? x.push('theme=' + s.theme) : warn('theme', s.theme);
      if (l && l !== LIMITS[t]) x.push('limit=' + l);
      x.push('o=' + (u >>> 0).toString(36));
      f.src = origin + '/e/' + encodeURIComponent(s.story) + '?' + x.join('&') +
        '#samembed=' + k + (m ? '&bounded' : '');
      f.title = (q.textContent || '').trim() || 'Social story';
      f.loading = 'lazy';
      // No allow-same-origin: the embed can never reach the publisher's page.
      f.setAttribute('sandbox', 'allow-scripts allow-popups allow-popups-to-escape-sandbox');
      // A placeholder that reserves its height (the snippet's min-height) gives the
      // frame that height, and the frame keeps its margins: the swap moves nothing.
      var c = getComputedStyle(q);
      h = h || (q.style.minHeight && q.offsetHeight) ||
        guess(t || 'list', l || LIMITS[t] || 20, q.parentNode.clientWidth || 600);
      f.style.cssText = 'display:block;width:100%;border:0;margin-block:' + c.marginBlock +
        ';height:' + Math.round(m ? Math.min(h, m) : h) + 'px';
      f.m = m;
      frames[k] = f;
      q.parentNode.replaceChild(f, q);
    }
  }

  w.addEventListener('message', function (e) {
    var m = e.data, f = m && m.type === 'samembed:resize' && frames[m.id], h = m && m.height;
    // A sandboxed frame's messages carry the origin "null": trust only that exact
    // window, whose id only this page knows.
    if (!f || e.source !== f.contentWindow || (e.origin !== origin && e.origin !== 'null')) return;
    // The frame grows with its content (never clipped), within reason.
    if (typeof h !== 'number' || !(h > 0 && h <= 1e6)) return;
    h = Math.max(Math.ceil(h), 40);
    f.style.height = (f.m ? Math.min(h, f.m) : h) + 'px';
  });

  w.samembed = { load: load };
  load();
  // Included in the <head> (render-blocking): each placeholder becomes a frame as
  // soon as it is parsed, before it is ever painted, so nothing moves.
  if (d.readyState === 'loading') {
    var o = new MutationObserver(function () { load(); });
    o.observe(d.documentElement, { childList: true, subtree: true });
    d.addEventListener('DOMContentLoaded', function () { o.disconnect(); load(); });
  }
})(window, document);
