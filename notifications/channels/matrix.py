"""The Matrix channel: a direct message from the BuildWatch bot (settings MATRIX_*).

- The bot's token is MATRIX_ACCESS_TOKEN, or the one it got by logging in once with MATRIX_USER and
  MATRIX_PASSWORD, kept (encrypted) in MatrixLogin for every process. Logins use the fixed device id
  DEVICE_ID: the homeserver de-duplicates transaction ids per device, so it must not change.
- A user's settings of this channel (ChannelSettings) hold their Matrix ID (`matrix_id`, from the
  settings form) and the direct room the bot opened for them (`room_id`, written here).
- Each user gets one direct room (createRoom, trusted_private_chat, is_direct, the user invited),
  remembered in their settings' `room_id`. Before a message, the user's membership is checked: a
  user who left or rejected the invite, or a room the bot is no longer in, gets a new room.
- The message's transaction id is derived from its ledger row: a send retried after the homeserver
  stored it but before the ledger said "sent" is stored once (the homeserver keeps txn ids 24 h).
- M_LIMIT_EXCEEDED is a TransportError with `retry_after` (the homeserver's retry_after_ms): the outbox
  schedules the row then and does not count the attempt. An invalid token is a permanent error, unless
  a password is configured: then the bot logs in again, once.

HTTP lives in matrix_api.py; this module decides.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.conf import settings
from django.db import IntegrityError
from django.db.models import Q
from django.template.loader import render_to_string

from accounts.crypto import CredentialsUnreadable, decrypt_with_key_age, encrypt
from notifications.models import ChannelSettings, MatrixLogin, Notification

from .base import Channel, TransportError
from .content import message_context, push_page_url
from .matrix_api import MatrixAPI, MatrixError

logger = logging.getLogger(__name__)

DEVICE_ID = "BUILDWATCH"
DEVICE_NAME = "BuildWatch notifications"
# https://spec.matrix.org/v1.11/appendices/#user-identifiers: @localpart:server_name, at most 255 bytes.
MATRIX_ID_RE = re.compile(
    r"^@[a-z0-9._=\-/+]+:(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.\-]{1,255})(?::[0-9]{1,5})?$"
)
MAX_FAILURE_KEY_CHARS = 200
MAX_GROUPS = 5  # of each kind (new, not new) in one message
T = TypeVar("T")


def valid_matrix_id(value: str) -> bool:
    return len(value.encode()) <= 255 and bool(MATRIX_ID_RE.match(value))


# --- The bot ----------------------------------------------------------------------------------------


class Bot:
    """The bot's API calls with its current token: logs in when it has none, and once more when the
    homeserver refuses a token it got by logging in."""

    def __init__(self) -> None:
        self.homeserver = settings.MATRIX_HOMESERVER
        self._token = settings.MATRIX_ACCESS_TOKEN

    @property
    def can_log_in(self) -> bool:
        return bool(settings.MATRIX_USER and settings.MATRIX_PASSWORD) and not settings.MATRIX_ACCESS_TOKEN

    def api(self, token: str = "") -> MatrixAPI:
        return MatrixAPI(
            self.homeserver,
            token,
            connect_timeout=settings.MATRIX_CONNECT_TIMEOUT,
            timeout=settings.MATRIX_TIMEOUT,
        )

    def call(self, operation: Callable[[MatrixAPI], T]) -> T:
        if not self._token:
            self._token = self._stored_or_new_token()
        try:
            return operation(self.api(self._token))
        except MatrixError as problem:
            if not (problem.unknown_token and self.can_log_in):
                raise
            logger.info("Matrix refused the stored token of %s: logging in again", settings.MATRIX_USER)
            MatrixLogin.objects.filter(homeserver=self.homeserver, user=settings.MATRIX_USER).delete()
            self._token = self._stored_or_new_token()
            return operation(self.api(self._token))

    def _stored_or_new_token(self) -> str:
        stored = MatrixLogin.objects.filter(homeserver=self.homeserver, user=settings.MATRIX_USER).first()
        if stored is not None:
            try:
                token, current_key = decrypt_with_key_age(stored.access_token)
            except CredentialsUnreadable:
                stored.delete()
            else:
                if not current_key:  # read with a fallback key: keep it under the current one
                    MatrixLogin.objects.filter(pk=stored.pk).update(access_token=encrypt(token))
                return token
        login = self.api().login_password(
            settings.MATRIX_USER, settings.MATRIX_PASSWORD, device_id=DEVICE_ID, device_name=DEVICE_NAME
        )
        try:
            MatrixLogin.objects.create(
                homeserver=self.homeserver,
                user=settings.MATRIX_USER,
                access_token=encrypt(login.access_token),
                device_id=login.device_id,
            )
        except IntegrityError:  # another worker logged in at the same time: same device, both tokens work
            pass
        return login.access_token


# --- Rooms ------------------------------------------------------------------------------------------


def _room_name() -> str:
    prefix = settings.MATRIX_ROOM_NAME.strip()
    return f"{prefix} notifications" if prefix else ""


def _abandon(bot: Bot, room_id: str, user_id: str) -> None:
    """Best effort: take back a pending invite and leave, so the old room does not linger."""
    for operation in (
        lambda api: api.kick(room_id, user_id, "BuildWatch opened a new room"),
        lambda api: api.leave(room_id),
    ):
        try:
            bot.call(operation)
        except MatrixError as problem:
            logger.info("Leaving Matrix room %s: %s", room_id, problem)


def matrix_id(prefs: ChannelSettings) -> str:
    """The user's Matrix ID from their settings of this channel ('' when none is saved)."""
    return str(prefs.config.get("matrix_id") or "")


