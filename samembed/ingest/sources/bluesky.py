"""Bluesky: one account's posts (public AppView) or a search (needs an app password).

Source -> (this) -> pipeline. XRPC methods (the `app.bsky.*` lexicons):

- author mode: `app.bsky.feed.getAuthorFeed?actor=&limit=&cursor=` on the public
  AppView (`https://public.api.bsky.app`), no account needed;
- search mode: `com.atproto.server.createSession` (POST identifier + app
  password) on the account's PDS (`https://bsky.social`), then
  `app.bsky.feed.searchPosts?q=&sort=latest&since=` there with the access JWT.
  Sessions are kept in this process until their JWT expires (createSession is
  limited to a few dozen calls per five minutes, so polling cannot log in each time);
- recheck: `app.bsky.feed.getPosts?uris=…` (at most 25): a URI missing from the
  answer was deleted (or taken down, which for a story is the same).

Paging: both feeds go newest first with an opaque `cursor` towards older posts
and have no "newer than" parameter, so a run reads pages until it meets a post
it already delivered (the cursor holds the newest time seen and the ids at
that time), at most a few pages. Over that many new posts between two runs,
the oldest of them are not read.

Text is plain; facets (UTF-8 byte ranges) become entities by code point.
External ids are the posts' at:// URIs (a repost carries the reposted post's URI).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from typing import Any
from urllib.parse import quote, urlencode

from samembed import outbound
from samembed.ingest import sanitise
from samembed.ingest.model import Batch, Collected, CollectedMedia, SourceError
from samembed.ingest.sources import common
from samembed.repositories.posts import Entity

APPVIEW = "https://public.api.bsky.app"
PDS = "https://bsky.social"

_HANDLE = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*$")
_DID = re.compile(r"^did:(plc:[a-z2-7]{24}|web:[a-z0-9.-]+)$")
_POST_URI = re.compile(r"^at://did:[a-z]+:[A-Za-z0-9._:%-]+/app\.bsky\.feed\.post/[A-Za-z0-9._~:-]{1,512}$")
# Labels (from the author or Bluesky's moderation) that mean "hide behind a warning".
SENSITIVE_LABELS = {"porn": "Adult content", "sexual": "Sexual content", "nudity": "Nudity",
                    "graphic-media": "Graphic media", "gore": "Graphic media"}

# (pds, identifier, password digest) -> (access JWT, expires at); see the docstring.
_SESSIONS: dict[tuple[str, str, str], tuple[str, float]] = {}


class BlueskySource:
    kind = "bluesky"
    label = "Bluesky"

    def __init__(self, *, deadline: float = 10.0, max_bytes: int = 5 * 1024 * 1024,
                 first_run_pages: int = 2, catch_up_pages: int = 5, page_size: int = 50,
                 recheck_max: int = 25) -> None:
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.first_run_pages = first_run_pages
        self.catch_up_pages = catch_up_pages
        self.page_size = page_size
        self.recheck_max = min(recheck_max, 25)  # getPosts takes at most 25 URIs

    def clean_settings(self, raw: dict[str, str]) -> dict[str, Any]:
        """{"mode": "author"|"search", "actor" | "query", "identifier", "app_password",
        "appview", "pds"}; the two base URLs default to Bluesky's own hosts."""
        mode = (raw.get("mode") or "author").strip()
        identifier = (raw.get("identifier") or "").strip().lstrip("@").lower()
        password = (raw.get("app_password") or "").strip()
        if bool(identifier) != bool(password):
            raise ValueError("Enter both the account (handle) and its app password, or neither.")
        cleaned: dict[str, Any] = {
            "mode": mode, "identifier": identifier, "app_password": password,
            "appview": common.clean_base_url(raw.get("appview") or APPVIEW, "Bluesky AppView"),
            "pds": common.clean_base_url(raw.get("pds") or PDS, "Bluesky server (PDS)"),
        }
        if mode == "author":
            cleaned["actor"] = clean_actor(raw.get("actor") or "")
        elif mode == "search":
            query = " ".join((raw.get("query") or "").split())
            if not query or len(query) > 300:
                raise ValueError("Enter the words or #hashtag to search for (at most 300 "
                                 "characters).")
            if not identifier:
                raise ValueError("Searching Bluesky needs a Bluesky account: enter its handle "
                                 "and an app password (Settings → Privacy and security → "
                                 "App passwords).")
            cleaned["query"] = query
        else:
            raise ValueError("Choose author (one account's posts) or search.")
        return cleaned

    # Fetching --------------------------------------------------------------

    def fetch(self, settings: dict[str, Any], cursor: dict[str, Any],
              recheck: list[str]) -> Batch:
        call = _Calls(self, settings)

        def read(batch: Batch) -> None:
            self._read(call, settings, batch)
            self._recheck(call, recheck, batch)

        try:
            return common.fetch_within_limits(cursor, call, read)
        except _SessionExpired as e:
            # Only the search signs in; anywhere else this means the host wants an account.
            raise SourceError(f"Bluesky asked for a signed-in account ({e or 'no reason given'})"
                              "; check the AppView address.") from e

    def _read(self, call: _Calls, settings: dict[str, Any], batch: Batch) -> None:
        latest = batch.cursor.get("latest")
        latest_ids = set(batch.cursor.get("latest_ids") or [])
        pages = self.catch_up_pages if latest else self.first_run_pages
        newest, newest_ids = latest, set(latest_ids)
        page_cursor: str | None = None
        seen: set[str] = set()
        for _ in range(pages):
            items = self._page(call, settings, page_cursor, latest)
            entries, page_cursor = items
            reached_known = False
            for post_view, reason in entries:
                sort_at = _sort_time(post_view, reason)
                uri = post_view.get("uri") if isinstance(post_view, dict) else None
                if latest and sort_at is not None and (
                        sort_at < latest or (sort_at == latest and uri in latest_ids)):
                    reached_known = True
                    continue
                post = self._collect(post_view, reason, batch)
                if post is None or post.external_id in seen:
                    continue
                seen.add(post.external_id)
                batch.posts.append(post)
                if sort_at is not None:
                    if newest is None or sort_at > newest:
                        newest, newest_ids = sort_at, {post.external_id}
                    elif sort_at == newest:
                        newest_ids.add(post.external_id)
            if newest is not None:
                batch.cursor["latest"], batch.cursor["latest_ids"] = newest, sorted(newest_ids)
            if reached_known or not page_cursor or call.wait is not None:
                break

    def _page(self, call: _Calls, settings: dict[str, Any], page_cursor: str | None,
              latest: str | None) -> tuple[list[tuple[Any, Any]], str | None]:
        params: dict[str, str] = {"limit": str(self.page_size)}
        if page_cursor:
            params["cursor"] = page_cursor
        if settings["mode"] == "author":
            params["actor"] = settings["actor"]
            data = call.get_json(settings["appview"], "app.bsky.feed.getAuthorFeed", params,
                                 f"the posts of {settings['actor']}")
            feed = data.get("feed")
            if not isinstance(feed, list):
                raise SourceError(f"{call.name(settings['appview'])} answered without a feed.")
            entries = [(i.get("post"), i.get("reason")) for i in feed if isinstance(i, dict)]
        else:
            params.update(q=settings["query"], sort="latest")
            if latest:
                params["since"] = latest
            data = call.search(settings, params)
            posts = data.get("posts")
            if not isinstance(posts, list):
                raise SourceError(f"{call.name(settings['pds'])} answered the search "
                                  "without posts.")
            entries = [(p, None) for p in posts]
        next_cursor = data.get("cursor")
        return entries, next_cursor if isinstance(next_cursor, str) and next_cursor else None

    def _recheck(self, call: _Calls, recheck: list[str], batch: Batch) -> None:
        if call.wait is not None:
            return
        uris = [u for u in dict.fromkeys(recheck) if _POST_URI.match(u)][:self.recheck_max]
        if not uris:
            return
        appview = call.settings["appview"]
        data = call.get_json(appview, "app.bsky.feed.getPosts", [("uris", u) for u in uris],
                             "rechecked posts")
        posts = data.get("posts")
        if not isinstance(posts, list):
            # Without a list nothing can be concluded; deleting everything would be wrong.
            raise SourceError(f"{call.name(appview)} answered getPosts without posts.")
        found = {p.get("uri") for p in posts if isinstance(p, dict)}
        batch.deleted.extend(u for u in uris if u not in found)

    # Mapping ---------------------------------------------------------------

    def _collect(self, view: Any, reason: Any, batch: Batch) -> Collected | None:
        """An `app.bsky.feed.defs#postView` as `Collected`; None and a reason when unusable."""
        if not isinstance(view, dict) or not isinstance(view.get("uri"), str) \
                or not _POST_URI.match(view["uri"]):
            batch.skipped.append("a Bluesky post without a usable at:// URI")
            return None
        uri = view["uri"]
        record = common.as_dict(view.get("record"))
        author = common.as_dict(view.get("author"))
        try:
            posted_at = sanitise.parse_date(record.get("createdAt"), what="creation date")
        except ValueError:
            try:
                posted_at = sanitise.parse_date(view.get("indexedAt"), what="indexing date")
            except ValueError as e:
                batch.skipped.append(f"post {uri}: {e}")
                return None
        text, entities = facets_to_entities(_str(record.get("text")) or "",
                                            record.get("facets"))
        text, entities = sanitise.clamp_text(text, entities)
        handle = author.get("handle") if isinstance(author.get("handle"), str) else None
        profile = f"https://bsky.app/profile/{handle or uri.split('/')[2]}"
        warnings = [SENSITIVE_LABELS[v] for v in _labels(view, record) if v in SENSITIVE_LABELS]
        langs = record.get("langs")
        return Collected(
            external_id=uri,
            author_name=sanitise.plain_text(_str(author.get("displayName")) or "")
            or handle or uri.split("/")[2],
            author_handle=f"@{handle}" if handle else None,
            author_url=profile,
            avatar_url=sanitise.safe_link(_str(author.get("avatar"))),
            text=text,
            entities=tuple(entities),
            media=tuple(_media(view.get("embed"))),
            posted_at=posted_at,
            permalink=f"{profile}/post/{uri.rsplit('/', 1)[1]}",
            lang=langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str)
            else None,
            is_reply=isinstance(record.get("reply"), dict),
            is_repost=isinstance(reason, dict)
            and reason.get("$type") == "app.bsky.feed.defs#reasonRepost",
            sensitive=bool(warnings),
            content_warning=", ".join(dict.fromkeys(warnings)),
        )


