"""The web push channel: a browser notification through each browser's push service (RFC 8030, VAPID).

Its modules, along their seams: this one the channel (who wants it, why a row is skipped, send);
vapid.py the server's keys; subscriptions.py the browsers' subscriptions (checked and stored);
user_agent.py the browser names shown on /settings/; send.py the payload and the POSTs to the push
services, the only HTTP (through pywebpush's `requests`), with the allowlist of where it may POST.
The outbox calls `WebPushChannel.send` for ledger rows of channel "webpush" and maps a `TransportError`
onto the ledger (permanent → failed, otherwise retried later).
"""

from __future__ import annotations

from typing import Any

from notifications.models import ChannelSettings, Notification, PushSubscription

from ..base import Channel
from .send import send_webpush
from .vapid import vapid_problem, webpush_available


class WebPushChannel(Channel):
    name = "webpush"
    label = "Web push"
    switch_label = "By browser push notification"

    def unavailable_reason(self) -> str:
        if webpush_available():
            return ""
        return "this server has no VAPID keys configured (VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY)"

    def wanted(self, user: Any, prefs: ChannelSettings) -> bool:
        return prefs.enabled and PushSubscription.objects.filter(user=user).exists()

    def skip_reason(self, notification: Notification, prefs: ChannelSettings) -> str:
        if not prefs.enabled:
            return "web push was turned off before delivery"
        return vapid_problem()  # configured, but keys that cannot sign anything a browser accepts

    def send(self, notification: Notification) -> None:
        send_webpush(notification)
