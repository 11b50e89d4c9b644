"""`/studio/flags/`: the rollouts page (write path). Editors list flags with their
state, create, edit (a compare-and-set on the version the form was based on:
a lost race is a 409 with the other editor's values shown), kill and delete.

Each change is audited by the repository and reaches every worker through its
flag watch (samembed.flags) within a second; this process refreshes at once, so
the editor's next preview already shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from samembed.studio import charts
from samembed.studio.views import studio_page

FORM_FIELDS = ("description", "owner", "percent", "unit", "seed", "staff", "origins",
               "stories", "variants", "plan")
# The guardrail counts the flag's page shows: every instance's, this long back,
# and the charts, in this many steps.
COUNTS_SECONDS = 3600
CHART_STEPS = 12


def _state(flag: Flag) -> str:
    if flag.killed:
        return "killed"
    if flag.rollout >= flags_repo.ROLLOUT_MAX:
        return "everyone"
    if flag.rollout or flag.origins or flag.story_ids or flag.stories or flag.staff:
        return "ramping"
    return "off"


def _form_values(flag: Flag | None) -> dict[str, str]:
    if flag is None:
        return {"unit": "story", "percent": "0"}
    return {"description": flag.description, "owner": flag.owner, "percent": flag.percent,
            "unit": flag.unit, "seed": flag.seed, "staff": "\n".join(flag.staff),
            "origins": "\n".join(flag.origins),
            "stories": "\n".join(flags_repo.story_slugs(flag)),
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
    context.setdefault("trail_line", trail_line)
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
    every = flags_repo.all_flags()
    drawn = _charts([f.key for f in every], charts.SPARK)
    rows = [(f, _state(f), drawn.get(f.key)) for f in every]
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
                 conflict=conflict, trail=audit.for_flag(key, 20), counts=_counts(key),
                 charts=_charts([key], charts.FULL).get(key))


# What each action of the trail says, in words.
ACTIONS = {"flag.create": "created the flag", "flag.update": "changed", "flag.kill": "killed it",
           "flag.unkill": "released the kill switch", "flag.allow": "added to the allow-lists",
           "flag.guard": "ramped it back", "flag.step": "took the plan's next step",
           "flag.delete": "deleted the flag"}


def trail_line(action: str, changes: Mapping[str, Mapping[str, Any]]) -> str:
    """One entry of a flag's trail as a sentence: what was done and what it changed
    ("changed: rollout 5 % → 20 %; stories none → demo")."""
    said = []
    for name, change in changes.items():
        before, after = change.get("before"), change.get("after")
        if shown(name, before) == shown(name, after):
            continue
        if name == "reason":
            said.append(f"because {after}")
        elif action == "flag.create":
            # A new flag: what it was created with, its empty fields left out.
            if after not in (None, "", [], False):
                said.append(f"{name} {shown(name, after)}")
        else:
            said.append(f"{name} {shown(name, before)} → {shown(name, after)}")
    words = ACTIONS.get(action, action)
    if said:
        return f"{words}: {'; '.join(said)}"
    return "saved, nothing changed" if action == "flag.update" else f"{words}, nothing else changed"


def shown(name: str, value: Any) -> str:
    """A value of the trail as people read it: a rollout in percent, lists joined."""
    if value is None or value == [] or value == "":
        return "none"
    if name in ("rollout", "previous_rollout") and isinstance(value, int | float):
        return f"{value / 100:.2f}".rstrip("0").rstrip(".") + " %"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return " ".join(f"{v['name']}:{v['weight']}" if isinstance(v, dict) else str(v)
                        for v in value)
    return str(value)


def _variant_class(variant: str, others: list[str]) -> str:
    # "off" (the old version) is drawn muted and dashed; the new ones in colour.
    return "s1" if variant == flags.OFF else f"s{2 + others.index(variant) % 3}"


def _charts(keys: list[str], frame: charts.Frame) -> dict[str, dict[str, Any]]:
    """Per flag: exposures and error rates per variant over the last hour as two
    charts, and each variant's totals (the legend); every instance's counts."""
    try:
        starts, found = flag_counts.series(keys, COUNTS_SECONDS, CHART_STEPS)
    except DatabaseUnavailable:
        return {}
    labels = [f"{t:%H:%M}" for t in starts]
    out: dict[str, dict[str, Any]] = {}
    for key, variants in found.items():
        names = sorted(variants, key=lambda v: (v != flags.OFF, v))
        others = [v for v in names if v != flags.OFF]
        exposed: charts.Series = []
        rates: charts.Series = []
        legend = []
        for name in names:
            cells = variants[name]
            cls = _variant_class(name, others)
            errors = [c + s for c, s in zip(cells["client_error"], cells["server_error"],
                                            strict=True)]
            exposed.append((name, [float(n) for n in cells["exposure"]], cls))
            rates.append((name, [e / n if n else None
                                 for e, n in zip(errors, cells["exposure"], strict=True)], cls))
            total = sum(cells["exposure"])
            legend.append({"variant": name, "cls": cls, "exposures": total,
                           "rate": sum(errors) / total if total else None})
        cid = f"{'spark' if frame is charts.SPARK else 'chart'}-{key}"
        out[key] = {
            "exposures": charts.line_chart(f"{cid}-x", f"{key}: exposures per variant, "
                                           "last hour", labels, exposed, charts.number, frame),
            "errors": charts.line_chart(f"{cid}-e", f"{key}: error rate per variant "
                                        "(client and server errors per exposure), last hour",
                                        labels, rates, charts.percent, frame),
            "legend": legend,
        }
    return out


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
        exposures = c.get("exposure", 0.0)
        rows.append({"variant": variant, **c,
                     "client_rate": c.get("client_error", 0.0) / exposures if exposures else None,
                     "server_rate": c.get("server_error", 0.0) / exposures if exposures else None,
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
                     trail=audit.for_flag(key, 20), counts=_counts(key),
                     charts=_charts([key], charts.FULL).get(key))
    try:
        flags_repo.delete(flag, request.user.get_username())
    except Conflict:
        return HttpResponseRedirect(f"/studio/flags/{key}")
    flags.refresh()
    return HttpResponseRedirect("/studio/flags/")
