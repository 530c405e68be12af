"""A fake Treeherder (and the bits of Taskcluster BuildWatch uses) on loopback, for tests and demos.

It is a development tool and is not part of the production image: nothing in `buildwatch`, `pushes` or
`notifications` imports it. Start it with `manage.py fake_treeherder` (or `python -m fakeherder`), or in
a test with `FakeTreeherder("quick", speed=0).start()`.

Modules, one concern each:
- timeline.py   pushes and jobs on a simulated timeline; the recordings they are seeded from
- builder.py    the job catalogue, paces, the Builder and the result plans
- scenarios.py  the `default` and `quick` scenarios; triage.py the `triage` one (300-failure try pushes
                and their base pushes on autoland)
- world.py      the clock and one scenario's pushes, and the ways a test changes them
- payloads.py   the API's shapes and property names, and payload builders for `responses` tests
- treeherder_api.py / push_health.py / taskcluster_api.py / control.py   the endpoints (`/api/...`,
                Push Health's `push/health/` and `push/health_summary/`, `/__fake__/...`); errors.py
                how they answer an error
- server.py     `FakeTreeherder`: the world over HTTP, failure modes, the request log
- cli.py        the command line (`manage.py fake_treeherder`, `python -m fakeherder`)
"""

from .payloads import (
    PROJECT_PROPERTY_NAMES,
    UI_PROPERTY_NAMES,
    api_jobs_page,
    decision_tasks_payload,
    job_log_url,
    job_properties,
    job_row,
    project_jobs_page,
    push_list_payload,
    push_payload,
    repositories_payload,
    text_log_error,
)
from .scenarios import BIG_PUSH_JOBS, DEMO_AUTHOR, NON_MOZILLA_AUTHOR, OTHER_AUTHORS, SCENARIOS, XSS_TEXT
from .server import FakeTreeherder
from .timeline import RECORDINGS, load_recording

__all__ = [
    "BIG_PUSH_JOBS",
    "DEMO_AUTHOR",
    "NON_MOZILLA_AUTHOR",
    "OTHER_AUTHORS",
    "PROJECT_PROPERTY_NAMES",
    "RECORDINGS",
    "SCENARIOS",
    "UI_PROPERTY_NAMES",
    "XSS_TEXT",
    "FakeTreeherder",
    "api_jobs_page",
    "decision_tasks_payload",
    "job_log_url",
    "job_properties",
    "job_row",
    "load_recording",
    "project_jobs_page",
    "push_list_payload",
    "push_payload",
    "repositories_payload",
    "text_log_error",
]
