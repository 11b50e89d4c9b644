"""The source registry: one module per network, each exposing a `Source`."""

from __future__ import annotations

from samembed.ingest.model import Source

REGISTRY: dict[str, Source] = {}


def register(source: Source) -> Source:
    REGISTRY[source.kind] = source
    return source