def room_id_of(prefs: ChannelSettings) -> str:
    """The direct room the bot opened for the user ('' when none yet)."""
    return str(prefs.config.get("room_id") or "")


def _open_room(bot: Bot, prefs: ChannelSettings, replacing: str) -> str:
    """A new direct room for the user, remembered unless another worker remembered one first (or the
    user saved another Matrix ID meanwhile: that ID's room is opened with its first message)."""
    user_id = matrix_id(prefs)
    room_id = bot.call(lambda api: api.create_direct_room(user_id, name=_room_name()))
    # Compare and set on the stored config: the room it still remembers, and the same Matrix ID.
    remembered = Q(config__room_id=replacing) | (Q(config__room_id__isnull=True) if not replacing else Q())
    mine = ChannelSettings.objects.filter(remembered, pk=prefs.pk, config__matrix_id=user_id)
    updated = mine.update(config={**prefs.config, "room_id": room_id})
    if not updated:
        current = ChannelSettings.objects.filter(pk=prefs.pk).values_list("config", flat=True).first() or {}
        if current.get("room_id") and current["room_id"] != room_id:
            _abandon(bot, room_id, user_id)
            room_id = current["room_id"]
    prefs.config = {**prefs.config, "room_id": room_id}
    return room_id


def _usable_room(bot: Bot, prefs: ChannelSettings) -> str:
    """The remembered room if the user is still in it (joined or invited), else ''."""
    room_id = room_id_of(prefs)
    if not room_id:
        return ""
    try:
        membership = bot.call(lambda api: api.membership(room_id, matrix_id(prefs)))
    except MatrixError as problem:
        if not problem.forbidden:  # M_FORBIDDEN: the bot is not in that room any more
            raise
        membership = "gone"
    if membership in ("join", "invite"):
        return room_id
    logger.info(
        "Matrix room %s of %s is %s: opening a new one", room_id, matrix_id(prefs), membership or "empty"
    )
    if membership != "gone":
        _abandon(bot, room_id, matrix_id(prefs))
    return ""


def send_direct(prefs: ChannelSettings, txn_id: str, content: dict[str, Any]) -> str:
    """Send `content` to the user's direct room (opening one when needed); the event id. Raises
    TransportError (with `retry_after` for M_LIMIT_EXCEEDED)."""
    bot = Bot()
    try:
        room_id = _usable_room(bot, prefs)
        fresh = not room_id
        if fresh:
            room_id = _open_room(bot, prefs, replacing=room_id_of(prefs))
        try:
            return bot.call(lambda api: api.send_message(room_id, txn_id, content))
        except MatrixError as problem:
            if not problem.forbidden or fresh:
                raise
        # The bot was removed between the check and the send: one new room, one more try.
        room_id = _open_room(bot, prefs, replacing=room_id)
        return bot.call(lambda api: api.send_message(room_id, txn_id, content))
    except MatrixError as problem:
        raise _transport_error(problem) from problem


def _transport_error(problem: MatrixError) -> TransportError:
    if problem.rate_limited:
        return TransportError(
            f"rate limited by the homeserver, retrying in {problem.retry_after or 0:.0f} s ({problem.message})",
            retry_after=problem.retry_after or 0,
        )
    if problem.unknown_token:
        how = "MATRIX_USER/MATRIX_PASSWORD" if settings.MATRIX_USER else "MATRIX_ACCESS_TOKEN"
        return TransportError(
            f"the homeserver refused the BuildWatch bot's access token ({problem.errcode or problem.status}): "
            f"the administrator must check {how}. {problem.message}",
            permanent=True,
        )
    return TransportError(problem.message, permanent=problem.permanent)


# --- Messages ---------------------------------------------------------------------------------------


