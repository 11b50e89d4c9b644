"""The health of a story's polled sources, as the studio's pages show it (the
story list, the queue, the remote and the Sources page): counts, and each source
that is failing or paused with its error and next retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from samembed.repositories import sources
from samembed.repositories.sources import Source


@dataclass(frozen=True)
class Problem:
    """One source that is failing or paused, as other pages show it."""

    id: str
    label: str
    kind: str
    error: str
    failures: int
    paused_since: datetime | None
    next_retry: datetime | None  # None when paused: it waits for an editor's retry


@dataclass(frozen=True)
class Health:
    """A story's sources at a glance: counts, what needs attention, the next retry."""

    total: int = 0
    ok: int = 0
    failing: int = 0
    paused: int = 0
    disabled: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def next_retry(self) -> datetime | None:
        """The soonest automatic retry of a failing source, if any."""
        times = [p.next_retry for p in self.problems if p.next_retry is not None]
        return min(times) if times else None

    @property
    def summary(self) -> str:
        """One line for a story list or queue: empty when every source is fine."""
        if not self.problems:
            return ""
        parts = []
        if self.paused:
            parts.append(f"{self.paused} paused")
        if self.failing:
            parts.append(f"{self.failing} failing")
        text = f"Sources: {', '.join(parts)}"
        when = self.next_retry
        if when is not None:
            text += f"; next retry {when:%H:%M} UTC"
        elif self.paused:
            text += "; press Retry on the Sources page"
        return text + "."


def _aware(when: datetime | None) -> datetime | None:
    # Stored times come back naive (UTC) from the database.
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def health_of(listed: list[Source]) -> Health:
    """The health of already-loaded sources (no query)."""
    problems = [
        Problem(str(s.id), s.label, s.kind, s.last_error or "", s.failures,
                _aware(s.paused_since), None if s.paused else _aware(s.next_run_at))
        for s in listed if s.enabled and (s.paused or s.failures)
    ]
    return Health(
        total=len(listed),
        ok=sum(1 for s in listed if s.enabled and not s.failures and not s.paused),
        failing=sum(1 for s in listed if s.enabled and s.failures and not s.paused),
        paused=sum(1 for s in listed if s.enabled and s.paused),
        disabled=sum(1 for s in listed if not s.enabled),
        problems=problems,
    )


def health_summary(story_id: Any) -> Health:
    """A story's source health in one query, for the story list and the queue."""
    return health_of(sources.for_story(story_id))
