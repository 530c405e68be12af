"""The estimated finish of the pushes /watching/ lists as running: the pages' estimate when a page read
the push's jobs lately (pushes.estimates, from the cache), else one from the jobs the poller stored
(pushes.durations.push_eta), computed once per poll of the push. Never a Treeherder request."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime

from django.core.cache import cache

from pushes import cached, durations, estimates
from pushes.estimates import Estimate

from .jobstore import stored_jobs
from .models import PushState

KEY = "bw:eta:stored:v1"


def stored_estimate(state: PushState) -> Estimate:
    """The push's estimate from the poller's copy of its jobs, as of its last poll."""
    polled = (state.last_polled_at or datetime.now(UTC)).timestamp()
    key = f"{KEY}:{state.repo}:{state.push_id}:{polled:.3f}"
    hit = cache.get(key)
    if hit is not None:
        return hit
    now = time.time()
    found = durations.push_eta(
        state.repo,
        stored_jobs(state),
        datetime.fromtimestamp(now, UTC),
        observed_at=datetime.fromtimestamp(polled, UTC),
    )
    estimate = Estimate(found, polled)
    cache.set(key, estimate, max(1.0, cached.short_ttl()))
    return estimate


def running_estimates(states: Iterable[PushState]) -> dict[int, Estimate]:
    """Each polled, unfinished push's estimate, by PushState pk."""
    found = {}
    for state in states:
        if state.state in (PushState.State.FINISHED, PushState.State.UNKNOWN) or not state.job_count:
            continue
        found[state.pk] = estimates.estimate(state.repo, state.push_id) or stored_estimate(state)
    return found
