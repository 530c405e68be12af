"""Site-wide request handling BuildWatch adds to Django's own middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.common import CommonMiddleware

from . import upstream

SAFE_METHODS = frozenset({"GET", "HEAD"})


class PageBudgetMiddleware:
    """A request waits at most TREEHERDER_PAGE_TIMEOUT for Treeherder in total, whatever it reads and
    however often a read is retried (page clients keep to buildwatch.upstream.page_budget)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with upstream.page_budget(settings.TREEHERDER_PAGE_TIMEOUT):
            return self.get_response(request)


class SlashCommonMiddleware(CommonMiddleware):
    """Django's CommonMiddleware, but APPEND_SLASH redirects only GET and HEAD: a redirected POST would
    lose its body (and in DEBUG Django raises a RuntimeError, a 500). Other methods keep their 404."""

    def should_redirect_with_slash(self, request: HttpRequest) -> bool:
        return request.method in SAFE_METHODS and super().should_redirect_with_slash(request)
