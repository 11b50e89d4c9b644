// Studio helpers, loaded as a file (the studio's CSP has no inline script):
// copy buttons, keyboard shortcuts in the moderation queue, drag-and-drop order.
(function () {
  document.addEventListener('click', function (e) {
    var b = e.target.closest('[data-copy]');
    if (!b) return;
    navigator.clipboard.writeText(document.getElementById(b.dataset.copy).value).then(function () {
      b.textContent = 'Copied';
      setTimeout(function () { b.textContent = 'Copy snippet'; }, 2000);
    });
  });

  // Destructive buttons ask first (no inline handlers: the CSP forbids them).
  document.addEventListener('click', function (e) {
    var b = e.target.closest('button[data-confirm]');
    if (b && !window.confirm(b.dataset.confirm)) e.preventDefault();
  });

  var rows = function () { return Array.prototype.slice.call(document.querySelectorAll('table.posts tbody tr[data-post-id]')); };

  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || /INPUT|TEXTAREA|SELECT/.test(e.target.tagName)) return;
    var all = rows(), row = e.target.closest && e.target.closest('tr[data-post-id]');
    if (!all.length) return;
    var i = all.indexOf(row);
    if (e.key === 'j' || e.key === 'k') {
      var next = all[Math.min(all.length - 1, Math.max(0, i + (e.key === 'j' ? 1 : -1)))] || all[0];
      next.focus();
      e.preventDefault();
    } else if (row && e.key === 'x') {
      var box = row.querySelector('input[type=checkbox]');
      box.checked = !box.checked;
    } else if (row && 'arph'.indexOf(e.key) >= 0) {
      var button = row.querySelector('button[data-key="' + e.key + '"]');
      if (button) button.click();
    }
  });

  var table = document.querySelector('table.posts[data-sortable="yes"]');
  if (!table) return;
  var dragged = null;
  table.addEventListener('dragstart', function (e) {
    dragged = e.target.closest('tr[data-post-id]');
    dragged.classList.add('dragging');
    e.dataTransfer.effectAllowed = 'move';
  });
  table.addEventListener('dragover', function (e) {
    var over = e.target.closest('tr[data-post-id]');
    if (!dragged || !over || over === dragged) return;
    e.preventDefault();
    rows().forEach(function (r) { r.classList.remove('drop-target'); });
    over.classList.add('drop-target');
  });
  table.addEventListener('drop', function (e) {
    var target = e.target.closest('tr[data-post-id]');
    if (!dragged || !target || target === dragged) return;
    e.preventDefault();
    // Dropped on a row: the dragged post goes just before it.
    var all = rows(), at = all.indexOf(target), before = all[at - 1] === dragged ? all[at - 2] : all[at - 1];
    var body = new URLSearchParams({
      version: dragged.dataset.version,
      before: before ? before.dataset.postId : '',
      after: target.dataset.postId
    });
    fetch('/studio/posts/' + dragged.dataset.postId + '/move', {
      method: 'POST', body: body, credentials: 'same-origin',
      headers: { 'X-CSRFToken': document.getElementById('csrf').value, Accept: 'application/json' }
    }).then(function () { location.reload(); });
  });
  table.addEventListener('dragend', function () {
    if (dragged) dragged.classList.remove('dragging');
    rows().forEach(function (r) { r.classList.remove('drop-target'); });
    dragged = null;
  });
})();
