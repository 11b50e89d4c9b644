"""`make bench-images`: the media path's figures, against its own embedded MongoDB.

- derive: time to make a 640 px WebP (and JPEG) from a 1280 px JPEG original;
- bytes per post view: what a post with images costs a reader as stored
  originals against what the embed actually loads (the `medium` WebP its srcset
  picks in a 400–640 px iframe, and the 96 px avatar);
- cached: requests per second for one derived image already on disk, through
  gunicorn with deploy/gunicorn.conf.py (wrk, 50 connections, BENCH_SECONDS).

Writes var/bench/images.json and prints the figures.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import OUT, gunicorn, prepare  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "30"))


def timings() -> dict[str, float]:
    from samembed.media.images import derive, normalise

    photo = next(p for p in sorted((ROOT / "static" / "demo").glob("*.jpg"))
                 if _width(p) >= 1280)
    original = normalise(photo.read_bytes()).data
    result = {}
    for fmt in ("webp", "jpg"):
        runs = []
        for _ in range(20):
            started = time.perf_counter()
            derive(original, "medium", fmt)
            runs.append(time.perf_counter() - started)
        result[f"medium_{fmt}_ms"] = round(statistics.median(runs) * 1000, 1)
    return result


def _width(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return int(image.width)


def bytes_per_view() -> dict[str, float]:
    from samembed.media.images import derive
    from samembed.repositories import media, posts, stories

    story = stories.get_by_slug("demo")
    if story is None:
        raise SystemExit("bench: the demo story is missing")
    def stored(key: str) -> bytes:
        original = media.get(key)
        if original is None:
            raise SystemExit(f"bench: media {key} is missing")
        return original.data

    original = served = views = 0
    for post in posts.list_published(story.id, 50):
        keys = [m.url.removeprefix("media:") for m in post.media if m.url.startswith("media:")]
        if not keys:
            continue
        views += 1
        for key in keys:
            original += len(stored(key))
            served += len(derive(stored(key), "medium", "webp"))
        avatar = post.author.avatar_url
        if avatar and avatar.startswith("media:"):
            original += len(stored(avatar.removeprefix("media:")))
            served += len(derive(stored(avatar.removeprefix("media:")), "avatar96", "jpg"))
    return {"posts_with_images": views,
            "original_bytes_per_post": round(original / views),
            "served_bytes_per_post": round(served / views),
            "saved_percent": round(100 * (1 - served / original), 1)}


def cached_requests(port: int) -> dict[str, float]:
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/e/demo",  # noqa: S310 - loopback
                                  timeout=10).read().decode()
    path = re.search(r'src="(/img/[^"]+/medium/[^"]+\.jpg)"', page)
    if path is None:
        raise SystemExit("bench: no image in the demo embed")
    url = f"http://127.0.0.1:{port}{path.group(1)}"
    urllib.request.urlopen(url, timeout=10).read()  # noqa: S310 - derive it once
    out = subprocess.run(["wrk", "-t2", "-c50", f"-d{SECONDS}s", "--latency", url],
                         capture_output=True, text=True, check=True,
                         timeout=SECONDS + 30).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    return {"requests_per_s": float(rate.group(1)) if rate else -1.0,
            "p99": p99.group(1) if p99 else "?"}  # type: ignore[dict-item]


def main() -> None:
    db, env = prepare()
    env["MEDIA_CACHE_DIR"] = os.environ["MEDIA_CACHE_DIR"] = str(OUT / "media-cache")
    os.environ["DJANGO_SETTINGS_MODULE"] = "samembed.settings"
    import django

    django.setup()
    results: dict[str, object] = {}
    try:
        results["derive"] = timings()
        results["per_post_view"] = bytes_per_view()
        with gunicorn(env) as port:
            results["cached_image"] = cached_requests(port)
    finally:
        db.stop()
    (OUT / "images.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
