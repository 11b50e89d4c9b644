"""RSS and Atom feeds (kind "rss"): blogs, news sites, YouTube channels.

Source -> (this) -> pipeline. One GET per run, conditional (`If-None-Match` /
`If-Modified-Since` from the ETag and Last-Modified the cursor kept; a 304 is
an empty batch), capped at 5 MB and a deadline by outbound. Understood:

- RSS 2.0 (`channel/item`: guid, link, title, description or content:encoded,
  pubDate or dc:date, author or dc:creator, enclosure) and RSS 1.0 (RDF);
- Atom 1.0 (`entry`: id, link rel=alternate, title, summary or content in text,
  html or xhtml, published, updated, author), YouTube's channel feeds included
  (`yt:videoId`, `media:group` with `media:thumbnail` and `media:description`);
- images from `enclosure`, `media:content`, `media:thumbnail` (a video's
  thumbnail is kept as media of type video).

XML is parsed with defusedxml: a feed that declares entities (billion laughs)
or refers to external ones is refused with a SourceError, as is one that is not
well-formed. Encoding: a byte order mark, else the XML declaration, else the
Content-Type charset, else UTF-8 (the declaration comes before the header because
the header is more often a web server's default than the feed's truth). Bytes
that are not valid in that encoding are decoded as U+FFFD rather than refusing
the whole feed; an encoding Python does not know is refused.

Per item, problems skip that item (listed in `Batch.skipped`): no id and no
link, a missing or invalid date. Each run delivers only entries that are new
or changed since the last: the cursor keeps a short digest of each entry seen.
External ids are the guid or Atom id when it is globally unique (a URL, `urn:`,
`tag:`, `yt:video:`), else `<feed URL>#<guid>`, else the entry's link.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import xml.etree.ElementTree as ET  # noqa: S405 - types and serialising only; parsing is defusedxml's
from copy import deepcopy as copy_element
from typing import Any
from urllib.parse import urlsplit

import defusedxml
import defusedxml.ElementTree as SafeET

from samembed import outbound
from samembed.ingest import sanitise
from samembed.ingest.model import Batch, Collected, CollectedMedia, SourceError
from samembed.ingest.sources import common
from samembed.repositories.posts import Entity
from samembed.text import find_entities

ATOM = "{http://www.w3.org/2005/Atom}"
RSS1 = "{http://purl.org/rss/1.0/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
MEDIA = "{http://search.yahoo.com/mrss/}"
YT = "{http://www.youtube.com/xml/schemas/2015}"
XHTML = "{http://www.w3.org/1999/xhtml}"

ACCEPT = ("application/atom+xml, application/rss+xml, application/xml;q=0.9, "
          "text/xml;q=0.8, */*;q=0.1")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_DECLARED = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9._:-]{1,40})", re.IGNORECASE)
_GLOBAL_ID = re.compile(r"^(https?://|urn:|tag:|yt:video:)", re.IGNORECASE)
SEEN_MAX = 1000


class FeedSource:
    kind = "rss"
    label = "RSS or Atom feed"

    def __init__(self, *, deadline: float = 15.0, max_bytes: int = 5 * 1024 * 1024,
                 max_items: int = 200) -> None:
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.max_items = max_items

    def clean_settings(self, raw: dict[str, str]) -> dict[str, Any]:
        """{"url"}: the feed's address, https assumed when no scheme is given."""
        return {"url": clean_feed_url(raw.get("url") or "")}

    def fetch(self, settings: dict[str, Any], cursor: dict[str, Any],
              recheck: list[str]) -> Batch:
        # `recheck` is not used: a feed lists what it lists, and an entry that
        # leaves it has usually aged out, not been deleted.
        held = common.waiting(cursor)
        if held is not None:
            return held
        url = settings["url"]
        headers = {"Accept": ACCEPT}
        if cursor.get("etag"):
            headers["If-None-Match"] = cursor["etag"]
        if cursor.get("last_modified"):
            headers["If-Modified-Since"] = cursor["last_modified"]
        response = outbound.fetcher().fetch(
            url, max_bytes=self.max_bytes, deadline=self.deadline, headers=headers,
            accept_status=(200, 304, 404, 410, 429))
        batch = Batch(cursor={k: v for k, v in cursor.items() if k != "not_before"})
        if response.status == 429:
            return common.hold(batch, common.retry_wait(response.headers, "x-ratelimit-reset"))
        if response.status in (404, 410):
            raise SourceError(f"The feed at {url} answered {response.status}: there is no feed "
                              "at that address (any more).")
        if response.status == 304:
            return batch
        for header, key in (("etag", "etag"), ("last-modified", "last_modified")):
            value = response.headers.get(header, "")
            if value and len(value) < 200:
                batch.cursor[key] = value
            else:
                batch.cursor.pop(key, None)
        root = parse_xml(response.body, response.headers.get("content-type", ""), url)
        items = read_feed(root, response.url, batch.skipped)[:self.max_items]
        seen = set(cursor.get("seen") or [])
        digests = []
        for post in items:
            digest = _digest(post)
            digests.append(digest)
            if digest not in seen:
                batch.posts.append(post)
        batch.cursor["seen"] = digests[:SEEN_MAX]
        return batch


