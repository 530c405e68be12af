from django.db import migrations, models


def mark_reported_batches(apps, schema_editor):
    """Before this, a user's confirmations of a push were reported in one follow-up, once all of them
    had finished: those are reported already. Where one still waits, its batch is reported when it ends."""
    ConfirmRequest = apps.get_model("pushes", "ConfirmRequest")
    done = ConfirmRequest.objects.filter(outcome="success")
    waiting = set(done.filter(finished_at__isnull=True).values_list("user_id", "repo", "push_id"))
    for request in done.filter(finished_at__isnull=False):
        if (request.user_id, request.repo, request.push_id) not in waiting:
            ConfirmRequest.objects.filter(pk=request.pk).update(reported_at=request.finished_at)


class Migration(migrations.Migration):
    dependencies = [
        ("pushes", "0002_confirm_requests"),
    ]

    operations = [
        migrations.AddField(
            model_name="confirmrequest",
            name="reported_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_reported_batches, migrations.RunPython.noop),
    ]
