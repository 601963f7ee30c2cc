// The console's only script (CSP: script-src 'self'; no inline handlers).
// - [data-confirm-word]: enables its button only once the word is typed;
// - [data-copy]: copies the named input's value;
// - [data-ui]: counts a click as the anonymous metric `ui.click.<name>`.
(function () {
  "use strict";

  function csrf() {
    var b = document.body && document.body.getAttribute("hx-headers");
    try { return b ? JSON.parse(b)["X-CSRF-Token"] : ""; } catch (e) { return ""; }
  }

  document.addEventListener("input", function (ev) {
    var el = ev.target;
    var word = el && el.getAttribute && el.getAttribute("data-confirm-word");
    if (!word) return;
    var button = document.getElementById(el.getAttribute("data-confirm-button"));
    if (button) button.disabled = el.value !== word;
  });

  var pending = {};
  var timer = null;
  function flush() {
    timer = null;
    var events = Object.keys(pending).map(function (k) {
      return { name: "ui.click." + k, count: pending[k] };
    });
    pending = {};
    if (!events.length) return;
    var body = JSON.stringify({ events: events });
    fetch("/admin/ui-events", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: body,
      keepalive: true,
      credentials: "same-origin"
    }).catch(function () {});
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target && ev.target.closest && ev.target.closest("[data-copy], [data-ui]");
    if (!el) return;
    var copy = el.getAttribute("data-copy");
    if (copy) {
      var input = document.getElementById(copy);
      if (input && navigator.clipboard) {
        navigator.clipboard.writeText(input.value).then(function () {
          el.textContent = "Copied";
        }, function () { input.select(); });
      } else if (input) {
        input.select();
      }
    }
    var ui = el.getAttribute("data-ui");
    if (ui && /^[a-z0-9-]{1,64}$/.test(ui)) {
      pending[ui] = (pending[ui] || 0) + 1;
      if (!timer) timer = setTimeout(flush, 2000);
    }
  });
  window.addEventListener("pagehide", flush);
})();