def clean_actor(value: str) -> str:
    """A handle (lower case, no "@") or a DID; a bsky.app profile URL is accepted too."""
    actor = value.strip()
    actor = re.sub(r"^https://bsky\.app/profile/", "", actor).strip("/").lstrip("@")
    if _DID.match(actor):
        return actor
    actor = actor.lower()
    if not _HANDLE.match(actor):
        raise ValueError(f"{value.strip()!r} is not a Bluesky handle or DID; enter one like "
                         "alice.bsky.social.")
    return actor


def facets_to_entities(text: str, facets: Any) -> tuple[str, list[Entity]]:
    """Bluesky's text and facets (UTF-8 byte ranges) as tidy text and code point entities.

        >>> facets_to_entities("é #tea", [{"index": {"byteStart": 3, "byteEnd": 7},
        ...     "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "tea"}]}])
        ('é #tea', [Entity(kind='hashtag', start=2, end=6, href='https://bsky.app/hashtag/tea')])
    """
    raw = text.encode("utf-8", errors="replace")
    entities: list[Entity] = []
    for facet in facets if isinstance(facets, list) else []:
        entity = _facet_entity(raw, facet)
        if entity is not None and all(entity.end <= e.start or entity.start >= e.end
                                      for e in entities):
            entities.append(entity)
    # Controls become spaces (same length, offsets hold), then the ends are trimmed.
    tidy = re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", " ", text)
    lead = len(tidy) - len(tidy.lstrip())
    tidy = tidy.strip()
    shifted = [Entity(e.kind, e.start - lead, e.end - lead, e.href) for e in entities
               if e.start >= lead and e.end - lead <= len(tidy)]
    return tidy, sorted(shifted, key=lambda e: e.start)