def clean_feed_url(value: str) -> str:
    raw = value.strip()
    if not raw:
        raise ValueError("Enter the feed's address, such as https://example.org/feed.xml.")
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"A feed address must start with http or https, not {parts.scheme}.")
    # The host and port rules are the same as for instances; reuse their messages.
    common.clean_base_url(f"{parts.scheme}://{parts.netloc}", "feed")
    return parts._replace(fragment="").geturl()


# Decoding and parsing --------------------------------------------------------

def decode_feed(body: bytes, content_type: str, where: str) -> str:
    """The feed's text, decoded as the module docstring says."""
    encoding = None
    for bom, name in _BOMS:
        if body.startswith(bom):
            encoding = name
            break
    if encoding is None:
        declared = _DECLARED.match(body[:512])
        header = _CHARSET.search(content_type)
        encoding = (declared.group(1).decode() if declared
                    else header.group(1) if header else "utf-8")
    try:
        codecs.lookup(encoding)
    except LookupError as e:
        raise SourceError(f"The feed at {where} uses the encoding {encoding!r}, which is not "
                          "known; it should use UTF-8.") from e
    text = body.decode(encoding, errors="replace")
    return _DECLARATION.sub("", text.lstrip("\ufeff"), count=1)


def parse_xml(body: bytes, content_type: str, where: str) -> ET.Element:
    """The feed's root element; SourceError for anything that is not safe, well-formed XML."""
    text = decode_feed(body, content_type, where)
    try:
        return SafeET.fromstring(text.encode("utf-8"))
    except defusedxml.EntitiesForbidden as e:
        raise SourceError(f"The feed at {where} declares XML entities, which are refused "
                          "(they allow 'billion laughs' and external-entity attacks).") from e
    except (defusedxml.ExternalReferenceForbidden, defusedxml.DTDForbidden) as e:
        raise SourceError(f"The feed at {where} refers to an external entity or DTD, "
                          "which is refused.") from e
    except ET.ParseError as e:
        line, column = e.position
        reason = str(e).split(":")[0]
        raise SourceError(f"The feed at {where} is not well-formed XML ({reason} at line "
                          f"{line}, column {column}).") from e


def read_feed(root: ET.Element, base: str, skipped: list[str]) -> list[Collected]:
    """The entries of an RSS 2.0, RSS 1.0 or Atom document, newest first as the feed lists them."""
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise SourceError(f"The feed at {base} is RSS without a <channel>.")
        return _rss(channel, channel.findall("item"), "", base, skipped)
    if root.tag == f"{RDF}RDF":
        channel = root.find(f"{RSS1}channel")
        return _rss(channel if channel is not None else root, root.findall(f"{RSS1}item"),
                    RSS1, base, skipped)
    if root.tag == f"{ATOM}feed":
        return _atom(root, base, skipped)
    raise SourceError(f"The address {base} does not serve an RSS or Atom feed (its document "
                      f"is <{root.tag.rsplit('}', 1)[-1]}>).")


# RSS -------------------------------------------------------------------------

