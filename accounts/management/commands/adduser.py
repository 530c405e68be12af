"""manage.py adduser EMAIL: create a BuildWatch account and print a one-time link to set its password."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import UserSettings


def set_password_link(user: Any) -> str:
    """Django's password-reset link: valid until used, the password changes, or PASSWORD_RESET_TIMEOUT."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.SITE_URL + reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


class Command(BaseCommand):
    help = (
        "Create a user (no password yet) and print a one-time link where they set their password. "
        "With --reset, print a new link for an existing user instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the account email (also the default Treeherder author email)")
        parser.add_argument("--username", help="login name (default: the part of EMAIL before the @)")
        parser.add_argument("--staff", action="store_true", help="may sign in to /admin/")
        parser.add_argument("--superuser", action="store_true", help="staff with every permission")
        parser.add_argument(
            "--reset", action="store_true", help="the user exists: print a fresh set-password link"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["email"].strip()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{email!r} is not a valid email address.") from None
        User = get_user_model()
        username = (options["username"] or email.split("@", 1)[0]).strip()

        if options["reset"]:
            user = User.objects.filter(email__iexact=email).first() if not options["username"] else None
            user = user or User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user with email {email} or username {username!r}.")
            self._print_link(user, created=False)
            return

        if User.objects.filter(username=username).exists():
            raise CommandError(
                f"The username {username!r} is taken: pick another with --username, "
                "or print a new set-password link with --reset."
            )
        try:
            User._meta.get_field("username").run_validators(username)
        except ValidationError as error:
            raise CommandError(f"Invalid username {username!r}: {' '.join(error.messages)}") from None
        with transaction.atomic():
            user = User.objects.create_user(
                username=username,
                email=email,
                password=None,  # unusable until the user follows the link
                is_staff=options["staff"] or options["superuser"],
                is_superuser=options["superuser"],
            )
            UserSettings.for_user(user)
        self._print_link(user, created=True)

    def _print_link(self, user: Any, *, created: bool) -> None:
        what = "Created" if created else "New set-password link for"
        self.stdout.write(f"{what} user {user.get_username()!r} <{user.email}>.")
        self.stdout.write(
            f"They sign in with the username {user.get_username()} or the email {user.email}, and their password."
        )
        self.stdout.write("Send them this one-time link to set their password (it stops working once used):")
        self.stdout.write(set_password_link(user))
