"""The embed's own words (read path): one table per language, chosen per story.

Templates get the story's table as `t` (`{{ t.show_more }}`); scripts in the
frame get the strings they need from `data-` attributes the template writes, so
no script carries a table of its own. A key missing from a language falls back
to English, so a new string can ship before its translations.

    >>> strings("fr")["show_more"]
    'Afficher plus'
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

DEFAULT = "en"

# Keys are the contract between templates, scripts and translations.
ENGLISH: dict[str, str] = {
    "view_on_mastodon": "View on Mastodon",
    "view_on_bluesky": "View on Bluesky",
    "read_article": "Read the article",
    "view_original": "View original",
    "more_on": "More on {title}",
    "show_more": "Show more",
    "loading": "Loading…",
    "show": "Show",
    "hide": "Hide",
    "content_warning": "Content warning",
    "sensitive_media": "Sensitive media",
    "pinned": "Pinned",
    "video": "Video",
    "play": "Play",
    "close": "Close",
    "previous": "Previous",
    "next": "Next",
    "skip_story": "Skip past this story",
    "end_of_story": "End of the story",
    "image_of": "Image {n} of {count}",
    "pause_updates": "Pause updates",
    "resume_updates": "Resume updates",
    "offline": "Offline · showing the last update",
    "no_posts_title": "No posts yet",
    "no_posts_body": "New posts will appear here.",
}

TABLES: dict[str, dict[str, str]] = {DEFAULT: ENGLISH}


def base_language(tag: str | None) -> str:
    """The table a BCP 47 tag selects ("pt-BR" -> "pt"), English when we have none."""
    primary = (tag or "").split("-", 1)[0].strip().lower()
    return primary if primary in TABLES else DEFAULT


@cache
def strings(tag: str | None) -> Mapping[str, str]:
    """The embed's words in the language `tag` names, English for missing keys."""
    language = base_language(tag)
    return MappingProxyType({**ENGLISH, **TABLES[language]})
