// Studio helpers, loaded as a file (the studio's CSP has no inline script):
// copy buttons, confirmations, and the moderation desk.
//
// The desk enhances the queue's plain forms (which keep working without
// JavaScript): every action is sent with fetch and answered in JSON, the card
// is replaced or leaves in place, focus moves to the next post, an undo bar
// offers the way back for ten seconds, and a conflict (409) or an error puts
// the card back as it is with a message. New posts arriving in the queue are
// fetched every few seconds and offered with a count rather than a jump.
(function () {
  'use strict';

  document.addEventListener('click', function (e) {
    var b = e.target.closest('[data-copy]');
    if (!b) return;
    navigator.clipboard.writeText(document.getElementById(b.dataset.copy).value).then(function () {
      b.textContent = 'Copied';
      setTimeout(function () { b.textContent = 'Copy snippet'; }, 2000);
    });
  });

  var queue = document.querySelector('[data-queue]');

  // Destructive buttons ask first, unless the desk can undo them.
  document.addEventListener('click', function (e) {
    var b = e.target.closest('button[data-confirm]');
    if (!b) return;
    var undoable = queue && b.closest('.qcard') && b.value === 'remove';
    if (!undoable && !window.confirm(b.dataset.confirm)) e.preventDefault();
  });

  if (!queue) return;

  var csrf = document.getElementById('csrf').value;
  var stateView = queue.dataset.state;
  var undoBar = document.querySelector('[data-undo]');
  var undoText = undoBar.querySelector('[data-undo-text]');
  var undoButton = undoBar.querySelector('[data-undo-button]');
  var undoTimer = null, lastUndo = null;
  var UNDO_MS = 10000, POLL_MS = 2000;

  var cards = function () {
    return Array.prototype.slice.call(queue.querySelectorAll('.qcard')).filter(function (c) { return !c.hidden; });
  };
  var ACTION_KEYS = ['a', 'r', 'p', 'h', 'Delete'];

  function post(url, fields) {
    var body = new URLSearchParams(fields);
    return fetch(url, {
      method: 'POST', body: body, credentials: 'same-origin',
      headers: { 'X-CSRFToken': csrf, Accept: 'application/json' }
    }).then(function (r) {
      return r.json().catch(function () { return { ok: false, error: 'The server answered ' + r.status + '.' }; })
        .then(function (data) { data.status = r.status; return data; });
    }, function () { return { ok: false, error: 'The studio cannot be reached. Check the connection and try again.' }; });
  }

  function fromHtml(html) {
    var t = document.createElement('template');
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  function say(text, undo, isError) {
    clearTimeout(undoTimer);
    undoText.textContent = text;
    undoBar.classList.toggle('error', !!isError);
    undoButton.hidden = !undo;
    lastUndo = undo || null;
    undoBar.hidden = false;
    undoTimer = setTimeout(function () { undoBar.hidden = true; lastUndo = null; }, UNDO_MS);
  }

  function counts(c) {
    if (!c) return;
    Object.keys(c).forEach(function (s) {
      var el = document.querySelector('[data-count="' + s + '"]');
      if (el) el.textContent = c[s];
    });
  }

  function focusNear(index) {
    var all = cards();
    var next = all[Math.min(index, all.length - 1)];
    if (next) { next.focus(); return; }
    var heading = document.querySelector('h1');  // the queue is empty: somewhere sensible
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }

  function replaceCard(card, html, leaves) {
    var index = cards().indexOf(card);
    var hadFocus = card.contains(document.activeElement);
    if (leaves || !html) {
      card.remove();
      if (hadFocus) focusNear(index);
      return null;
    }
    var fresh = fromHtml(html);
    card.replaceWith(fresh);
    if (hadFocus) fresh.focus();
    return fresh;
  }

  // One action on one card: optimistic (it fades at once), rolled back on refusal.
  function act(card, fields, url) {
    if (card.classList.contains('busy')) return;
    var leavingAction = ['approve', 'reject', 'hold', 'remove'].indexOf(fields.action) >= 0;
    var index = cards().indexOf(card);
    card.classList.add('busy');
    var placeholder = null;
    if (leavingAction && card.dataset.state !== ({ approve: 'approved', reject: 'rejected', hold: 'pending' })[fields.action]) {
      // The next post is ready for the keyboard before the server answers.
      placeholder = document.createComment('pending');
      card.after(placeholder);
      card.hidden = true;
      focusNear(index);
    }
    fields.state_view = stateView;
    post(url, fields).then(function (data) {
      if (placeholder) { placeholder.remove(); card.hidden = false; }
      card.classList.remove('busy');
      if (data.ok) {
        var fresh = replaceCard(card, data.row, data.leaves);
        if (fresh && (fields.action === 'pin' || fields.action === 'unpin')) regroup(fresh);
        counts(data.counts);
        if (data.undo) data.undo.index = index;
        say(data.message, data.undo);
      } else if (data.row || data.gone) {
        // 409: the card comes back as the post now is, with why.
        var back = replaceCard(card, data.row, data.leaves && !data.row);
        if (back && placeholder) back.focus();
        say(data.error, null, true);
      } else {
        if (placeholder) card.focus();
        say(data.error || 'Not changed.', null, true);
      }
    });
  }

  // Pinned posts come first, as in the embed: a pinned card joins them.
  function regroup(card) {
    var pinned = cards().filter(function (c) { return c !== card && c.classList.contains('pinned'); });
    var last = pinned[pinned.length - 1];
    if (card.classList.contains('pinned')) {
      if (pinned.length) pinned[0].before(card); else queue.prepend(card);
    } else if (last) {
      last.after(card);
    }
    card.focus();
  }

  function undo() {
    if (!lastUndo) return;
    var u = lastUndo;
    lastUndo = null;
    undoBar.hidden = true;
    var fields = u.token ? { token: u.token, state_view: stateView } : { action: u.action, version: u.version, state_view: stateView };
    post(u.url, fields).then(function (data) {
      if (!data.ok) { say(data.error || 'Could not undo.', null, true); return; }
      counts(data.counts);
      var id = u.token ? null : u.url.split('/')[3];
      var existing = id && queue.querySelector('.qcard[data-post-id="' + id + '"]');
      if (existing) {
        var kept = replaceCard(existing, data.row, data.leaves);
        if (kept) kept.focus();
      } else if (data.row && !data.leaves) {
        // Back where it was.
        var fresh = fromHtml(data.row), at = cards()[u.index || 0];
        if (at) at.before(fresh); else queue.append(fresh);
        fresh.focus();
      }
      say(data.message || 'Undone.');
    });
  }
  undoButton.addEventListener('click', undo);

  // Every action button of a card goes through the desk. (getAttribute: the
  // buttons are named "action", which shadows form.action.)
  queue.addEventListener('submit', function (e) {
    var form = e.target, card = form.closest('.qcard');
    if (!card) return;
    e.preventDefault();
    var button = e.submitter;
    if (form.classList.contains('move')) { step(card, button.value, form.getAttribute('action')); return; }
    var fields = { version: card.dataset.version };
    if (button && button.name) fields[button.name] = button.value;
    act(card, fields, form.getAttribute('action'));
  });

  // ↑ and ↓: the card moves one place at once; the server's answer confirms it.
  function step(card, direction, url) {
    var sibling = direction === 'up' ? card.previousElementSibling : card.nextElementSibling;
    if (sibling) (direction === 'up' ? sibling.before(card) : sibling.after(card));
    card.focus();
    post(url, { version: card.dataset.version, direction: direction }).then(function (data) {
      if (!data.ok) {
        if (sibling) (direction === 'up' ? sibling.after(card) : sibling.before(card));
        if (data.row) replaceCard(card, data.row, false);
        say(data.error || 'Not moved.', null, true);
        return;
      }
      setVersion(card, data.version);
      say(data.message);
    });
  }

  function setVersion(card, version) {
    card.dataset.version = version;
    card.querySelectorAll('input[name=version]').forEach(function (i) { i.value = version; });
    card.querySelector('.pick').value = card.dataset.postId + ':' + version;
  }

  // Bulk actions: one request, every card it changed leaves.
  var bulk = document.getElementById('bulk');
  bulk.addEventListener('submit', function (e) {
    e.preventDefault();
    var button = e.submitter, data = new FormData(bulk);
    if (button && button.name) data.set(button.name, button.value);
    var url = (button && button.getAttribute('formaction')) || bulk.getAttribute('action');
    var fields = new URLSearchParams(data);
    document.querySelectorAll('.qcard .pick:checked').forEach(function (box) {
      if (!fields.getAll('post').includes(box.value)) fields.append('post', box.value);
    });
    fetch(url, {
      method: 'POST', body: fields, credentials: 'same-origin',
      headers: { 'X-CSRFToken': csrf, Accept: 'application/json' }
    }).then(function (r) { return r.json(); }).then(function (res) {
      if (!res.ok) { say(res.error, null, true); return; }
      (res.done || []).forEach(function (id) {
        var card = queue.querySelector('.qcard[data-post-id="' + id + '"]');
        if (card) card.remove();
      });
      counts(res.counts);
      say(res.message);
      focusNear(0);
    }, function () { say('The studio cannot be reached.', null, true); });
  });

  // Keyboard moderation: the focused card is the one acted on.
  var keys = document.querySelector('[data-keys]');
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || /INPUT|TEXTAREA|SELECT/.test(e.target.tagName)) return;
    if (keys.open) return;
    var all = cards(), card = e.target.closest && e.target.closest('.qcard');
    if (e.key === '?') { keys.showModal(); e.preventDefault(); return; }
    if (e.key === 'u') { undo(); e.preventDefault(); return; }
    if (!all.length) return;
    var i = all.indexOf(card);
    if (e.key === 'j' || e.key === 'k') {
      var next = all[Math.min(all.length - 1, Math.max(0, i + (e.key === 'j' ? 1 : -1)))] || all[0];
      next.focus();
      next.scrollIntoView({ block: 'nearest' });
      e.preventDefault();
    } else if (card && e.key === 'x') {
      var box = card.querySelector('.pick');
      box.checked = !box.checked;
      e.preventDefault();
    } else if (card && e.key === 'e') {
      card.querySelector('a.edit').click();
    } else if (card && ACTION_KEYS.indexOf(e.key) >= 0) {
      var button = card.querySelector('button[data-key="' + e.key + '"]');
      if (button) { button.click(); e.preventDefault(); }
    }
  });

  // New posts: look every few seconds; offer them with a count, never a jump.
  var notice = document.querySelector('[data-new]'), showNew = notice.querySelector('[data-show-new]');
  var waiting = [], loadedAt = parseFloat(queue.dataset.loaded);
  function look() {
    if (document.hidden || location.search.indexOf('page=') >= 0 && !/page=1(&|$)/.test(location.search)) return;
    var url = location.pathname + location.search;
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || !data.ok) return;
        counts(data.counts);
        var shown = {};
        cards().forEach(function (c) { shown[c.dataset.postId] = true; });
        // Only posts collected since the page was shown: others merely moved up a page.
        waiting = data.rows.filter(function (row) { return !shown[row.id] && row.collected > loadedAt; });
        if (waiting.length) {
          showNew.textContent = waiting.length === 1 ? 'Show 1 new post' : 'Show ' + waiting.length + ' new posts';
          notice.hidden = false;
        } else {
          notice.hidden = true;
        }
      }, function () {});
  }
  showNew.addEventListener('click', function () {
    var first = null;
    waiting.slice().reverse().forEach(function (row) {
      if (queue.querySelector('.qcard[data-post-id="' + row.id + '"]')) return;
      var card = fromHtml(row.html);
      queue.prepend(card);
      first = card;
    });
    var empty = document.querySelector('[data-empty]');
    if (empty && first) empty.remove();
    waiting = [];
    notice.hidden = true;
    if (first) first.focus();
  });
  setInterval(look, POLL_MS);

  // Drag and drop order (approved posts, unfiltered): saved in place.
  if (queue.dataset.sortable !== 'yes') return;
  cards().forEach(function (c) { c.draggable = true; });
  new MutationObserver(function () { cards().forEach(function (c) { c.draggable = true; }); })
    .observe(queue, { childList: true });
  var dragged = null;
  queue.addEventListener('dragstart', function (e) {
    dragged = e.target.closest('.qcard');
    if (!dragged) return;
    dragged.classList.add('dragging');
    e.dataTransfer.effectAllowed = 'move';
  });
  queue.addEventListener('dragover', function (e) {
    var over = e.target.closest('.qcard');
    if (!dragged || !over || over === dragged) return;
    e.preventDefault();
    cards().forEach(function (r) { r.classList.remove('drop-target'); });
    over.classList.add('drop-target');
  });
  queue.addEventListener('drop', function (e) {
    var target = e.target.closest('.qcard');
    if (!dragged || !target || target === dragged) return;
    e.preventDefault();
    // Dropped on a card: the dragged post goes just before it.
    var all = cards(), at = all.indexOf(target), before = all[at - 1] === dragged ? all[at - 2] : all[at - 1];
    var moving = dragged;
    target.before(moving);
    post('/studio/posts/' + moving.dataset.postId + '/move', {
      version: moving.dataset.version, before: before ? before.dataset.postId : '', after: target.dataset.postId
    }).then(function (data) {
      if (data.ok) {
        setVersion(moving, data.version);
        say(data.message);
      } else {
        say(data.error || 'Not moved.', null, true);
        setTimeout(function () { location.reload(); }, 1500);
      }
    });
  });
  queue.addEventListener('dragend', function () {
    if (dragged) dragged.classList.remove('dragging');
    cards().forEach(function (r) { r.classList.remove('drop-target'); });
    dragged = null;
  });
})();
