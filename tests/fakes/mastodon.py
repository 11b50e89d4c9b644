"""A fake Mastodon instance: statuses, accounts, hashtag timelines, paging, rate limits.

Answers in the REST API's documented shapes (docs.joinmastodon.org: Status,
Account, MediaAttachment entities; `Link` headers with `rel="next"`/`"prev"`;
`X-RateLimit-*` headers; errors as `{"error": "..."}`), with the paging rules
of the real server: results newest first; `max_id` older than, `since_id`
newer than (the newest ones), `min_id` immediately newer than.

    fake.post("<p>Hello <a href=... class=\"mention hashtag\">#tea</a></p>", tags=["tea"])
    fake.edit(status_id, "<p>Hello again</p>"); fake.delete(status_id)
    fake.rate_limit(remaining=0, reset_in=120); fake.throttle(retry_after=30)
    fake.require_token("s3cret"); fake.fail_next(2)
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tests.fakes.base import FakeServer, Reply, Seen, json_reply

HOST = "mastodon.test"
BASE = f"http://{HOST}"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeMastodon(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.base = BASE
        self.host = HOST
        self.accounts: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}  # id -> Status, plus "_tags"
        self._ids = itertools.count(109_000_000_000_000_001)
        self._clock = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
        self.token: str | None = None
        self.remaining: int | None = None
        self.reset_at: datetime | None = None
        self.retry_after: str | None = None
        # When set, Link headers point at this host (a hostile or confused instance).
        self.link_host: str | None = None
        self.add_account("ada", "Ada Lovelace")

    # Controls --------------------------------------------------------------

    def add_account(self, username: str, display_name: str = "",
                    host: str | None = None) -> dict[str, Any]:
        account_id = str(len(self.accounts) + 1)
        acct = f"{username}@{host}" if host else username
        home = host or HOST
        account = {
            "id": account_id, "username": username, "acct": acct,
            "display_name": display_name, "locked": False, "bot": False,
            "discoverable": True, "group": False, "created_at": iso(self._clock),
            "note": "<p></p>", "url": f"https://{home}/@{username}",
            "avatar": f"https://files.{home}/avatars/{username}.png",
            "avatar_static": f"https://files.{home}/avatars/{username}-static.png",
            "header": "", "header_static": "", "followers_count": 3,
            "following_count": 4, "statuses_count": 0, "last_status_at": None,
            "emojis": [], "fields": [],
        }
        self.accounts[acct] = account
        return account

    def post(self, content: str, *, account: str = "ada", tags: tuple[str, ...] | list[str] = (),
             media: list[dict[str, Any]] | None = None, reblog_of: str | None = None,
             in_reply_to_id: str | None = None, sensitive: bool = False,
             spoiler_text: str = "", language: str | None = "en",
             created_at: str | None = None) -> dict[str, Any]:
        """Publish a status (content is the instance's HTML); returns it."""
        status_id = str(next(self._ids))
        self._clock += timedelta(minutes=1)
        author = self.accounts[account]
        author["statuses_count"] += 1
        url = f"{author['url']}/{status_id}"
        status: dict[str, Any] = {
            "id": status_id, "created_at": created_at or iso(self._clock),
            "in_reply_to_id": in_reply_to_id,
            "in_reply_to_account_id": "1" if in_reply_to_id else None,
            "sensitive": sensitive, "spoiler_text": spoiler_text, "visibility": "public",
            "language": language, "uri": url.replace("/@", "/users/").replace(
                f"/{status_id}", f"/statuses/{status_id}"),
            "url": url, "replies_count": 0, "reblogs_count": 0, "favourites_count": 0,
            "edited_at": None, "content": content, "reblog": None, "application": None,
            "account": author,
            "media_attachments": [self._attachment(i, m) for i, m in enumerate(media or [])],
            "mentions": [], "tags": [{"name": t, "url": f"{BASE}/tags/{t}"} for t in tags],
            "emojis": [], "card": None, "poll": None, "_tags": [t.lower() for t in tags],
        }
        if reblog_of is not None:
            original = self.statuses[reblog_of]
            status.update(content="", reblog=_public(original), _tags=[])
        self.statuses[status_id] = status
        return _public(status)

    def edit(self, status_id: str, content: str) -> None:
        self._clock += timedelta(minutes=1)
        self.statuses[status_id].update(content=content, edited_at=iso(self._clock))

    def delete(self, status_id: str) -> None:
        del self.statuses[status_id]

    def require_token(self, token: str) -> None:
        self.token = token

    def rate_limit(self, remaining: int, reset_in: float = 300) -> None:
        """Send X-RateLimit headers; `remaining` counts down, below zero answers 429."""
        self.remaining = remaining
        self.reset_at = datetime.now(UTC) + timedelta(seconds=reset_in)

    def throttle(self, retry_after: str | None = "30", reset_in: float = 300) -> None:
        """Answer every request with 429 from now on."""
        self.rate_limit(-1, reset_in)
        self.retry_after = retry_after

    # Serving ---------------------------------------------------------------

    def handle(self, seen: Seen) -> Reply:
        limited = self.remaining is not None and self.remaining < 0
        limits = self._limit_headers()
        if limited:
            headers = dict(limits)
            if self.retry_after:
                headers["Retry-After"] = self.retry_after
            return json_reply({"error": "Too many requests"}, 429, headers)
        if self.token and seen.headers.get("authorization") != f"Bearer {self.token}":
            return json_reply({"error": "The access token is invalid"}, 401, limits)
        reply = self._route(seen)
        reply.headers.update(limits)
        return reply

    def _limit_headers(self) -> dict[str, str]:
        if self.remaining is None or self.reset_at is None:
            return {}
        headers = {"X-RateLimit-Limit": "300",
                   "X-RateLimit-Remaining": str(max(self.remaining, 0)),
                   "X-RateLimit-Reset": self.reset_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        self.remaining -= 1
        return headers

    def _route(self, seen: Seen) -> Reply:
        parts = seen.path.strip("/").split("/")
        if parts[:4] == ["api", "v1", "timelines", "tag"] and len(parts) == 5:
            tag = parts[4].lower()
            return self._page(seen, [s for s in self.statuses.values() if tag in s["_tags"]])
        if parts[:3] == ["api", "v1", "accounts"] and parts[3:] == ["lookup"]:
            account = self.accounts.get(seen.arg("acct") or "")
            if account is None:
                return json_reply({"error": "Record not found"}, 404)
            return json_reply(account)
        if parts[:3] == ["api", "v1", "accounts"] and len(parts) == 5 and parts[4] == "statuses":
            if not any(a["id"] == parts[3] for a in self.accounts.values()):
                return json_reply({"error": "Record not found"}, 404)
            return self._page(seen, [s for s in self.statuses.values()
                                     if s["account"]["id"] == parts[3]])
        if parts[:3] == ["api", "v1", "statuses"] and len(parts) == 4:
            status = self.statuses.get(parts[3])
            if status is None:
                return json_reply({"error": "Record not found"}, 404)
            return json_reply(_public(status))
        return json_reply({"error": "Not found"}, 404)

    def _page(self, seen: Seen, statuses: list[dict[str, Any]]) -> Reply:
        limit = min(int(seen.arg("limit") or 20), 40)
        newest_first = sorted(statuses, key=lambda s: int(s["id"]), reverse=True)
        max_id, since_id, min_id = seen.arg("max_id"), seen.arg("since_id"), seen.arg("min_id")
        if max_id:
            newest_first = [s for s in newest_first if int(s["id"]) < int(max_id)]
        if since_id:
            newest_first = [s for s in newest_first if int(s["id"]) > int(since_id)]
        if min_id:
            after = [s for s in reversed(newest_first) if int(s["id"]) > int(min_id)]
            page = list(reversed(after[:limit]))
        else:
            page = newest_first[:limit]
        headers = {}
        if page:
            here = f"http://{self.link_host or seen.headers.get('host', HOST)}{seen.path}"
            older = urlencode({"limit": limit, "max_id": page[-1]["id"]})
            newer = urlencode({"limit": limit, "min_id": page[0]["id"]})
            headers["Link"] = f'<{here}?{older}>; rel="next", <{here}?{newer}>; rel="prev"'
        return json_reply([_public(s) for s in page], headers=headers)

    @staticmethod
    def _attachment(index: int, media: dict[str, Any]) -> dict[str, Any]:
        kind = media.get("type", "image")
        name = f"media-{index}"
        extension = "jpg" if kind == "image" else "mp4"
        return {
            "id": str(900 + index), "type": kind,
            "url": media.get("url", f"https://files.{HOST}/{name}.{extension}"),
            "preview_url": media.get("preview_url", f"https://files.{HOST}/{name}-small.jpg"),
            "remote_url": None, "preview_remote_url": None, "text_url": None,
            "meta": {"original": {"width": 1600, "height": 900, "size": "1600x900",
                                  "aspect": 1.7777},
                     "small": {"width": 640, "height": 360, "size": "640x360",
                               "aspect": 1.7777}},
            "description": media.get("description"), "blurhash": "UFBWY:8_0Jxv",
        }


def _public(status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if not k.startswith("_")}
