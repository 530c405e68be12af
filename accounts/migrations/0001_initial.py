"""The per-user models move here from notifications (UserSettings, SSOIdentity) and pushes
(TaskclusterCredentials), keeping every row: Django's SeparateDatabaseAndState recipe.

1. This app's state gains the three models as they are, on their old tables (no SQL);
2. AlterModelTable renames each table to this app's name (one ALTER TABLE … RENAME each; no row is
   copied, ids, constraints and foreign keys stay);
3. their content types (and so their permissions and admin log entries) move to this app.
notifications 0010 and pushes 0004 then drop the models from their own state only (no SQL).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (old app, model name): each model's content type before the move.
MOVED = [
    ("notifications", "usersettings"),
    ("notifications", "ssoidentity"),
    ("pushes", "taskclustercredentials"),
]


def move_content_types(apps, schema_editor, *, forwards=True):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for old_app, model in MOVED:
        source, target = (old_app, "accounts") if forwards else ("accounts", old_app)
        if not ContentType.objects.using(db).filter(app_label=target, model=model).exists():
            ContentType.objects.using(db).filter(app_label=source, model=model).update(app_label=target)


def content_types_back(apps, schema_editor):
    move_content_types(apps, schema_editor, forwards=False)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        ("notifications", "0009_followup_occasions"),
        ("pushes", "0003_confirm_reported"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="TaskclusterCredentials",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("client_id", models.CharField(max_length=256)),
                        ("access_token_encrypted", models.TextField()),
                        (
                            "token_hint",
                            models.CharField(
                                blank=True,
                                help_text="Last characters of the token, for display.",
                                max_length=8,
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "user",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="taskcluster_credentials",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "Taskcluster credentials",
                        "verbose_name_plural": "Taskcluster credentials",
                        "db_table": "pushes_taskclustercredentials",
                    },
                ),
                migrations.CreateModel(
                    name="UserSettings",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "author_email",
                            models.EmailField(
                                blank=True,
                                help_text="Your Treeherder author email; empty means your account email.",
                                max_length=254,
                            ),
                        ),
                        ("notifications_enabled", models.BooleanField(default=True)),
                        ("email_enabled", models.BooleanField(default=True)),
                        ("webpush_enabled", models.BooleanField(default=False)),
                        ("default_repo", models.CharField(default="try", max_length=100)),
                        (
                            "auto_watch",
                            models.BooleanField(
                                default=False,
                                help_text="Watch every new push whose author is my Treeherder email.",
                            ),
                        ),
                        (
                            "early_alerts",
                            models.BooleanField(
                                db_default=True,
                                default=True,
                                help_text="Tell me at a watched push's first new failure, before it finishes.",
                            ),
                        ),
                        (
                            "confirm_times",
                            models.PositiveSmallIntegerField(
                                db_default=3,
                                default=3,
                                help_text="How many times “confirm failures” re-runs each failing job (1 to 5).",
                            ),
                        ),
                        ("matrix_id", models.CharField(blank=True, max_length=255, verbose_name="Matrix ID")),
                        ("matrix_enabled", models.BooleanField(default=False)),
                        (
                            "matrix_room_id",
                            models.CharField(
                                blank=True,
                                help_text="The direct room the bot opened; empty: opened with the next message.",
                                max_length=255,
                            ),
                        ),
                        ("auto_watch_since", models.DateTimeField(blank=True, editable=False, null=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "user",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="buildwatch",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "user settings",
                        "verbose_name_plural": "user settings",
                        "db_table": "notifications_usersettings",
                    },
                ),
                migrations.CreateModel(
                    name="SSOIdentity",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("issuer", models.CharField(max_length=255)),
                        ("subject", models.CharField(max_length=255)),
                        (
                            "email",
                            models.EmailField(
                                blank=True,
                                help_text="The address the provider gave at the last sign-in.",
                                max_length=254,
                            ),
                        ),
                        ("linked_at", models.DateTimeField(auto_now_add=True)),
                        ("last_sign_in", models.DateTimeField(auto_now=True)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="sso_identities",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "SSO identity",
                        "verbose_name_plural": "SSO identities",
                        "db_table": "notifications_ssoidentity",
                        "constraints": [
                            models.UniqueConstraint(fields=("issuer", "subject"), name="sso_subject_once"),
                            models.UniqueConstraint(
                                fields=("user", "issuer"), name="sso_one_subject_per_user"
                            ),
                        ],
                    },
                ),
            ],
        ),
        # The tables take this app's names (table=None: the default, accounts_<model>).
        migrations.AlterModelTable(name="taskclustercredentials", table=None),
        migrations.AlterModelTable(name="usersettings", table=None),
        migrations.AlterModelTable(name="ssoidentity", table=None),
        migrations.RunPython(move_content_types, content_types_back, elidable=False),
    ]
