/* samembed loader: turns each <blockquote class="samembed" data-story="..."> into a
   sandboxed, lazy, self-resizing iframe. Safe to include any number of times;
   window.samembed.load(root) scans again for placeholders added later.
   Served minified at /embed.js (see samembed/embed/loader.py). */
(function (w, d) {
  if (w.samembed) { w.samembed.load(); return; }
  var script = d.currentScript || d.querySelector('script[src$="/embed.js"]');
  var origin = new URL(script.src, location.href).origin;
  var frames = {};
  var n = 0;

  function id() {
    var a = new Uint32Array(2);
    crypto.getRandomValues(a);
    return a[0].toString(36) + a[1].toString(36) + (++n);
  }

  function load(root) {
    var found = (root || d).querySelectorAll('blockquote.samembed[data-story]');
    for (var i = 0; i < found.length; i++) {
      var q = found[i], f = d.createElement('iframe'), k = id(), t = q.dataset.template;
      f.src = origin + '/e/' + encodeURIComponent(q.dataset.story) +
        (t ? '?template=' + encodeURIComponent(t) : '') + '#samembed=' + k;
      f.title = (q.textContent || '').trim() || 'Social story';
      f.loading = 'lazy';
      // No allow-same-origin: the embed can never reach the publisher's page.
      f.setAttribute('sandbox', 'allow-scripts allow-popups allow-popups-to-escape-sandbox');
      f.style.cssText = 'display:block;width:100%;border:0;height:' + (q.dataset.height || 480) + 'px';
      frames[k] = f;
      q.parentNode.replaceChild(f, q);
    }
  }

  w.addEventListener('message', function (e) {
    var m = e.data, f = m && m.type === 'samembed:resize' && frames[m.id], h = m && m.height;
    // A sandboxed frame's messages carry the origin "null": trust only that exact
    // window, whose id only this page knows.
    if (!f || e.source !== f.contentWindow || (e.origin !== origin && e.origin !== 'null')) return;
    if (typeof h !== 'number' || !(h > 0 && h < 1e5)) return;
    f.style.height = Math.min(Math.max(Math.round(h), 40), 2e4) + 'px';
  });

  w.samembed = { load: load };
  load();
})(window, document);
