// The browser's time zone, for the times the server writes (buildwatch.timezones reads the cookie).
(function () {
  "use strict";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && /^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone) && document.cookie.split("; ").indexOf("bw_tz=" + zone) < 0) {
      document.cookie = "bw_tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) {
    // no Intl: the server's default (UTC)
  }
})();

// Every page: an htmx request that fails says so in one place (#request-status) instead of nothing
// happening. A form with its own error text (data-own-errors) is left to it (a 401 with HX-Redirect never
// gets here: htmx follows it to the sign-in page first). A failed refresh is cleared once every address that failed has
// answered again (other parts of the page keep refreshing meanwhile); a failed change stays until a later
// change goes through.
(function () {
  "use strict";
  var shownFor = null; // "read" or "change": what kind of request the message on show is about
  var failedReads = {}; // request path -> true, for refreshes whose last attempt failed

  function pathOf(detail) {
    return (detail.requestConfig && detail.requestConfig.path) || "";
  }

  function isChange(detail) {
    var verb = (detail.requestConfig && detail.requestConfig.verb) || "get";
    return verb.toLowerCase() !== "get";
  }

  function ownsErrors(detail) {
    var elt = detail.elt;
    return Boolean(elt && elt.closest && elt.closest("[data-own-errors]"));
  }

  function show(text, kind) {
    var region = document.getElementById("request-status");
    if (!region || (kind === "read" && shownFor === "change")) return; // an unsaved change matters more
    region.textContent = text;
    region.hidden = false;
    shownFor = kind;
  }

  function clear(kind) {
    var region = document.getElementById("request-status");
    if (!region || shownFor !== kind) return;
    region.hidden = true;
    region.textContent = "";
    shownFor = null;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var detail = event.detail;
    var xhr = detail.xhr;
    if (ownsErrors(detail)) return;
    var status = xhr ? xhr.status : 0;
    if (isChange(detail)) {
      var why = status === 403 ? "this page is out of date (HTTP 403)" : "BuildWatch answered HTTP " + status;
      show("Not saved: " + why + ". Reload the page and try again.", "change");
    } else {
      failedReads[pathOf(detail)] = true;
      show("Could not refresh (BuildWatch answered HTTP " + status + "); showing what was last loaded.", "read");
    }
  });

  document.addEventListener("htmx:sendError", function (event) {
    var detail = event.detail;
    if (ownsErrors(detail)) return;
    if (isChange(detail)) {
      show("BuildWatch did not answer, so your change may not have been saved. Reload the page to see where things stand.", "change");
    } else {
      failedReads[pathOf(detail)] = true;
      show("BuildWatch did not answer; showing what was last loaded.", "read");
    }
  });

  // A retrigger form says itself what went wrong (no retry: the job may already have been retriggered).
  function retriggerError(event, text) {
    var form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest(".retrigger-form");
    var slot = form && form.querySelector(".retrigger-error");
    if (slot) slot.textContent = text;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    retriggerError(event, "Not retriggered: BuildWatch answered HTTP " + (xhr ? xhr.status : 0) + ". Reload the page and try again.");
  });

  document.addEventListener("htmx:sendError", function (event) {
    retriggerError(event, "BuildWatch did not answer, so the job may or may not have been retriggered: check the push before trying again.");
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var detail = event.detail;
    if (!detail.successful) return;
    if (isChange(detail)) {
      clear("change");
      return;
    }
    delete failedReads[pathOf(detail)];
    if (Object.keys(failedReads).length === 0) clear("read");
  });
})();
