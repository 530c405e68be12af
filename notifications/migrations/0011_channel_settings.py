"""Each channel's settings become its own: one ChannelSettings row per (user, channel), on/off and a small
JSON config, instead of columns on UserSettings (a migration per new channel). Every user's choices are
carried over (email, web push and Matrix: the switch, the Matrix ID and the room the bot opened); then
accounts 0002 drops the columns (run_before). Backwards, the rows go back into the columns."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import notifications.models

# The channels that had columns on UserSettings, as they were: (channel, switch column, {config key: column}).
COLUMNS = [
    ("email", "email_enabled", {}),
    ("webpush", "webpush_enabled", {}),
    ("matrix", "matrix_enabled", {"matrix_id": "matrix_id", "room_id": "matrix_room_id"}),
]


def columns_to_rows(apps, schema_editor):
    db = schema_editor.connection.alias
    UserSettings = apps.get_model("accounts", "UserSettings")
    ChannelSettings = apps.get_model("notifications", "ChannelSettings")
    rows = [
        ChannelSettings(
            user_id=stored.user_id,
            channel=channel,
            enabled=getattr(stored, switch),
            config={key: getattr(stored, column) for key, column in config.items()},
        )
        for stored in UserSettings.objects.using(db).order_by("pk").iterator(chunk_size=2000)
        for channel, switch, config in COLUMNS
    ]
    ChannelSettings.objects.using(db).bulk_create(rows, batch_size=1000)


def rows_to_columns(apps, schema_editor):
    db = schema_editor.connection.alias
    UserSettings = apps.get_model("accounts", "UserSettings")
    ChannelSettings = apps.get_model("notifications", "ChannelSettings")
    for channel, switch, config in COLUMNS:
        for prefs in ChannelSettings.objects.using(db).filter(channel=channel).order_by("pk").iterator():
            values = {column: str(prefs.config.get(key) or "") for key, column in config.items()}
            stored, _ = UserSettings.objects.using(db).get_or_create(user_id=prefs.user_id)
            UserSettings.objects.using(db).filter(pk=stored.pk).update(**{switch: prefs.enabled}, **values)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0010_accounts_moved"),
        ("accounts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]
    # The columns this copies are dropped by accounts 0002, which must not run first (and accounts, the
    # app below this one, does not name this app's migrations).
    run_before = [("accounts", "0002_channel_settings_moved")]

    operations = [
        migrations.CreateModel(
            name="ChannelSettings",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("channel", models.CharField(choices=notifications.models.channel_choices, max_length=16)),
                ("enabled", models.BooleanField(default=False)),
                ("config", models.JSONField(blank=True, default=dict)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="channel_settings",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "channel settings",
                "verbose_name_plural": "channel settings",
                "constraints": [
                    models.UniqueConstraint(fields=("user", "channel"), name="unique_channel_settings")
                ],
            },
        ),
        migrations.RunPython(columns_to_rows, rows_to_columns),
    ]
