"""`manage.py flags`: rollouts from scripts and during incidents.

    manage.py flags list
    manage.py flags set grid-v2 --percent 5 [--unit origin] [--create]
    manage.py flags kill grid-v2            (--release to undo)
    manage.py flags allow grid-v2 --origin https://news.example --staff ada --story demo

Each change is a compare-and-set like the studio's (retried on a lost race, since
a command states the value it wants), audited under `--actor` (default
"cli:<user>"), and reaches every web worker through its flag watch within a second.
"""

from __future__ import annotations

import getpass
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

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

    def handle(self, *args: Any, **options: Any) -> None:
        verb, actor = options["verb"], options["actor"]
        if verb == "list":
            self._list()
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
