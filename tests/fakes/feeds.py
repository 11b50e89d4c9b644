"""A fake web server for feeds: documents at paths, conditional GET, and hostile answers.

Serves whatever bytes a test puts at a path with the headers it asks for, and
answers conditional requests as real servers do (304 when `If-None-Match`
matches the ETag, or `If-Modified-Since` is not older than Last-Modified).
Also: redirects, a body that trickles one byte a second, and a huge body
(with or without a Content-Length). `rss()`, `atom()` and `youtube()` build
documents in the real formats.

    fake.serve("/feed.xml", rss(items=[rss_item("1", "Hello")]), etag='"v1"')
    fake.trickle("/slow.xml"); fake.huge("/big.xml", 50 * 1024 * 1024)
    fake.redirect("/moved", "http://127.0.0.1/feed.xml")
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from xml.sax.saxutils import escape, quoteattr

from tests.fakes.base import FakeServer, Reply, Seen

HOST = "feeds.test"
OTHER_HOST = "other.feeds.test"


@dataclass
class Document:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200
    location: str | None = None


class FakeFeeds(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.host, self.other_host = HOST, OTHER_HOST
        self.base = f"http://{HOST}"
        self.documents: dict[str, Document] = {}
        self.slow: set[str] = set()
        self.big: dict[str, tuple[int, bool]] = {}

    # Controls --------------------------------------------------------------

    def serve(self, path: str, body: bytes | str, *,
              content_type: str = "application/rss+xml; charset=utf-8",
              etag: str | None = None, last_modified: str | None = None,
              status: int = 200) -> str:
        """Put a document at `path`; returns its URL."""
        data = body.encode() if isinstance(body, str) else body
        self.documents[path] = Document(data, content_type, etag, last_modified, status)
        return self.base + path

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        self.documents[path] = Document(b"", "text/plain", status=status, location=location)
        return self.base + path

    def trickle(self, path: str) -> str:
        """A feed whose body arrives one byte a second (until the client or the server stops)."""
        self.slow.add(path)
        return self.base + path

    def huge(self, path: str, size: int, declare_length: bool = True) -> str:
        self.big[path] = (size, declare_length)
        return self.base + path

    # Serving ---------------------------------------------------------------

    def stream(self, seen: Seen, handler: BaseHTTPRequestHandler) -> bool:
        if seen.path in self.slow:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/rss+xml")
            handler.send_header("Content-Length", "100000")
            handler.end_headers()
            handler.wfile.write(b"<")
            handler.wfile.flush()
            # Bounded: at most a minute, and it ends as soon as the fixture stops us.
            for _ in range(60):
                if self.stopping.wait(1.0):
                    break
                handler.wfile.write(b" ")
                handler.wfile.flush()
            handler.close_connection = True
            return True
        if seen.path in self.big:
            size, declare = self.big[seen.path]
            handler.send_response(200)
            handler.send_header("Content-Type", "application/rss+xml")
            if declare:
                handler.send_header("Content-Length", str(size))
            else:
                handler.send_header("Connection", "close")
            handler.end_headers()
            chunk = b"<!-- padding -->" * 4096
            sent = 0
            while sent < size and not self.stopping.is_set():
                handler.wfile.write(chunk[:size - sent])
                sent += len(chunk)
            handler.close_connection = True
            return True
        return False

    def handle(self, seen: Seen) -> Reply:
        document = self.documents.get(seen.path)
        if document is None:
            return Reply(404, b"<h1>Not Found</h1>", {"Content-Type": "text/html"})
        headers = {"Content-Type": document.content_type}
        if document.location:
            headers["Location"] = document.location
            return Reply(document.status, b"", headers)
        if document.etag:
            headers["ETag"] = document.etag
        if document.last_modified:
            headers["Last-Modified"] = document.last_modified
        if self._not_modified(seen, document):
            return Reply(304, b"", {k: v for k, v in headers.items() if k != "Content-Type"})
        return Reply(document.status, document.body, headers)

    @staticmethod
    def _not_modified(seen: Seen, document: Document) -> bool:
        match = seen.headers.get("if-none-match")
        if match is not None:
            return document.etag is not None and document.etag in (
                tag.strip() for tag in match.split(","))
        since = seen.headers.get("if-modified-since")
        if since and document.last_modified:
            try:
                return parsedate_to_datetime(document.last_modified) <= \
                    parsedate_to_datetime(since)
            except (TypeError, ValueError):
                return False
        return False


def http_date(when: float | None = None) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(when))


# Documents in the real formats -------------------------------------------------

def rss_item(guid: str | None, title: str, *, description: str = "",
             link: str | None = "", pub_date: str | None = "Sun, 01 Nov 2026 12:00:00 GMT",
             extra: str = "", permalink: bool = False) -> str:
    """One RSS 2.0 <item>; `description` is HTML (escaped into the XML here)."""
    parts = [f"<title>{escape(title)}</title>"]
    if link == "":
        link = guid if guid and guid.startswith("https://") else f"https://blog.test/posts/{guid}"
    if link:
        parts.append(f"<link>{escape(link)}</link>")
    if guid is not None:
        parts.append(f'<guid isPermaLink="{str(permalink).lower()}">{escape(guid)}</guid>')
    if description:
        parts.append(f"<description>{escape(description)}</description>")
    if pub_date is not None:
        parts.append(f"<pubDate>{escape(pub_date)}</pubDate>")
    return f"<item>{''.join(parts)}{extra}</item>"


def rss(items: list[str], *, title: str = "The Test Blog", encoding: str = "UTF-8",
        link: str = "https://blog.test/", prolog: str = "") -> str:
    return (f'<?xml version="1.0" encoding="{encoding}"?>{prolog}\n'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:media="http://search.yahoo.com/mrss/" '
            'xmlns:atom="http://www.w3.org/2005/Atom">\n'
            f"<channel><title>{escape(title)}</title><link>{escape(link)}</link>"
            "<description>Posts</description><language>en</language>"
            f"<image><url>https://blog.test/logo.png</url><title>{escape(title)}</title>"
            f"<link>{escape(link)}</link></image>\n"
            + "\n".join(items) + "\n</channel></rss>\n")


def atom_entry(entry_id: str, title: str, *, link: str | None = None,
               published: str | None = "2026-11-01T12:00:00Z",
               updated: str = "2026-11-01T12:00:00Z", summary: str = "",
               summary_type: str = "html", extra: str = "") -> str:
    parts = [f"<id>{escape(entry_id)}</id>", f"<title>{escape(title)}</title>",
             f"<updated>{escape(updated)}</updated>"]
    if link:
        parts.append(f"<link rel=\"alternate\" href={quoteattr(link)}/>")
    if published:
        parts.append(f"<published>{escape(published)}</published>")
    if summary:
        body = summary if summary_type == "xhtml" else escape(summary)
        parts.append(f'<summary type="{summary_type}">{body}</summary>')
    return f"<entry>{''.join(parts)}{extra}</entry>"


def atom(entries: list[str], *, title: str = "Atom Test", base_link: str = "https://atom.test/",
         author: str = "Grace Hopper") -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom" '
            'xmlns:media="http://search.yahoo.com/mrss/">'
            f"<id>tag:atom.test,2026:feed</id><title>{escape(title)}</title>"
            f"<updated>2026-11-01T12:00:00Z</updated><link rel=\"alternate\" "
            f"href={quoteattr(base_link)}/><author><name>{escape(author)}</name></author>\n"
            + "\n".join(entries) + "\n</feed>\n")


def youtube(videos: list[tuple[str, str, str]], channel: str = "UCtestchannel00000000000") -> str:
    """A YouTube channel feed (videos/xml?channel_id=…) of (video id, title, description)."""
    entries = []
    for video_id, title, description in videos:
        entries.append(
            f"<entry><id>yt:video:{video_id}</id><yt:videoId>{video_id}</yt:videoId>"
            f"<yt:channelId>{channel}</yt:channelId><title>{escape(title)}</title>"
            f'<link rel="alternate" href="https://www.youtube.com/watch?v={video_id}"/>'
            f"<author><name>Test Channel</name>"
            f"<uri>https://www.youtube.com/channel/{channel}</uri></author>"
            "<published>2026-10-30T15:00:00+00:00</published>"
            "<updated>2026-10-31T09:30:00+00:00</updated>"
            f"<media:group><media:title>{escape(title)}</media:title>"
            f'<media:content url="https://www.youtube.com/v/{video_id}?version=3" '
            'type="application/x-shockwave-flash" width="640" height="390"/>'
            f'<media:thumbnail url="https://i1.ytimg.com/vi/{video_id}/hqdefault.jpg" '
            'width="480" height="360"/>'
            f"<media:description>{escape(description)}</media:description>"
            '<media:community><media:starRating count="5" average="5.00" min="1" max="5"/>'
            '<media:statistics views="42"/></media:community></media:group></entry>')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" '
            'xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">'
            f'<link rel="self" href="http://www.youtube.com/feeds/videos.xml?channel_id={channel}"/>'
            f"<id>yt:channel:{channel[2:]}</id><yt:channelId>{channel}</yt:channelId>"
            "<title>Test Channel</title>"
            f'<link rel="alternate" href="https://www.youtube.com/channel/{channel}"/>'
            "<author><name>Test Channel</name>"
            f"<uri>https://www.youtube.com/channel/{channel}</uri></author>"
            "<published>2020-01-01T00:00:00+00:00</published>\n"
            + "\n".join(entries) + "\n</feed>\n")
