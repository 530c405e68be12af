"""The channel registry: a registered channel is recorded, skipped and sent by the same loops as email."""

from __future__ import annotations

import re

import pytest
from django import forms
from django.core import mail
from django.core.exceptions import ValidationError

import notifications.forms  # noqa: F401 - built from the registry at import, before a test adds the pigeon
from notifications import channels, outbox, poller
from notifications.channels import Channel, TransportError
from notifications.models import ChannelSettings, Notification, PushState
from tests.helpers import make_user

from .test_poller import watch

pytestmark = pytest.mark.django_db


class Pigeon(Channel):
    name = "pigeon"
    label = "Carrier pigeon"

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.error: TransportError | None = None
        self.skip = ""

    def wanted(self, user, user_settings) -> bool:
        return user.username != "landlubber"

    def skip_reason(self, notification, user_settings) -> str:
        return self.skip

    def send(self, notification) -> None:
        if self.error:
            raise self.error
        self.sent.append(notification.pk)


@pytest.fixture
def pigeon(monkeypatch) -> Pigeon:
    channel = Pigeon()
    monkeypatch.setitem(channels.CHANNELS, channel.name, channel)
    return channel


@pytest.fixture
def finish(django_capture_on_commit_callbacks):
    """Push 500 finished; polling it records the watchers' rows and delivers them after commit."""
    PushState.objects.create(repo="try", push_id=500, state="finished", title="Bug 1 - Fix it",
                             summary={"failed": False, "total": 1, "completed": 1})  # fmt: skip

    def run() -> dict[str, Notification]:
        with django_capture_on_commit_callbacks(execute=True):
            poller.poll_push("try", 500, enqueue=outbox.deliver)
        return {row.channel: row for row in Notification.objects.all()}

    return run


def test_it_records_and_sends_a_registered_channel_once_beside_email(pigeon, finish):
    watch(make_user("alice"), 500)
    rows = finish()
    assert {name: row.status for name, row in rows.items()} == {"email": "sent", "pigeon": "sent"}
    assert pigeon.sent == [rows["pigeon"].pk] and len(mail.outbox) == 1
    assert outbox.deliver(rows["pigeon"].pk).status == "not-claimed"
    assert pigeon.sent == [rows["pigeon"].pk]
    assert rows["pigeon"].get_channel_display() == "Carrier pigeon"  # the choices are the registry's


def test_a_user_who_does_not_want_the_channel_gets_no_row_for_it(pigeon, finish):
    watch(make_user("landlubber"), 500)
    assert set(finish()) == {"email"}


def test_the_channels_skip_reason_is_recorded_and_nothing_is_sent(pigeon, finish):
    pigeon.skip = "no loft configured"
    watch(make_user("alice"), 500)
    row = finish()["pigeon"]
    assert (row.status, row.last_error) == ("skipped", "no loft configured")
    assert pigeon.sent == []


def test_a_permanent_transport_error_fails_the_row_and_a_temporary_one_retries(pigeon, finish):
    pigeon.error = TransportError("the pigeon was eaten", permanent=True)
    watch(make_user("alice"), 500)
    row = finish()["pigeon"]
    assert (row.status, row.last_error) == ("failed", "the pigeon was eaten")

    pigeon.error = TransportError("fog over the channel")
    again = Notification.objects.create(user=row.user, repo="try", push_id=501, channel="pigeon")
    outcome = outbox.deliver(again.pk)
    assert (outcome.status, outcome.retry_in, outcome.error) == ("retry", 30, "fog over the channel")


def test_a_row_of_a_channel_no_longer_registered_fails_with_the_reason(finish):
    user = make_user("alice")
    row = Notification.objects.create(user=user, repo="try", push_id=501, channel="telegraph")
    assert outbox.deliver(row.pk).status == "failed"
    row.refresh_from_db()
    assert row.last_error == "unknown channel 'telegraph'"


