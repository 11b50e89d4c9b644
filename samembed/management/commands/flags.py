"""`manage.py flags`: rollouts from scripts and during incidents.

    manage.py flags list
    manage.py flags set grid-v2 --percent 5 [--unit origin] [--create]
    manage.py flags kill grid-v2            (--release to undo)
    manage.py flags allow grid-v2 --origin https://news.example --staff ada --story demo
    manage.py flags set grid-v2 --percent 1 --plan "5@1h 20@1h 50@4h 100@1d"
    manage.py flags guard [--once] [--interval 10] [--window 60]

`guard` is the guardrail: every --interval seconds it reads the flags' counts of
every worker of every instance (the `flag_counts` rollup the workers flush to),
and when a variant's client or server error rate over the last --window seconds
is worse than "off"'s by more than --margin with 99 % confidence, it ramps the
flag back to its previous step (0 if there is none), with the reason in the flag
and the audit trail, and holds its plan. It also takes a plan's next step once
the current one has run its wait and the new variant is shown not worse than
"off" (docs/flags.md gives both tests). Run one per deployment, like `ingest
--loop`; a second one is harmless: every change is a compare-and-set on the
flag's version, so of two guards that judge a step due, one takes it.

Each change is a compare-and-set like the studio's (retried on a lost race, since
a command states the value it wants), audited under `--actor` (default
"cli:<user>"), and reaches every web worker through its flag watch within a second.
"""

from __future__ import annotations

import getpass
import time
from argparse import ArgumentParser
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import CommandError

from samembed import flags
from samembed.embed import guard
from samembed.exceptions import Conflict
from samembed.management.base import DatabaseCommand
from samembed.repositories import flag_counts
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
        s.add_argument("--plan", help='A scheduled ramp, like "5@1h 20@1h 100@1d" (each '
                       'step: percent@how long the step before runs healthy); "" clears it.')
        g = sub.add_parser("guard", help="Ramp flags down when a variant errs more, and "
                           "take the steps of scheduled ramps that are due and healthy.")
        g.add_argument("--interval", type=float, default=10.0,
                       help="Seconds between looks.")
        g.add_argument("--window", type=float, default=60.0,
                       help="Seconds of counts a ramp-down is judged on.")
        g.add_argument("--margin", type=float, default=guard.MARGIN,
                       help="How much worse an error rate may be, as a fraction.")
        g.add_argument("--min-exposures", type=int, default=guard.MIN_EXPOSURES,
                       help="Exposures each side needs before anything is decided.")
        g.add_argument("--once", action="store_true", help="Look once.")
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
                          ("percent", "unit", "variants", "description", "plan")
                          if options[name] is not None}
                if repo.get(key) is None and options["create"]:
                    flag = repo.create(key, actor, **values)
                else:
                    flag = self._apply(key, actor, "flag.update", lambda _: values,
                                       resume=options["plan"] is not None)
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
                    "stories": [*repo.story_slugs(f), *options["story"]]})
        except FlagInvalid as e:
            raise CommandError("; ".join(f"{k}: {v}" for k, v in e.errors.items())) from e
        except Conflict as e:
            raise CommandError(str(e)) from e
        self.stdout.write(self._line(flag))

    def _apply(self, key: str, actor: str, action: str, values: Any,
               resume: bool = False) -> Flag:
        for _ in range(RETRIES):
            flag = repo.get(key)
            if flag is None:
                raise CommandError(f"no flag {key!r} (flags set {key} --create makes it).")
            try:
                return repo.update(flag, actor, action=action, resume=resume, **values(flag))
            except Conflict:
                continue
        raise CommandError(f"flag {key!r} kept changing under us; try again.")

    def _guard(self, options: dict[str, Any]) -> None:
        # The flags that change embeds (the only ones counted) are declared on import.
        import samembed.embed.render  # noqa: F401
        self.verbosity = int(options["verbosity"])
        quiet: dict[str, float] = {}
        stop_at = time.monotonic() + options["seconds"] if options["seconds"] else None
        while True:
            try:
                self._look(options, quiet)
            except Exception as e:  # noqa: BLE001 - an outage: the next look tries again
                self.stderr.write(f"guard: look failed: {e}")
            if options["once"] or (stop_at is not None and time.monotonic() >= stop_at):
                return
            time.sleep(options["interval"])

    def _look(self, options: dict[str, Any], quiet: dict[str, float]) -> None:
        """One look: ramp back what errs more, then take the steps that are due."""
        # This process's own counts too (a one-process set-up, the tests).
        guard.flusher.flush()
        margin, least = options["margin"], options["min_exposures"]
        now = datetime.now(UTC)
        live = [f for f in repo.all_flags() if not f.killed]
        window = timedelta(seconds=options["window"])
        # Each flag's last window, never from before its step began: a step back
        # is judged on what came after it. A flag just ramped back waits a bucket.
        starts = {f.key: max(now - window, f.step_began) for f in live
                  if f.rollout > 0 and quiet.get(f.key, 0.0) <= time.monotonic()}
        counts = flag_counts.since_each(starts)
        if self.verbosity > 1:
            for key, variants in sorted(counts.items()):
                self.stdout.write(f"guard: {key} looked: " + "; ".join(
                    f"{v} {int(c['exposure'])} exposures {int(c['client_error'])} client "
                    f"errors {int(c['server_error'])} server errors"
                    for v, c in sorted(variants.items())))
        down = set()
        for verdict in guard.judge(counts, margin, least):
            if verdict.key not in down and self._ramp_down(verdict):
                down.add(verdict.key)
                quiet[verdict.key] = time.monotonic() + flag_counts.BUCKET_SECONDS
        for flag in live:
            if flag.key not in down:
                self._step(flag, now, margin, least)

    def _step(self, flag: Flag, now: datetime, margin: float, least: int) -> None:
        planned = flag.next_step if not flag.plan_hold else None
        if planned is None or planned[1] > now:
            return
        to, _ = planned
        if flag.rollout == 0:
            ok, reason = True, "the first step (nothing to compare yet)"
        elif flag.key not in flags.EMBED_FLAGS:
            ok, reason = True, "on schedule (this flag does not change the embed: not counted)"
        else:
            counts = flag_counts.window([flag.key], flag.step_began).get(flag.key, {})
            ok, reason = guard.healthy(counts, margin, least)
        if not ok:
            if self.verbosity > 1:
                self.stdout.write(f"guard: {flag.key} waits before {to / 100:g}%: {reason}")
            return
        try:
            stepped = repo.step(flag, to, reason)
        except Conflict:
            return  # another guard (or a person) moved it first: looked at again next time
        self.stdout.write(f"guard: {flag.key} up to {stepped.percent}% as planned: {reason}")

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
        plan = ""
        if flag.plan:
            step = flag.next_step
            plan = f"\tplan={flag.plan_text}" + (
                f" (held: {flag.plan_hold})" if flag.plan_hold
                else f" (next {step[0] / 100:g}% from {step[1]:%Y-%m-%d %H:%M} UTC if healthy)"
                if step else " (done)")
        return (f"{flag.key}\t{state}\tunit={flag.unit}\tvariants={variants}\t"
                f"staff={len(flag.staff)} origins={len(flag.origins)} "
                f"stories={len(flag.story_ids) + len(flag.stories)}\tv{flag.version}{plan}")

