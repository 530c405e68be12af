"""manage.py fake_treeherder: serve the offline fake Treeherder (and Taskcluster) on loopback.

The fake lives in the top-level `fakeherder` package, a development tool left out of the production
image; there this command says so instead of failing with an ImportError."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

try:
    from fakeherder import cli
except ImportError:  # the production image: see the Dockerfile and .dockerignore
    cli = None

NOT_INSTALLED = (
    "the fake Treeherder (the `fakeherder` package) is not installed here: it is a development tool and "
    "is left out of the production image. Run it from a source checkout (`make demo`)."
)


class Command(BaseCommand):
    help = cli.DESCRIPTION if cli else NOT_INSTALLED

    def run_from_argv(self, argv: list[str]) -> None:
        # Without the fake its options are unknown: say it is not installed rather than "unrecognized".
        super().run_from_argv(argv if cli else argv[:2])

    def add_arguments(self, parser: CommandParser) -> None:
        if cli:
            cli.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if cli is None:
            raise CommandError(NOT_INSTALLED)
        names = ("host", "port", "scenario", "speed", "latency", "verbose", "pulse")
        try:
            cli.serve(**{name: options[name] for name in names}, out=self.stdout)
        except cli.UsageError as error:
            raise CommandError(str(error)) from error
