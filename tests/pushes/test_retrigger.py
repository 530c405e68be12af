"""Retrigger through Taskcluster actions (as Treeherder's UI does) and the user's own credentials.

Treeherder and Taskcluster are played by `responses` with recorded real shapes (initialActions.json,
originalTask.json); one end-to-end test runs against the fake Treeherder over real HTTP."""

from __future__ import annotations

import copy
import json
from typing import Any

import mohawk
import pytest
import requests
import responses
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.test import Client, RequestFactory

from accounts.crypto import CredentialsUnreadable
from accounts.models import TaskclusterCredentials
from fakeherder import FakeTreeherder, job_properties
from pushes import retrigger as service
from pushes.rules import Job
from pushes.treeherder.client import TreeherderClient
from tests.helpers import TASKCLUSTER_TOKEN, parse_html, recording, signed_in
from tests.pushes.conftest import BASE_URL, SleepRecorder

pytestmark = pytest.mark.django_db

TC = "https://tc.test"
REPO = "try"
JOB_ID = 4242
PUSH_ID = 1000
DECISION = "DecisionTaskId000000001"
LABEL = "test-linux1804-64/opt-mochitest-browser-chrome-3"
REVISION = "ba9c692786e95143b8df3f4b3e9b504dfbc589a0"
TASK_ID = f"Task{JOB_ID:018d}"
TOKEN = TASKCLUSTER_TOKEN  # alice_creds' (tests/conftest.py)
ACTION_TASK = "NewActionTask0000000001"
HOOK_GROUP = "project-gecko"
HOOK_ID = "in-tree-action-3-generic/9353e8f146"
TRIGGER_URL = f"{TC}/api/hooks/v1/hooks/{HOOK_GROUP}/in-tree-action-3-generic%2F9353e8f146/trigger"
ACTIONS_URL = f"{TC}/api/queue/v1/task/{DECISION}/artifacts/public/actions.json"
DECISION_TASK_URL = f"{TC}/api/queue/v1/task/{DECISION}"
EXPAND_URL = f"{TC}/api/auth/v1/scopes/expand"
RETRIGGER_URL = f"/{REPO}/jobs/{JOB_ID}/retrigger/"


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _settings(settings: Any, th_client: TreeherderClient, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.TREEHERDER_URL = BASE_URL
    settings.TASKCLUSTER_ROOT_URL = TC
    monkeypatch.setattr(service, "get_client", lambda: th_client)


def actions_json(*names: str, variables: dict | None = None) -> dict:
    """The real initialActions.json, optionally keeping only the named actions."""
    data = recording("initialActions.json")
    if names:
        data["actions"] = [a for a in data["actions"] if a["name"] in names]
    if variables is not None:
        data["variables"] = variables
    return data


def treeherder(
    rsps: responses.RequestsMock, *, job: dict | None = None, decision: bool | None = True
) -> None:
    """The job and its push; the decision task found (True), unknown (False) or never asked for (None)."""
    props = job or job_properties(JOB_ID, PUSH_ID, job_type_name=LABEL, result="testfailed")
    rsps.get(f"{BASE_URL}/api/project/{REPO}/jobs/{JOB_ID}/", json=props)
    rsps.get(
        f"{BASE_URL}/api/project/{REPO}/push/{PUSH_ID}/",
        json={
            "id": PUSH_ID,
            "revision": REVISION,
            "author": "a@mozilla.com",
            "push_timestamp": 1,
            "revisions": [],
        },
    )
    if decision:
        rsps.get(
            f"{BASE_URL}/api/project/{REPO}/push/decisiontask/",
            json={str(PUSH_ID): {"id": DECISION, "run": "0"}},
        )
    elif decision is False:
        rsps.get(f"{BASE_URL}/api/project/{REPO}/push/decisiontask/", status=404, body="No decision task")


def taskcluster(
    rsps: responses.RequestsMock,
    *,
    actions: dict | None = None,
    scopes: list[str] | None = None,
    expanded: list[str] | None = None,
    trigger: dict | None = None,
    expands: bool = True,
    triggers: bool = True,
) -> None:
    """actions.json, the decision task, the scope expansion and the hook trigger, each answering as asked;
    `expands`/`triggers=False` leave the last two out for a test in which they must not be called."""
    rsps.get(ACTIONS_URL, json=actions if actions is not None else actions_json())
    rsps.get(
        DECISION_TASK_URL,
        json={
            "taskGroupId": DECISION,
            "scopes": scopes if scopes is not None else ["assume:repo:hg.mozilla.org/try:branch:default"],
        },
    )
    if expands:
        rsps.post(
            EXPAND_URL,
            json={
                "scopes": expanded
                if expanded is not None
                else ["in-tree:hook-action:project-gecko/in-tree-action-*"]
            },
        )
    if triggers:
        rsps.post(
            TRIGGER_URL, **(trigger or {"json": {"status": {"taskId": ACTION_TASK, "state": "pending"}}})
        )


def calls_to(rsps: responses.RequestsMock, url_prefix: str) -> list:
    return [call for call in rsps.calls if call.request.url.startswith(url_prefix)]


def assert_signed_by(request: Any, client_id: str, token: str) -> None:
    """The Hawk header verifies with the user's own token (mohawk is what taskcluster signs with)."""
    header = request.headers["Authorization"]
    assert token not in header
    receiver = mohawk.Receiver(
        lambda sender_id: {"id": sender_id, "key": token, "algorithm": "sha256"},
        header,
        request.url,
        "POST",
        content=request.body,
        content_type=request.headers["Content-Type"],
    )
    assert receiver.resource.credentials["id"] == client_id


def hand_rendered_payload(action_input: dict, name: str = "retrigger-multiple") -> dict:
    """What the hook must receive: the action's hookPayload from actions.json, `user` filled in by hand."""
    action = next(a for a in recording("initialActions.json")["actions"] if a["name"] == name)
    return {
        "decision": copy.deepcopy(action["hookPayload"]["decision"]),
        "user": {"input": action_input, "taskGroupId": DECISION, "taskId": None},
    }


# --- success -----------------------------------------------------------------------------------------


def test_retrigger_sends_the_hook_exactly_what_treeherder_would(
    alice: User, alice_creds: TaskclusterCredentials, mocked_responses: responses.RequestsMock
) -> None:
    treeherder(mocked_responses)
    taskcluster(mocked_responses)

    response = signed_in(alice).post(RETRIGGER_URL, {"times": "3"})

    assert response.status_code == 200
    (trigger,) = calls_to(mocked_responses, TRIGGER_URL)
    assert json.loads(trigger.request.body) == hand_rendered_payload(
        {"requests": [{"tasks": [LABEL], "times": 3}]}
    )
    assert_signed_by(trigger.request, "mozilla-auth0/ad|Mozilla-LDAP|alice/buildwatch", TOKEN)
    # Every call's (connect, read) timeouts are what is left of its total deadline (TASKCLUSTER_TIMEOUT).
    timeouts = [call.request.req_kwargs["timeout"] for call in calls_to(mocked_responses, TC)]
    assert len(timeouts) == 4 and all(7 < connect <= 8 and 7 < read <= 8 for connect, read in timeouts)
    html = response.content.decode()
    assert "Retriggered." in html
    assert f"adds 3 new runs of {LABEL}" in html
    assert f'href="{TC}/tasks/{ACTION_TASK}"' in html
    assert f"selectedTaskRun={TASK_ID}.0" in html  # the job on Treeherder
    assert "<html" in html  # no-JS: a whole page


def test_the_count_defaults_to_one_and_htmx_gets_the_fragment(
    alice: User, alice_creds: TaskclusterCredentials, mocked_responses: responses.RequestsMock
) -> None:
    treeherder(mocked_responses)
    taskcluster(mocked_responses)

    response = signed_in(alice).post(RETRIGGER_URL, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert "<html" not in html and parse_html(html).find_all(class_="retrigger-result success")
    assert f"adds 1 new run of {LABEL}" in html
    body = json.loads(calls_to(mocked_responses, TRIGGER_URL)[0].request.body)
    assert body["user"]["input"] == {"requests": [{"tasks": [LABEL], "times": 1}]}


def test_without_retrigger_multiple_it_adds_the_job_with_add_new_jobs(
    alice: User, alice_creds: TaskclusterCredentials, mocked_responses: responses.RequestsMock
) -> None:
    treeherder(mocked_responses)
    taskcluster(mocked_responses, actions=actions_json("add-new-jobs", "cancel", "retrigger"))

    html = signed_in(alice).post(RETRIGGER_URL, {"times": "4"}).content.decode()

    body = json.loads(calls_to(mocked_responses, TRIGGER_URL)[0].request.body)
    assert body == hand_rendered_payload({"tasks": [LABEL]}, name="add-new-jobs")
    assert f"adds 1 new run of {LABEL}" in html  # add-new-jobs takes no count: never claim 4


def test_the_files_variables_reach_json_e_but_never_override_the_action_context() -> None:
    action = {
        "name": "retrigger-multiple",
        "kind": "hook",
        "context": [],
        "hookGroupId": "g",
        "hookId": "h",
        "hookPayload": {
            "v": {"$eval": "someVar"},
            "group": {"$eval": "taskGroupId"},
            "task": {"$eval": "taskId"},
        },
    }
    variables = {"someVar": [1, 2], "taskGroupId": "from-variables", "taskId": "from-variables"}

    rendered = service.render_hook_payload(action, DECISION, {"x": 1}, variables)

    assert rendered == {"v": [1, 2], "group": DECISION, "task": None}


def test_actions_are_filtered_by_context_the_way_treeherder_does() -> None:
    actions = recording("initialActions.json")
    task = recording("originalTask.json")

    push_level = [a["name"] for a in service.applicable_actions(actions)]
    for_task = {a["name"]: a["context"] for a in service.applicable_actions(actions, task)}

    # Treeherder retriggers without loading the task: only context [] (push-level) actions apply.
    assert push_level == [
        "add-new-jobs",
        "run-all-talos",
        "run-missing-tests",
        "cancel-all",
        "openh264",
        "retrigger-multiple",
    ]
    # With a task: its tags pick actions; [{}] applies to any task; the first *matching* "retrigger" wins.
    assert for_task["retrigger"] == [{"retrigger": "true"}]
    assert {"backfill", "rerun", "cancel", "geckoprofile", "confirm-failures"} <= set(for_task)
    assert not {"retrigger-custom", "create-interactive", "retrigger-multiple", "add-new-jobs"} & set(
        for_task
    )
    assert service.applicable_actions(actions, {"tags": {}}) == [
        a for a in service.applicable_actions(actions, {"tags": {}}) if a["context"] == [{}]
    ]


def test_a_task_level_retrigger_multiple_is_not_used_for_a_push_level_retrigger() -> None:
    data = actions_json("retrigger-multiple", "add-new-jobs")
    for action in data["actions"]:
        if action["name"] == "retrigger-multiple":
            action["context"] = [{}]

    action, action_input, runs = service.pick_retrigger_action(service.applicable_actions(data), LABEL, 2)

    assert (action["name"], action_input, runs) == ("add-new-jobs", {"tasks": [LABEL]}, 1)


# --- failures: each says what happened and offers Treeherder ------------------------------------------


def test_without_credentials_nothing_is_sent_to_taskcluster(
    alice: User, mocked_responses: responses.RequestsMock
) -> None:
    treeherder(mocked_responses, decision=None)

    html = signed_in(alice).post(RETRIGGER_URL).content.decode()

    assert calls_to(mocked_responses, TC) == []
    assert "Not retriggered." in html and "Add your Taskcluster client id and access token" in html
    assert 'href="/settings/#taskcluster"' in html
    assert f"selectedTaskRun={TASK_ID}.0" in html and "Retrigger it on Treeherder instead" in html


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        (
            {
                "status": 403,
                "json": {
                    "code": "InsufficientScopes",
                    "message": "Client ID alice/buildwatch does not have sufficient scopes: hooks:trigger-hook:project-gecko/in-tree-action-3-generic/9353e8f146",
                },
            },
            [
                "lacks the scopes",
                "HTTP 403: InsufficientScopes: Client ID alice/buildwatch does not have sufficient scopes",
            ],
        ),
        (
            {
                "status": 401,
                "json": {"code": "AuthenticationFailed", "message": "ext.certificate expiry in the past"},
            },
            [
                "did not accept your credentials",
                "ext.certificate expiry in the past",
                'href="/settings/#taskcluster"',
            ],
        ),
        (
            {"status": 500, "json": {"code": "InternalServerError", "message": "boom"}},
            ["Taskcluster answered 500", "boom"],
        ),
        (
            {"body": requests.ConnectionError("Connection refused")},
            ["Taskcluster did not answer", "Connection refused"],
        ),
        (  # the request never arrived, so nothing can have been triggered
            {"body": requests.ConnectTimeout("connect timed out")},
            [
                'data-outcome="taskcluster_down"',
                "Taskcluster did not answer while triggering",
                "connect timed out",
            ],
        ),
        (
            {"body": requests.ReadTimeout("read timed out")},
            ["did not answer in time", "may or may not have gone through", "read timed out"],
        ),
        ({"json": {}}, ["without creating a task, so nothing was retriggered"]),
    ],
    ids=[
        "scopes",
        "bad-credentials",
        "taskcluster-500",
        "taskcluster-down",
        "connect-timeout",
        "timeout",
        "no-task",
    ],
)
def test_a_failed_trigger_is_reported_once_and_never_retried(
    alice: User,
    alice_creds: TaskclusterCredentials,
    mocked_responses: responses.RequestsMock,
    trigger: dict,
    expected: list[str],
) -> None:
    treeherder(mocked_responses)
    taskcluster(mocked_responses, trigger=trigger)

    html = signed_in(alice).post(RETRIGGER_URL, {"times": "2"}).content.decode()

    assert len(calls_to(mocked_responses, TRIGGER_URL)) == 1
    assert "Not retriggered." in html and "Retriggered." not in html
    for text in expected:
        assert text.replace("'", "&#x27;") in html
    assert f"selectedTaskRun={TASK_ID}.0" in html


