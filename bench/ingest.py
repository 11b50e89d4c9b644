"""`make bench-ingest`: the ingest path's figures, against its own embedded MongoDB.

- push: posts per second into the embedded MongoDB through the push API
  (gunicorn with deploy/gunicorn.conf.py, 4 clients, batches of 100 new posts,
  keep-alive), bounded by BENCH_SECONDS;
- upstream to queue: a post published on the fake Mastodon instance of
  tests/fakes, timed until `manage.py ingest --loop` (its own process, the
  source polled every 10 s) has it in the story's queue; and the loop's own
  fetch-and-store time per run, which is what the latency is beyond the
  source's interval.

Writes var/bench/ingest.json and prints the figures.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import OUT, gunicorn, prepare  # noqa: E402

SECONDS = int(os.environ.get("BENCH_SECONDS", "30"))
TOKEN = "bench-push-token-0123456789abcdef"  # noqa: S105
CLIENTS = 4
BATCH = 100
TRIALS = 8


def push_throughput(port: int) -> dict[str, float]:
    counter = iter(range(10**9))
    lock = threading.Lock()
    done = [0]
    errors = [0]
    ends = time.monotonic() + SECONDS

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < ends:
            with lock:
                ids = [next(counter) for _ in range(BATCH)]
            body = json.dumps({"posts": [
                {"id": f"bench-{n}", "text": f"Pushed post {n} #bench https://example.org/{n}",
                 "created_at": datetime.now(UTC).isoformat(), "author": {"name": "Bench"}}
                for n in ids]})
            conn.request("POST", "/api/v1/stories/demo/posts", body, {
                "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            with lock:
                if response.status == 200:
                    done[0] += BATCH
                else:
                    errors[0] += 1
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {"posts": done[0], "seconds": round(elapsed, 1),
            "posts_per_s": round(done[0] / elapsed, 1), "failed_batches": errors[0]}


def upstream_to_queue(env: dict[str, str]) -> dict[str, float]:
    from bson import ObjectId

    from samembed.repositories import posts, sources
    from samembed.repositories.sources import Source
    from tests.fakes.mastodon import FakeMastodon

    fake = FakeMastodon()
    fake.start()
    story_id = ObjectId(str(sources_story()))
    source = sources.add(Source(story_id=story_id, kind="mastodon", label="#bench",
                                settings={"instance": fake.base, "mode": "hashtag",
                                          "tag": "bench", "token": ""}, interval=10.0))
    loop = subprocess.Popen(
        [sys.executable, "manage.py", "ingest", "--loop"], cwd=ROOT,
        env={**env, "OUTBOUND_RESOLVE": f"{fake.host}:80=127.0.0.1:{fake.port}"},
        stdout=subprocess.DEVNULL, stderr=(OUT / "ingest.log").open("wb"))
    delays: list[float] = []
    try:
        time.sleep(12)  # the first run (an empty timeline) is done
        for n in range(TRIALS):
            status = fake.post(f"<p>Bench post {n}</p>", tags=["bench"])
            published = time.monotonic()
            wanted = f"{status['id']}@{fake.host}"
            while time.monotonic() - published < 60:
                if posts.by_external_ids(story_id, "mastodon", [wanted]):
                    delays.append(time.monotonic() - published)
                    break
                time.sleep(0.05)
    finally:
        loop.terminate()
        loop.wait(15)
    # The loop's own share: one run's fetch and store, in this process.
    from django.conf import settings

    from samembed import outbound
    from samembed.ingest import runner

    settings.OUTBOUND_RESOLVE = {(fake.host, 80): ("127.0.0.1", fake.port)}
    outbound.reset()
    runs = []
    for n in range(TRIALS):
        fake.post(f"<p>In-process bench post {n}</p>", tags=["bench"])
        current = sources.get(str(source.id))
        if current is None or runner.retry(current) is None:
            raise SystemExit("bench: the source changed under the bench")
        started = time.monotonic()
        runner.run_once()
        runs.append(time.monotonic() - started)
    fake.stop()
    delays.sort()
    runs.sort()
    return {"trials": len(delays), "interval_s": 10.0,
            "p50_s": round(delays[len(delays) // 2], 2) if delays else -1,
            "max_s": round(delays[-1], 2) if delays else -1,
            "run_p50_ms": round(runs[len(runs) // 2] * 1000, 1)}


def sources_story() -> str:
    from samembed.repositories import stories

    story = stories.get_by_slug("demo")
    if story is None:
        raise SystemExit("bench: the demo story is missing")
    return str(story.id)


def main() -> None:
    db, env = prepare()
    os.environ["DJANGO_SETTINGS_MODULE"] = "samembed.settings"
    import django

    django.setup()
    from bson import ObjectId

    from samembed.repositories import sources

    results: dict[str, object] = {}
    try:
        sources.set_push_token(ObjectId(sources_story()), TOKEN)
        with gunicorn(env) as port:
            results["push"] = push_throughput(port)
        results["upstream_to_queue"] = upstream_to_queue(env)
    finally:
        db.stop()
    (OUT / "ingest.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
