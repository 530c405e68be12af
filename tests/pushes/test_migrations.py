"""Data migrations run against a database holding what the earlier schema held."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(target: list[tuple[str, str]]) -> object:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def test_confirmations_already_reported_in_one_follow_up_are_not_reported_again():
    old = migrate([("pushes", "0002_confirm_requests")])
    User = old.get_model("auth", "User")
    ConfirmRequest = old.get_model("pushes", "ConfirmRequest")
    ada = User.objects.create(username="ada", email="ada@example.com")
    done = timezone.now() - timedelta(hours=1)

    def request(push_id: int, finished: bool, outcome: str = "success") -> int:
        return ConfirmRequest.objects.create(
            user=ada, repo="try", push_id=push_id, group_key=f"test {push_id}", action="confirm-failures",
            outcome=outcome, finished_at=done if finished else None,
        ).pk  # fmt: skip

    reported = [request(1, True), request(1, True)]  # all finished: the old follow-up went out
    waiting = [request(2, True), request(2, False)]  # one still waits: no follow-up yet
    failed = request(3, True, outcome="bad_credentials")

    new = migrate([("pushes", "0003_confirm_reported")])
    rows = dict(new.get_model("pushes", "ConfirmRequest").objects.values_list("pk", "reported_at"))
    assert all(rows[pk] is not None for pk in reported)
    assert all(rows[pk] is None for pk in [*waiting, failed])  # reported, all of them, when the last ends
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
