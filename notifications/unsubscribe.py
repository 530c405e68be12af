"""One-click unsubscribe (RFC 8058): the link in every email's List-Unsubscribe header.

GET shows a confirmation page (link scanners and previews follow GETs, so GET changes nothing);
POST — from that page's button or straight from the mail client's one-click — turns notifications off.
No sign-in and no CSRF token: the signed token in the URL is the authorisation.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts.models import UserSettings

from .channels.email import user_from_unsubscribe_token


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    user = user_from_unsubscribe_token(token)
    if user is None:
        return render(request, "emails/unsubscribe.html", {"invalid": True}, status=404)
    if request.method == "POST":
        user_settings = UserSettings.for_user(user)
        if user_settings.notifications_enabled:
            user_settings.notifications_enabled = False
            user_settings.save(update_fields=["notifications_enabled", "updated_at"])
        return render(request, "emails/unsubscribe.html", {"done": True, "target_user": user})
    return render(request, "emails/unsubscribe.html", {"target_user": user})
