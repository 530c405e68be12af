from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("", RedirectView.as_view(url="/try/", permanent=False), name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    # notifications first: its fixed paths (/watching/, /settings/, …) must win over pushes' /<repo>/.
    path("", include("notifications.urls")),
    path("", include("pushes.urls")),
]
