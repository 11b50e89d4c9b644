"""Ingestion: collecting posts from sources into stories (DESIGN.md's ingest path).

    source (sources/<kind>.py: fetch(settings, cursor) -> Batch of Collected)
      -> pipeline (normalise, check, copy media, dedupe, moderation rules, store)
      -> posts collection (pending or approved) -> story version bump

Sources run in `manage.py ingest` (its own process, one per deployment), the
push API and the studio's import run the same pipeline inside the web process.
"""
