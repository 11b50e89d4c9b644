"""The snippet publishers paste, written in one place for every page that shows it.

The home page, the story page's footer and the studio's snippet builder all give
the same two lines. The placeholder carries a reserved height (an inline
`min-height` by template) so that a page that is already painted does not move
when the async loader turns it into a frame: the loader starts the frame at the
placeholder's own height. `static/studio/preview.js` writes the same snippet as
the builder's options change; keep its `RESERVED` in step with this one.
"""

from __future__ import annotations

from markupsafe import escape

# What each template's frame is likely to need before it reports its own height.
# List and grid are taller than any screen: a viewport's height keeps whatever
# follows them out of view until the frame knows its size.
RESERVED = {"list": "100vh", "grid": "100vh", "carousel": "700px", "ticker": "200px"}


def snippet(origin: str, slug: str, title: str, template: str = "", default: str = "list",
            limit: int | None = None, max_height: int | None = None) -> str:
    """The placeholder and the loader, as text for a publisher to copy; `default` is
    the story's own template, which a snippet without `template` shows."""
    attrs = f' data-story="{escape(slug)}"'
    if template:
        attrs += f' data-template="{escape(template)}"'
    if limit:
        attrs += f' data-limit="{int(limit)}"'
    reserve = RESERVED.get(template or default, "")
    if max_height:
        attrs += f' data-max-height="{int(max_height)}"'
        reserve = reserve and f"min({reserve},{int(max_height)}px)"
    if reserve:
        attrs += f' style="min-height:{reserve}"'
    return (f'<blockquote class="samembed"{attrs}>\n'
            f'  <a href="{escape(origin)}/s/{escape(slug)}">{escape(title)}</a>\n'
            f'</blockquote>\n<script async src="{escape(origin)}/embed.js"></script>')
