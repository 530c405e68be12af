from django.urls import path, re_path

from pushes.rules import REPO_NAME

from . import early_views, matrix_views, views, webpush_views
from .unsubscribe import unsubscribe

# The push pages' repository names; push ids are digits only (anything else is a 404).
PUSH = rf"^(?P<repo>{REPO_NAME})/pushes/(?P<push_id>[0-9]{{1,19}})"

urlpatterns = [
    path("", views.home, name="home"),
    path("settings/", views.settings_view, name="settings"),
    path("watching/", views.watching, name="watching"),
    re_path(PUSH + r"/watch/$", views.watch, name="watch"),
    re_path(PUSH + r"/unwatch/$", views.unwatch, name="unwatch"),
    re_path(PUSH + r"/early-alert/$", early_views.toggle_early_alert, name="watch_early_alert"),
    path("settings/webpush/subscribe/", webpush_views.subscribe, name="webpush_subscribe"),
    path("settings/webpush/<int:pk>/delete/", webpush_views.unsubscribe, name="webpush_unsubscribe"),
    path("settings/matrix/test/", matrix_views.send_test, name="matrix_test"),
    path("sw.js", webpush_views.service_worker, name="service_worker"),
    # One-click unsubscribe from emails (notifications/unsubscribe.py): a signed token, no sign-in.
    path("unsubscribe/<str:token>/", unsubscribe, name="unsubscribe"),
]
