/* BuildWatch service worker: shows web push notifications and opens the push's page on click.
   Served at /sw.js (header Service-Worker-Allowed: /) so its scope is the whole site. */
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// Only ever open pages of this site, whatever host the server thinks it has (SITE_URL).
function sameOriginUrl(url) {
  try {
    const parsed = new URL(url || "/", self.location.origin);
    // Set the parts on a URL of this origin: a path like "//other.host/" joined as a string is another host.
    const target = new URL(self.location.origin);
    target.pathname = parsed.pathname;
    target.search = parsed.search;
    target.hash = parsed.hash;
    return target.href;
  } catch (e) {
    return new URL("/", self.location.origin).href;
  }
}

self.addEventListener("push", (event) => {
  let data = {};
  if (event.data) {
    try {
      data = event.data.json();
    } catch (e) {
      data = { body: event.data.text() };
    }
  }
  const options = {
    body: data.body || "",
    data: { url: sameOriginUrl(data.url) },
    icon: "/static/img/favicon.svg",
  };
  if (data.tag) {
    options.tag = data.tag; // a retried send replaces the notification instead of adding a second
  }
  event.waitUntil(self.registration.showNotification(data.title || "BuildWatch", options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = sameOriginUrl(event.notification.data && event.notification.data.url);
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const client of windows) {
        if (client.url === target && "focus" in client) {
          return client.focus();
        }
      }
      if (self.clients.openWindow) {
        return self.clients.openWindow(target);
      }
      return undefined;
    })(),
  );
});
