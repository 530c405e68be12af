"""Print a fresh VAPID key pair in .env form: `manage.py generate_vapid_keys >> .env`."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from notifications.channels.webpush.vapid import generate_vapid_keys


class Command(BaseCommand):
    help = "Print a new VAPID key pair (VAPID_PUBLIC_KEY / VAPID_PRIVATE_KEY lines) for .env."

    def handle(self, *args: object, **options: object) -> None:
        keys = generate_vapid_keys()
        self.stdout.write(
            "# Web push (VAPID). Keep the private key secret; changing the pair invalidates every\n"
            "# browser subscription (users subscribe again on /settings/).\n"
            f"VAPID_PUBLIC_KEY={keys.public_key}\n"
            f"VAPID_PRIVATE_KEY={keys.private_key}\n"
            "# VAPID_SUBJECT=mailto:you@example.com\n"
        )
