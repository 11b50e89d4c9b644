"""`manage.py ingest --once | --loop`: collect posts from every enabled source.

Its own process, one per deployment (systemd unit, Kubernetes Deployment with
one replica, `make run`), never inside a web worker. `--once` runs the sources
that are due and exits (cron-style); `--loop` keeps running them on schedule
until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import CommandError, CommandParser

from samembed.ingest import runner
from samembed.management.base import DatabaseCommand


class Command(DatabaseCommand):
    help = "Collect posts from the sources of every story (--once, or --loop on schedule)."

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true", help="run due sources once and exit")
        mode.add_argument("--loop", action="store_true", help="keep running sources on schedule")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["loop"]:
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            self.stdout.write("ingest: running sources on schedule (Ctrl-C stops)")
            runner.loop(stop)
            return
        if not options["once"]:
            raise CommandError("say --once or --loop")
        for outcome in runner.run_once():
            what = (f"failed: {outcome.error}" if outcome.error else
                    ", ".join(f"{k} {v}" for k, v in outcome.report.counts().items() if v)
                    if outcome.report else "")
            source = outcome.source
            self.stdout.write(f"{source.kind} {source.label}: {what or 'nothing new'}")
