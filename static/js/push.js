// Push page: keep opened platform groups open across live refreshes, and keep the tab's title and
// favicon in step with the push's state (the refreshed #push-live carries them as data attributes).
(function () {
  "use strict";
  var openState = null;

  function syncTab() {
    var live = document.getElementById("push-live");
    if (!live) return;
    if (live.dataset.title) document.title = live.dataset.title;
    var icon = document.getElementById("favicon");
    if (icon && live.dataset.favicon && icon.getAttribute("href") !== live.dataset.favicon) {
      icon.setAttribute("href", live.dataset.favicon);
    }
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "push-live") return;
    openState = {};
    target.querySelectorAll("details[id]").forEach(function (details) {
      openState[details.id] = details.open;
    });
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (openState) {
      var state = openState;
      openState = null;
      Object.keys(state).forEach(function (id) {
        var details = document.getElementById(id);
        // Reopening fires "toggle", which lazily reloads the group's jobs.
        if (details && details.open !== state[id]) details.open = state[id];
      });
    }
    syncTab();
  });

  document.addEventListener("DOMContentLoaded", syncTab);
})();
