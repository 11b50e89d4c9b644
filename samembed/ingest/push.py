"""The push API's and the studio import's format: JSON (or CSV) posts -> Collected.

    POST /api/v1/stories/<slug>/posts
    Authorization: Bearer <the story's push token>
    Content-Type: application/json

    {"posts": [{"id": "42", "text": "Hello", "created_at": "2026-11-30T12:00:00Z",
                "author": {"name": "Ada", "handle": "ada", "url": "https://…",
                           "avatar_url": "https://…"},
                "url": "https://…", "lang": "en",
                "media": [{"url": "https://…/a.jpg", "alt": "A red kite"},
                          {"type": "video", "url": "https://…/b.mp4",
                           "poster": "https://…/b.jpg", "alt": "The kite landing"}],
                "sensitive": false, "content_warning": "", "reply": false,
                "repost": false}]}

Strict on purpose: unknown fields, wrong types and `$`-prefixed keys are
refused with the item's index and field, so a client's bug is found on its
first request rather than stored as nonsense. A video's `url` is its file and
`poster` its still (without one the embed shows a plain placeholder). A
`content_warning` (or `sensitive`) hides the post behind a "Show" button in
embeds, and on big screens unless an editor lets it through. A batch with any bad item stores
nothing; the same id sent again updates the post (idempotent).
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from typing import Any

from samembed import outbound
from samembed.exceptions import Refused
from samembed.ingest.model import Collected, CollectedMedia
from samembed.ingest.pipeline import check
from samembed.repositories.posts import TEXT_MAX
from samembed.text import find_entities

MAX_BODY = 1024 * 1024
MAX_POSTS = 100
MAX_MEDIA = 4
IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_MAX_POSTS = 5000
CSV_COLUMNS = ("id", "text", "created_at", "author_name", "author_handle", "author_url",
               "avatar_url", "url", "lang", "image_url", "image_alt", "sensitive",
               "content_warning")

_FIELDS: dict[str, type] = {
    "id": str, "text": str, "created_at": str, "author": dict, "url": str, "lang": str,
    "media": list, "sensitive": bool, "content_warning": str, "reply": bool, "repost": bool}
_AUTHOR: dict[str, type] = {"name": str, "handle": str, "url": str, "avatar_url": str}
_MEDIA: dict[str, type] = {"url": str, "alt": str, "type": str, "poster": str}
_LIMITS = {"id": 500, "text": TEXT_MAX, "url": 2000, "lang": 35, "content_warning": 500,
           "name": 200, "handle": 200, "avatar_url": 2000, "alt": 1500, "type": 10, "poster": 2000}
_TYPE_NAMES = {str: "a string", bool: "true or false", dict: "an object", list: "a list"}
# A post is four levels deep; the limit only has to stop a body built to exhaust the
# parser's recursion (a RecursionError, so a 500) long before it gets there.
MAX_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
# JSON escapes decode to lone surrogates, which UTF-8 (so BSON) cannot encode, and to
# noncharacters, which Unicode reserves for a program's own use, never interchange.
_SURROGATE = re.compile("[\ud800-\udfff]")
_NONCHARACTER = re.compile("[\ufdd0-\ufdef\ufffe\uffff"
                           + "".join(f"\\U{p:04x}fffe\\U{p:04x}ffff" for p in range(1, 17))
                           + "]")


class BadBatch(ValueError):
    """The batch is refused; `errors` says where, one entry per problem."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def _text_problem(value: str) -> str | None:
    """Why `value` can't be stored as text, or None."""
    if _SURROGATE.search(value):
        return "contains a lone surrogate (an unpaired \\ud800-\\udfff escape), not text"
    if _NONCHARACTER.search(value):
        return "contains a Unicode noncharacter (such as U+FFFE or U+FFFF)"
    return None


def _fields(value: Any, spec: dict[str, type], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where or 'each post'} must be an object")
    for key, item in value.items():
        if _text_problem(key):
            # Not echoed: the message itself must be encodable.
            raise ValueError(f"{where or 'a post'}: a field name {_text_problem(key)}")
        if key.startswith("$") or "." in key:
            raise ValueError(f"{where}{key}: field names may not start with $ or contain "
                             "a dot (query operators are not accepted)")
        if key not in spec:
            raise ValueError(f"{where}{key}: unknown field; known: {', '.join(spec)}")
        if item is not None and not isinstance(item, spec[key]):
            raise ValueError(f"{where}{key}: must be {_TYPE_NAMES[spec[key]]}")
        if isinstance(item, str) and len(item) > _LIMITS.get(key, 2000):
            raise ValueError(f"{where}{key}: longer than {_LIMITS.get(key, 2000)} characters")
        if isinstance(item, str) and (problem := _text_problem(item)):
            raise ValueError(f"{where}{key}: {problem}")
    return {k: v for k, v in value.items() if v is not None}