def _facet_entity(raw: bytes, facet: Any) -> Entity | None:
    if not isinstance(facet, dict):
        return None
    index, features = facet.get("index"), facet.get("features")
    if not isinstance(index, dict) or not isinstance(features, list) or not features:
        return None
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(raw):
        return None
    # A range that starts or ends inside a character is corrupt: drop it, keep the text.
    if any(i < len(raw) and 0x80 <= raw[i] <= 0xBF for i in (start, end)):
        return None
    cp_start = len(raw[:start].decode("utf-8", errors="replace"))
    cp_end = cp_start + len(raw[start:end].decode("utf-8", errors="replace"))
    feature = features[0] if isinstance(features[0], dict) else {}
    kind = feature.get("$type")
    if kind == "app.bsky.richtext.facet#link":
        href = sanitise.safe_link(_str(feature.get("uri")))
        return Entity("url", cp_start, cp_end, href) if href else None
    if kind == "app.bsky.richtext.facet#mention" and isinstance(feature.get("did"), str) \
            and _DID.match(feature["did"]):
        return Entity("mention", cp_start, cp_end, f"https://bsky.app/profile/{feature['did']}")
    if kind == "app.bsky.richtext.facet#tag" and isinstance(feature.get("tag"), str) \
            and feature["tag"].strip():
        return Entity("hashtag", cp_start, cp_end,
                      f"https://bsky.app/hashtag/{quote(feature['tag'].strip(), safe='')}")
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _sort_time(view: Any, reason: Any) -> str | None:
    """When the item entered the feed (a repost: when it was reposted), as ISO text.

    Compared as text: the AppView writes every time in one UTC format.
    """
    holder = reason if isinstance(reason, dict) and reason.get("indexedAt") else view
    value = holder.get("indexedAt") if isinstance(holder, dict) else None
    return value if isinstance(value, str) else None


