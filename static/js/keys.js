// Keyboard shortcuts, as Treeherder users have them (issue 28, item 7):
//   /  focus the job search (on a page that has one)
//   j  next failure, k  previous failure (the failure summary's .failure-group: scrolled to, focused)
//   f  Failures only on/off (submits the push page's form.job-filters with show=failures or show=all)
//   ?  show or hide the list of keys (#keys-help in templates/base.html; Escape hides it too). The list
//      shows a key's line (its data-key) only where the key does something on this page, as it is now.
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

  function failureGroups() {
    return Array.prototype.filter.call(document.querySelectorAll(".failure-group"), visible);
  }

  function moveFailure(step) {
    var groups = failureGroups();
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

  function failuresOnlyChoice() {
    var form = document.querySelector("form.job-filters");
    if (!form) return null;
    var failures = form.querySelector("input[name=show][value=failures]");
    var all = form.querySelector("input[name=show][value=all]");
    return failures && all ? { form: form, failures: failures, all: all } : null;
  }

  function toggleFailuresOnly() {
    var choice = failuresOnlyChoice();
    if (!choice) return false;
    var form = choice.form;
    (choice.failures.checked ? choice.all : choice.failures).checked = true;
    if (form.requestSubmit) form.requestSubmit();
    else form.submit();
    return true;
  }

  function help() {
    return document.getElementById("keys-help");
  }

  // What each line of the list needs on the page for its key to work (the handlers below check the same).
  var AVAILABLE = {
    search: function () {
      return Boolean(searchField());
    },
    failures: function () {
      return failureGroups().length > 0;
    },
    filters: function () {
      return Boolean(failuresOnlyChoice());
    },
  };

  function fitHelp(panel) {
    Array.prototype.forEach.call(panel.querySelectorAll("[data-key]"), function (line) {
      var available = AVAILABLE[line.getAttribute("data-key")];
      line.hidden = Boolean(available && !available());
    });
  }

  function toggleHelp(show) {
    var panel = help();
    if (!panel) return false;
    panel.hidden = show === undefined ? !panel.hidden : !show;
    if (!panel.hidden) fitHelp(panel);
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

  // The page changes under an open list (htmx swaps in the failures, the filters): the list follows.
  document.addEventListener("htmx:afterSettle", function () {
    var panel = help();
    if (panel && !panel.hidden) fitHelp(panel);
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
