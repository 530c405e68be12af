/* The web push section of /settings/: register /sw.js, subscribe this browser, remove subscriptions. */
(function () {
  "use strict";

  const root = document.querySelector("[data-webpush]");
  if (!root) {
    return;
  }
  const button = root.querySelector("[data-webpush-enable]");
  const status = root.querySelector("[data-webpush-status]");

  function say(message) {
    status.textContent = message;
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    button.disabled = true;
    say("This browser does not support web push notifications (or this page is not served over HTTPS).");
    return;
  }

  function base64UrlToBytes(value) {
    const padded = (value + "=".repeat((4 - (value.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(padded);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function sameKey(buffer, bytes) {
    if (!buffer) {
      return false;
    }
    const a = new Uint8Array(buffer);
    return a.length === bytes.length && a.every((value, i) => value === bytes[i]);
  }

  const serverKey = base64UrlToBytes(root.dataset.vapidPublicKey);
  const registration = navigator.serviceWorker.register(root.dataset.swUrl, { scope: "/" });

  function markThisBrowser(subscription) {
    document.querySelectorAll("[data-webpush-subscription]").forEach((row) => {
      const mine = subscription !== null && row.dataset.endpoint === subscription.endpoint;
      const badge = row.querySelector("[data-webpush-this-browser]");
      if (badge) {
        badge.hidden = !mine;
      }
    });
  }

  registration
    .then((reg) => reg.pushManager.getSubscription())
    .then((subscription) => {
      markThisBrowser(subscription);
      if (subscription && Notification.permission === "granted") {
        const listed = document.querySelector(
          `[data-webpush-subscription][data-endpoint="${CSS.escape(subscription.endpoint)}"]`,
        );
        if (listed) {
          button.textContent = "Subscribe this browser again";
          say("This browser is subscribed.");
        }
      } else if (Notification.permission === "denied") {
        say("Notifications are blocked for this site; allow them in the browser's site settings first.");
      }
    })
    .catch((error) => say(`Could not register the service worker: ${error.message}`));

  function post(subscription) {
    return fetch(root.dataset.subscribeUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrfToken },
      body: JSON.stringify(subscription.toJSON()),
    });
  }

  async function subscribe() {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      say("Notifications are blocked for this site; allow them in the browser's site settings and try again.");
      return;
    }
    await registration;
    const reg = await navigator.serviceWorker.ready;
    let subscription = await reg.pushManager.getSubscription();
    if (subscription && !sameKey(subscription.options.applicationServerKey, serverKey)) {
      // Made with another server key (the VAPID keys changed): it can never receive our messages.
      await subscription.unsubscribe();
      subscription = null;
    }
    if (!subscription) {
      subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: serverKey });
    }
    let response = await post(subscription);
    if (response.status === 409 && (await response.clone().json().catch(() => ({}))).resubscribe) {
      // Another account subscribed from this browser profile: the server never moves a subscription,
      // so drop it (the push service revokes its endpoint) and subscribe afresh for this account.
      await subscription.unsubscribe();
      subscription = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: serverKey });
      response = await post(subscription);
    }
    if (!response.ok || response.redirected) {
      let detail = response.redirected ? "you are signed out; sign in again and retry" : `HTTP ${response.status}`;
      try {
        detail = (await response.json()).error || detail;
      } catch (e) {
        // Not JSON: Django's CSRF refusal is an HTML 403 (the page's token went stale).
        if (response.status === 403) {
          detail = "this page is out of date; reload it and try again";
        }
      }
      say(`The server did not accept the subscription: ${detail}`);
      return;
    }
    say("This browser is subscribed.");
    window.location.reload();
  }

  button.addEventListener("click", () => {
    button.disabled = true;
    say("Subscribing…");
    subscribe()
      .catch((error) => say(`Could not subscribe this browser: ${error.message}`))
      .finally(() => {
        button.disabled = false;
      });
  });

  // Removing this browser's own row also unsubscribes it here, so the push service forgets it too.
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("[data-webpush-remove]");
    const row = form && form.closest("[data-webpush-subscription]");
    if (!row || form.dataset.unsubscribed) {
      return;
    }
    event.preventDefault();
    registration
      .then((reg) => reg.pushManager.getSubscription())
      .then((subscription) =>
        subscription && subscription.endpoint === row.dataset.endpoint ? subscription.unsubscribe() : null,
      )
      .catch(() => null)
      .finally(() => {
        form.dataset.unsubscribed = "1";
        form.submit();
      });
  });
})();
