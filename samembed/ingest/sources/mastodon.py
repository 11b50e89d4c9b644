"""Mastodon: a hashtag timeline or one account's statuses, from one instance's REST API.

Source -> (this) -> pipeline. Endpoints (docs.joinmastodon.org):

- `GET /api/v1/timelines/tag/:hashtag` and `GET /api/v1/accounts/:id/statuses`
  (the id from `GET /api/v1/accounts/lookup?acct=`), `limit=40`;
- `GET /api/v1/statuses/:id` to recheck recent posts (404 means deleted).

Paging: the first run reads the newest page and follows `Link: rel="next"`
(older) for a few pages. Later runs ask with `min_id=<newest seen>`, which
returns the page right after it, and follow `rel="prev"` (newer) until caught
up or out of pages; the cursor then holds the newest id delivered, so a run cut
short by the page bound continues where it stopped, without a gap or a repeat.

Rate limits (`X-RateLimit-Remaining: 0` with `X-RateLimit-Reset`, or a 429 with
`Retry-After`) end the fetch early with `Batch.wait`; see common.py.

External ids are `<status id>@<instance host>`: status ids are only unique on
their own instance, and two sources may read two instances.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from samembed import outbound
from samembed.ingest import sanitise
from samembed.ingest.model import Batch, Collected, CollectedMedia, SourceError
from samembed.ingest.sources import common

_TAG = re.compile(r"^#?(\w{1,100})$", re.UNICODE)
_ACCOUNT = re.compile(r"^@?([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9.-]+\.[A-Za-z0-9-]+))?$")
_STATUS_ID = re.compile(r"^[A-Za-z0-9]{1,40}$")
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([a-z]+)"?')


class MastodonSource:
    kind = "mastodon"
    label = "Mastodon"

    def __init__(self, *, deadline: float = 10.0, max_bytes: int = 5 * 1024 * 1024,
                 first_run_pages: int = 3, catch_up_pages: int = 5,
                 recheck_max: int = 20, page_size: int = 40) -> None:
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.first_run_pages = first_run_pages
        self.catch_up_pages = catch_up_pages
        self.recheck_max = recheck_max
        self.page_size = page_size

    def clean_settings(self, raw: dict[str, str]) -> dict[str, Any]:
        """{"instance", "mode": "hashtag"|"account", "tag" | "account", "token"}."""
        instance = common.clean_base_url(raw.get("instance", ""), "instance")
        mode = (raw.get("mode") or "hashtag").strip()
        cleaned: dict[str, Any] = {"instance": instance, "mode": mode,
                                   "token": (raw.get("token") or "").strip()}
        if mode == "hashtag":
            match = _TAG.match((raw.get("tag") or "").strip())
            if not match:
                raise ValueError("Enter a hashtag of letters, digits and underscores, "
                                 "such as #climate.")
            cleaned["tag"] = match.group(1)
        elif mode == "account":
            match = _ACCOUNT.match((raw.get("account") or "").strip())
            if not match:
                raise ValueError("Enter an account as @user or @user@instance.")
            user, host = match.group(1), match.group(2)
            cleaned["account"] = f"{user}@{host.lower()}" if host else user
        else:
            raise ValueError("Choose hashtag or account.")
        return cleaned

    # Fetching --------------------------------------------------------------

    def fetch(self, settings: dict[str, Any], cursor: dict[str, Any],
              recheck: list[str]) -> Batch:
        call = _Calls(self, settings)

        def read(batch: Batch) -> None:
            url, what = self._timeline(call, settings, batch.cursor)
            self._read_timeline(call, url, what, batch)
            self._recheck(call, recheck, batch)

        return common.fetch_within_limits(cursor, call, read)

    def _timeline(self, call: _Calls, settings: dict[str, Any],
                  cursor: dict[str, Any]) -> tuple[str, str]:
        base = settings["instance"]
        if settings["mode"] == "hashtag":
            tag = settings["tag"]
            return f"{base}/api/v1/timelines/tag/{quote(tag)}", f"#{tag}"
        account = settings["account"]
        if cursor.get("account") != account or not cursor.get("account_id"):
            data = call.get_json(f"{base}/api/v1/accounts/lookup?{urlencode({'acct': account})}",
                                 "", missing=f"there is no account @{account} there")
            if not isinstance(data, dict) or not isinstance(data.get("id"), str):
                raise SourceError(f"The instance {call.host} answered the lookup of @{account} "
                                  "without an account id.")
            cursor["account"], cursor["account_id"] = account, data["id"]
        return (f"{base}/api/v1/accounts/{quote(cursor['account_id'])}/statuses",
                f"@{account}")

    def _read_timeline(self, call: _Calls, url: str, what: str, batch: Batch) -> None:
        newest_seen = batch.cursor.get("newest_id")
        params: dict[str, str] = {"limit": str(self.page_size)}
        if newest_seen:
            # min_id: the page immediately after the newest seen, then rel="prev" for newer.
            params["min_id"] = newest_seen
            follow, pages = "prev", self.catch_up_pages
        else:
            follow, pages = "next", self.first_run_pages
        next_url: str | None = f"{url}?{urlencode(params)}"
        newest = newest_seen
        seen: set[str] = set()
        for _ in range(pages):
            if next_url is None:
                break
            data, links = call.get_page(next_url, what)
            if not isinstance(data, list):
                raise SourceError(f"The instance {call.host} answered {what} with something "
                                  "that is not a list of statuses.")
            for status in data:
                post = self._collect(status, call.host, batch)
                if post is None or post.external_id in seen:
                    continue
                seen.add(post.external_id)
                batch.posts.append(post)
                status_id = status["id"]
                if newest is None or common.id_key(status_id) > common.id_key(newest):
                    newest = status_id
            if newest is not None:
                batch.cursor["newest_id"] = newest
            if len(data) < self.page_size or call.wait is not None:
                break
            next_url = call.same_host(links.get(follow))

    def _recheck(self, call: _Calls, recheck: list[str], batch: Batch) -> None:
        if call.wait is not None:
            return
        delivered = {post.external_id for post in batch.posts}
        checked = 0
        for external_id in recheck:
            status_id, _, host = external_id.rpartition("@")
            if host != call.host or not _STATUS_ID.match(status_id) or external_id in delivered:
                continue
            if checked >= self.recheck_max:
                break
            checked += 1
            response = call.get(f"{call.base}/api/v1/statuses/{status_id}",
                                accept=(200, 404, 410))
            if response.status in (404, 410):
                batch.deleted.append(external_id)
            else:
                post = self._collect(common.decode_json(response, call.where), call.host,
                                     batch)
                if post is not None and post.edited_at is not None:
                    batch.posts.append(post)
            if call.wait is not None:
                break

    # Mapping ---------------------------------------------------------------

    def _collect(self, status: Any, host: str, batch: Batch) -> Collected | None:
        """A Mastodon Status as `Collected`; None (and a reason in `skipped`) when unusable."""
        if not isinstance(status, dict) or not isinstance(status.get("id"), str) \
                or not _STATUS_ID.match(status["id"]):
            batch.skipped.append(f"a status from {host} without a usable id")
            return None
        external_id = f"{status['id']}@{host}"
        reblog = status.get("reblog")
        shown: dict[str, Any] = reblog if isinstance(reblog, dict) else status
        try:
            posted_at = sanitise.parse_date(shown.get("created_at"), what="creation date")
            edited_raw = shown.get("edited_at")
            edited_at = (sanitise.parse_date(edited_raw, what="edit date")
                         if edited_raw else None)
        except ValueError as e:
            batch.skipped.append(f"status {external_id}: {e}")
            return None
        account = common.as_dict(shown.get("account"))
        content = _str(shown.get("content")) or ""
        permalink = _str(shown.get("url")) or _str(shown.get("uri"))
        text, entities = sanitise.html_to_text(content, base_url=permalink)
        text, entities = sanitise.clamp_text(text, entities)
        warning = sanitise.plain_text(_str(shown.get("spoiler_text")) or "")[:500]
        acct = _str(account.get("acct")) or _str(account.get("username")) or ""
        handle = f"@{acct}" if "@" in acct else f"@{acct}@{host}" if acct else None
        return Collected(
            external_id=external_id,
            author_name=sanitise.plain_text(_str(account.get("display_name")) or "")
            or acct or host,
            author_handle=handle,
            author_url=sanitise.safe_link(_str(account.get("url"))),
            avatar_url=sanitise.safe_link(_str(account.get("avatar_static"))
                                          or _str(account.get("avatar"))),
            text=text,
            entities=tuple(entities),
            media=tuple(_media(shown.get("media_attachments"))),
            posted_at=posted_at,
            edited_at=edited_at,
            permalink=sanitise.safe_link(permalink),
            lang=_str(shown.get("language")),
            is_reply=shown.get("in_reply_to_id") is not None,
            is_repost=shown is not status,
            sensitive=bool(shown.get("sensitive")) or bool(warning),
            content_warning=warning,
        )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _media(attachments: Any) -> list[CollectedMedia]:
    media: list[CollectedMedia] = []
    for item in attachments if isinstance(attachments, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "image":
            url, media_type = _str(item.get("url")) or _str(item.get("preview_url")), "image"
        elif kind in ("video", "gifv"):
            # Its still, and the file to play when the reader asks (a gifv loops muted).
            url, media_type = _str(item.get("preview_url")), "video"
        else:
            continue  # audio and unknown attachments have no picture to show
        url = sanitise.safe_link(url)
        if url is None:
            continue
        meta = common.as_dict(item.get("meta"))
        size = meta.get("original") if media_type == "image" else meta.get("small")
        size = size if isinstance(size, dict) else {}
        play = sanitise.safe_link(_str(item.get("url"))) if media_type == "video" else None
        media.append(CollectedMedia(
            url=url, type=media_type, play_url=play, loop=kind == "gifv",
            alt=sanitise.plain_text(_str(item.get("description")) or "")[:1500],
            width=size.get("width") if isinstance(size.get("width"), int) else None,
            height=size.get("height") if isinstance(size.get("height"), int) else None,
        ))
    return media


class _Calls:
    """One fetch's requests to one instance: auth header, limits, errors in editors' words."""

    def __init__(self, source: MastodonSource, settings: dict[str, Any]) -> None:
        self.source = source
        self.base = settings["instance"]
        self.host = common.host_of(self.base)
        self.where = f"The instance {self.host}"
        self.headers = {"Accept": "application/json"}
        if settings.get("token"):
            self.headers["Authorization"] = f"Bearer {settings['token']}"
        # Set when the instance said no requests are left until some time.
        self.wait: float | None = None

    def get(self, url: str, what: str = "", missing: str = "not found",
            accept: tuple[int, ...] = (200,)) -> outbound.Response:
        if self.wait is not None:
            raise common.RateLimited(self.wait)
        response = outbound.fetcher().fetch(
            url, max_bytes=self.source.max_bytes, deadline=self.source.deadline,
            headers=self.headers, accept_status=(*accept, 401, 403, 404, 410, 422, 429))
        if response.status == 429:
            raise common.RateLimited(common.retry_wait(response.headers, "x-ratelimit-reset"))
        self.wait = common.rate_limit_wait(response.headers, "x-ratelimit-remaining",
                                           "x-ratelimit-reset")
        if response.status in accept:
            return response
        about = f" for {what}" if what else ""
        if response.status == 401:
            raise SourceError(f"{self.where} refused the access token{about} (401): "
                              "check or remove the token.")
        if response.status == 403:
            raise SourceError(f"{self.where} answered 403{about}: this needs an access "
                              "token with read access, or the instance forbids it.")
        # 404 and 410: the account or tag is not there; 422 is an unreadable request.
        gone = response.status in (404, 410)
        if not what:
            # The missing thing is named in `missing` ("there is no account @x there").
            raise SourceError(f"{self.host} answered {response.status}: {missing}.",
                              permanent=gone)
        raise SourceError(f"{self.where} answered {response.status}{about}: {missing}.",
                          permanent=gone)

    def get_json(self, url: str, what: str, missing: str) -> Any:
        return common.decode_json(self.get(url, what, missing), self.where)

    def get_page(self, url: str, what: str) -> tuple[Any, dict[str, str]]:
        missing = ("no such hashtag timeline" if what.startswith("#")
                   else "no such account timeline")
        response = self.get(url, what, missing)
        links = {rel: href for href, rel in _LINK.findall(response.headers.get("link", ""))}
        return common.decode_json(response, self.where), links

    def same_host(self, url: str | None) -> str | None:
        """A pagination link, only when it stays on the instance (a Link header is input too)."""
        if url and urlsplit(url).hostname == self.host and url.startswith(self.base + "/"):
            return url
        return None


SOURCE = MastodonSource()