def test_no_decision_task(
    alice: User, alice_creds: TaskclusterCredentials, mocked_responses: responses.RequestsMock
) -> None:
    treeherder(mocked_responses, decision=False)

    html = signed_in(alice).post(RETRIGGER_URL).content.decode()

    assert "knows no decision task for this push" in html
    assert calls_to(mocked_responses, TC) == []
    assert "Retrigger it on Treeherder instead" in html


@pytest.mark.parametrize(
    ("actions", "status", "expected"),
    [
        (actions_json("cancel", "backfill", "retrigger"), 200, "offers no retrigger action"),
        (
            {"version": 2, "actions": [], "variables": {}},
            200,
            "version 2; BuildWatch understands version 1 only",
        ),
        ({"message": "Artifact not found"}, 404, "published no actions.json"),
    ],
    ids=["no-action", "wrong-version", "no-artifact"],
)
def test_no_usable_retrigger_action(
    alice: User,
    alice_creds: TaskclusterCredentials,
    mocked_responses: responses.RequestsMock,
    actions: dict,
    status: int,
    expected: str,
) -> None:
    treeherder(mocked_responses)
    mocked_responses.get(ACTIONS_URL, json=actions, status=status)

    response = signed_in(alice).post(RETRIGGER_URL, HTTP_HX_REQUEST="true")

    assert expected in response.content.decode()
    assert 'data-outcome="no_action"' in response.content.decode()
    assert calls_to(mocked_responses, TRIGGER_URL) == []


