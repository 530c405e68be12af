"""`manage.py poll_watched_pushes`: one poll cycle in the foreground, no broker needed (cron, debugging)."""

from __future__ import annotations

from collections import Counter

from django.core.management.base import BaseCommand

from notifications import outbox, poller


class Command(BaseCommand):
    help = "Poll every watched unfinished push once, record due notifications and deliver them now."

    def handle(self, *args: object, **options: object) -> None:
        polls: list[poller.PollResult] = []
        deliveries: list[outbox.DeliveryOutcome] = []

        def deliver(notification_id: int) -> None:
            deliveries.append(outbox.deliver(notification_id))

        def poll(repo: str, push_id: int) -> None:
            # min_interval=0: run by hand, the user wants a poll now even if the beat just did one.
            try:
                result = poller.poll_push(repo, push_id, enqueue=deliver, min_interval=0)
            except Exception as problem:
                self.stdout.write(f"{repo} push {push_id}: crashed — {type(problem).__name__}: {problem}")
                raise
            polls.append(result)
            line = f"{repo} push {push_id}: {result.state}"
            if result.job_count is not None:
                line += f", {result.job_count} jobs"
            if result.finished_now:
                line += ", finished now"
            if result.notifications:
                line += f", {len(result.notifications)} notification(s) due"
            if result.error:
                line += f" — error: {result.error}"
            self.stdout.write(line)

        summary = poller.poll_cycle(dispatch_poll=poll, dispatch_delivery=deliver)
        outcomes = Counter(outcome.status for outcome in deliveries)
        self.stdout.write(
            f"Polled {sum(p.polled for p in polls)} of {len(summary.pushes)} watched push(es); "
            f"{sum(p.finished_now for p in polls)} finished; {summary.auto_watched} auto-watched; "
            f"deliveries: " + (", ".join(f"{n} {status}" for status, n in sorted(outcomes.items())) or "none")
        )
        for outcome in deliveries:
            if outcome.error:
                self.stdout.write(f"  notification {outcome.notification_id}: {outcome.status}: {outcome.error}")