def txn_id(notification: Notification) -> str:
    """Derived from the ledger row, so every attempt of one notification carries the same id (the
    creation time keeps a reset database's reused primary keys apart)."""
    return f"buildwatch-{notification.pk}-{int(notification.created_at.timestamp())}"


def message_content(notification: Notification) -> dict[str, Any]:
    """m.room.message with a plain body and an HTML formatted_body; every string from Treeherder or
    the user goes through the template's autoescape."""
    if notification.kind != Notification.Kind.FINAL:  # an early alert or a follow-up: the row's own text
        link = push_page_url(notification.repo, notification.push_id)
        return {"msgtype": "m.text", "body": f"{notification.title}\n{notification.body}\n{link}"}
    context = message_context(notification)  # every channel's data: title, verdict, triage, counts, links
    groups = context["summary"].get("failure_groups", [])
    context.update(
        max_key_chars=MAX_FAILURE_KEY_CHARS,
        # A chat message names a few groups, new ones first; the push page has them all.
        new_groups=context["new_groups"][:MAX_GROUPS],
        other_groups=context["other_groups"][:MAX_GROUPS],
        more_failures=bool(context["summary"].get("more_failure_groups"))
        or len(context["new_groups"]) > MAX_GROUPS
        or len(context["other_groups"]) > MAX_GROUPS,
        triaged=any(group.get("triage") for group in groups),  # summaries stored before triage: no class
    )
    return {
        "msgtype": "m.text",
        "body": render_to_string("matrix/push_finished.txt", context).strip(),
        "format": "org.matrix.custom.html",
        "formatted_body": render_to_string("matrix/push_finished.html", context).strip(),
    }


def sample_message_content() -> dict[str, Any]:
    site = settings.SITE_URL
    return {
        "msgtype": "m.notice",
        "body": f"BuildWatch test message: Matrix notifications reach you here. Settings: {site}/settings/",
        "format": "org.matrix.custom.html",
        "formatted_body": (
            "<b>BuildWatch test message</b>: Matrix notifications reach you here. "
            f'<a href="{site}/settings/">Settings</a>'
        ),
    }


def send_sample_message(prefs: ChannelSettings) -> None:
    """The settings page's button: straight to the user, not through the ledger."""
    send_direct(prefs, f"buildwatch-test-{uuid.uuid4().hex}", sample_message_content())


# --- The channel ------------------------------------------------------------------------------------


class MatrixChannel(Channel):
    name = "matrix"
    label = "Matrix"
    switch_label = "By Matrix direct message"
    state_keys = ("room_id",)

    def config_fields(self) -> dict[str, forms.Field]:
        return {
            "matrix_id": forms.CharField(
                label="Matrix ID",
                max_length=255,
                required=False,
                help_text="Your full Matrix user ID, e.g. @you:mozilla.org. The BuildWatch bot invites you to "
                "a direct chat with the first message.",
                widget=forms.TextInput(
                    attrs={"placeholder": "@you:mozilla.org", "autocapitalize": "none", "spellcheck": "false"}
                ),
            )
        }

    def unavailable_reason(self) -> str:
        if not settings.MATRIX_HOMESERVER:
            return "Matrix is not configured on this BuildWatch (MATRIX_HOMESERVER is not set)"
        if not settings.MATRIX_ACCESS_TOKEN and not (settings.MATRIX_USER and settings.MATRIX_PASSWORD):
            return "Matrix is not configured: set MATRIX_ACCESS_TOKEN, or MATRIX_USER and MATRIX_PASSWORD"
        return ""

    def wanted(self, user: Any, prefs: ChannelSettings) -> bool:
        return bool(prefs.enabled and matrix_id(prefs))

    def skip_reason(self, notification: Notification, prefs: ChannelSettings) -> str:
        if not prefs.enabled:
            return "Matrix was turned off before delivery"
        if not matrix_id(prefs):
            return "no Matrix ID in the settings"
        return self.unavailable_reason()

    def clean_config(self, enabled: bool, config: dict[str, Any]) -> dict[str, str]:
        value = config.get("matrix_id") or ""
        if value and not valid_matrix_id(value):
            return {
                "matrix_id": "A Matrix ID looks like @name:server, e.g. @you:mozilla.org: lowercase letters, "
                "digits and ._=-/+ before the colon, the server name after it."
            }
        if enabled and not value:
            return {"matrix_id": "Enter your Matrix ID to get Matrix messages."}
        return {}

    def settings_changed(self, prefs: ChannelSettings, changed: list[str]) -> None:
        if "matrix_id" in changed:
            prefs.config["room_id"] = ""  # the old room was for the old ID

    def send(self, notification: Notification) -> None:
        prefs = ChannelSettings.of(notification.user, self.name)
        send_direct(prefs, txn_id(notification), message_content(notification))
