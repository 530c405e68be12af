"""UserSettings and SSOIdentity now belong to the accounts app (accounts 0001 took over their tables,
rows and all): they leave this app's state only, no SQL."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0009_followup_occasions"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="SSOIdentity"),
                migrations.DeleteModel(name="UserSettings"),
            ],
        ),
    ]
