from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.forms import SignInForm

from . import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # Sign in with a username or an email (accounts.forms.SignInForm); the rest is Django's.
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=SignInForm), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("oidc/", include("buildwatch.views_auth")),  # sign-in with the OpenID provider (SSO)
    # Each app routes its own views. notifications and accounts first: their fixed paths (/, /watching/,
    # /settings/, …) must win over pushes' /<repo>/.
    path("", include("notifications.urls")),
    path("", include("accounts.urls")),
    path("", include("pushes.urls")),
]
