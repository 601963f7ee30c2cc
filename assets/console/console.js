// The console's only script (CSP: script-src 'self'; no inline handlers).
// Every page works without it; it adds:
// - dialogs as modals: a control with data-dialog="<id>" opens that
//   <dialog> with showModal() instead of loading the page with ?dialog=…;
//   a dialog the server rendered open (no script, or an error to show)
//   becomes modal too. Focus goes to the first field and stays inside;
//   Escape or a [data-close] control closes it; focus returns to the
//   control that opened it;
// - [data-confirm-word]: enables its button only once the word is typed;
// - [data-copy]: copies the named input's value;
// - [data-ui]: counts a click as the anonymous metric `ui.click.<name>`;
// - <time data-local>: shown in the browser's time zone;
// - [data-select-all="<class>"]: ticks or clears every input of that class.
(function () {
  "use strict";

  function csrf() {
    var b = document.body && document.body.getAttribute("hx-headers");
    try { return b ? JSON.parse(b)["X-CSRF-Token"] : ""; } catch (e) { return ""; }
  }

  // ---- dialogs ----

  var opener = null;

  function focusables(d) {
    var all = d.querySelectorAll("a[href], button, input, select, textarea, [tabindex]");
    return Array.prototype.filter.call(all, function (el) {
      return !el.disabled && el.type !== "hidden" && el.tabIndex >= 0 && el.getClientRects().length > 0;
    });
  }

  function firstField(d) {
    return d.querySelector("[autofocus]") ||
      d.querySelector("input:not([type=hidden]):not([disabled]), select, textarea") ||
      focusables(d)[0];
  }

  // A control that sets up the dialog for one item (revoke *this* token).
  function prepare(d, from) {
    if (!from) return;
    // Opened afresh: nothing typed last time, no old error.
    Array.prototype.forEach.call(d.querySelectorAll("form"), function (f) { f.reset(); });
    Array.prototype.forEach.call(d.querySelectorAll("[data-confirm-word]"), function (el) {
      var button = document.getElementById(el.getAttribute("data-confirm-button"));
      if (button) button.disabled = true;
    });
    Array.prototype.forEach.call(d.querySelectorAll("[data-server-error]"), function (el) { el.remove(); });
    var action = from.getAttribute("data-action");
    var form = d.querySelector("form");
    if (action && form) form.setAttribute("action", action);
    var subject = from.getAttribute("data-subject");
    var slot = d.querySelector("[data-subject-slot]");
    if (subject && slot) slot.textContent = subject;
  }

  function openModal(d, from) {
    // A dialog rendered open is not modal: take it out and show it again.
    if (d.open) d.removeAttribute("open");
    opener = from || document.querySelector('[data-dialog="' + d.id + '"]');
    prepare(d, from);
    d.showModal();
    var f = firstField(d);
    if (f) f.focus();
  }

  function closed(d) {
    if (d.open) return; // reopened as a modal since
    // The page's address no longer names the dialog (a reload keeps it shut).
    if (/[?&]dialog=/.test(location.search) && history.replaceState) {
      var q = location.search.replace(/^\?/, "").split("&").filter(function (p) {
        return p && !/^(dialog|revoke)=/.test(p);
      }).join("&");
      history.replaceState(history.state, "", location.pathname + (q ? "?" + q : "") + location.hash);
    }
    var back = opener;
    opener = null;
    if (back && back.isConnected) {
      // A control inside a closed menu cannot take focus: its menu can.
      var menu = back.closest("details");
      if (back.getClientRects().length === 0 && menu) back = menu.querySelector("summary");
      back.focus();
    }
  }

  function upgrade(root) {
    var open = (root || document).querySelectorAll("dialog.modal[open]");
    Array.prototype.forEach.call(open, function (d) {
      if (!d.matches(":modal")) openModal(d, null);
    });
    localTimes(root || document);
    // A field in error carries [autofocus]. htmx focuses the first
    // [autofocus] of a swapped page, which may sit in a closed dialog and
    // cannot take focus: focus the first one outside dialogs instead.
    if (!document.querySelector("dialog:modal") &&
        (!document.activeElement || document.activeElement === document.body)) {
      var auto = Array.prototype.filter.call(document.querySelectorAll("[autofocus]"), function (el) {
        return !el.closest("dialog") && el.getClientRects().length > 0;
      })[0];
      if (auto) auto.focus();
    }
    // "Select every row" needs this script: shown only with it.
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-select-all]"), function (el) {
      el.hidden = false;
    });
  }

  document.addEventListener("change", function (ev) {
    var el = ev.target;
    var rows = el && el.getAttribute && el.getAttribute("data-select-all");
    if (!rows || !/^[a-z-]+$/.test(rows)) return;
    Array.prototype.forEach.call(document.querySelectorAll("input." + rows), function (box) {
      box.checked = el.checked;
    });
  });

  // ---- times ----
  // <time datetime="…Z" data-local> shows UTC to the second; here it is
  // shown in the browser's zone instead (the exact UTC stays as its title).

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function localTimes(root) {
    var times = root.querySelectorAll("time[data-local]");
    Array.prototype.forEach.call(times, function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      var zone = "";
      try {
        zone = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
          .formatToParts(d).filter(function (p) { return p.type === "timeZoneName"; })
          .map(function (p) { return " " + p.value; }).join("");
      } catch (e) { zone = ""; }
      var day = d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate());
      // data-local="day": the browser's calendar day only (a list's column).
      t.textContent = t.getAttribute("data-local") === "day" ? day :
        day + " " + two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds()) + zone;
      t.removeAttribute("data-local");
    });
  }

  document.addEventListener("close", function (ev) {
    if (ev.target && ev.target.tagName === "DIALOG") closed(ev.target);
  }, true);

  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Tab") return;
    var d = document.querySelector("dialog:modal");
    if (!d) return;
    var items = focusables(d);
    if (!items.length) return;
    var first = items[0], last = items[items.length - 1];
    var at = document.activeElement;
    if (!d.contains(at)) {
      ev.preventDefault();
      (ev.shiftKey ? last : first).focus();
    } else if (ev.shiftKey && at === first) {
      ev.preventDefault();
      last.focus();
    } else if (!ev.shiftKey && at === last) {
      ev.preventDefault();
      first.focus();
    }
  });

  document.addEventListener("submit", function (ev) {
    // A download leaves the page where it is: its dialog has done its job.
    var form = ev.target;
    var d = form.closest && form.closest("dialog");
    if (d && form.hasAttribute("data-close-on-submit")) setTimeout(function () { d.close(); }, 0);
  });

  // ---- clicks: dialogs (before htmx follows the link), copy, counting ----

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

  function count(el) {
    var ui = el && el.getAttribute("data-ui");
    if (ui && /^[a-z0-9-]{1,64}$/.test(ui)) {
      pending[ui] = (pending[ui] || 0) + 1;
      if (!timer) timer = setTimeout(flush, 2000);
    }
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target && ev.target.closest ? ev.target : null;
    if (!t) return;
    var open = t.closest("[data-dialog]");
    var d = open && document.getElementById(open.getAttribute("data-dialog"));
    if (d && d.tagName === "DIALOG") {
      ev.preventDefault();
      ev.stopPropagation();
      count(open);
      openModal(d, open);
      return;
    }
    var close = t.closest("[data-close]");
    var inside = close && close.closest("dialog");
    if (inside && inside.open) {
      ev.preventDefault();
      ev.stopPropagation();
      count(close);
      inside.close();
      return;
    }
    var el = t.closest("[data-copy], [data-ui]");
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
    count(el);
  }, true);

  document.addEventListener("input", function (ev) {
    var el = ev.target;
    var word = el && el.getAttribute && el.getAttribute("data-confirm-word");
    if (!word) return;
    var button = document.getElementById(el.getAttribute("data-confirm-button"));
    if (button) button.disabled = el.value !== word;
  });

  window.addEventListener("pagehide", flush);
  // htmx swaps whole pages in (hx-boost): their dialogs need the same.
  document.addEventListener("htmx:afterSettle", function () { upgrade(document); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { upgrade(document); });
  } else {
    upgrade(document);
  }
})();
