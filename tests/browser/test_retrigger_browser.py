"""Retrigger in a real browser against the fake Treeherder (which also plays Taskcluster) over HTTP:
the button on a failed job, the answer in place of the button, the new run on the push; and what the
user sees when the POST itself fails."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser


def _failed_row(page: Any, app: Any, fake: Any) -> tuple[Any, int, str]:
    push_id = fake.push_id("failed")
    job_id = fake.job_ids(push_id, result="testfailed")[0]
    page.goto(app.url(f"/try/pushes/{push_id}/"))
    row = page.locator(f"tr#jr-{job_id}")
    row.wait_for()
    return row, push_id, row.locator(".job-name").inner_text()


def test_retrigger_a_failed_job_and_follow_the_new_runs(
    page, app, fake_treeherder, signed_in, alice, alice_creds
) -> None:
    signed_in(alice)
    row, push_id, name = _failed_row(page, app, fake_treeherder)

    page.locator("#retrigger select[name=times]").select_option("2")  # the page's one control
    row.locator("button.retrigger-button").click()

    # The answer is in a row of its own under the job (issue 28), not in the job's cells.
    result = page.locator(f"tr#rr-{row.get_attribute('id')[3:]} .retrigger-result")
    result.wait_for()
    (trigger,) = fake_treeherder.triggers
    assert result.get_attribute("data-outcome") == "success"
    assert f"Taskcluster started action task {trigger['task_id']}" in result.inner_text()
    assert result.locator(f'a[href$="/tasks/{trigger["task_id"]}"]').count() == 1
    assert len(trigger["new_job_ids"]) == 2

    result.locator("a.follow-push").click()
    for new_id in trigger["new_job_ids"]:
        page.locator(f"a.chip#job-{new_id}").wait_for()  # pending: a chip, without a Retrigger button
    assert page.locator(f'a.chip[title*="{name}"]').count() >= 3
    assert page.js_errors == []


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (lambda r: r.fulfill(status=403, body="CSRF verification failed."), "BuildWatch answered HTTP 403"),
        (lambda r: r.abort("connectionreset"), "may or may not have been retriggered"),
    ],
    ids=["csrf-403", "no-answer"],
)
def test_a_failed_post_is_said_next_to_the_button(
    page, app, fake_treeherder, signed_in, alice, alice_creds, route, expected
) -> None:
    signed_in(alice)
    row, _, _ = _failed_row(page, app, fake_treeherder)
    page.route("**/retrigger/", route)

    row.locator("button.retrigger-button").click()

    row.locator(".retrigger-error", has_text=expected).wait_for()
    assert "Not retriggered" in row.inner_text() or "may or may not" in row.inner_text()
    assert fake_treeherder.triggers == []
    assert page.locator("#request-status").is_hidden()  # said once, next to the button, not again on top
