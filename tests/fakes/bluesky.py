"""A fake Bluesky: the public AppView's feed XRPC methods and a PDS with app-password sessions.

Answers in the lexicons' shapes: `app.bsky.feed.getAuthorFeed` (`feed` of
`app.bsky.feed.defs#feedViewPost`, `cursor`), `app.bsky.feed.searchPosts`
(`posts` of `#postView`; needs a session), `app.bsky.feed.getPosts` (at most 25
`uris`; missing ones left out), `com.atproto.server.createSession` (POST),
XRPC errors as `{"error": "...", "message": "..."}`, and the `ratelimit-*` headers.
One server plays both hosts (appview.bsky.test and pds.bsky.test).

    uri = fake.post("Hi #tea", author="alice.test", facets=[fake.facet("Hi #tea", "#tea",
                    {"$type": "app.bsky.richtext.facet#tag", "tag": "tea"})])
    fake.repost(uri, by="bob.test"); fake.delete(uri)
    fake.set_app_password("alice.test", "abcd-efgh-ijkl-mnop"); fake.expire_sessions()
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.base import FakeServer, Reply, Seen, json_reply

APPVIEW_HOST = "appview.bsky.test"
PDS_HOST = "pds.bsky.test"
CDN = "https://cdn.bsky.test"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def fake_jwt(subject: str, expires_in: float = 7200) -> str:
    """A JWT-shaped token (not signed: the source only reads `exp`)."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    payload = {"scope": "com.atproto.appPass", "sub": subject,
               "iat": int(time.time()), "exp": int(time.time() + expires_in),
               "jti": f"{time.monotonic_ns()}"}
    return f"{part({'typ': 'at+jwt', 'alg': 'ES256K'})}.{part(payload)}.c2lnbmF0dXJl"


def xrpc_error(status: int, error: str, message: str,
               headers: dict[str, str] | None = None) -> Reply:
    return json_reply({"error": error, "message": message}, status, headers)


