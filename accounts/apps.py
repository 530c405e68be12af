from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Per-user data: settings, sign-in identities, Taskcluster credentials. The bottom of the apps: it
    imports Django's auth and nothing of `pushes` or `notifications` (tests/test_imports.py checks)."""

    name = "accounts"
    verbose_name = "Accounts"
