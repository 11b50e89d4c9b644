"""`manage.py flags`: rollouts from scripts and during incidents.

    manage.py flags list
    manage.py flags set grid-v2 --percent 5 [--unit origin] [--create]
    manage.py flags kill grid-v2            (--release to undo)
    manage.py flags allow grid-v2 --origin https://news.example --staff ada --story demo
    manage.py flags guard [--once] [--source http://10.0.0.5:8000/metrics …]

`guard` is the guardrail: every --interval seconds it reads the flags' counts
(this instance's METRICS_DIR, or each --source instance's /metrics), and when a
variant's client or server error rate over the last --window seconds is worse
than "off"'s by more than --margin with 99 % confidence, it ramps the flag back
to its previous step (0 if there is none), with the reason in the flag and the
audit trail. Run one per deployment, like `ingest --loop`.

Each change is a compare-and-set like the studio's (retried on a lost race, since
a command states the value it wants), audited under `--actor` (default
"cli:<user>"), and reaches every web worker through its flag watch within a second.
"""

from __future__ import annotations

import getpass
import time
import urllib.request
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from samembed.embed import guard
from samembed.exceptions import Conflict
from samembed.management.base import DatabaseCommand
from samembed.repositories import flags as repo
from samembed.repositories.flags import Flag, FlagInvalid

RETRIES = 5


class Command(DatabaseCommand):
    help = "List, ramp, kill and allow-list feature flags."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--actor", default=f"cli:{getpass.getuser()}",
                            help="Who the audit trail names.")
        sub = parser.add_subparsers(dest="verb", required=True)
        sub.add_parser("list", help="Every flag and its state.")
        s = sub.add_parser("set", help="Set a flag's rollout (and other fields).")
        s.add_argument("key")
        s.add_argument("--percent", help="0 to 100, two decimals at most.")
        s.add_argument("--unit", choices=repo.UNITS)
        s.add_argument("--variants", help='name:weight pairs, like "a:50 b:50".')
        s.add_argument("--description")
        s.add_argument("--create", action="store_true", help="Create the flag if missing.")
        k = sub.add_parser("kill", help="The kill switch: everyone gets 'off'.")
        k.add_argument("key")
        k.add_argument("--release", action="store_true", help="Turn the kill switch off.")
        a = sub.add_parser("allow", help="Add to a flag's allow-lists.")
        a.add_argument("key")
        a.add_argument("--origin", action="append", default=[], help="https://host")
        a.add_argument("--staff", action="append", default=[], help="A studio user name.")
        a.add_argument("--story", action="append", default=[], help="A story slug.")
        g = sub.add_parser("guard", help="Ramp flags down when a variant errs more.")
        g.add_argument("--source", action="append", default=[],
                       help="An instance's /metrics URL (default: this instance's).")
        g.add_argument("--interval", type=float, default=10.0)
        g.add_argument("--window", type=float, default=60.0)
        g.add_argument("--margin", type=float, default=guard.MARGIN,
                       help="How much worse an error rate may be, as a fraction.")
        g.add_argument("--once", action="store_true",
                       help="Judge the counts since the workers started, once.")
        g.add_argument("--seconds", type=float, default=0.0,
                       help="Stop after this long (0: run until stopped).")

    def handle(self, *args: Any, **options: Any) -> None:
        verb, actor = options["verb"], options["actor"]
        if verb == "list":
            self._list()
            return
        if verb == "guard":
            self._guard(options)
            return
        try:
            key = repo.check_key(options["key"])
            if verb == "set":
                values = {name: options[name] for name in
                          ("percent", "unit", "variants", "description")
                          if options[name] is not None}
                if repo.get(key) is None and options["create"]:
                    flag = repo.create(key, actor, **values)
                else:
                    flag = self._apply(key, actor, "flag.update", lambda _: values)
            elif verb == "kill":
                killed = not options["release"]
                flag = self._apply(key, actor, "flag.kill" if killed else "flag.unkill",
                                   lambda _: {"killed": killed})
            else:
                if not (options["origin"] or options["staff"] or options["story"]):
                    raise CommandError("allow: give --origin, --staff or --story.")
                # Checked before merging, so the message names the bad value.
                added = repo.clean({"origins": options["origin"], "staff": options["staff"],
                                    "stories": options["story"]})
                flag = self._apply(key, actor, "flag.allow", lambda f: {
                    "origins": [*f.origins, *added["origins"]],
                    "staff": [*f.staff, *added["staff"]],
                    "stories": [*f.stories, *added["stories"]]})
        except FlagInvalid as e:
            raise CommandError("; ".join(f"{k}: {v}" for k, v in e.errors.items())) from e
        except Conflict as e:
            raise CommandError(str(e)) from e
        self.stdout.write(self._line(flag))

    def _apply(self, key: str, actor: str, action: str, values: Any) -> Flag:
        for _ in range(RETRIES):
            flag = repo.get(key)
            if flag is None:
                raise CommandError(f"no flag {key!r} (flags set {key} --create makes it).")
            try:
                return repo.update(flag, actor, action=action, **values(flag))
            except Conflict:
                continue
        raise CommandError(f"flag {key!r} kept changing under us; try again.")

    def _guard(self, options: dict[str, Any]) -> None:
        sources: list[str] = options["source"]
        history: list[tuple[float, guard.Counts]] = [(time.monotonic(), {})]
        stop_at = time.monotonic() + options["seconds"] if options["seconds"] else None
        while True:
            try:
                now = guard.totals([guard.parse_exposition(_scrape(u)) for u in sources]
                                   if sources else None)
            except OSError as e:
                self.stderr.write(f"guard: could not read the counts: {e}")
            else:
                started = time.monotonic()
                while len(history) > 1 and history[1][0] <= started - options["window"]:
                    history.pop(0)
                for verdict in guard.judge(guard.difference(now, history[0][1]),
                                           options["margin"]):
                    if self._ramp_down(verdict):
                        # A fresh window: what came before the step back is judged.
                        history = [(started, now)]
                        break
                history.append((started, now))
            if options["once"] or (stop_at is not None and time.monotonic() >= stop_at):
                return
            time.sleep(options["interval"])

    def _ramp_down(self, verdict: guard.Verdict) -> bool:
        flag = repo.get(verdict.key)
        if flag is None or flag.killed or flag.rollout == 0:
            return False
        to = flag.previous_rollout if flag.previous_rollout < flag.rollout else 0
        try:
            flag = repo.ramp_down(flag, to, verdict.reason)
        except Conflict:
            return False  # someone moved it meanwhile: judged again next time
        self.stdout.write(f"guard: {flag.key} back to {flag.percent}%: {verdict.reason}")
        return True

    def _list(self) -> None:
        found = repo.all_flags()
        if not found:
            self.stdout.write("no flags")
        for flag in found:
            self.stdout.write(self._line(flag))

    @staticmethod
    def _line(flag: Flag) -> str:
        state = "KILLED" if flag.killed else f"{flag.percent}%"
        variants = " ".join(f"{n}:{w}" for n, w in flag.variants) or "on"
        return (f"{flag.key}\t{state}\tunit={flag.unit}\tvariants={variants}\t"
                f"staff={len(flag.staff)} origins={len(flag.origins)} "
                f"stories={len(flag.stories)}\tv{flag.version}")


def _scrape(url: str) -> str:
    # Operators' own instances, named on the command line: not the outbound guard's.
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
        return str(response.read(2_000_000).decode("utf-8", "replace"))
