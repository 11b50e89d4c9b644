/* The story page: each post's time, sent as an ISO timestamp in UTC, shown in
   the reader's own time zone and the page's language. Without this script the
   server's UTC text stays. */
(function () {
  "use strict";
  var lang = document.documentElement.lang || undefined, shown, full;
  try {
    shown = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
    full = new Intl.DateTimeFormat(lang, { dateStyle: "full", timeStyle: "long" });
  } catch (e) { return; }
  Array.prototype.forEach.call(document.querySelectorAll("time[datetime]"), function (el) {
    var t = Date.parse(el.getAttribute("datetime"));
    if (isNaN(t)) return;
    el.textContent = shown.format(t);
    el.title = full.format(t);
    el.setAttribute("data-local", "");
  });
})();