def _rss(channel: ET.Element, items: list[ET.Element], ns: str, base: str,
         skipped: list[str]) -> list[Collected]:
    feed_name = _plain(channel.findtext(f"{ns}title")) or (urlsplit(base).hostname or base)
    feed_link = sanitise.safe_link(channel.findtext(f"{ns}link"), base)
    image = channel.find(f"{ns}image")
    avatar = sanitise.safe_link(image.findtext(f"{ns}url"), base) if image is not None else None
    posts = []
    for item in items:
        link = sanitise.safe_link(item.findtext(f"{ns}link"), base)
        guid = (item.findtext("guid") or item.get(f"{RDF}about") or "").strip()
        label = guid or link or _plain(item.findtext(f"{ns}title"))[:80] or "an item"
        external_id = _external_id(guid, link, base)
        if external_id is None:
            skipped.append(f"{label}: no guid and no link")
            continue
        try:
            posted_at = sanitise.parse_date(item.findtext("pubDate")
                                            or item.findtext(f"{DC}date"), what="date")
        except ValueError as e:
            skipped.append(f"{label}: {e}")
            continue
        body = item.findtext(f"{ns}description") or item.findtext(f"{CONTENT}encoded") or ""
        text, entities = _title_and_body(_plain(item.findtext(f"{ns}title")),
                                         *sanitise.html_to_text(body, base_url=link or base))
        author = _plain(item.findtext(f"{DC}creator") or item.findtext("author"))
        posts.append(Collected(
            external_id=external_id, author_name=author or feed_name, text=text,
            entities=tuple(entities), posted_at=posted_at, permalink=link,
            author_url=feed_link, avatar_url=avatar,
            media=tuple(_media(item, base)),
        ))
    return posts


# Atom ------------------------------------------------------------------------

def _atom(feed: ET.Element, base: str, skipped: list[str]) -> list[Collected]:
    feed_name = _plain(feed.findtext(f"{ATOM}title")) or (urlsplit(base).hostname or base)
    feed_author = _atom_author(feed, base)
    feed_link = _atom_link(feed, base)
    avatar = sanitise.safe_link(feed.findtext(f"{ATOM}icon") or feed.findtext(f"{ATOM}logo"),
                                base)
    posts = []
    for entry in feed.findall(f"{ATOM}entry"):
        link = _atom_link(entry, base)
        entry_id = (entry.findtext(f"{ATOM}id") or "").strip()
        label = entry_id or link or "an entry"
        external_id = _external_id(entry_id, link, base)
        if external_id is None:
            skipped.append(f"{label}: no id and no link")
            continue
        try:
            updated_raw = entry.findtext(f"{ATOM}updated")
            published_raw = entry.findtext(f"{ATOM}published") or updated_raw
            posted_at = sanitise.parse_date(published_raw, what="date")
            updated = sanitise.parse_date(updated_raw, what="update date") \
                if updated_raw else None
        except ValueError as e:
            skipped.append(f"{label}: {e}")
            continue
        group = entry.find(f"{MEDIA}group")
        title = _plain(entry.findtext(f"{ATOM}title")
                       or (group.findtext(f"{MEDIA}title") if group is not None else ""))
        body_text, body_entities = _atom_text(entry.find(f"{ATOM}summary"), link or base)
        if not body_text:
            body_text, body_entities = _atom_text(entry.find(f"{ATOM}content"), link or base)
        if not body_text and group is not None:
            # YouTube: media:description is plain text with real line breaks.
            body_text, body_entities = _plain_with_links(group.findtext(f"{MEDIA}description"))
        text, entities = _title_and_body(title, body_text, body_entities)
        name, author_url = _atom_author(entry, base) or feed_author or (feed_name, None)
        posts.append(Collected(
            external_id=external_id, author_name=name, text=text, entities=tuple(entities),
            posted_at=posted_at,
            edited_at=updated if updated and updated > posted_at else None,
            permalink=link, author_url=author_url or feed_link, avatar_url=avatar,
            media=tuple(_media(entry, base)),
        ))
    return posts


def _atom_link(element: ET.Element, base: str) -> str | None:
    for link in element.findall(f"{ATOM}link"):
        if link.get("rel", "alternate") == "alternate":
            return sanitise.safe_link(link.get("href"), base)
    return None


