from django.contrib import admin
from django.urls import include, path

from notifications import views as notifications_views

from . import views

urlpatterns = [
    path("", notifications_views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("oidc/", include("buildwatch.views_auth")),  # sign-in with the OpenID provider (SSO)
    # notifications first: its fixed paths (/watching/, /settings/, …) must win over pushes' /<repo>/.
    path("", include("notifications.urls")),
    path("", include("pushes.urls")),
]
