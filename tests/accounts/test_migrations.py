"""The per-user data migrations, run against a database holding what the earlier schema held: the move
of the per-user models into the accounts app (every row keeps its id and its values, the tables take the
new app's names, content types and so permissions follow) and each channel's settings leaving
UserSettings' columns for ChannelSettings rows (every user's choices carried over). Both can be undone.
The same tests run again on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from accounts.crypto import decrypt_with_key_age, encrypt
from notifications import outbox
from notifications.models import ChannelSettings, Notification
from tests.helpers import scratch_postgres

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
BEFORE = [
    ("notifications", "0009_followup_occasions"),
    ("pushes", "0003_confirm_reported"),
    ("accounts", None),
]
MOVED = [
    ("accounts", "0001_initial"),
    ("notifications", "0010_accounts_moved"),
    ("pushes", "0004_accounts_moved"),
]
OLD_TABLES = {"notifications_usersettings", "notifications_ssoidentity", "pushes_taskclustercredentials"}
NEW_TABLES = {"accounts_usersettings", "accounts_ssoidentity", "accounts_taskclustercredentials"}
# Before each channel's settings left UserSettings' columns.
COLUMNS = [("notifications", "0010_accounts_moved"), ("accounts", "0001_initial")]
SINCE = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def migrate(target: list[tuple[str, str | None]]) -> object:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return (
        MigrationExecutor(connection)
        .loader.project_state([(app, name) for app, name in target if name is not None])
        .apps
    )


@pytest.fixture
def back_to_the_latest() -> Iterator[None]:
    """Whatever happens, the database ends at the latest migrations (the other tests' schema)."""
    yield
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def tables() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def old_data(old: object) -> dict[str, object]:
    """Two users' settings, one SSO identity and one set of Taskcluster credentials, in the old apps."""
    User = old.get_model("auth", "User")
    ada = User.objects.create(username="ada", email="ada@example.com")
    bob = User.objects.create(username="bob", email="bob@example.com")
    settings_ada = old.get_model("notifications", "UserSettings").objects.create(
        user=ada, author_email="ada.th@mozilla.com", default_repo="autoland", notifications_enabled=True,
        email_enabled=False, webpush_enabled=True, auto_watch=True, auto_watch_since=SINCE,
        early_alerts=False, confirm_times=5, matrix_id="@ada:mozilla.org", matrix_enabled=True,
        matrix_room_id="!room:mozilla.org",
    )  # fmt: skip
    settings_bob = old.get_model("notifications", "UserSettings").objects.create(user=bob)
    identity = old.get_model("notifications", "SSOIdentity").objects.create(
        user=ada, issuer="https://sso.example.org/", subject="ad|ada", email="ada@example.com"
    )
    credentials = old.get_model("pushes", "TaskclusterCredentials").objects.create(
        user=ada, client_id="mozilla-auth0/ad|Mozilla-LDAP|ada/buildwatch",
        access_token_encrypted=encrypt("a-secret-access-token-0123456789"), token_hint="6789",
    )  # fmt: skip
    # Django's own models (their tables do not change here): a group allowed to change user settings.
    ContentType.objects.clear_cache()
    content_type = ContentType.objects.get_or_create(app_label="notifications", model="usersettings")[0]
    permission = Permission.objects.get_or_create(
        content_type=content_type,
        codename="change_usersettings",
        defaults={"name": "Can change user settings"},
    )[0]
    Group.objects.create(name="support").permissions.add(permission)
    return {
        "ada": ada.pk,
        "settings": (settings_ada.pk, settings_bob.pk),
        "identity": identity.pk,
        "credentials": credentials.pk,
        "content_type": content_type.pk,
        "permission": permission.pk,
    }


def test_the_per_user_models_move_to_accounts_with_every_row(back_to_the_latest) -> None:
    old = migrate(BEFORE)
    assert OLD_TABLES <= tables()
    ids = old_data(old)

    new = migrate(MOVED)
    assert NEW_TABLES <= tables() and not OLD_TABLES & tables()

    UserSettings = new.get_model("accounts", "UserSettings")
    ada_pk, bob_pk = ids["settings"]
    assert UserSettings.objects.count() == 2
    ada = UserSettings.objects.get(pk=ada_pk)
    assert (ada.user_id, ada.author_email, ada.default_repo) == (ids["ada"], "ada.th@mozilla.com", "autoland")
    assert (ada.auto_watch, ada.auto_watch_since, ada.early_alerts, ada.confirm_times) == (
        True,
        SINCE,
        False,
        5,
    )
    assert (ada.email_enabled, ada.webpush_enabled, ada.matrix_enabled) == (False, True, True)
    assert (ada.matrix_id, ada.matrix_room_id) == ("@ada:mozilla.org", "!room:mozilla.org")
    bob = UserSettings.objects.get(pk=bob_pk)
    assert (bob.author_email, bob.default_repo, bob.confirm_times, bob.email_enabled) == ("", "try", 3, True)

    identity = new.get_model("accounts", "SSOIdentity").objects.get()
    assert (identity.pk, identity.user_id, identity.subject) == (ids["identity"], ids["ada"], "ad|ada")
    credentials = new.get_model("accounts", "TaskclusterCredentials").objects.get()
    assert (credentials.pk, credentials.user_id, credentials.token_hint) == (
        ids["credentials"],
        ids["ada"],
        "6789",
    )
    assert decrypt_with_key_age(credentials.access_token_encrypted) == (
        "a-secret-access-token-0123456789",
        True,
    )

    # The content type moved rather than a new one appearing: permissions granted on it still hold.
    ContentType.objects.clear_cache()
    moved = ContentType.objects.get(pk=ids["content_type"])
    assert (moved.app_label, moved.model) == ("accounts", "usersettings")
    assert not ContentType.objects.filter(app_label="notifications", model="usersettings").exists()
    assert list(Group.objects.get(name="support").permissions.values_list("pk", flat=True)) == [
        ids["permission"]
    ]
    assert Permission.objects.get(pk=ids["permission"]).content_type_id == ids["content_type"]

    # The new constraints are the old ones: one identity per subject, one settings row per user.
    with pytest.raises(IntegrityError), transaction.atomic():
        new.get_model("accounts", "SSOIdentity").objects.create(
            user_id=ids["ada"], issuer="https://sso.example.org/", subject="ad|ada"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        UserSettings.objects.create(user_id=ids["ada"])


def test_the_move_can_be_undone_with_every_row(back_to_the_latest) -> None:
    ids = old_data(migrate(BEFORE))
    migrate(MOVED)

    old = migrate(BEFORE)
    assert OLD_TABLES <= tables()
    assert not NEW_TABLES & tables()
    ada = old.get_model("notifications", "UserSettings").objects.get(pk=ids["settings"][0])
    assert (ada.matrix_room_id, ada.confirm_times) == ("!room:mozilla.org", 5)
    assert old.get_model("notifications", "SSOIdentity").objects.get().pk == ids["identity"]
    assert old.get_model("pushes", "TaskclusterCredentials").objects.get().pk == ids["credentials"]
    ContentType.objects.clear_cache()
    assert ContentType.objects.get(pk=ids["content_type"]).app_label == "notifications"


def columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {column.name for column in connection.introspection.get_table_description(cursor, table)}


def test_every_users_channel_choices_become_their_channel_settings(back_to_the_latest) -> None:
    old = migrate(COLUMNS)
    User, UserSettings = old.get_model("auth", "User"), old.get_model("accounts", "UserSettings")
    ada = User.objects.create(username="ada", email="ada@example.com")
    bob = User.objects.create(username="bob", email="bob@example.com")
    carol = User.objects.create(username="carol", email="carol@example.com")  # never saved her settings
    UserSettings.objects.create(
        user=ada, email_enabled=False, webpush_enabled=True, matrix_enabled=True,
        matrix_id="@ada:mozilla.org", matrix_room_id="!room:mozilla.org", default_repo="autoland",
    )  # fmt: skip
    UserSettings.objects.create(user=bob)  # the defaults: email on, web push and Matrix off

    new = migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert not {
        "email_enabled",
        "webpush_enabled",
        "matrix_enabled",
        "matrix_id",
        "matrix_room_id",
    } & columns("accounts_usersettings")
    rows = {
        (row.user_id, row.channel): (row.enabled, row.config)
        for row in new.get_model("notifications", "ChannelSettings").objects.all()
    }
    assert rows == {
        (ada.pk, "email"): (False, {}),
        (ada.pk, "webpush"): (True, {}),
        (ada.pk, "matrix"): (True, {"matrix_id": "@ada:mozilla.org", "room_id": "!room:mozilla.org"}),
        (bob.pk, "email"): (True, {}),
        (bob.pk, "webpush"): (False, {}),
        (bob.pk, "matrix"): (False, {"matrix_id": "", "room_id": ""}),
    }
    assert new.get_model("accounts", "UserSettings").objects.get(user_id=ada.pk).default_repo == "autoland"

    # What the app makes of them: the channels each user's next message goes to.
    for user in get_user_model().objects.filter(pk__in=[ada.pk, bob.pk, carol.pk]):
        outbox.record_rows(user, "try", 1, "final", "Try push passed", "")
    sent = {(row.user_id, row.channel) for row in Notification.objects.all()}
    # Ada: Matrix (email off; web push wants a subscribed browser); Bob and Carol: email, the default.
    assert sent == {(ada.pk, "matrix"), (bob.pk, "email"), (carol.pk, "email")}


def test_channel_settings_go_back_into_the_columns_when_undone(back_to_the_latest) -> None:
    User = migrate(COLUMNS).get_model("auth", "User")
    ada = User.objects.create(username="ada", email="ada@example.com")
    new = migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert not new.get_model("notifications", "ChannelSettings").objects.exists()  # no settings, no rows
    ChannelSettings.objects.create(user_id=ada.pk, channel="email", enabled=False)
    ChannelSettings.objects.create(
        user_id=ada.pk,
        channel="matrix",
        enabled=True,
        config={"matrix_id": "@ada:mozilla.org", "room_id": "!r:x"},
    )

    stored = migrate(COLUMNS).get_model("accounts", "UserSettings").objects.get(user_id=ada.pk)
    assert (stored.email_enabled, stored.webpush_enabled, stored.matrix_enabled) == (False, False, True)
    assert (stored.matrix_id, stored.matrix_room_id) == ("@ada:mozilla.org", "!r:x")


@pytest.mark.services
@pytest.mark.django_db(transaction=False)
def test_the_migrations_keep_every_row_on_postgresql() -> None:
    """This module's tests again, in a pytest of their own pointed at a scratch PostgreSQL database:
    production runs PostgreSQL, where ALTER TABLE … RENAME and the JSON of channel settings behave their
    own way."""
    with scratch_postgres("bw_accounts_migrations") as dsn:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not services", __file__],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": dsn},
            capture_output=True,
            text=True,
            timeout=600,
        )
    tail = "\n".join(result.stdout.splitlines()[-30:])
    assert result.returncode == 0, f"on PostgreSQL:\n{tail}\n{result.stderr[-2000:]}"
    assert " passed" in tail and "skipped" not in tail and "postgresql" not in tail.lower(), tail
