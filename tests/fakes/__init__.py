"""Fake upstreams: local HTTP servers that speak Mastodon, Bluesky and feeds.

Sources are tested against these over real HTTP through `samembed.outbound`,
never by patching our code. The fixtures (`fake_mastodon`, `fake_bluesky`,
`fake_feeds`) live in plugin.py, which tests/conftest.py loads.
"""