def test_a_hook_the_decision_task_may_not_use_is_never_triggered(
    alice: User, alice_creds: TaskclusterCredentials, mocked_responses: responses.RequestsMock
) -> None:
    treeherder(mocked_responses)
    taskcluster(
        mocked_responses, expanded=["in-tree:hook-action:project-gecko/in-tree-action-1-*"], triggers=False
    )

    html = signed_in(alice).post(RETRIGGER_URL).content.decode()

    assert (
        "misconfigured" in html
        and "in-tree:hook-action:project-gecko/in-tree-action-3-generic/9353e8f146" in html
    )
    assert calls_to(mocked_responses, TRIGGER_URL) == []


def test_decision_task_scopes_that_name_the_hook_need_no_expansion(
    alice: User, alice_creds: TaskclusterCredentials, mocked_responses: responses.RequestsMock
) -> None:
    treeherder(mocked_responses)
    taskcluster(
        mocked_responses,
        scopes=["in-tree:hook-action:project-gecko/in-tree-action-3-generic/*"],
        expands=False,
    )

    html = signed_in(alice).post(RETRIGGER_URL).content.decode()

    assert "Retriggered." in html
    assert calls_to(mocked_responses, EXPAND_URL) == []


def test_a_timeout_before_the_trigger_says_nothing_was_triggered(
    alice: User, alice_creds: TaskclusterCredentials, mocked_responses: responses.RequestsMock
) -> None:
    treeherder(mocked_responses)
    taskcluster(mocked_responses, expands=False, triggers=False)
    mocked_responses.replace(responses.GET, DECISION_TASK_URL, body=requests.ReadTimeout("read timed out"))

    html = signed_in(alice).post(RETRIGGER_URL).content.decode()

    assert 'data-outcome="taskcluster_down"' in html and "nothing was triggered" in html
    assert "may or may not have gone through" not in html
    assert calls_to(mocked_responses, TRIGGER_URL) == []


