"""TaskclusterCredentials now belongs to the accounts app (accounts 0001 took over its table, rows and
all): it leaves this app's state only, no SQL."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("pushes", "0003_confirm_reported"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="TaskclusterCredentials")],
        ),
    ]
