from django.conf import settings
from django.http import HttpRequest

from . import __version__


def buildwatch(request: HttpRequest) -> dict:
    return {
        "BUILDWATCH_VERSION": __version__,
        "BUILDWATCH_REFRESH_SECONDS": settings.BUILDWATCH_REFRESH_SECONDS,
        "SITE_URL": settings.SITE_URL,
        "TREEHERDER_URL": settings.TREEHERDER_URL,
        # Development only: the "Treeherder is unreachable" banners point at `make demo`.
        "BUILDWATCH_DEV_HINTS": settings.DEBUG,
    }