def test_taskcluster_down_while_reading_actions(
    alice: User, alice_creds: TaskclusterCredentials, mocked_responses: responses.RequestsMock
) -> None:
    treeherder(mocked_responses)
    mocked_responses.get(ACTIONS_URL, body=requests.ConnectionError("Name or service not known"))

    html = signed_in(alice).post(RETRIGGER_URL).content.decode()

    assert "Taskcluster did not answer while reading the push&#x27;s actions." in html
    assert "Name or service not known" in html


def test_treeherder_down(
    alice: User,
    alice_creds: TaskclusterCredentials,
    mocked_responses: responses.RequestsMock,
    sleeps: SleepRecorder,
) -> None:
    mocked_responses.get(f"{BASE_URL}/api/project/{REPO}/jobs/{JOB_ID}/", status=503, body="down")

    html = signed_in(alice).post(RETRIGGER_URL).content.decode()

    assert "Treeherder did not answer while loading the job." in html
    assert f'href="{BASE_URL}/jobs?repo={REPO}"' in html
    assert calls_to(mocked_responses, TC) == []


def test_an_unknown_job(
    alice: User, alice_creds: TaskclusterCredentials, mocked_responses: responses.RequestsMock
) -> None:
    mocked_responses.get(
        f"{BASE_URL}/api/project/{REPO}/jobs/{JOB_ID}/", status=404, json="No job with id: 4242"
    )

    html = signed_in(alice).post(RETRIGGER_URL).content.decode()

    assert "Treeherder does not know job 4242 in try." in html


