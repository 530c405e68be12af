"""Web push views: store/remove a browser's subscription, and serve the service worker from the root."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from .channels.webpush.subscriptions import (
    EndpointTaken,
    SubscriptionInvalid,
    parse_subscription,
    save_subscription,
)
from .channels.webpush.user_agent import browser_label
from .channels.webpush.vapid import webpush_available
from .models import ChannelSettings, PushSubscription

SERVICE_WORKER = settings.BASE_DIR / "static" / "sw.js"


@require_POST
def subscribe(request: HttpRequest) -> JsonResponse:
    """POST the browser's `PushSubscription.toJSON()` as JSON (CSRF via the X-CSRFToken header)."""
    if not request.user.is_authenticated:
        # A script reads this answer: a redirect to the login page would be followed and look like a 200.
        return JsonResponse({"error": "you are signed out; sign in again and retry"}, status=401)
    if not webpush_available():
        return JsonResponse({"error": "Web push is not configured on this server."}, status=409)
    try:
        data = parse_subscription(json.loads(request.body or b"null"))
    except (ValueError, UnicodeDecodeError) as exc:  # SubscriptionInvalid, JSONDecodeError
        message = str(exc) if isinstance(exc, SubscriptionInvalid) else "the body is not JSON"
        return JsonResponse({"error": f"Invalid subscription: {message}."}, status=400)
    try:
        subscription, created = save_subscription(request.user, data, request.headers.get("User-Agent", ""))
    except EndpointTaken:
        # The browser drops this subscription and makes a fresh one (static/js/webpush.js).
        message = "this browser's subscription belongs to another BuildWatch account"
        return JsonResponse({"error": message, "resubscribe": True}, status=409)
    # Subscribing a browser is asking for web push: switch the channel on too.
    ChannelSettings.objects.update_or_create(user=request.user, channel="webpush", defaults={"enabled": True})
    return JsonResponse(
        {"id": subscription.pk, "created": created, "browser": browser_label(subscription.user_agent)},
        status=201 if created else 200,
    )


@login_required
@require_POST
def unsubscribe(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(PushSubscription, pk=pk, user=request.user)
    label = browser_label(subscription.user_agent)
    subscription.delete()
    messages.success(request, f"Web push removed for {label}.")
    return redirect("settings")


@require_safe
@never_cache
def service_worker(request: HttpRequest) -> HttpResponse:
    # Served from / (not /static/) so its scope can be the whole site.
    response = HttpResponse(SERVICE_WORKER.read_bytes(), content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response
