"""Compressed responses, with the BREACH mitigations Django documents.

BREACH recovers a secret from the size of compressed responses that also reflect attacker-chosen text
(our search box, query strings). Against it:
- Django masks the CSRF token differently in every response (built in), so the one secret our push pages
  carry never repeats;
- GZipMiddleware adds "Heal The Breach" padding: up to `max_random_bytes` random bytes in the gzip header,
  so response sizes stop telling the guess that matched;
- pages that carry other secrets (settings with Taskcluster credentials, sign-in and password pages, the
  admin) are never compressed: `NEVER_COMPRESS` below;
- session and CSRF cookies are SameSite=Lax (Django's default), so another site cannot make the browser
  send the many cross-site requests the attack needs with the user's cookies on POSTs.
Static files keep WhiteNoise's own pre-compressed copies (this middleware sits after WhiteNoise).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware

NEVER_COMPRESS = ("/settings/", "/accounts/", "/admin/")


class CompressionMiddleware(GZipMiddleware):
    max_random_bytes = 100  # Django's default, stated here because it is the mitigation

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if request.path.startswith(NEVER_COMPRESS):
            return response
        return super().process_response(request, response)
