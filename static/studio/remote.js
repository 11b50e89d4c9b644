// The producer remote, loaded as a file (the studio's CSP has no inline script).
// Every button is a form that works without this script; with it, a press is sent
// with Accept: application/json, answered in a sentence, and the desk is redrawn
// in place from the page itself (no reload, focus kept on the same control).
// "Hide everywhere" offers an Undo for 10 s. The desk refreshes every 15 s so the
// count of connected screens and "now showing" stay current.
(function () {
  'use strict';
  var d = document;
  var desk = d.querySelector('[data-remote-desk]');
  if (!desk || !window.fetch || !window.FormData || !window.DOMParser) return;
  var feedback = d.querySelector('[data-remote-feedback]');
  var said = d.querySelector('[data-remote-said]');
  var busy = false, undoTimer = 0, REFRESH = 15000;

  function say(text, ok) {
    said.hidden = false;
    said.className = (ok ? 'ok' : 'error') + ' remote-said';
    said.setAttribute('role', ok ? 'status' : 'alert');
    said.textContent = text;
  }

  function csrf() {
    var input = d.querySelector('input[name=csrfmiddlewaretoken]');
    return input ? input.value : '';
  }

  function redraw(focusKey) {
    return fetch(location.pathname, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, 'text/html').querySelector('[data-remote-desk]');
        if (!fresh) return;
        desk.innerHTML = fresh.innerHTML;
        desk.setAttribute('data-control-version', fresh.getAttribute('data-control-version'));
        if (focusKey) {
          var again = desk.querySelector('[data-key="' + focusKey + '"]');
          if (again) again.focus();
        }
      });
  }

  function dropUndo() {
    clearInterval(undoTimer);
    var old = feedback.querySelector('[data-remote-undo]');
    if (old) old.parentNode.removeChild(old);
  }

  function offerUndo(message, undo) {
    dropUndo();
    var bar = d.createElement('div');
    bar.className = 'remote-undo';
    bar.setAttribute('data-remote-undo', '');
    var text = d.createElement('span');
    text.textContent = message;
    var button = d.createElement('button');
    button.type = 'button';
    button.setAttribute('data-key', 'unhide');
    var left = undo.seconds || 10;
    function label() { button.textContent = 'Undo (' + left + ' s)'; }
    label();
    undoTimer = setInterval(function () {
      left -= 1;
      if (left <= 0) dropUndo(); else label();
    }, 1000);
    button.addEventListener('click', function () {
      var body = new FormData();
      body.set('csrfmiddlewaretoken', csrf());
      body.set('command', 'unhide');
      body.set('post', undo.post);
      body.set('post_version', String(undo.post_version));
      dropUndo();
      send(body, 'hide:' + undo.post);
    });
    bar.appendChild(text);
    bar.appendChild(d.createTextNode(' '));
    bar.appendChild(button);
    feedback.appendChild(bar);
    button.focus();
  }

  function send(body, focusKey) {
    if (busy) return;
    busy = true;
    desk.setAttribute('aria-busy', 'true');
    var url = (d.querySelector('form.remote-form') || {}).action ||
      location.pathname.replace(/\/?$/, '/command');
    fetch(url, { method: 'POST', body: body, credentials: 'same-origin',
                 headers: { Accept: 'application/json' } })
      .then(function (r) {
        return r.json().catch(function () { return { ok: false, message: 'The studio answered ' + r.status + '; try again.' }; });
      })
      .then(function (answer) {
        say(answer.message, answer.ok);
        var undone = body.get('command') === 'unhide';
        return redraw(answer.undo || undone ? null : focusKey).then(function () {
          if (answer.ok && answer.undo) {
            said.hidden = true; // the undo bar says it, once
            offerUndo(answer.message, answer.undo);
          }
        });
      })
      .catch(function () { say('The studio could not be reached; nothing changed. Try again.', false); })
      .then(function () { busy = false; desk.removeAttribute('aria-busy'); });
  }

  d.addEventListener('submit', function (e) {
    var form = e.target.closest && e.target.closest('form.remote-form, form[data-remote-undo]');
    if (!form) return;
    e.preventDefault();
    var body = new FormData(form);
    var button = e.submitter || form.querySelector('button[name]');
    if (button && button.name) body.set(button.name, button.value);
    send(body, button && button.getAttribute('data-key'));
  });

  setInterval(function () {
    if (busy || d.hidden) return;
    var active = d.activeElement && d.activeElement.getAttribute && d.activeElement.getAttribute('data-key');
    redraw(desk.contains(d.activeElement) ? active : null);
  }, REFRESH);
})();