class FakeBluesky(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.appview_host, self.pds_host = APPVIEW_HOST, PDS_HOST
        self.appview_url, self.pds_url = f"http://{APPVIEW_HOST}", f"http://{PDS_HOST}"
        self.profiles: dict[str, dict[str, Any]] = {}  # did -> profileViewBasic
        self.posts: dict[str, dict[str, Any]] = {}  # uri -> postView
        self.items: list[dict[str, Any]] = []  # feed items: {"uri", "by", "at"}
        self.passwords: dict[str, str] = {}
        self.sessions: set[str] = set()
        self.remaining: int | None = None
        self.reset_at = 0
        self.retry_after: str | None = None
        self._rkeys = itertools.count(1)
        self._clock = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
        for handle, name in (("alice.test", "Alice"), ("bob.test", "Bob")):
            self.add_profile(handle, name)

    # Controls --------------------------------------------------------------

    def add_profile(self, handle: str, display_name: str = "") -> str:
        did = f"did:plc:{handle.split('.')[0]:a<24}"[:32]
        self.profiles[did] = {
            "did": did, "handle": handle, "displayName": display_name,
            "avatar": f"{CDN}/img/avatar/plain/{did}/bafkavatar@jpeg",
            "labels": [], "createdAt": "2024-01-01T00:00:00.000Z",
        }
        return did

    def did(self, actor: str) -> str | None:
        for did, profile in self.profiles.items():
            if actor in (did, profile["handle"]):
                return did
        return None

    @staticmethod
    def facet(text: str, part: str, feature: dict[str, Any]) -> dict[str, Any]:
        """A richtext facet over the first `part` in `text`, by UTF-8 byte offsets."""
        start = text.encode().index(part.encode())
        return {"$type": "app.bsky.richtext.facet",
                "index": {"byteStart": start, "byteEnd": start + len(part.encode())},
                "features": [feature]}

    def post(self, text: str, *, author: str = "alice.test",
             facets: list[dict[str, Any]] | None = None, images: list[str] | None = None,
             reply_to: str | None = None, labels: tuple[str, ...] = (),
             langs: list[str] | None = None, created_at: str | None = None,
             with_record: str | None = None, video: bool = False) -> str:
        """Publish a post; `images` are alt texts (one image each). Returns its at:// URI."""
        did = self.did(author)
        assert did is not None, author
        self._clock += timedelta(minutes=1)
        rkey = f"3l{next(self._rkeys):011d}"
        uri = f"at://{did}/app.bsky.feed.post/{rkey}"
        cid = f"bafyrei{rkey}"
        record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text,
                                  "createdAt": created_at or iso(self._clock),
                                  "langs": langs if langs is not None else ["en"]}
        if facets:
            record["facets"] = facets
        if reply_to:
            parent = {"uri": reply_to, "cid": self.posts[reply_to]["cid"]}
            record["reply"] = {"root": parent, "parent": parent}
        view: dict[str, Any] = {
            "uri": uri, "cid": cid, "author": self.profiles[did], "record": record,
            "replyCount": 0, "repostCount": 0, "likeCount": 0, "quoteCount": 0,
            "indexedAt": iso(self._clock),
            "labels": [{"src": did, "uri": uri, "cid": cid, "val": v,
                        "cts": iso(self._clock)} for v in labels],
        }
        media_view = self._media_view(did, images, video)
        if with_record is not None:
            quoted = self.posts[with_record]
            view["embed"] = {
                "$type": "app.bsky.embed.recordWithMedia#view",
                "record": {"record": {"$type": "app.bsky.embed.record#viewRecord",
                                      "uri": quoted["uri"], "cid": quoted["cid"],
                                      "author": quoted["author"], "value": quoted["record"],
                                      "indexedAt": quoted["indexedAt"]}},
                "media": media_view,
            }
        elif media_view:
            view["embed"] = media_view
        self.posts[uri] = view
        self.items.append({"uri": uri, "by": did, "at": view["indexedAt"]})
        return uri

    def repost(self, uri: str, *, by: str = "bob.test") -> None:
        did = self.did(by)
        self._clock += timedelta(minutes=1)
        self.items.append({"uri": uri, "by": did, "at": iso(self._clock), "repost": True})

    def delete(self, uri: str) -> None:
        del self.posts[uri]
        self.items = [item for item in self.items if item["uri"] != uri]

    def set_app_password(self, identifier: str, password: str) -> None:
        self.passwords[identifier] = password

    def expire_sessions(self) -> None:
        self.sessions.clear()

    def rate_limit(self, remaining: int, reset_in: int = 300) -> None:
        """Send ratelimit-* headers; `remaining` counts down, below zero answers 429."""
        self.remaining = remaining
        self.reset_at = int(time.time()) + reset_in

    def throttle(self, retry_after: str | None = None, reset_in: int = 300) -> None:
        self.rate_limit(-1, reset_in)
        self.retry_after = retry_after

    # Serving ---------------------------------------------------------------

    def _media_view(self, did: str, images: list[str] | None,
                    video: bool) -> dict[str, Any] | None:
        if video:
            return {"$type": "app.bsky.embed.video#view", "cid": "bafkvideo",
                    "playlist": f"https://video.bsky.test/watch/{did}/bafkvideo/playlist.m3u8",
                    "thumbnail": f"https://video.bsky.test/watch/{did}/bafkvideo/thumbnail.jpg",
                    "alt": "a video", "aspectRatio": {"width": 1280, "height": 720}}
        if not images:
            return None
        return {"$type": "app.bsky.embed.images#view", "images": [
            {"thumb": f"{CDN}/img/feed_thumbnail/plain/{did}/bafkimg{i}@jpeg",
             "fullsize": f"{CDN}/img/feed_fullsize/plain/{did}/bafkimg{i}@jpeg",
             "alt": alt, "aspectRatio": {"width": 1200, "height": 800}}
            for i, alt in enumerate(images)]}

    def handle(self, seen: Seen) -> Reply:
        limited = self.remaining is not None and self.remaining < 0
        headers = self._limit_headers()
        if limited:
            if self.retry_after:
                headers["retry-after"] = self.retry_after
            return xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers)
        reply = self._route(seen)
        reply.headers.update(headers)
        return reply

    def _limit_headers(self) -> dict[str, str]:
        if self.remaining is None:
            return {}
        headers = {"ratelimit-limit": "3000", "ratelimit-remaining": str(max(self.remaining, 0)),
                   "ratelimit-reset": str(self.reset_at), "ratelimit-policy": "3000;w=300"}
        self.remaining -= 1
        return headers

    def _route(self, seen: Seen) -> Reply:
        method = seen.path.removeprefix("/xrpc/")
        host = seen.headers.get("host", "")
        if method == "com.atproto.server.createSession" and seen.method == "POST":
            return self._create_session(seen)
        if method == "app.bsky.feed.getAuthorFeed":
            return self._author_feed(seen)
        if method == "app.bsky.feed.getPosts":
            uris = seen.query.get("uris", [])
            if len(uris) > 25:
                return xrpc_error(400, "InvalidRequest", "uris must not have more than 25 elements")
            return json_reply({"posts": [self.posts[u] for u in uris if u in self.posts]})
        if method == "app.bsky.feed.searchPosts":
            if host != self.pds_host:
                return xrpc_error(403, "Forbidden", "search requires authentication")
            token = seen.headers.get("authorization", "").removeprefix("Bearer ")
            if not token:
                return xrpc_error(401, "AuthMissing", "Authentication Required")
            if token not in self.sessions:
                return xrpc_error(400, "ExpiredToken", "Token has expired")
            return self._search(seen)
        return xrpc_error(501, "MethodNotImplemented", "Method Not Implemented")

    def _create_session(self, seen: Seen) -> Reply:
        try:
            body = json.loads(seen.body)
        except ValueError:
            return xrpc_error(400, "InvalidRequest", "Invalid JSON")
        identifier, password = body.get("identifier"), body.get("password")
        if self.passwords.get(identifier) != password:
            return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        token = fake_jwt(self.did(identifier) or identifier)
        self.sessions.add(token)
        return json_reply({"accessJwt": token, "refreshJwt": fake_jwt(identifier, 86400 * 60),
                           "handle": identifier, "did": self.did(identifier), "active": True})

    def _author_feed(self, seen: Seen) -> Reply:
        did = self.did(seen.arg("actor") or "")
        if did is None:
            return xrpc_error(400, "InvalidRequest", "Profile not found")
        limit = min(int(seen.arg("limit") or 50), 100)
        items = sorted((i for i in self.items if i["by"] == did),
                       key=lambda i: i["at"], reverse=True)
        cursor = seen.arg("cursor")
        if cursor:
            items = [i for i in items if i["at"] < cursor]
        page = items[:limit]
        feed = []
        for item in page:
            entry: dict[str, Any] = {"post": self.posts[item["uri"]]}
            if item.get("repost"):
                entry["reason"] = {"$type": "app.bsky.feed.defs#reasonRepost",
                                   "by": self.profiles[did], "indexedAt": item["at"]}
            feed.append(entry)
        body: dict[str, Any] = {"feed": feed}
        if len(items) > limit:
            body["cursor"] = page[-1]["at"]
        return json_reply(body)

    def _search(self, seen: Seen) -> Reply:
        q = (seen.arg("q") or "").lower()
        limit = min(int(seen.arg("limit") or 25), 100)
        offset = int(seen.arg("cursor") or 0)
        since = seen.arg("since")
        found = sorted((p for p in self.posts.values() if q in p["record"]["text"].lower()
                        and (not since or p["indexedAt"] >= since)),
                       key=lambda p: p["indexedAt"], reverse=True)
        page = found[offset:offset + limit]
        body: dict[str, Any] = {"posts": page, "hitsTotal": len(found)}
        if offset + limit < len(found):
            body["cursor"] = str(offset + limit)
        return json_reply(body)