# --- no request at all without sign-in, CSRF or a valid form -----------------------------------------


def test_anonymous_users_are_sent_to_sign_in_and_nothing_is_requested(
    mocked_responses: responses.RequestsMock,
) -> None:
    response = Client().post(RETRIGGER_URL, {"times": "1"})

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert len(mocked_responses.calls) == 0


def test_a_signed_out_button_sends_the_page_to_sign_in_and_back(
    mocked_responses: responses.RequestsMock,
) -> None:
    """htmx follows redirects: a plain login redirect would swap the whole sign-in page into the job row,
    and `next` would name the POST-only retrigger URL (405 after signing in)."""
    page = "http://testserver/try/pushes/1000/"

    fragment = Client().post(RETRIGGER_URL, {"times": "1"}, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=page)
    plain = Client().post(RETRIGGER_URL, {"times": "1"}, HTTP_REFERER=page)

    assert (
        fragment.status_code == 401
        and fragment["HX-Redirect"] == "/accounts/login/?next=%2Ftry%2Fpushes%2F1000%2F"
    )
    assert plain.status_code == 302 and "retrigger" not in plain["Location"]
    assert Client().post("/settings/taskcluster/", HTTP_HX_REQUEST="true").status_code == 401
    assert Client().post("/settings/taskcluster/delete/", HTTP_HX_REQUEST="true").status_code == 401
    assert len(mocked_responses.calls) == 0


def test_without_csrf_nothing_is_requested(
    alice: User, alice_creds: TaskclusterCredentials, mocked_responses: responses.RequestsMock
) -> None:
    response = signed_in(alice, enforce_csrf_checks=True).post(RETRIGGER_URL, {"times": "1"})

    assert response.status_code == 403
    assert len(mocked_responses.calls) == 0


def test_get_is_not_allowed(alice: User, mocked_responses: responses.RequestsMock) -> None:
    assert signed_in(alice).get(RETRIGGER_URL).status_code == 405
    assert len(mocked_responses.calls) == 0


@pytest.mark.parametrize("times", ["0", "6", "many"])
def test_a_count_outside_1_to_5_is_refused(
    alice: User, alice_creds: TaskclusterCredentials, mocked_responses: responses.RequestsMock, times: str
) -> None:
    response = signed_in(alice).post(RETRIGGER_URL, {"times": times})

    fragment = signed_in(alice).post(RETRIGGER_URL, {"times": times}, HTTP_HX_REQUEST="true")

    assert response.status_code == 400 and "Not retriggered." in response.content.decode()
    assert (
        "Ensure this value" in fragment.content.decode()
        or "Enter a whole number" in fragment.content.decode()
    )
    assert len(mocked_responses.calls) == 0


# --- the button --------------------------------------------------------------------------------------


def _job(**overrides: Any) -> Job:
    fields = dict(
        id=JOB_ID, push_id=PUSH_ID, task_id=TASK_ID, platform="linux1804-64", platform_option="opt",
        job_type_name=LABEL, job_type_symbol="bc3", job_group_name="Mochitests", job_group_symbol="M",
        state="completed", result="testfailed", start_timestamp=1, end_timestamp=2, tier=1,
    )  # fmt: skip
    fields.update(overrides)
    return Job(**fields)


