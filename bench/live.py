"""Live stories under measurement: take-down latency and what 1,000 viewers cost.

Not part of `make test` or `make bench`: run it by hand,

    .venv/bin/python bench/live.py   # BENCH_SECONDS (30), TRIALS (20), VIEWERS (1000),
                                     # CHANGE_EVERY (5 s); 0 skips or stops each

It starts its own embedded MongoDB with the demo stories and gunicorn as
shipped (2 workers, LIVE_POLL_INTERVAL 1 s, the 10 s response cache), then:

1. take-down latency: headless Chromium opens `demo-live` as an embed on a page
   and on a screen (`/screen/demo-live`); each trial hides one post the way the
   remote does (reject, bump the story's version) at a random moment and times
   until the post is gone from both; p50/p95 over TRIALS trials;
2. 1,000 simulated viewers: each asks `/live/demo-live` once a second (as
   live.js does) and fetches the document again when the version moved, while
   the story changes every 5 s; the database's own counters (serverStatus
   opcounters) give the queries per second with and without the viewers.

3. with SOAK=<seconds>, a screen's JavaScript heap (after a forced garbage
   collection, through the DevTools protocol) every 30 s while a post's caption
   changes every 2 s, so every look brings a new version.

Results go to var/bench/live.json. TRACE=1 prints the requests around slow trials.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from samembed.embedded_db import EmbeddedDB, free_port, port_open  # noqa: E402

OUT = ROOT / "var" / "bench"
SECONDS = int(os.environ.get("BENCH_SECONDS", "30"))
TRIALS = int(os.environ.get("TRIALS", "20"))
VIEWERS = int(os.environ.get("VIEWERS", "1000"))
CHANGE_EVERY = float(os.environ.get("CHANGE_EVERY", "5"))  # seconds; 0: no changes
SOAK = int(os.environ.get("SOAK", "0"))  # seconds of a screen's heap under updates; 0: none
SECRET = "bench-only-secret-key-that-is-long-enough-for-django-checks"  # noqa: S105
SLUG = "demo-live"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p * len(ordered) + 0.5)) - 1))]


def setup_django(uri: str) -> None:
    os.environ.update(MONGODB_URI=uri, SECRET_KEY=SECRET,
                      DJANGO_SETTINGS_MODULE="samembed.settings")
    import django

    django.setup()


def db_queries(uri: str) -> int:
    """Queries the database has served so far (its own counter)."""
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(uri) as client:
        counters = client.admin.command("serverStatus")["opcounters"]
        return int(counters["query"]) + int(counters["getmore"])


def hide_one(post_id: Any) -> None:
    from samembed.repositories import posts, stories

    post = posts.get_by_key(str(post_id))
    if post is None or not posts.update(post, {"state": "rejected"}):
        raise SystemExit(f"bench: could not hide post {post_id}")
    stories.bump_version(post.story_id)


def change_story() -> None:
    from samembed.repositories import stories

    story = stories.get_by_slug(SLUG)
    if story is None:
        raise SystemExit(f"bench: the demo story {SLUG} is missing")
    stories.bump_version(story.id)


def takedown(base: str) -> dict[str, Any]:
    from playwright.sync_api import Request, sync_playwright

    from samembed.repositories import posts, stories
    from tests.servers import launch_chromium

    story = stories.get_by_slug(SLUG)
    if story is None:
        raise SystemExit(f"bench: the demo story {SLUG} is missing")
    candidates = [p.id for p in posts.list_published(story.id, 50)][:TRIALS]
    delays: list[float] = []
    per_page: list[dict[str, float]] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        embed_page = context.new_page()
        embed_page.goto(base + "/healthz")
        embed_page.set_content(
            f'<blockquote class="samembed" data-story="{SLUG}" data-template="grid">'
            f'<a href="{base}/s/{SLUG}">Live</a></blockquote>'
            f'<script async src="{base}/embed.js"></script>')
        log: list[tuple[float, str, str]] = []

        def tracer(name: str) -> Callable[[Request], None]:
            def record(request: Request) -> None:
                log.append((time.monotonic(), name, request.url.split("/", 3)[-1]))
            return record

        if os.environ.get("TRACE"):
            embed_page.on("requestfinished", tracer("embed"))
        frame = embed_page.frame_locator("iframe")
        frame.locator("article.post").first.wait_for()
        screen = context.new_page()
        if os.environ.get("TRACE"):
            screen.on("requestfinished", tracer("screen"))
        screen.goto(f"{base}/screen/{SLUG}")
        screen.locator("article.post").first.wait_for()
        for post_id in candidates:
            selector = f'article[data-post-id="{post_id}"]'
            if frame.locator(selector).count() == 0 or screen.locator(selector).count() == 0:
                continue
            time.sleep(random.uniform(0.5, 2.0))  # noqa: S311 - a random phase, not a secret
            started = time.monotonic()
            hide_one(post_id)
            gone: dict[str, float] = {}
            while time.monotonic() - started < 20 and len(gone) < 2:
                for name, where in (("embed", frame), ("screen", screen)):
                    if name not in gone and where.locator(selector).count() == 0:
                        gone[name] = time.monotonic() - started
                time.sleep(0.02)
            delays.append(time.monotonic() - started)
            per_page.append(gone)
            if os.environ.get("TRACE") and max(gone.values(), default=99) > 2.5:
                print("slow trial", gone)
                for at, n, url in log:
                    if at > started - 1.5:
                        print(f"  {at - started:+.2f} {n} {url}")
            log.clear()
        browser.close()
    return {"trials": len(delays), "p50_s": round(percentile(delays, 0.5), 3),
            "p95_s": round(percentile(delays, 0.95), 3), "max_s": round(max(delays), 3),
            "each_s": [{k: round(v, 2) for k, v in g.items()} for g in per_page]}


def soak(base: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from samembed.repositories import posts, stories
    from tests.servers import launch_chromium

    story = stories.get_by_slug(SLUG)
    if story is None:
        raise SystemExit(f"bench: the demo story {SLUG} is missing")
    target = posts.list_published(story.id, 1)[0]
    samples: list[tuple[int, int, int]] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"{base}/screen/{SLUG}")
        page.locator("article.post").first.wait_for()
        cdp = page.context.new_cdp_session(page)
        started = time.monotonic()
        next_sample, n = started, 0
        while time.monotonic() - started < SOAK:
            current = posts.get_by_key(str(target.id))
            if current is None:
                raise SystemExit("bench: the soak's post disappeared")
            posts.set_caption(current, f"Soak update {n}", [], [None] * len(current.media))
            stories.bump_version(story.id)
            n += 1
            page.wait_for_timeout(2000)
            if time.monotonic() >= next_sample:
                cdp.send("HeapProfiler.collectGarbage")
                used = int(cdp.send("Runtime.getHeapUsage")["usedSize"])
                nodes = int(page.evaluate("document.getElementsByTagName('*').length"))
                samples.append((int(time.monotonic() - started), used, nodes))
                next_sample += 30
        browser.close()
    return {"seconds": SOAK, "updates": n,
            "heap_bytes_first": samples[0][1], "heap_bytes_last": samples[-1][1],
            "heap_bytes_max": max(s[1] for s in samples),
            "nodes_first": samples[0][2], "nodes_last": samples[-1][2],
            "samples": samples}


async def viewer(port: int, stop_at: float, stats: dict[str, int]) -> None:
    """One open live embed: /live/ once a second, the document when it moved."""
    await asyncio.sleep(random.uniform(0, 1))  # noqa: S311 - spread the viewers
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    version = None

    async def get(path: str) -> bytes:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Accept-Encoding: br\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return await reader.readexactly(length)

    try:
        while time.monotonic() < stop_at:
            body = await get(f"/live/{SLUG}")
            stats["live"] += 1
            current = json.loads(body)["version"]
            if version is not None and current != version:
                await get(f"/e/{SLUG}?template=grid&v={current}")
                stats["documents"] += 1
            version = current
            await asyncio.sleep(1.0)
    finally:
        writer.close()


async def crowd(port: int, seconds: float) -> dict[str, int]:
    stats = {"live": 0, "documents": 0}
    stop_at = time.monotonic() + seconds

    async def changes() -> None:
        while CHANGE_EVERY and time.monotonic() < stop_at - CHANGE_EVERY:
            await asyncio.sleep(CHANGE_EVERY)
            await asyncio.to_thread(change_story)
            stats["changes"] = stats.get("changes", 0) + 1

    await asyncio.gather(changes(), *(viewer(port, stop_at, stats) for _ in range(VIEWERS)))
    return stats


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(OUT / "live-db", ignore_errors=True)
    db = EmbeddedDB(OUT / "live-db", free_port())
    db.start()
    port = free_port()
    env = {**os.environ, "MONGODB_URI": db.uri, "SECRET_KEY": SECRET, "WEB_CONCURRENCY": "2",
           "PORT": str(port)}
    server = None
    try:
        for command in (["ensure_indexes"], ["load_demo"], ["collectstatic", "--noinput"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env,
                           check=True, stdout=subprocess.DEVNULL)
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=(OUT / "live-server.log").open("wb"))
        deadline = time.monotonic() + 30
        while not port_open(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench: gunicorn did not start; see var/bench/live-server.log")
            time.sleep(0.1)
        setup_django(db.uri)
        base = f"http://127.0.0.1:{port}"

        idle_start, t0 = db_queries(db.uri), time.monotonic()
        time.sleep(10)
        idle_qps = (db_queries(db.uri) - idle_start) / (time.monotonic() - t0)

        busy_start, t0 = db_queries(db.uri), time.monotonic()
        stats = asyncio.run(crowd(port, SECONDS)) if VIEWERS else {"live": 0, "documents": 0}
        elapsed = time.monotonic() - t0
        busy_qps = (db_queries(db.uri) - busy_start) / elapsed

        heap = soak(base) if SOAK else {}  # before the take-downs hide the posts
        latency = takedown(base) if TRIALS else {}
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
        db.stop()
    result = {
        "takedown": latency,
        "heap_soak": heap,
        "viewers": VIEWERS,
        "seconds": round(elapsed, 1),
        "version_requests_per_s": round(stats["live"] / elapsed, 1),
        "document_requests": stats["documents"],
        "story_changes": stats.get("changes", 0),
        "origin_requests_per_viewer_per_s": round(
            (stats["live"] + stats["documents"]) / elapsed / max(1, VIEWERS), 3),
        "db_queries_per_s_idle": round(idle_qps, 2),
        "db_queries_per_s_with_viewers": round(busy_qps, 2),
        "db_queries_per_s_caused_by_viewers": round(busy_qps - idle_qps, 2),
        "db_queries_per_change": round((busy_qps - idle_qps) * elapsed / stats["changes"], 1)
        if stats.get("changes") else None,
    }
    (OUT / "live.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