def _date(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as e:
        raise ValueError(f"created_at: {raw[:40]!r} is not an ISO 8601 date") from e
    if value.tzinfo is None:
        raise ValueError("created_at: must include a time zone (Z or +hh:mm)")
    return value


def _fetched_url(value: str | None, field: str) -> str | None:
    """A URL we will fetch (an image, an avatar), checked by the parser every fetch
    uses; ValueError naming the field. (Links are only shown, and `check` drops the
    ones that are not http, https or mailto.)"""
    if value is None or value == "":
        return None
    try:
        return outbound.parse_url(value)
    except Refused as e:
        raise ValueError(f"{field}: {e}") from e


def parse_post(raw: Any) -> Collected:
    """One pushed post; ValueError naming the field."""
    item = _fields(raw, _FIELDS, "")
    for required in ("id", "text", "created_at"):
        if not item.get(required):
            raise ValueError(f"{required}: required")
    author = _fields(item.get("author", {}), _AUTHOR, "author.")
    if not author.get("name", "").strip():
        raise ValueError("author.name: required")
    media = item.get("media", [])
    if len(media) > MAX_MEDIA:
        raise ValueError(f"media: at most {MAX_MEDIA} items")
    images = []
    for n, entry in enumerate(media):
        m = _fields(entry, _MEDIA, f"media[{n}].")
        if not m.get("url"):
            raise ValueError(f"media[{n}].url: required")
        if m.get("type", "image") not in ("image", "video"):
            raise ValueError(f"media[{n}].type: image or video")
        url = _fetched_url(m["url"], f"media[{n}].url") or ""
        if m.get("type", "image") == "video":
            poster = _fetched_url(m.get("poster") or None, f"media[{n}].poster") or ""
            images.append(CollectedMedia(poster, m.get("alt", ""), "video", play_url=url))
        else:
            images.append(CollectedMedia(url, m.get("alt", ""), m.get("type", "image")))
    text = item["text"]
    return check(Collected(
        external_id=item["id"], author_name=author["name"], text=text,
        posted_at=_date(item["created_at"]), entities=tuple(find_entities(text)),
        media=tuple(images), author_handle=author.get("handle"),
        author_url=author.get("url"),
        avatar_url=_fetched_url(author.get("avatar_url"), "author.avatar_url"),
        permalink=item.get("url"), lang=item.get("lang"),
        is_reply=item.get("reply", False), is_repost=item.get("repost", False),
        sensitive=item.get("sensitive", False),
        content_warning=item.get("content_warning", "")))


def parse_batch(items: Any, max_posts: int = MAX_POSTS) -> list[Collected]:
    """Every post of a batch, or BadBatch listing each bad one (nothing is half-taken)."""
    if isinstance(items, dict):
        try:
            items = _fields(items, {"posts": list}, "").get("posts")
        except ValueError as e:
            raise BadBatch(str(e)) from e
    if not isinstance(items, list) or not items:
        raise BadBatch('expected {"posts": [ … ]} with at least one post')
    if len(items) > max_posts:
        raise BadBatch(f"{len(items)} posts in one batch; at most {max_posts} are accepted")
    parsed, errors = [], []
    for index, raw in enumerate(items):
        try:
            parsed.append(parse_post(raw))
        except ValueError as e:
            ident = raw.get("id") if isinstance(raw, dict) else None
            if not isinstance(ident, str) or _text_problem(ident):
                ident = None
            errors.append({"index": index, "id": ident,
                           "error": str(e)})
    if errors:
        raise BadBatch(f"{len(errors)} of {len(items)} posts are invalid; nothing was stored",
                       errors)
    return parsed


def _check_depth(body: bytes) -> None:
    """BadBatch if arrays and objects nest deeper than MAX_DEPTH (before parsing, which
    recurses once per level); brackets inside strings do not count."""
    depth = 0
    for char in _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", body)):
        depth += 1 if char in b"[{" else -1
        if depth > MAX_DEPTH:
            raise BadBatch(f"the body has nesting deeper than {MAX_DEPTH} levels of "
                           "arrays and objects; a post needs four")


def parse_json(body: bytes, max_posts: int = MAX_POSTS) -> list[Collected]:
    """A JSON body's posts, or BadBatch saying what is wrong with it."""
    _check_depth(body)
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BadBatch("the body is not UTF-8") from e
    except RecursionError as e:  # the depth check makes this unreachable; kept as a floor
        raise BadBatch(f"the body has nesting deeper than {MAX_DEPTH} levels") from e
    except json.JSONDecodeError as e:
        raise BadBatch(f"the body is not valid JSON: {e.msg} at line {e.lineno} "
                       f"column {e.colno}") from e
    return parse_batch(data, max_posts)


def parse_csv(body: bytes) -> list[Collected]:
    """An import file: a header row naming some of CSV_COLUMNS, then one post per row."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BadBatch("the file is not UTF-8 (save it as CSV UTF-8)") from e
    reader = csv.DictReader(io.StringIO(text))
    unknown = [c for c in reader.fieldnames or () if c not in CSV_COLUMNS]
    if not reader.fieldnames or unknown:
        raise BadBatch(f"unknown columns {', '.join(unknown) or '(no header)'}; "
                       f"known: {', '.join(CSV_COLUMNS)}")
    items = []
    try:
        for row in reader:
            item: dict[str, Any] = {k: row.get(k) for k in ("id", "text", "created_at", "url",
                                                            "lang", "content_warning")
                                    if row.get(k)}
            item["author"] = {k.removeprefix("author_"): row[k] for k in
                              ("author_name", "author_handle", "author_url", "avatar_url")
                              if row.get(k)}
            if row.get("image_url"):
                item["media"] = [{"url": row["image_url"], "alt": row.get("image_alt") or ""}]
            if row.get("sensitive"):
                item["sensitive"] = row["sensitive"].strip().lower() in ("true", "1", "yes")
            items.append(item)
    except csv.Error as e:
        raise BadBatch(f"the CSV is malformed: {e}") from e
    return parse_batch(items, IMPORT_MAX_POSTS)
