"""BuildWatch's only way to Treeherder, through its public REST API (`/api/...`; real answers are recorded
in fakeherder/recordings/), in four modules, each imported for what it owns:

- `transport`: the one HTTP module (`requests`): a Session per process, the User-Agent, one total deadline
  per call, bounded retries honouring Retry-After, byte caps, JSON or a `TreeherderError`;
- `client`: `TreeherderClient`, the named endpoints (paths, parameters, `/api/jobs/` paging,
  `last_modified__gt`), and `get_client()` configured from settings for pages or background work;
- `parsing`: payloads into pushes.rules' dataclasses; a bad row is logged and skipped, a payload of the
  wrong shape is a `TreeherderError`;
- `errors`: `TreeherderError` (anything that went wrong upstream) and `TreeherderNotFound` (404).
"""
