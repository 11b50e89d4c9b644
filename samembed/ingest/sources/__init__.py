"""The source registry: one module per network, each exposing a `Source`."""

from __future__ import annotations

from samembed.ingest.model import Source

REGISTRY: dict[str, Source] = {}


def register(source: Source) -> Source:
    REGISTRY[source.kind] = source
    return source


# Imported last: each module registers its source with the registry above.
from samembed.ingest.sources import bluesky, feeds, mastodon  # noqa: E402

for _module in (mastodon, bluesky, feeds):
    register(_module.SOURCE)
