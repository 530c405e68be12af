// Keyboard shortcuts, as Treeherder users have them (issue 28, item 7):
//   /  focus the job search (on a page that has one)
//   j  next failure, k  previous failure (the failure summary's .failure-group: scrolled to, focused)
//   f  Failures only on/off (submits the push page's form.job-filters with show=failures or show=all)
//   ?  show or hide the list of keys (#keys-help in templates/base.html; Escape hides it too)
// Never while typing in a field, never with Ctrl, Alt or Meta (the browser's own shortcuts).
(function () {
  "use strict";

  function typing(target) {
    if (!target || !target.closest) return false;
    return Boolean(target.isContentEditable || target.closest("input, textarea, select, [contenteditable]"));
  }

  function visible(element) {
    return element.getClientRects().length > 0;
  }

  function searchField() {
    return document.querySelector("form.job-filters input[type=search]");
  }

  function moveFailure(step) {
    var groups = Array.prototype.filter.call(document.querySelectorAll(".failure-group"), visible);
    if (!groups.length) return false;
    var current = groups.indexOf(document.querySelector(".failure-group.key-current"));
    var next = current < 0 ? 0 : Math.min(Math.max(current + step, 0), groups.length - 1);
    Array.prototype.forEach.call(document.querySelectorAll(".failure-group.key-current"), function (group) {
      group.classList.remove("key-current");
    });
    var target = groups[next];
    target.classList.add("key-current");
    if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "center" });
    return true;
  }

  function toggleFailuresOnly() {
    var form = document.querySelector("form.job-filters");
    if (!form) return false;
    var failures = form.querySelector("input[name=show][value=failures]");
    var all = form.querySelector("input[name=show][value=all]");
    if (!failures || !all) return false;
    (failures.checked ? all : failures).checked = true;
    if (form.requestSubmit) form.requestSubmit();
    else form.submit();
    return true;
  }

  function help() {
    return document.getElementById("keys-help");
  }

  function toggleHelp(show) {
    var panel = help();
    if (!panel) return false;
    panel.hidden = show === undefined ? !panel.hidden : !show;
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      if (help() && !help().hidden) toggleHelp(false);
      return;
    }
    if (typing(event.target)) return;
    var done = false;
    if (event.key === "/") {
      var field = searchField();
      if (field) {
        field.focus();
        field.select();
        done = true;
      }
    } else if (event.key === "j") {
      done = moveFailure(1);
    } else if (event.key === "k") {
      done = moveFailure(-1);
    } else if (event.key === "f") {
      done = toggleFailuresOnly();
    } else if (event.key === "?") {
      done = toggleHelp();
    }
    if (done) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var hint = document.getElementById("keys-hint");
    if (hint) hint.hidden = false; // the keys need this script: no hint without it
    var close = document.getElementById("keys-help-close");
    if (close) {
      close.addEventListener("click", function () {
        toggleHelp(false);
      });
    }
  });
})();
