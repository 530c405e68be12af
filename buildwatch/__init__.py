"""BuildWatch: watch Firefox try pushes on Treeherder."""

__version__ = "0.1.0"

from .celery import app as celery_app  # noqa: E402

__all__ = ["celery_app", "__version__"]