def test_the_button_submits_the_pages_one_csrf_post_form_for_signed_in_users_only(alice: User) -> None:
    request = RequestFactory().get("/try/pushes/1000/")
    request.user = alice
    html = render_to_string("pushes/_retrigger_button.html", {"repo": REPO, "job": _job()}, request=request)

    assert f'formaction="{RETRIGGER_URL}"' in html and f'hx-post="{RETRIGGER_URL}"' in html
    assert 'form="retrigger"' in html and ">Retrigger</button>" in html
    assert "<form" not in html and "<option" not in html  # one form per page, not one per row
    control = render_to_string("pushes/_retrigger_control.html", {}, request=request)
    assert (
        'id="retrigger"' in control and 'method="post"' in control and 'name="csrfmiddlewaretoken"' in control
    )
    assert control.count("<option") == 5
    # Pending and running jobs cannot be retriggered from BuildWatch.
    running = render_to_string(
        "pushes/_retrigger_button.html", {"repo": REPO, "job": _job(state="running")}, request=request
    )
    assert "Retrigger" not in running

    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    assert "<button" not in render_to_string(
        "pushes/_retrigger_button.html", {"repo": REPO, "job": _job()}, request=request
    )
    assert "<form" not in render_to_string("pushes/_retrigger_control.html", {}, request=request)


# --- credentials -------------------------------------------------------------------------------------


def test_saved_credentials_are_encrypted_at_rest_and_shown_masked(alice: User) -> None:
    client = signed_in(alice)

    response = client.post(
        "/settings/taskcluster/", {"client_id": "alice/buildwatch", "access_token": TOKEN}, follow=True
    )

    html = response.content.decode()
    assert response.redirect_chain == [("/settings/", 302)]
    assert "Taskcluster credentials saved." in html
    assert "alice/buildwatch" in html and "••••Wxyz" in html
    assert TOKEN not in html and TOKEN[:20] not in html
    creds = TaskclusterCredentials.objects.get(user=alice)
    raw = (
        TaskclusterCredentials.objects.filter(pk=creds.pk)
        .values_list("access_token_encrypted", flat=True)
        .get()
    )
    assert TOKEN not in raw and TOKEN[:12] not in raw
    assert creds.access_token == TOKEN


def test_saving_again_replaces_the_credentials(alice: User, alice_creds: TaskclusterCredentials) -> None:
    new_token = "Z" * 44
    signed_in(alice).post("/settings/taskcluster/", {"client_id": "alice/other", "access_token": new_token})

    creds = TaskclusterCredentials.objects.get(user=alice)
    assert (creds.client_id, creds.access_token) == ("alice/other", new_token)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"client_id": "", "access_token": TOKEN}, "This field is required."),
        ({"client_id": "has spaces", "access_token": TOKEN}, "no spaces"),
        ({"client_id": "alice/bw", "access_token": "short"}, "22 to 66 letters"),
        ({"client_id": "alice/bw", "access_token": "x" * 30 + "!"}, "22 to 66 letters"),
    ],
)
def test_invalid_credentials_are_explained_and_not_saved(alice: User, data: dict, error: str) -> None:
    client = signed_in(alice)

    fragment = client.post("/settings/taskcluster/", data, HTTP_HX_REQUEST="true").content.decode()
    page = client.post("/settings/taskcluster/", data, follow=True).content.decode()

    assert "The Taskcluster credentials were not saved." in fragment and error in fragment
    assert parse_html(fragment).find_all("section", id="taskcluster") and "<html" not in fragment
    assert error in page
    assert not TaskclusterCredentials.objects.exists()


def test_credentials_can_be_removed(alice: User, alice_creds: TaskclusterCredentials) -> None:
    fragment = signed_in(alice).post("/settings/taskcluster/delete/", HTTP_HX_REQUEST="true").content.decode()

    assert "Taskcluster credentials removed." in fragment and "No Taskcluster credentials" in fragment
    assert "Wxyz" not in fragment
    assert not TaskclusterCredentials.objects.filter(user=alice).exists()


def test_users_see_and_remove_only_their_own_credentials(
    alice: User, bob: User, alice_creds: TaskclusterCredentials
) -> None:
    bob_client = signed_in(bob)

    page = bob_client.get("/settings/").content.decode()
    bob_client.post("/settings/taskcluster/delete/")

    assert "alice/buildwatch" not in page and "Wxyz" not in page and "No Taskcluster credentials" in page
    assert TaskclusterCredentials.objects.filter(user=alice).exists()


def test_credential_forms_need_sign_in_post_and_csrf(
    alice: User, alice_creds: TaskclusterCredentials
) -> None:
    data = {"client_id": "mallory/x", "access_token": "M" * 44}
    assert Client().post("/settings/taskcluster/", data).status_code == 302
    assert Client().post("/settings/taskcluster/delete/").status_code == 302
    assert signed_in(alice).get("/settings/taskcluster/").status_code == 405
    csrf_client = signed_in(alice, enforce_csrf_checks=True)
    assert csrf_client.post("/settings/taskcluster/", data).status_code == 403
    assert csrf_client.post("/settings/taskcluster/delete/").status_code == 403
    assert TaskclusterCredentials.objects.get(user=alice).client_id == alice_creds.client_id


