// Studio helpers: copy buttons. Loaded as a file: the studio's CSP has no inline script.
document.addEventListener('click', function (e) {
  var b = e.target.closest('[data-copy]');
  if (!b) return;
  var field = document.getElementById(b.dataset.copy);
  navigator.clipboard.writeText(field.value).then(function () {
    b.textContent = 'Copied';
    setTimeout(function () { b.textContent = 'Copy snippet'; }, 2000);
  });
});
