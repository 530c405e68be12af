// Push page. The poller (#push-poll) asks every few seconds for what changed since its token and tells
// the server which groups are open (their changed jobs come back, swapped in place: nothing moves, focus
// stays) and which failure summary it shows (sent again, out of band, only when it changed). A group that
// becomes failing opens once; if the user closes it, it stays closed. The tab's
// title and favicon follow the poller's data attributes; running jobs' elapsed times tick here.
// The page may arrive as its shell (pushes.views.push_detail): placeholders (data-placeholder) that load
// the header, the live section and the failure summary; the live section loaded so is treated as the
// page's first, and a placeholder whose request fails says so in its own place.
(function () {
  "use strict";
  var seenFailing = {}; // group id -> true once it has been failing (opened for the user, or left alone)
  var openState = null; // open groups, kept across a whole reload of #push-live by the poller
  var focusedId = null;

  function groups() {
    return document.querySelectorAll("#push-live details.group[id]");
  }

  // Open the groups failing for the first time (unless `justNote`): once, so a group the user closed
  // stays closed.
  function openNewFailures(justNote) {
    groups().forEach(function (details) {
      var summary = details.querySelector("summary");
      if (!summary || summary.dataset.status !== "failing" || seenFailing[details.id]) return;
      seenFailing[details.id] = true;
      if (!justNote && !details.open) details.open = true; // "toggle" loads its jobs
    });
  }

  function syncTab() {
    var poll = document.getElementById("push-poll");
    if (!poll) return;
    if (poll.dataset.title) document.title = poll.dataset.title;
    syncEta(poll);
    var icon = document.getElementById("favicon");
    if (icon && poll.dataset.favicon && icon.getAttribute("href") !== poll.dataset.favicon) {
      icon.setAttribute("href", poll.dataset.favicon);
    }
  }

  // The header's estimated finish (#push-eta) follows the poller's data-eta: a running push's "ETA 14:20
  // (14:05–14:50)" or "no estimate yet"; none once it is finished.
  function syncEta(poll) {
    var line = document.getElementById("push-eta");
    if (!line) return;
    var text = poll.dataset.eta || "";
    line.hidden = !text;
    line.classList.toggle("muted", Boolean(text) && !poll.dataset.etaAt);
    var span = line.firstElementChild;
    if (!span) {
      span = document.createElement("span");
      line.appendChild(span);
    }
    span.title = poll.dataset.etaTitle || "";
    if (span.textContent !== text) span.textContent = text;
  }

  function minutes(value) {
    var total = Math.round(value);
    if (total < 1) return "< 1 min";
    var hours = Math.floor(total / 60), mins = total % 60;
    return hours ? hours + " h " + (mins < 10 ? "0" : "") + mins + " min" : mins + " min";
  }

  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll(".elapsed[data-since]").forEach(function (span) {
      span.textContent = minutes((now - Number(span.dataset.since)) / 60);
    });
  }

  function requester(detail) {
    return detail.requestConfig ? detail.requestConfig.elt : detail.elt;
  }

  function fromPoller(detail) {
    var elt = requester(detail);
    return Boolean(elt && elt.id === "push-poll");
  }

  // The shell's live section arriving: its groups are the page's first (failing tier-1 ones come open;
  // nothing opens by itself at load).
  function fromShell(detail) {
    var elt = requester(detail);
    return Boolean(elt && elt.hasAttribute && elt.hasAttribute("data-shell"));
  }

  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt || event.detail.elt.id !== "push-poll") return;
    var open = [];
    groups().forEach(function (details) {
      if (details.open && details.querySelector(".job-list")) open.push(details.id);
    });
    event.detail.parameters.open = open.join(",");
    // With a filter on, which groups the page shows: a group that gets its first match is added.
    var live = document.getElementById("push-live");
    if (live && live.dataset.filtered) {
      var shown = [];
      groups().forEach(function (details) { shown.push(details.id); });
      event.detail.parameters.shown = shown.join(",");
    }
    // The failure summary the page shows (once loaded): the answer carries it again only if it changed.
    var failures = document.getElementById("failures");
    if (failures && failures.dataset.digest) event.detail.parameters.failures = failures.dataset.digest;
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    // A retrigger's answer goes in a row of its own under the job (pushes/retrigger_result.html#row_result):
    // one per job, the latest.
    if (target && target.matches && target.matches("tr.job[id^='jr-']")) {
      var previous = document.getElementById("rr-" + target.id.slice(3));
      if (previous) previous.remove();
    }
    if (target && target.id === "push-live" && fromPoller(event.detail)) {
      openState = {};
      groups().forEach(function (details) { openState[details.id] = details.open; });
    }
    var active = document.activeElement;
    focusedId = active && active.id && active !== document.body ? active.id : null;
  });

  // A group read from a fetch newer than the page's token already has the rows the poller's refresh then
  // appends (a job that newly failed): keep one row per job, the last (the newest) one.
  function oneRowPerJob() {
    var seen = {};
    var rows = document.querySelectorAll('#push-live tr[id^="jr-"]');
    for (var i = rows.length - 1; i >= 0; i--) {
      if (seen[rows[i].id]) rows[i].remove();
      else seen[rows[i].id] = true;
    }
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (fromPoller(event.detail)) oneRowPerJob();
    var first = fromShell(event.detail);
    if (first) document.querySelectorAll("#push-live .group-jobs").forEach(readAgainIfOlder);
    if (openState) {
      var state = openState;
      openState = null;
      Object.keys(state).forEach(function (id) {
        var details = document.getElementById(id);
        if (details && details.open !== state[id]) details.open = state[id];
      });
    }
    if (focusedId && document.activeElement === document.body) {
      var again = document.getElementById(focusedId);
      if (again) again.focus({ preventScroll: true });
    }
    focusedId = null;
    openNewFailures(first);
    syncTab();
    tick();
  });

  // A closed group is not refreshed (only open ones are): its jobs are marked stale when it closes and
  // read again when it is reopened, so a reopened group never shows statuses from before it was closed.
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.matches || !details.matches("#push-live details.group[id]")) return;
    var jobs = details.querySelector(".group-jobs");
    if (!details.open) {
      if (jobs && jobs.querySelector(".job-list")) details.dataset.stale = "1";
    } else if (details.dataset.stale && jobs && jobs.dataset.url) {
      delete details.dataset.stale;
      htmx.ajax("GET", jobs.dataset.url, { target: jobs, swap: "innerHTML" });
    }
  }, true); // toggle does not bubble

  // A group's jobs are read when it opens, while the poller goes on: if a refresh newer than that read
  // lands first, it updates the rows the group still shows, and then the older read replaces them. So a
  // group's jobs read from a fetch older than the page's token are read once more (data-fetched on the
  // section, data-token on the poller; 1 ms for the token's rounding; twice at most).
  function pageToken() {
    var poll = document.getElementById("push-poll");
    return poll ? Number(poll.dataset.token || 0) : 0;
  }

  function readAgainIfOlder(jobs) {
    var list = jobs.querySelector(".job-list[data-fetched]");
    if (!list || !jobs.dataset.url) return;
    if (Number(list.dataset.fetched) + 0.001 >= pageToken()) {
      delete jobs.dataset.reread;
      return;
    }
    var tries = Number(jobs.dataset.reread || 0);
    if (tries >= 2) return;
    jobs.dataset.reread = String(tries + 1);
    htmx.ajax("GET", jobs.dataset.url, { target: jobs, swap: "innerHTML" });
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.matches && target.matches("#push-live .group-jobs")) readAgainIfOlder(target);
  });

  // Retrigger buttons say themselves what went wrong (app.js leaves data-own-errors to them).
  function retriggerError(event, text) {
    var button = event.detail.elt;
    if (!button || !button.classList || !button.classList.contains("retrigger-button")) return;
    var cell = button.parentElement;
    var message = cell.querySelector(".retrigger-error");
    if (!message) {
      message = document.createElement("span");
      message.className = "retrigger-error";
      message.setAttribute("role", "alert");
      cell.appendChild(message);
    }
    message.textContent = typeof text === "function" ? text(event.detail.xhr) : text;
  }

  // A placeholder of the shell whose request failed: its "reading…" becomes why, with its link (the
  // whole page, or the failure summary's own) to try again.
  function placeholderError(event, text) {
    var elt = event.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-placeholder")) return;
    var reading = elt.querySelector(".reading");
    if (!reading) return;
    var link = reading.querySelector("a");
    reading.className = "banner banner-error";
    reading.setAttribute("role", "alert");
    reading.textContent = text + " ";
    if (link) {
      link.className = "";
      link.textContent = "Try again";
      reading.appendChild(link);
    }
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    placeholderError(event, "Could not read this part: BuildWatch answered HTTP " + (xhr ? xhr.status : 0) + ".");
  });
  document.addEventListener("htmx:sendError", function (event) {
    placeholderError(event, "Could not read this part: BuildWatch did not answer.");
  });

  document.addEventListener("htmx:responseError", function (event) {
    retriggerError(event, function (xhr) {
      return "Not retriggered: BuildWatch answered HTTP " + xhr.status + ". Reload the page and try again.";
    });
  });
  document.addEventListener("htmx:sendError", function (event) {
    retriggerError(event, "BuildWatch did not answer, so the job may or may not have been retriggered: check the push before trying again.");
  });

  // The failure summary sits above the platforms: a refresh that changed it while the reader is below it
  // (it is wholly above the window) would move what they read. It waits, the newest kept, until they
  // scroll back up to it (the page keeps sending it while the page shows the older digest).
  var pendingFailures = null;

  function applyPendingFailures() {
    var current = document.getElementById("failures");
    if (!pendingFailures || !current || current.getBoundingClientRect().bottom <= 0) return;
    var fresh = pendingFailures;
    pendingFailures = null;
    fresh.removeAttribute("hx-swap-oob");
    current.replaceWith(fresh);
    htmx.process(fresh);
  }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "failures" || !event.detail.fragment) return;
    if (target.getBoundingClientRect().bottom > 0) {
      pendingFailures = null;
      return;
    }
    var fresh = event.detail.fragment.querySelector ? event.detail.fragment.querySelector("#failures") : null;
    if (!fresh && event.detail.fragment.id === "failures") fresh = event.detail.fragment;
    if (!fresh) return;
    pendingFailures = fresh.cloneNode(true);
    event.detail.shouldSwap = false;
  });
  window.addEventListener("scroll", applyPendingFailures, { passive: true });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#push-live .group-jobs").forEach(readAgainIfOlder);
    openNewFailures(true);
    syncTab();
    tick();
    window.setInterval(tick, 30000);
  });
})();