def test_the_dedicated_key_encrypts_and_a_changed_key_asks_to_enter_the_token_again(
    alice: User, settings: Any, mocked_responses: responses.RequestsMock
) -> None:
    settings.BUILDWATCH_ENCRYPTION_KEY = "first dedicated key"
    creds = TaskclusterCredentials(user=alice, client_id="alice/bw")
    creds.set_access_token(TOKEN)
    creds.save()
    settings.SECRET_KEY = "a different secret key entirely"
    assert TaskclusterCredentials.objects.get(pk=creds.pk).access_token == TOKEN

    settings.BUILDWATCH_ENCRYPTION_KEY = "second dedicated key"
    with pytest.raises(CredentialsUnreadable):
        TaskclusterCredentials.objects.get(pk=creds.pk).access_token  # noqa: B018
    treeherder(mocked_responses, decision=None)
    html = signed_in(alice).post(RETRIGGER_URL).content.decode()
    assert "can no longer be read; enter it again in Settings" in html
    assert calls_to(mocked_responses, TC) == []


def test_rotating_secret_key_with_fallbacks_keeps_tokens_readable(alice: User, settings: Any) -> None:
    settings.BUILDWATCH_ENCRYPTION_KEY = ""
    settings.SECRET_KEY = "old secret key"
    creds = TaskclusterCredentials(user=alice, client_id="alice/bw")
    creds.set_access_token(TOKEN)
    creds.save()

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new secret key", ["old secret key"]

    assert TaskclusterCredentials.objects.get(pk=creds.pk).access_token == TOKEN


def _stored_with(settings: Any, user: User, **keys: Any) -> TaskclusterCredentials:
    for name, value in keys.items():
        setattr(settings, name, value)
    creds = TaskclusterCredentials(user=user, client_id="alice/bw")
    creds.set_access_token(TOKEN)
    creds.save()
    return creds


def test_a_rotated_dedicated_key_with_fallbacks_keeps_tokens_readable_and_re_encrypts_them(
    alice: User, settings: Any
) -> None:
    creds = _stored_with(settings, alice, BUILDWATCH_ENCRYPTION_KEY="old dedicated key")
    old_ciphertext = creds.access_token_encrypted
    settings.BUILDWATCH_ENCRYPTION_KEY = "new dedicated key"
    settings.BUILDWATCH_ENCRYPTION_KEY_FALLBACKS = ["old dedicated key"]

    assert TaskclusterCredentials.objects.get(pk=creds.pk).access_token == TOKEN

    stored = TaskclusterCredentials.objects.get(pk=creds.pk).access_token_encrypted
    assert stored != old_ciphertext and TOKEN not in stored
    settings.BUILDWATCH_ENCRYPTION_KEY_FALLBACKS = []  # the old key can now be dropped
    assert TaskclusterCredentials.objects.get(pk=creds.pk).access_token == TOKEN


def test_introducing_a_dedicated_key_keeps_tokens_encrypted_under_secret_key_readable(
    alice: User, settings: Any
) -> None:
    creds = _stored_with(settings, alice, BUILDWATCH_ENCRYPTION_KEY="", SECRET_KEY="the secret key")
    settings.BUILDWATCH_ENCRYPTION_KEY = "a dedicated key"

    assert TaskclusterCredentials.objects.get(pk=creds.pk).access_token == TOKEN
    settings.SECRET_KEY = "rotated later, no fallbacks"
    assert TaskclusterCredentials.objects.get(pk=creds.pk).access_token == TOKEN  # re-encrypted above


def test_an_unreadable_token_is_explained_on_the_settings_page_not_a_500(alice: User, settings: Any) -> None:
    _stored_with(settings, alice, BUILDWATCH_ENCRYPTION_KEY="lost key")
    settings.BUILDWATCH_ENCRYPTION_KEY = "another key"

    response = signed_in(alice).get("/settings/")

    assert response.status_code == 200
    assert "The stored access token can no longer be read" in response.content.decode()
    assert "alice/bw" in response.content.decode()  # still shown, so it can be replaced or removed