def _atom_author(element: ET.Element, base: str) -> tuple[str, str | None] | None:
    author = element.find(f"{ATOM}author")
    if author is None:
        return None
    name = _plain(author.findtext(f"{ATOM}name"))
    return (name, sanitise.safe_link(author.findtext(f"{ATOM}uri"), base)) if name else None


def _atom_text(element: ET.Element | None, base: str) -> tuple[str, list[Entity]]:
    if element is None:
        return "", []
    kind = element.get("type", "text")
    if kind == "xhtml":
        # The content is an XHTML <div>: serialise its children back to markup, without
        # the namespace (as `html:a` the sanitiser would not know a link).
        copy = copy_element(element)
        for node in copy.iter():
            if isinstance(node.tag, str):
                node.tag = node.tag.removeprefix(XHTML)
        markup = "".join(ET.tostring(child, encoding="unicode") for child in copy)
        return sanitise.html_to_text((element.text or "") + markup, base_url=base)
    if kind in ("html", "text/html"):
        return sanitise.html_to_text(element.text or "", base_url=base)
    return _plain_with_links(element.text)


# Shared ----------------------------------------------------------------------

def _plain(value: str | None) -> str:
    """A title or name: plain text on one line (markup some feeds put there is dropped)."""
    if not value:
        return ""
    text, _ = sanitise.html_to_text(value)
    return " ".join(text.split())[:300]


def _plain_with_links(value: str | None) -> tuple[str, list[Entity]]:
    text = sanitise.plain_text(value or "")
    return text, find_entities(text)


def _title_and_body(title: str, body: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """"Title\\n\\nbody" (just one when the body repeats the title), entities moved along."""
    if not title or body.startswith(title):
        text, moved = body or title, entities if body else []
    elif not body:
        text, moved = title, []
    else:
        shift = len(title) + 2
        text = f"{title}\n\n{body}"
        moved = [Entity(e.kind, e.start + shift, e.end + shift, e.href) for e in entities]
    return sanitise.clamp_text(text, moved)


def _external_id(guid: str, link: str | None, base: str) -> str | None:
    if guid:
        value = guid if _GLOBAL_ID.match(guid) else f"{base}#{guid}"
    elif link:
        value = link
    else:
        return None
    if len(value) > 500:  # the posts collection's bound; a digest keeps it stable
        value = f"sha256:{hashlib.sha256(value.encode()).hexdigest()}"
    return value


def _media(item: ET.Element, base: str) -> list[CollectedMedia]:
    media: list[CollectedMedia] = []
    seen: set[str] = set()

    def add(url: str | None, kind: str, width: Any = None, height: Any = None,
            alt: str = "") -> None:
        safe = sanitise.safe_link(url, base)
        if safe and safe not in seen and len(media) < 4:
            seen.add(safe)
            media.append(CollectedMedia(url=safe, type=kind, alt=alt[:1500],
                                        width=_int(width), height=_int(height)))

    for enclosure in item.findall("enclosure") + [
            e for e in item.findall(f"{ATOM}link") if e.get("rel") == "enclosure"]:
        if (enclosure.get("type") or "").startswith("image/"):
            add(enclosure.get("url") or enclosure.get("href"), "image")
    containers = [item] + item.findall(f"{MEDIA}group")
    video = item.find(f"{YT}videoId") is not None
    for container in containers:
        for content in container.findall(f"{MEDIA}content"):
            medium = content.get("medium") or (content.get("type") or "").split("/")[0]
            if medium == "image":
                add(content.get("url"), "image", content.get("width"), content.get("height"),
                    _plain(content.findtext(f"{MEDIA}description")))
            elif medium == "video":
                video = True
        for thumbnail in container.findall(f"{MEDIA}thumbnail"):
            add(thumbnail.get("url"), "video" if video else "image",
                thumbnail.get("width"), thumbnail.get("height"))
    return media


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 6 else None


def _digest(post: Collected) -> str:
    """A short fingerprint of what an entry says, to deliver it again only when it changed."""
    parts = [post.external_id, post.text, post.posted_at.isoformat(),
             post.edited_at.isoformat() if post.edited_at else "",
             *(m.url for m in post.media)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


SOURCE = FeedSource()
