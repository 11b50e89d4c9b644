"""oEmbed discovery: the `<link rel="alternate" …+oembed>` pair in the head of a
story's page and of its embed document, so that WordPress, Discourse, Embedly or
iframely find `/oembed` (samembed.embed.oembed) from a pasted URL, without a
provider list. Written once per render (read path, on a cache miss).

    >>> oembed_links("https://host", "https://host/s/demo")
    ('https://host/oembed?url=https%3A%2F%2Fhost%2Fs%2Fdemo&format=json', '...&format=xml')
"""

from __future__ import annotations

from urllib.parse import quote


def oembed_links(origin: str, url: str) -> tuple[str, str]:
    """The provider's JSON and XML URLs for `url` (both absolute: consumers fetch
    them as they are)."""
    base = f"{origin}/oembed?url={quote(url, safe='')}"
    return base + "&format=json", base + "&format=xml"
