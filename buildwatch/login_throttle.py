"""Sign-in throttling (django-axes, configured in settings): the address a failed sign-in counts against.

Behind a reverse proxy every request comes from the proxy: with TRUSTED_PROXY_COUNT=N the client is the
N-th address from the right of X-Forwarded-For (the one the outermost trusted proxy saw); anything left
of it is what the client claims and is not trusted.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    count = int(settings.TRUSTED_PROXY_COUNT)
    remote = request.META.get("REMOTE_ADDR", "")
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    return hops[-count] if len(hops) >= count else remote