def _labels(view: dict[str, Any], record: dict[str, Any]) -> list[str]:
    values = [label.get("val") for label in view.get("labels") or [] if isinstance(label, dict)]
    self_labels = record.get("labels")
    if isinstance(self_labels, dict):  # com.atproto.label.defs#selfLabels
        values += [v.get("val") for v in self_labels.get("values") or [] if isinstance(v, dict)]
    return [v for v in values if isinstance(v, str)]


def _media(embed: Any) -> list[CollectedMedia]:
    if not isinstance(embed, dict):
        return []
    kind = embed.get("$type")
    if kind == "app.bsky.embed.recordWithMedia#view":
        return _media(embed.get("media"))
    media: list[CollectedMedia] = []
    if kind == "app.bsky.embed.images#view":
        for image in embed.get("images") or []:
            if not isinstance(image, dict):
                continue
            url = sanitise.safe_link(_str(image.get("fullsize")) or _str(image.get("thumb")))
            if url:
                width, height = _aspect(image)
                media.append(CollectedMedia(url=url, alt=sanitise.plain_text(
                    _str(image.get("alt")) or "")[:1500], width=width, height=height))
    elif kind == "app.bsky.embed.video#view":
        url = sanitise.safe_link(_str(embed.get("thumbnail")))
        if url:
            width, height = _aspect(embed)
            media.append(CollectedMedia(url=url, type="video", width=width, height=height,
                                        alt=sanitise.plain_text(_str(embed.get("alt")) or "")))
    return media


def _aspect(holder: dict[str, Any]) -> tuple[int | None, int | None]:
    ratio = holder.get("aspectRatio")
    if isinstance(ratio, dict) and isinstance(ratio.get("width"), int) \
            and isinstance(ratio.get("height"), int):
        return ratio["width"], ratio["height"]
    return None, None


