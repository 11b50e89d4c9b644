// The Sources page, loaded as a file (the studio's CSP has no inline script).
// Without it every kind's fieldset shows and Test posts the form; with it only the
// chosen kind's fields show and Test answers in place, without leaving the page.
(function () {
  'use strict';
  var form = document.querySelector('[data-src-form]');
  if (!form) return;
  var kind = form.querySelector('[data-src-kind]');
  var sets = Array.prototype.slice.call(form.querySelectorAll('fieldset[data-kind]'));
  var hint = form.querySelector('.src-nojs');
  var out = form.querySelector('[data-src-trial]');
  var test = form.querySelector('[data-src-test]');

  function show() {
    sets.forEach(function (fs) {
      var on = fs.getAttribute('data-kind') === kind.value;
      fs.hidden = !on;
      fs.disabled = !on; // hidden fields are not sent either
    });
    if (hint) hint.hidden = true;
  }
  // Within a kind, fields that only one way of collecting uses ("a hashtag" or
  // "an account's posts") show for that way only.
  var whens = Array.prototype.slice.call(form.querySelectorAll('[data-src-when]'));
  function showModes() {
    whens.forEach(function (field) {
      var rule = field.getAttribute('data-src-when').split('=');
      var select = form.querySelector('[name="' + rule[0] + '"]');
      field.hidden = !!select && select.value !== rule[1];
    });
  }
  form.addEventListener('change', function (e) {
    if (e.target === kind) {
      show();
      out.textContent = '';
    }
    showModes();
  });
  show();
  showModes();

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  function render(answer) {
    out.textContent = '';
    var p = el('p', answer.ok ? 'ok' : 'error', answer.message);
    p.setAttribute('role', answer.ok ? 'status' : 'alert');
    out.appendChild(p);
    if (!answer.posts || !answer.posts.length) return;
    var list = el('ul', 'src-posts');
    answer.posts.forEach(function (post) {
      var li = el('li');
      li.appendChild(el('b', '', post.author));
      if (post.handle) { li.appendChild(document.createTextNode(' ')); li.appendChild(el('span', 'muted', post.handle)); }
      var when = el('time', 'muted', ' · ' + new Date(post.posted_at).toLocaleString());
      when.setAttribute('datetime', post.posted_at);
      li.appendChild(document.createTextNode(' '));
      li.appendChild(when);
      var text = el('p', '', post.text);
      text.setAttribute('dir', 'auto');
      li.appendChild(text);
      if (post.media) li.appendChild(el('p', 'help', post.media + (post.media > 1 ? ' images' : ' image')));
      list.appendChild(li);
    });
    out.appendChild(list);
  }

  test.addEventListener('click', function (e) {
    if (!window.fetch || !window.FormData) return; // the plain form post does it
    e.preventDefault();
    var body = new FormData(form);
    body.set('test', '1');
    test.disabled = true;
    var label = test.textContent;
    test.textContent = 'Testing…';
    out.textContent = '';
    fetch(form.action, { method: 'POST', body: body, credentials: 'same-origin',
                         headers: { Accept: 'application/json' } })
      .then(function (r) {
        return r.json().catch(function () { throw new Error('The studio answered ' + r.status + '.'); });
      })
      .then(render)
      .catch(function (err) { render({ ok: false, message: 'The test could not run: ' + err.message }); })
      .then(function () { test.disabled = false; test.textContent = label; });
  });
})();
