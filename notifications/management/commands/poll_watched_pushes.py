"""`manage.py poll_watched_pushes`: one poll cycle in the foreground, no broker needed (cron, debugging)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from notifications import cycle, outbox, poller


class Command(BaseCommand):
    help = (
        "Poll every watched unfinished push once (the beat task's concurrent cycle), record due "
        "notifications and deliver them now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait-to-confirm",
            action="store_true",
            help="pushes that look finished: wait BUILDWATCH_SETTLE_SECONDS and run the confirming read "
            "now (without it the next run confirms them)",
        )

    def handle(self, *args: object, **options: Any) -> None:
        deliveries: list[outbox.DeliveryOutcome] = []
        confirms: list[tuple[str, int, int]] = []

        def deliver(notification_id: int) -> None:
            deliveries.append(outbox.deliver(notification_id))

        # min_interval=0: run by hand, the user wants a poll now even if the beat just did one.
        summary = cycle.poll_cycle(
            dispatch_delivery=deliver, schedule_confirm=lambda *due: confirms.append(due), min_interval=0
        )
        for result in summary.results:
            self.stdout.write(self._line(result))
        confirming: list[poller.PollResult] = []
        if confirms and options["wait_to_confirm"]:
            time.sleep(max(seconds for _, _, seconds in confirms))
            for repo, push_id, _ in confirms:
                result = poller.poll_push(repo, push_id, enqueue=deliver, confirm=True)
                confirming.append(result)
                self.stdout.write(self._line(result) + " (confirming read)")
        self.stdout.write(self._summary(summary, confirming, deliveries))
        for outcome in deliveries:
            if outcome.error:
                self.stdout.write(
                    f"  notification {outcome.notification_id}: {outcome.status}: {outcome.error}"
                )

    @staticmethod
    def _summary(
        summary: cycle.CycleSummary,
        confirming: list[poller.PollResult],
        deliveries: list[outbox.DeliveryOutcome],
    ) -> str:
        """What the run did: the cycle's polls of the watched pushes, then (--wait-to-confirm) the second
        reads of those that looked finished, counted apart: a push read twice is still one push."""
        line = f"Polled {sum(p.polled for p in summary.results)} of {len(summary.pushes)} watched push(es)"
        if confirming:
            line += f", then read {sum(p.polled for p in confirming)} again to confirm they finished"
        if summary.deferred:
            line += f", {len(summary.deferred)} left for the next run"
        finished = sum(p.finished_now for p in [*summary.results, *confirming])
        outcomes = Counter(outcome.status for outcome in deliveries)
        return f"{line}; {finished} finished; {summary.auto_watched} auto-watched; deliveries: " + (
            ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items())) or "none"
        )

    @staticmethod
    def _line(result: poller.PollResult) -> str:
        line = f"{result.repo} push {result.push_id}: {result.state}"
        if result.job_count is not None:
            line += f", {result.job_count} jobs"
        if result.finished_now:
            line += ", finished now"
        if result.confirm_in is not None:
            line += f", looks finished: confirming in {result.confirm_in} s"
        if result.notifications:
            line += f", {len(result.notifications)} notification(s) due"
        if result.error:
            line += f" — error: {result.error}"
        return line