def test_a_transport_error_with_retry_after_waits_that_long_without_counting_the_attempt(pigeon, finish):
    """A rate limit (Matrix's M_LIMIT_EXCEEDED, an HTTP 429 Retry-After) is not a failure: the row waits
    the time the upstream named (a little jitter on top) and keeps all its attempts."""
    pigeon.error = TransportError("slow down", retry_after=120)
    watch(make_user("alice"), 500)
    row = finish()["pigeon"]
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, "slow down")
    outcome = outbox.deliver(row.pk)
    assert outcome.status == "not-claimed"  # not before then
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=None)
    outcome = outbox.deliver(row.pk)
    assert outcome.status == "retry" and 120 <= outcome.retry_in <= 150
    row.refresh_from_db()
    assert row.attempts == 0

    pigeon.error = TransportError("slow down, but this can never work", permanent=True, retry_after=5)
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=None)
    assert outbox.deliver(row.pk).status == "failed"  # permanent wins over retry_after


class LoftPigeon(Pigeon):
    """A channel with a setting of its own: the loft its pigeons fly to."""

    def config_fields(self) -> dict[str, forms.Field]:
        return {"pigeon_loft": forms.CharField(label="Loft", max_length=40, required=False)}

    def clean_config(self, enabled: bool, config: dict) -> dict[str, str]:
        return {"pigeon_loft": "Name the loft."} if enabled and not config.get("pigeon_loft") else {}

    def wanted(self, user, prefs) -> bool:
        return prefs.enabled


@pytest.fixture
def loft_pigeon(monkeypatch) -> LoftPigeon:
    channel = LoftPigeon()
    monkeypatch.setitem(channels.CHANNELS, channel.name, channel)
    return channel


def test_a_registered_channel_has_its_settings_on_the_settings_page_without_a_migration(
    loft_pigeon, alice, alice_client
):
    page = alice_client.get("/settings/").content.decode()
    assert 'name="pigeon_enabled"' in page and 'name="pigeon_loft"' in page and "By Carrier pigeon" in page

    form = {
        "default_repo": "try",
        "notifications_enabled": "on",
        "email_enabled": "on",
        "pigeon_enabled": "on",
    }
    refused = alice_client.post("/settings/", form).content.decode()
    assert "Name the loft." in refused
    assert not ChannelSettings.objects.filter(user=alice, channel="pigeon").exists()

    alice_client.post("/settings/", {**form, "pigeon_loft": "Rooftop"})
    saved = ChannelSettings.objects.get(user=alice, channel="pigeon")
    assert (saved.enabled, saved.config) == (True, {"pigeon_loft": "Rooftop"})
    assert ChannelSettings.of(alice, "email").enabled  # the other channels keep theirs
    assert 'value="Rooftop"' in alice_client.get("/settings/").content.decode()


def test_a_stored_config_the_channel_does_not_accept_is_refused_in_the_admin(loft_pigeon, admin_client):
    user = make_user("alice")
    for config, error in [
        ([], "a JSON object"),
        ({"pigeon_loft": "x" * 41}, "pigeon_loft: Ensure this value has at most 40 characters"),
        ({"pigeon_loft": "Rooftop", "hawk": 1}, "Unknown keys for Carrier pigeon: hawk."),
        ({}, "pigeon_loft: Name the loft."),
    ]:
        with pytest.raises(ValidationError, match=re.escape(error)):
            ChannelSettings(user=user, channel="pigeon", enabled=True, config=config).full_clean()
    ChannelSettings(user=user, channel="pigeon", enabled=True, config={"pigeon_loft": "Rooftop"}).full_clean()

    row = ChannelSettings.objects.create(
        user=user, channel="matrix", enabled=True, config={"matrix_id": "bad"}
    )
    change = admin_client.post(
        f"/admin/notifications/channelsettings/{row.pk}/change/",
        {"user": user.pk, "channel": "matrix", "enabled": "on", "config": '{"matrix_id": "@alice"}'},
    )
    assert change.status_code == 200 and "A Matrix ID looks like @name:server" in change.content.decode()
    assert "Notification channels" in admin_client.get(f"/admin/auth/user/{user.pk}/change/").content.decode()
