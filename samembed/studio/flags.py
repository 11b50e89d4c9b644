"""`/studio/flags/`: the rollouts page (write path). Editors list flags with their
state, create, edit (a compare-and-set on the version the form was based on:
a lost race is a 409 with the other editor's values shown), kill and delete.

Each change is audited by the repository and reaches every worker through its
flag watch (samembed.flags) within a second; this process refreshes at once, so
the editor's next preview already shows it.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from samembed import flags
from samembed.embed import guard
from samembed.exceptions import Conflict, DatabaseUnavailable
from samembed.repositories import audit, flag_counts
from samembed.repositories import flags as flags_repo
from samembed.repositories.flags import Flag, FlagInvalid
from samembed.studio.views import studio_page

FORM_FIELDS = ("description", "owner", "percent", "unit", "seed", "staff", "origins",
               "stories", "variants", "plan")
# The guardrail counts the flag's page shows: every instance's, this long back.
COUNTS_SECONDS = 3600


def _state(flag: Flag) -> str:
    if flag.killed:
        return "killed"
    if flag.rollout >= flags_repo.ROLLOUT_MAX:
        return "everyone"
    if flag.rollout or flag.origins or flag.stories or flag.staff:
        return "ramping"
    return "off"


def _form_values(flag: Flag | None) -> dict[str, str]:
    if flag is None:
        return {"unit": "story", "percent": "0"}
    return {"description": flag.description, "owner": flag.owner, "percent": flag.percent,
            "unit": flag.unit, "seed": flag.seed, "staff": "\n".join(flag.staff),
            "origins": "\n".join(flag.origins), "stories": "\n".join(flag.stories),
            "variants": " ".join(f"{n}:{w}" for n, w in flag.variants),
            "plan": flag.plan_text}


def _posted(request: HttpRequest) -> dict[str, Any]:
    values: dict[str, Any] = {name: request.POST.get(name, "") for name in FORM_FIELDS}
    values["killed"] = request.POST.get("killed") == "1"
    if not values["seed"].strip():
        # An emptied seed keeps the current one: a new seed reshuffles every unit.
        del values["seed"]
    return values


def _flag_or_404(key: str) -> Flag:
    flag = flags_repo.get(key) if flags_repo.KEY.match(key) else None
    if flag is None:
        raise Http404("no such flag")
    return flag


def _page(request: HttpRequest, template: str, status: int = 200,
          **context: Any) -> HttpResponse:
    context.setdefault("units", flags_repo.UNITS)
    context.setdefault("embed_flags", sorted(flags.EMBED_FLAGS))
    return render(request, template, context, status=status)


@studio_page
@require_http_methods(["GET", "POST"])
def flag_list(request: HttpRequest) -> HttpResponse:
    """Every flag with its state; POST creates one."""
    errors: dict[str, str] = {}
    values = _form_values(None)
    if request.method == "POST":
        values = {**_posted(request), "key": request.POST.get("key", "")}
        try:
            created = flags_repo.create(
                values["key"], request.user.get_username(),
                **{k: v for k, v in values.items() if k not in ("key", "killed") and v != ""})
        except FlagInvalid as e:
            errors = e.errors
        except Conflict:
            errors = {"key": f"a flag {values['key']!r} exists already."}
        else:
            flags.refresh()
            return HttpResponseRedirect(f"/studio/flags/{created.key}")
    rows = [(f, _state(f)) for f in flags_repo.all_flags()]
    return _page(request, "studio/flags.html", 400 if errors else 200, rows=rows,
                 values=values, errors=errors)


@studio_page
@require_http_methods(["GET", "POST"])
def flag_edit(request: HttpRequest, key: str) -> HttpResponse:
    """One flag's form and trail; POST saves it if nobody saved since."""
    flag = _flag_or_404(key)
    errors: dict[str, str] = {}
    values = _form_values(flag)
    status = 200
    conflict = None
    if request.method == "POST":
        values = _posted(request)
        try:
            base = int(request.POST.get("version", ""))
        except ValueError:
            base = -1
        if base != flag.version:
            conflict, status = flag, 409
        else:
            try:
                flags_repo.update(flag, request.user.get_username(),
                                  resume=request.POST.get("resume") == "1", **values)
            except FlagInvalid as e:
                errors, status = e.errors, 400
            except Conflict:
                conflict, status = flags_repo.get(key), 409
            else:
                flags.refresh()
                return HttpResponseRedirect(f"/studio/flags/{key}")
    return _page(request, "studio/flag_edit.html", status, flag=conflict or flag,
                 state=_state(conflict or flag), values=values, errors=errors,
                 conflict=conflict, trail=audit.for_flag(key, 20), counts=_counts(key))


def _counts(key: str) -> list[dict[str, Any]]:
    """Every instance's guardrail counts of the flag over the last hour, per variant,
    with error rates and the mean render time (this instance's alone while the
    database cannot be read)."""
    try:
        found = flag_counts.recent([key], COUNTS_SECONDS).get(key, {})
    except DatabaseUnavailable:
        found = guard.totals().get(key, {})
    rows = []
    for variant, c in sorted(found.items()):
        shown = c.get("exposure", 0.0)
        rows.append({"variant": variant, **c,
                     "client_rate": c.get("client_error", 0.0) / shown if shown else None,
                     "server_rate": c.get("server_error", 0.0) / shown if shown else None,
                     "render_ms": guard.render_ms(c)})
    return rows


@studio_page
@require_POST
def flag_kill(request: HttpRequest, key: str) -> HttpResponse:
    """The kill switch (or its release, with `killed=0`), whatever the version."""
    flag = _flag_or_404(key)
    killed = request.POST.get("killed", "1") != "0"
    for _ in range(3):
        # A kill must not lose to a concurrent edit: re-read and apply again.
        try:
            flags_repo.update(flag, request.user.get_username(),
                              action="flag.kill" if killed else "flag.unkill", killed=killed)
            break
        except Conflict:
            flag = _flag_or_404(key)
    flags.refresh()
    return HttpResponseRedirect(request.POST.get("next") == "list" and "/studio/flags/"
                                or f"/studio/flags/{key}")


@studio_page
@require_POST
def flag_delete(request: HttpRequest, key: str) -> HttpResponse:
    """Remove a flag (every unit gets "off"); refused if it changed since the form."""
    flag = _flag_or_404(key)
    if request.POST.get("version") != str(flag.version):
        return _page(request, "studio/flag_edit.html", 409, flag=flag, state=_state(flag),
                     values=_form_values(flag), errors={}, conflict=flag,
                     trail=audit.for_flag(key, 20), counts=_counts(key))
    try:
        flags_repo.delete(flag, request.user.get_username())
    except Conflict:
        return HttpResponseRedirect(f"/studio/flags/{key}")
    flags.refresh()
    return HttpResponseRedirect("/studio/flags/")