def test_the_fallback_keys_come_from_the_environment() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "buildwatch.settings",
        "SECRET_KEY_FALLBACKS": "old-secret-1, old-secret-2",
        "BUILDWATCH_ENCRYPTION_KEY_FALLBACKS": "old-dedicated",
    }
    code = "from django.conf import settings as s; print(s.SECRET_KEY_FALLBACKS, s.BUILDWATCH_ENCRYPTION_KEY_FALLBACKS)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stdout.strip() == "['old-secret-1', 'old-secret-2'] ['old-dedicated']", result.stderr


# --- end to end over HTTP against the fake Treeherder (which also plays Taskcluster) ------------------


@pytest.fixture
def fake(fake_treeherder: FakeTreeherder, settings: Any, monkeypatch: pytest.MonkeyPatch) -> FakeTreeherder:
    settings.TREEHERDER_URL = fake_treeherder.url
    settings.TASKCLUSTER_ROOT_URL = fake_treeherder.url
    client = TreeherderClient(fake_treeherder.url, timeout=5, session=requests.Session(), max_retries=0)
    monkeypatch.setattr(service, "get_client", lambda: client)
    return fake_treeherder


def test_end_to_end_a_retriggered_job_appears_on_the_push(
    alice: User, alice_creds: TaskclusterCredentials, fake: FakeTreeherder
) -> None:
    th = service.get_client()
    push_id = fake.push_id("failed")
    job_id = fake.job_ids(push_id, result="testfailed")[0]
    job = th.job("try", job_id)
    runs_before = [j.id for j in th.jobs("try", push_id) if j.job_type_name == job.job_type_name]

    response = signed_in(alice).post(f"/try/jobs/{job_id}/retrigger/", {"times": "2"}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert "Retriggered." in html, html
    (trigger,) = fake.triggers
    assert trigger["authorization"].startswith("Hawk ")
    assert 'id="mozilla-auth0/ad|Mozilla-LDAP|alice/buildwatch"' in trigger["authorization"]
    assert trigger["payload"]["user"] == {
        "input": {"requests": [{"tasks": [job.job_type_name], "times": 2}]},
        "taskGroupId": fake.decision_task_id(push_id),
        "taskId": None,
    }
    assert trigger["task_id"] in html
    new_ids = [
        j.id
        for j in th.jobs("try", push_id)
        if j.job_type_name == job.job_type_name and j.id not in runs_before
    ]
    assert sorted(new_ids) == sorted(trigger["new_job_ids"]) and len(new_ids) == 2

    group = signed_in(alice).get(
        f"/try/pushes/{push_id}/jobs/", {"platform": job.platform, "option": job.platform_option, "tier": "1"}
    )
    for new_id in new_ids:
        assert f'id="job-{new_id}"' in group.content.decode()


def test_a_finished_push_already_seen_shows_the_new_runs_after_a_retrigger(
    alice: User, alice_creds: TaskclusterCredentials, fake: FakeTreeherder
) -> None:
    """The push pages cache a finished push's jobs for an hour; a retrigger must not wait that long."""
    th = service.get_client()
    push_id = fake.push_id("failed")
    job = th.job("try", fake.job_ids(push_id, result="testfailed")[0])
    group_url = f"/try/pushes/{push_id}/jobs/"
    group_query = {"platform": job.platform, "option": job.platform_option, "tier": "1"}
    viewer = signed_in(alice)
    assert 'hx-trigger="every' not in viewer.get(f"/try/pushes/{push_id}/").content.decode()  # finished
    assert viewer.get(group_url, group_query).status_code == 200  # the jobs and the group are now cached

    html = viewer.post(
        f"/try/jobs/{job.id}/retrigger/", {"times": "1"}, HTTP_HX_REQUEST="true"
    ).content.decode()

    assert "Retriggered." in html, html
    (new_id,) = fake.triggers[0]["new_job_ids"]
    assert f'id="job-{new_id}"' in viewer.get(group_url, group_query).content.decode()
    assert 'hx-trigger="every' in viewer.get(f"/try/pushes/{push_id}/").content.decode()  # live again


def test_after_a_retrigger_a_push_that_still_looks_finished_is_cached_briefly(settings: Any) -> None:
    """On real Treeherder the new runs appear a minute or two after the trigger (the action task runs first)."""
    from pushes import cached, services

    finished = [_job(state="completed", result="testfailed")]
    assert services._jobs_ttl(finished, REPO, PUSH_ID) == services.FINISHED_TTL

    services.note_retrigger(REPO, PUSH_ID)

    assert services._jobs_ttl(finished, REPO, PUSH_ID) == cached.short_ttl()
    assert services._jobs_ttl(finished, REPO, PUSH_ID + 1) == services.FINISHED_TTL
