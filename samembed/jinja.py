"""The one place Jinja2 is set up: loader, autoescape, bytecode cache, filters.

Django's Jinja2 backend calls `environment()` once per process; templates are
compiled on first use and kept in memory (`auto_reload` is off outside DEBUG, so
no template file is read or stat()ed per request), with compiled bytecode on
disk so a new worker does not compile them again.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import jinja2
from django.conf import settings
from django.contrib.messages import get_messages
from django.templatetags.static import static
from jinja2 import Environment, FileSystemBytecodeCache, pass_context
from jinja2.runtime import Context

from samembed.embed.snippet import RESERVED, snippet
from samembed.media.signing import media_src, media_srcset
from samembed.text import exact_time, iso_time, post_html, relative_time


# Times read in the document's words: the strings table a template was given as `t`
# (embed and story pages), English where there is none (the studio).
# Pages that list posts for reading rather than following (the story page) set
# `absolute_times`, and the cards they share with the embed show exact times.
@pass_context
def _relative_time(ctx: Context, when: datetime, now: datetime | None = None) -> str:
    if ctx.get("absolute_times"):
        return exact_time(when, ctx.get("t"))
    return relative_time(when, now, ctx.get("t"))


@pass_context
def _exact_time(ctx: Context, when: datetime) -> str:
    return exact_time(when, ctx.get("t"))


def environment(**options: Any) -> Environment:
    cache_dir = settings.JINJA_BYTECODE_DIR
    cache_dir.mkdir(parents=True, exist_ok=True)
    options["cache_size"] = 400
    env = Environment(**options)  # noqa: S701 - the backend passes autoescape=True
    env.globals.update(static=static, utcnow=lambda: datetime.now(UTC),
                       get_messages=get_messages, snippet=snippet, snippet_reserved=RESERVED)
    env.filters.update(
        post_html=post_html,
        relative_time=_relative_time,
        exact_time=_exact_time,
        iso_time=iso_time,
        media_src=media_src,
        media_srcset=media_srcset,
    )
    if "bytecode_cache" not in options:
        env.bytecode_cache = FileSystemBytecodeCache(
            str(cache_dir), f"__jinja2_%s.{_compiled_for(env)}.cache")
    return env


def _compiled_for(env: Environment) -> str:
    """What compiled bytecode depends on besides a template's source: whether each
    filter and global takes the context is compiled in, so a change there must not
    meet bytecode from before it."""
    def shape(name: str, f: Any) -> str:
        passes = getattr(f, "jinja_pass_arg", None)
        return f"{name}:{passes.name if passes else '-'}"
    described = [jinja2.__version__, *sorted(shape(n, f) for n, f in env.filters.items()),
                 *sorted(shape(n, f) for n, f in env.globals.items() if callable(f))]
    return hashlib.sha256("|".join(described).encode()).hexdigest()[:12]