class _Calls:
    """One fetch's XRPC calls: sessions, rate limits, errors in editors' words."""

    def __init__(self, source: BlueskySource, settings: dict[str, Any]) -> None:
        self.source = source
        self.settings = settings
        self.wait: float | None = None

    @staticmethod
    def name(base: str) -> str:
        return f"Bluesky ({common.host_of(base)})"

    def get_json(self, base: str, method: str, params: dict[str, str] | list[tuple[str, str]],
                 what: str, token: str | None = None) -> dict[str, Any]:
        if self.wait is not None:
            raise common.RateLimited(self.wait)
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = outbound.fetcher().fetch(
            f"{base}/xrpc/{method}?{urlencode(params)}", max_bytes=self.source.max_bytes,
            deadline=self.source.deadline, headers=headers,
            accept_status=(200, 400, 401, 403, 404, 429))
        return self._answer(response, base, what)

    def _answer(self, response: outbound.Response, base: str, what: str) -> dict[str, Any]:
        if response.status == 429:
            raise common.RateLimited(common.retry_wait(response.headers, "ratelimit-reset"))
        self.wait = common.rate_limit_wait(response.headers, "ratelimit-remaining",
                                           "ratelimit-reset")
        data = common.decode_json(response, self.name(base))
        if not isinstance(data, dict):
            raise SourceError(f"{self.name(base)} answered {what} with something that is not "
                              "an object.")
        if response.status != 200:
            error, message = str(data.get("error") or ""), str(data.get("message") or "")
            if error in ("ExpiredToken", "InvalidToken", "AuthMissing"):
                raise _SessionExpired(message)
            if message == "Profile not found" or error in ("ActorNotFound", "AccountTakedown"):
                raise SourceError(f"{self.name(base)} has no account {what.split()[-1]} "
                                  f"({message or error}).", permanent=True)
            raise SourceError(f"{self.name(base)} answered {response.status} for {what}: "
                              f"{error or 'error'}: {message[:200]}".rstrip(": "))
        return data

    def search(self, settings: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        what = f"the search {settings['query']!r}"
        for attempt in range(2):
            token = self.session(settings, fresh=attempt > 0)
            try:
                return self.get_json(settings["pds"], "app.bsky.feed.searchPosts", params,
                                     what, token=token)
            except _SessionExpired:
                continue  # once more with a new session
        raise SourceError(f"{self.name(settings['pds'])} refused a fresh session for the search.")

    def session(self, settings: dict[str, Any], fresh: bool = False) -> str:
        """An access JWT for the settings' account, from this process's cache or a new session."""
        pds, identifier = settings["pds"], settings.get("identifier") or ""
        password = settings.get("app_password") or ""
        if not identifier or not password:
            raise SourceError("Searching Bluesky needs a Bluesky account: enter its handle and "
                              "an app password in the source's settings.")
        key = (pds, identifier, hashlib.sha256(password.encode()).hexdigest())
        cached = _SESSIONS.get(key)
        if cached and not fresh and cached[1] > time.time() + 60:
            return cached[0]
        _SESSIONS.pop(key, None)
        if self.wait is not None:
            raise common.RateLimited(self.wait)
        response = _post_json(f"{pds}/xrpc/com.atproto.server.createSession",
                              {"identifier": identifier, "password": password},
                              self.source.deadline, self.source.max_bytes)
        if response.status == 401:
            raise SourceError(f"{self.name(pds)} refused the handle or app password of "
                              f"{identifier}: check both (app passwords look like "
                              "xxxx-xxxx-xxxx-xxxx).")
        data = self._answer(response, pds, f"the sign-in of {identifier}")
        token = data.get("accessJwt")
        if not isinstance(token, str) or not token:
            raise SourceError(f"{self.name(pds)} answered the sign-in without an access token.")
        _SESSIONS[key] = (token, _expiry(token))
        return token


class _SessionExpired(Exception):
    pass


def _expiry(jwt: str) -> float:
    """The JWT's `exp` (read, not verified: the server checks its own token); else 1 hour."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return time.time() + 3600


def _post_json(url: str, payload: dict[str, str], deadline: float,
               max_bytes: int) -> outbound.Response:
    """createSession, the one POST ingestion makes (errors are read from the body)."""
    return outbound.fetcher().post_json(url, payload, max_bytes=max_bytes, deadline=deadline,
                                        accept_status=(200, 400, 401, 429))


SOURCE = BlueskySource()
