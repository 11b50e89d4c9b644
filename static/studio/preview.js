// The story page's preview and colour check, loaded as a file by story_form.html
// only (the studio's CSP has no inline script).
//
// Without JavaScript the page shows one preview frame, links to each template's
// preview and the default snippet. With it, a small form chooses the width the
// publisher's page gives the embed (the frame is laid out at that real width and
// scaled down to fit the column), the template and the snippet's options; the
// snippet and the frame follow every change. The story's version is polled, so
// the frame reloads when a post or a setting changes anywhere, as live embeds do.
// The colour pickers show the accent's contrast against the backgrounds it sits on.
(function () {
  'use strict';

  var POLL_MS = 2000;
  var SCREEN = { width: 1920, height: 1080 };

  // ---- contrast (WCAG 2 relative luminance) ----------------------------------------

  function rgb(hex) {
    var n = parseInt(hex.slice(1), 16);
    return [n >> 16 & 255, n >> 8 & 255, n & 255];
  }
  function luminance(c) {
    var l = c.map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
  }
  function ratio(a, b) {
    var x = luminance(a), y = luminance(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  }
  // Dark cards show links as the accent mixed with white (base.css), on #151b25.
  function darkLink(c) { return c.map(function (v) { return Math.round(v * 0.55 + 255 * 0.45); }); }

  var colours = document.querySelector('[data-colours]');
  if (colours) {
    var accent = colours.querySelector('[data-accent]');
    var background = colours.querySelector('[data-background]');
    var plain = colours.querySelector('[data-plain]');
    var out = document.querySelector('[data-contrast]');
    var mode = document.querySelector('select[name=mode]');
    var check = function () {
      background.disabled = plain.checked;
      var a = rgb(accent.value), pairs = [];
      if (!plain.checked) pairs.push(['on your background', rgb(background.value), a]);
      // The cards keep their own colour on any page background.
      if (mode.value !== 'dark') pairs.push(['on light cards', [255, 255, 255], a]);
      if (mode.value !== 'light') pairs.push(['on dark cards', [21, 27, 37], darkLink(a)]);
      out.textContent = '';
      var low = 0;
      pairs.forEach(function (p) {
        var r = ratio(p[1], p[2]), item = document.createElement('span');
        item.className = 'sf-ratio' + (r < 4.5 ? ' sf-low' : '');
        item.textContent = 'Accent ' + p[0] + ': ' + (Math.floor(r * 10) / 10).toFixed(1) + ':1';
        if (r < 4.5) low++;
        out.appendChild(item);
      });
      var note = document.createElement('strong');
      note.className = low ? 'sf-warning' : 'sf-fine';
      note.setAttribute('data-contrast-verdict', low ? 'low' : 'ok');
      note.textContent = low
        ? 'Below 4.5:1: links and highlights in this accent are hard to read. Choose a darker or lighter accent.'
        : 'Readable: at least 4.5:1 everywhere it shows.';
      out.appendChild(note);
    };
    [accent, background, plain, mode].forEach(function (el) {
      el.addEventListener('input', check);
      el.addEventListener('change', check);
    });
    check();
  }

  // ---- preview -----------------------------------------------------------------------

  var root = document.querySelector('[data-preview]');
  if (!root) return;
  var builder = root.querySelector('[data-builder]');
  var stage = root.querySelector('[data-stage]');
  var box = root.querySelector('[data-box]');
  var frame = root.querySelector('[data-frame]');
  var status = root.querySelector('[data-status]');
  var snippet = document.getElementById('snippet');
  var template = builder.querySelector('[name=pv-template]');
  var theme = builder.querySelector('[name=pv-theme]');
  var limit = builder.querySelector('[name=pv-limit]');
  var maxHeight = builder.querySelector('[name=pv-max-height]');
  var version = root.dataset.version;
  var contentHeight = 0;
  var frameId = '';
  builder.hidden = false;
  root.classList.add('pv-live');

  function width() {
    var checked = builder.querySelector('[name=pv-width]:checked');
    return checked ? +checked.value : 1280;
  }
  // A value of the builder as the loader would take it: whole numbers in range only.
  function bounded(input, lo, hi) {
    var v = input.value.trim();
    var ok = /^\d+$/.test(v) && +v >= lo && +v <= hi;
    input.setAttribute('aria-invalid', v && !ok ? 'true' : 'false');
    return ok ? +v : 0;
  }
  function escape(s) {
    return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  }

  var RESERVED = { list: '100vh', grid: '100vh', carousel: '700px', ticker: '200px' };

  function writeSnippet() {
    var o = root.dataset.origin, attrs = ' data-story="' + escape(root.dataset.slug) + '"' +
      ' data-template="' + template.value + '"' + (theme.value ? ' data-theme="' + theme.value + '"' : '');
    var l = bounded(limit, 1, 100), m = bounded(maxHeight, 40, 1e6);
    if (l) attrs += ' data-limit="' + l + '"';
    if (m) attrs += ' data-max-height="' + m + '"';
    // The height the placeholder keeps until its frame reports one, as
    // samembed/embed/snippet.py's RESERVED.
    var r = RESERVED[template.value];
    if (r) attrs += ' style="min-height:' + (m ? 'min(' + r + ',' + m + 'px)' : r) + '"';
    snippet.value = '<blockquote class="samembed"' + attrs + '>\n' +
      '  <a href="' + escape(o + '/s/' + root.dataset.slug) + '">' + escape(root.dataset.title) + '</a>\n' +
      '</blockquote>\n<script async src="' + escape(o) + '/embed.js"></' + 'script>';
  }

  function url() {
    var q = '?template=' + template.value + (theme.value ? '&theme=' + theme.value : ''),
      l = bounded(limit, 1, 100);
    if (l) q += '&limit=' + l;
    // The version makes each reload a new URL (the fragment alone would not reload).
    frameId = 'pv' + version + Math.random().toString(36).slice(2, 8);
    return root.dataset.src + q + '&v=' + version + '#samembed=' + frameId +
      (bounded(maxHeight, 40, 1e6) ? '&bounded' : '');
  }

  // The frame keeps its real layout width; only its picture is scaled to the column.
  function layout() {
    var w = width(), screen = w === SCREEN.width;
    var h = screen ? SCREEN.height : contentHeight || 600, m = bounded(maxHeight, 40, 1e6);
    if (m && !screen) h = Math.min(h, m);
    var scale = Math.min(1, stage.clientWidth / w);
    frame.style.width = w + 'px';
    frame.style.height = h + 'px';
    frame.style.transform = scale < 1 ? 'scale(' + scale + ')' : '';
    box.style.width = Math.floor(w * scale) + 'px';
    box.style.height = Math.ceil(h * scale) + 'px';
    status.textContent = template.value + ' at ' + w + (screen ? '×' + SCREEN.height : '') + ' px' +
      (scale < 1 ? ', shown at ' + Math.round(scale * 100) + '%' : '') + ' · version ' + version;
  }

  // A new frame each time: setting src on a frame still loading its first document
  // can leave it on that document in Chromium (and its reports would not match).
  function reload() {
    var next = frame.cloneNode(false);
    contentHeight = 0;
    next.title = 'Preview: ' + template.value + ' at ' + width() + ' px';
    next.src = url();
    frame.replaceWith(next);
    frame = next;
    layout();
  }

  builder.addEventListener('submit', function (e) { e.preventDefault(); });
  builder.addEventListener('change', function (e) {
    // The screen template is made for a 1920×1080 display: choosing it shows it there
    // (another width can be chosen after).
    if (e.target === template && template.value === 'screen') {
      builder.querySelector('[name=pv-width][value="1920"]').checked = true;
    }
    writeSnippet();
    if (e.target.name === 'pv-width' || e.target === maxHeight) layout(); else reload();
  });
  [limit, maxHeight].forEach(function (input) {
    input.addEventListener('input', function () {
      writeSnippet();
      if (input === maxHeight) layout();
    });
  });

  // The embed reports its height as it does to the loader (frame.js), to its id only.
  window.addEventListener('message', function (e) {
    var m = e.data;
    if (e.source !== frame.contentWindow || !m || m.type !== 'samembed:resize' || m.id !== frameId) return;
    if (typeof m.height !== 'number' || !(m.height > 0 && m.height <= 1e6)) return;
    contentHeight = Math.max(40, Math.ceil(m.height));
    layout();
  });
  window.addEventListener('resize', layout);

  // Live as you curate: the version moves with every post and setting change.
  function look() {
    if (document.hidden) return;
    fetch(root.dataset.poll, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || !data.ok || String(data.version) === version) return;
        version = String(data.version);
        root.dataset.version = version;
        reload();
      }, function () {});
  }
  setInterval(look, POLL_MS);

  writeSnippet();
  reload();
})();
