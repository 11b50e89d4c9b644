"""deploy/ as shipped: nginx in front of gunicorn for real, the Kubernetes
manifests against the Kubernetes schemas, and Django's deployment checks."""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from samembed.embedded_db import EmbeddedDB
from samembed.repositories import stories as stories_repo
from tests.factories import make_story
from tests.faults import wait_for
from tests.image_host import ImageHost
from tests.servers import ROOT, Gunicorn, Nginx

DEPLOY = ROOT / "deploy"


def get(port: int, path: str, headers: dict[str, str] | None = None,
        conn: http.client.HTTPConnection | None = None,
        ) -> tuple[int, http.client.HTTPMessage, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    if own:
        conn.close()
    return response.status, response.headers, body


def test_the_shipped_nginx_configuration_passes_nginx_t() -> None:
    nginx = Nginx(upstream_port=8000)
    try:
        result = nginx.check()
    finally:
        nginx.stop()
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_keep_alive_timeouts_close_from_the_client_side_first() -> None:
    # Load balancer (60 s) < nginx's client keep-alive and gunicorn's (75 s);
    # nginx's idle upstream connections (60 s) close before gunicorn's (75 s).
    main = (DEPLOY / "nginx" / "nginx.conf").read_text()
    site = (DEPLOY / "nginx" / "samembed.conf").read_text()
    conf = (DEPLOY / "gunicorn.conf.py").read_text()
    assert re.search(r"^\s+keepalive_timeout 75s;", main, re.M)
    upstream = site.split("upstream samembed {", 1)[1].split("}", 1)[0]
    assert re.search(r"keepalive_timeout 60s;", upstream)
    assert '"GUNICORN_KEEPALIVE", "75"' in conf and "backlog = 2048" in conf
    assert re.search(r"^worker_rlimit_nofile 65536;", main, re.M)
    assert "worker_connections 16384;" in main


@pytest.fixture
def stack(embedded_db: EmbeddedDB, static_files: None) -> Iterator[tuple[Gunicorn, Nginx]]:
    app = Gunicorn(embedded_db.uri, workers=1, GUNICORN_KEEPALIVE="2")
    app.start()
    # As shipped: nginx drops idle upstream connections before gunicorn does.
    nginx = Nginx(app.port, upstream_keepalive="1s", worker_processes="1")
    try:
        nginx.start()
        yield app, nginx
    finally:
        nginx.stop()
        app.stop()


@pytest.mark.usefixtures("mongo_db")
def test_nginx_serves_embeds_from_its_microcache_and_stale_while_the_app_is_down(
    stack: tuple[Gunicorn, Nginx],
) -> None:
    app, nginx = stack
    make_story("edge", posts=3)
    status, headers, first = get(nginx.port, "/e/edge", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["X-Cache-Status"] == "MISS", first
    assert headers["Content-Encoding"] == "gzip" and headers["Vary"] == "Accept-Encoding"
    assert headers["Cache-Control"].startswith("public, max-age=10")
    assert "Set-Cookie" not in headers and headers["X-Request-ID"]
    # Within the microcache's one second the same variant is a hit (another spelling of
    # the coding included); on a busy machine that second can pass, so look again.
    for _ in range(5):
        status, headers, again = get(nginx.port, "/e/edge", {"Accept-Encoding": "deflate, gzip"})
        if headers["X-Cache-Status"] == "HIT":
            break
    assert status == 200 and headers["X-Cache-Status"] == "HIT" and again == first
    # What browsers send (matched exactly) and other spellings (by the regexes) name
    # the same variants.
    for sent, coding in (("gzip, deflate, br, zstd", "br"), ("deflate, br", "br"),
                         ("gzip, deflate", "gzip"), ("x-gzip, gzip", "gzip")):
        status, headers, _ = get(nginx.port, "/e/edge", {"Accept-Encoding": sent})
        assert status == 200 and headers["Content-Encoding"] == coding, (sent, headers)
    # A refused coding is never sent.
    status, headers, _ = get(nginx.port, "/e/edge", {"Accept-Encoding": "gzip, br;q=0"})
    assert status == 200 and headers.get("Content-Encoding") != "br"
    # Another coding is another variant, never the gzip bytes.
    status, headers, plain = get(nginx.port, "/e/edge")
    assert status == 200 and "Content-Encoding" not in headers and b"<html" in plain

    app.stop()
    # nginx keeps time in whole seconds: a one-second entry lives one to two seconds.
    # Until it expires it is a HIT; after, STALE; never anything but the same bytes.
    deadline = time.monotonic() + 10
    while True:
        status, headers, stale = get(nginx.port, "/e/edge", {"Accept-Encoding": "gzip"})
        assert status == 200 and stale == first
        assert headers["X-Cache-Status"] in ("HIT", "STALE")
        if headers["X-Cache-Status"] == "STALE" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert headers["X-Cache-Status"] == "STALE"
    # What was never cached cannot be served stale: a clear 502, not a hang.
    status, _, _ = get(nginx.port, "/e/never-seen")
    assert status == 502


@pytest.mark.usefixtures("mongo_db")
def test_no_502_after_idle_gaps_longer_than_the_upstream_keep_alive(
    stack: tuple[Gunicorn, Nginx],
) -> None:
    _, nginx = stack
    client = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10)
    statuses = []
    # Gaps past nginx's upstream timeout (1 s) and past gunicorn's own (2 s).
    for gap in (0, 1.4, 2.6, 0.1, 2.6):
        time.sleep(gap)
        for _ in range(3):
            statuses.append(get(nginx.port, "/healthz", conn=client)[0])
    client.close()
    assert statuses == [200] * len(statuses)
    assert "upstream prematurely closed" not in nginx.errors()


@pytest.mark.usefixtures("mongo_db")
def test_nginx_serves_static_files_itself(stack: tuple[Gunicorn, Nginx]) -> None:
    app, nginx = stack
    manifest = (ROOT / "var" / "test-static" / "staticfiles.json").read_text()
    hashed = re.search(r'"(embed/base\.[0-9a-f]{12}\.css)"', manifest)
    assert hashed, "collectstatic did not hash embed/base.css"
    app.stop()  # nothing below may need the application
    status, headers, body = get(nginx.port, f"/static/{hashed.group(1)}",
                                {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Type"] == "text/css"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["Content-Encoding"] == "gzip" and body


@pytest.mark.usefixtures("mongo_db")
def test_an_edit_reaches_readers_through_the_microcache_whose_files_nginx_keeps_open(
    stack: tuple[Gunicorn, Nginx],
) -> None:
    _, nginx = stack
    story = make_story("kept-open", posts=2, title="Before the edit")
    for _ in range(3):  # the copy's file is opened, then served from its kept descriptor
        status, _, body = get(nginx.port, "/e/kept-open")
        assert status == 200 and b"Before the edit" in body
    assert stories_repo.update(story, {"title": "After the edit"})
    # A new copy replaces the file within a second or two of the application's; its
    # old descriptor, still open, must never be what is sent after that.
    def edited() -> bool:
        status, _, body = get(nginx.port, "/e/kept-open")
        assert status == 200
        return b"After the edit" in body and b"Before the edit" not in body

    assert wait_for(edited, 15, step=0.1)
    for _ in range(3):
        status, headers, body = get(nginx.port, "/e/kept-open")
        assert status == 200 and b"After the edit" in body, headers["X-Cache-Status"]


@pytest.mark.usefixtures("mongo_db")
def test_the_access_log_names_the_render_a_reader_got_and_makes_no_id_for_a_hit(
    stack: tuple[Gunicorn, Nginx],
) -> None:
    _, nginx = stack
    make_story("logged", posts=2)
    status, headers, _ = get(nginx.port, "/e/logged")
    assert status == 200 and headers["X-Cache-Status"] == "MISS"
    render = headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", render)
    for _ in range(5):  # within the microcache's second; on a busy machine, look again
        status, headers, _ = get(nginx.port, "/e/logged")
        if headers["X-Cache-Status"] == "HIT":
            break
    assert status == 200 and headers["X-Cache-Status"] == "HIT"
    assert headers["X-Request-ID"] == render  # the bytes, headers included, of that render
    assert get(nginx.port, "/static/missing.css")[0] == 404

    # The log is buffered: a reopen writes out what it holds.
    subprocess.run(nginx.command("-s", "reopen"), check=True, timeout=10)
    log = nginx.dir / "access.log"

    def logged() -> list[dict[str, Any]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    assert wait_for(lambda: any(line["uri"] == "/static/missing.css" for line in logged()), 10)
    lines = logged()
    by_cache = {(line["uri"], line["cache"]): line for line in lines}
    assert by_cache[("/e/logged", "MISS")]["request_id"] == render
    assert by_cache[("/e/logged", "HIT")]["request_id"] == render
    assert by_cache[("/static/missing.css", "")]["request_id"] == ""


@pytest.mark.parametrize("size", [70_000, 23_000, 140_000])
def test_a_keep_alive_reader_never_waits_on_a_delayed_ack_for_the_end_of_a_cached_answer(
        size: int) -> None:
    # A copy nginx sends from its cache whose last packet is small (70 KB on
    # loopback: one full segment and a tail) must not sit behind Nagle's algorithm
    # until the reader's delayed ACK, some 40 ms later, on every request of a
    # kept-alive connection: images of that size were answered 250 times a second.
    body = os.urandom(size)
    with ImageHost({"/e/sized": body}) as upstream:
        nginx = Nginx(upstream.port)
        nginx.start()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10)
            took, cache = [], []
            for _ in range(16):
                started = time.perf_counter()
                connection.request("GET", "/e/sized")
                response = connection.getresponse()
                got = response.read()
                took.append(time.perf_counter() - started)
                cache.append(response.headers["X-Cache-Status"])
                assert response.status == 200 and got == body
            connection.close()
        finally:
            nginx.stop()
    assert cache[0] == "MISS" and "HIT" in cache
    took.sort()
    # A delayed ACK holds every request alike; a loaded machine only the odd one.
    assert took[len(took) // 2] < 0.02, [round(t * 1000, 1) for t in took]


def _manifests() -> list[tuple[str, dict[str, object]]]:
    found = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


def test_kubernetes_manifests_validate_against_the_kubernetes_schemas() -> None:
    import kubernetes_validate

    manifests = _manifests()
    kinds = sorted(str(doc["kind"]) for _, doc in manifests)
    for kind in ("Deployment", "HorizontalPodAutoscaler", "Ingress", "Job",
                 "PodDisruptionBudget", "Service"):
        assert kind in kinds, kind
    for name, doc in manifests:
        try:
            kubernetes_validate.validate(doc, "1.33", strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{name}: {e.message} at {'/'.join(map(str, e.path))}")


def test_the_web_pods_are_probed_and_the_ingest_runs_once() -> None:
    docs = dict(_manifests())
    web = next(d for n, d in docs.items() if n.endswith("Deployment/samembed-web"))
    container = web["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ingest = next(d for n, d in docs.items() if n.endswith("Deployment/samembed-ingest"))
    assert ingest["spec"]["replicas"] == 1  # type: ignore[index]
    assert ingest["spec"]["strategy"]["type"] == "Recreate"  # type: ignore[index]
    args = ingest["spec"]["template"]["spec"]["containers"][0]["args"]  # type: ignore[index]
    assert args[-2:] == ["ingest", "--loop"]
    guard = next(d for n, d in docs.items() if n.endswith("Deployment/samembed-flags-guard"))
    assert guard["spec"]["replicas"] == 1  # type: ignore[index]
    args = guard["spec"]["template"]["spec"]["containers"][0]["args"]  # type: ignore[index]
    assert args == ["manage.py", "flags", "guard"]


def test_beacons_reach_the_events_pods_and_the_web_pods_while_those_are_down() -> None:
    docs: dict[str, Any] = dict(_manifests())
    events = docs["events.yaml:Deployment/samembed-events"]["spec"]["template"]["spec"]
    container = events["containers"][0]
    assert container["command"] == [".venv/bin/gunicorn", "-c", "deploy/gunicorn-events.conf.py"]
    env = {e["name"]: e["value"] for e in container["env"]}
    port = container["ports"][0]["containerPort"]
    assert env["EVENTS_BIND"] == f"0.0.0.0:{port}"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # Below the web pods' request: the kernel shares a busy node by requests.
    web = docs["web.yaml:Deployment/samembed-web"]["spec"]["template"]["spec"]["containers"][0]
    assert _cpu(container["resources"]["requests"]["cpu"]) < _cpu(
        web["resources"]["requests"]["cpu"])
    ingress = docs["events.yaml:Ingress/samembed-events"]
    (path,) = ingress["spec"]["rules"][0]["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/api/v1/events", "Exact")
    assert path["backend"]["service"]["name"] == "samembed-events"
    fallback = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/default-backend"]
    assert f"web.yaml:Service/{fallback}" in docs
    assert docs["events.yaml:Service/samembed-events"]["spec"]["selector"] == (
        docs["events.yaml:Deployment/samembed-events"]["spec"]["selector"]["matchLabels"])


def _cpu(value: str) -> float:
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def test_systemd_units_raise_the_file_limit_and_run_the_shipped_commands() -> None:
    web = (DEPLOY / "systemd" / "samembed-web.service").read_text()
    ingest = (DEPLOY / "systemd" / "samembed-ingest.service").read_text()
    guard = (DEPLOY / "systemd" / "samembed-flags-guard.service").read_text()
    events = (DEPLOY / "systemd" / "samembed-events.service").read_text()
    for unit in (web, ingest, guard, events):
        assert "\nLimitNOFILE=65536\n" in unit
        assert "\nEnvironmentFile=/etc/samembed/env\n" in unit
    assert "gunicorn -c deploy/gunicorn.conf.py" in web
    assert "gunicorn -c deploy/gunicorn-events.conf.py" in events
    # A nice value does not reach across services: the weight does.
    assert "\nCPUWeight=1\n" in events and "CPUWeight" not in web
    assert "manage.py ingest --loop" in ingest
    assert "manage.py flags guard\n" in guard
    sysctl = (DEPLOY / "sysctl" / "60-samembed.conf").read_text()
    assert re.search(r"^net\.core\.somaxconn = \d+$", sysctl, re.M)
    assert re.search(r"^net\.ipv4\.ip_local_port_range = 1024 65535$", sysctl, re.M)


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True,
        timeout=120,
    )


# What a deployment puts in place of env.example's placeholder secrets.
SECRETS = {"SECRET_KEY": "x7Vq2-production-like-secret-0b9f3c1e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b",
           "MEDIA_SIGNING_KEY": "m3dia-signing-key-0b9f3c1e8d7a6b5c4d3e2f1a0b9c8d7e"}


def test_django_deployment_checks_pass_for_the_shipped_environment() -> None:
    env = {**_env_example(), **SECRETS}
    assert env["HTTPS"] == "true" and env["DATABASE_URL"].startswith("postgres://")
    result = _check_deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("change", "warning", "hint"),
    [({"PUBLIC_ORIGIN": ""}, "samembed.W001", "PUBLIC_ORIGIN=https://"),
     ({"MEDIA_SIGNING_KEY": ""}, "samembed.W002", "MEDIA_SIGNING_OLD_KEYS"),
     ({"DATABASE_URL": "sqlite:///var/accounts.sqlite3"}, "samembed.W003", "postgres://"),
     ({"FORWARDED_ALLOW_IPS": "*"}, "samembed.W004", "127.0.0.1,::1"),
     ({"FORWARDED_ALLOW_IPS": "127.0.0.1, *"}, "samembed.W004", "pod network"),
     ({"EMBED_CACHE_TTL": "0"}, "samembed.W005", "EMBED_CACHE_TTL unset")],
)
def test_dangerous_settings_fail_the_deployment_checks_with_a_hint(
    change: dict[str, str], warning: str, hint: str,
) -> None:
    result = _check_deploy({**_env_example(), **SECRETS, **change})
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"({warning})" in result.stderr and hint in result.stderr
    # Only the setting changed is reported.
    assert result.stderr.count("(samembed.W") == 1, result.stderr


def _env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = value
    return values


def _containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined."""
    text = (ROOT / "Containerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, arguments = line.strip().partition(" ")
            found.append((instruction.upper(), " ".join(arguments.split())))
    return found


def _pods() -> list[tuple[str, dict[str, Any]]]:
    """(manifest, pod spec) of every Deployment and Job of deploy/kubernetes."""
    return [(name, doc["spec"]["template"]["spec"]) for name, doc in _manifests()  # type: ignore[index]
            if doc["kind"] in ("Deployment", "Job")]


def _images() -> list[tuple[str, str, dict[str, Any]]]:
    """(manifest, image, container) of every container and init container of deploy/kubernetes."""
    return [(name, container["image"], container) for name, pod in _pods()
            for container in pod.get("initContainers", []) + pod["containers"]]


def test_the_image_is_debian_slim_python_run_as_a_non_root_user() -> None:
    steps = _containerfile()
    bases = [args for instruction, args in steps if instruction == "FROM"]
    assert len(bases) == 1, bases
    assert re.fullmatch(r"(docker\.io/library/)?python:3\.11(\.\d+)?-slim(-bookworm|-trixie)?"
                        r"(@sha256:[0-9a-f]{64})?", bases[0]), bases[0]
    users = [args for instruction, args in steps if instruction == "USER"]
    assert users, "the image runs as root"
    uid = users[-1].split(":")[0]
    # Numeric, so the kubelet can check runAsNonRoot against the image itself.
    assert uid.isdigit() and int(uid) != 0, users[-1]
    for name, pod in _pods():
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True and str(context["runAsUser"]) == uid, name


def test_the_image_installs_only_the_hashed_production_requirements() -> None:
    steps = _containerfile()
    installs = [args for instruction, args in steps
                if instruction == "RUN" and "pip install" in args]
    assert len(installs) == 1, installs
    options = installs[0].split("pip install", 1)[1].split("&&")[0].split()
    assert "--require-hashes" in options and "--only-binary=:all:" in options, options
    files = [options[i + 1] for i, o in enumerate(options) if o == "-r"]
    assert files == ["requirements/app.txt"], options
    # Nothing but -r files: a bare package name would be installed without a hash.
    assert [o for o in options if not o.startswith("-") and o not in files] == [], options
    copied = [args for instruction, args in steps if instruction in ("COPY", "ADD")]
    assert not any("embedded-db" in c or c.split()[0] in ("requirements", "requirements/", ".")
                   for c in copied), copied
    for copy in copied:
        for source in copy.split()[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such path in the checkout"


def test_the_image_collects_static_files_and_starts_gunicorn_as_the_manifests_do() -> None:
    steps = _containerfile()
    env = " ".join(args for instruction, args in steps if instruction == "ENV")
    static_root = re.search(r"STATIC_ROOT=(\S+)", env)
    assert static_root, "the image sets no STATIC_ROOT"
    assert any(instruction == "RUN" and "manage.py collectstatic --noinput" in args
               for instruction, args in steps)
    workdir = Path([args for instruction, args in steps if instruction == "WORKDIR"][-1])
    entrypoint = [json.loads(args) for instruction, args in steps if instruction == "ENTRYPOINT"]
    assert entrypoint and entrypoint[-1][1:] == ["-c", "deploy/gunicorn.conf.py"], entrypoint
    assert Path(entrypoint[-1][0]) == workdir / ".venv/bin/gunicorn"
    web = next(c for name, _, c in _images() if name.endswith("Deployment/samembed-web"))
    command = web.get("command")
    if command:  # the image's own entry point, spelt relative to its WORKDIR
        assert [str(workdir / command[0]), *command[1:]] == entrypoint[-1]
    # env.example (the Secret) names a VM's STATIC_ROOT, which would hide the image's.
    for name, pod in _pods():
        if name.startswith(("web.yaml:Deployment", "ingest.yaml:Deployment")):
            values = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
            assert values["STATIC_ROOT"] == static_root.group(1), name
    for name, _, container in _images():
        program = (container.get("command") or entrypoint[-1])[0]
        assert str(workdir / program).startswith(str(workdir / ".venv/bin/")), (name, program)


def test_every_manifest_runs_the_one_image_and_the_set_up_job_is_named_after_its_tag() -> None:
    images = _images()
    assert len({image for _, image, _ in images}) == 1, images
    image = images[0][1]
    repository, _, tag = image.rpartition(":")
    assert repository.endswith("/samembed") and tag, image
    jobs = [doc for name, doc in _manifests() if doc["kind"] == "Job"]
    assert len(jobs) == 1
    # A fixed name could never run again: a Job's pod template cannot be changed.
    metadata = jobs[0]["metadata"]
    assert metadata["name"] == "samembed-setup-" + re.sub(r"[^a-z0-9]+", "-", tag.lower())  # type: ignore[index]
    assert metadata["labels"]["app.kubernetes.io/version"] == tag  # type: ignore[index]
    assert jobs[0]["spec"]["ttlSecondsAfterFinished"] > 0  # type: ignore[index]


def _proxies(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def test_every_shipped_config_trusts_named_proxies_only() -> None:
    found = {"env.example": _env_example()["FORWARDED_ALLOW_IPS"]}
    conf = (DEPLOY / "gunicorn.conf.py").read_text()
    default = re.search(r'os\.environ\.get\("FORWARDED_ALLOW_IPS", "([^"]*)"\)', conf)
    assert default, "gunicorn.conf.py no longer reads FORWARDED_ALLOW_IPS"
    found["gunicorn.conf.py"] = default.group(1)
    for service in ("samembed-web.service", "samembed-events.service"):
        text = (DEPLOY / "systemd" / service).read_text()
        unit = re.search(r"^Environment=FORWARDED_ALLOW_IPS=(.*)$", text, re.M)
        assert unit, f"{service} sets no FORWARDED_ALLOW_IPS"
        found[service] = unit.group(1)
    for name, doc in _manifests():
        if doc["kind"] == "Deployment" and name.endswith(("samembed-web", "samembed-events")):
            env = doc["spec"]["template"]["spec"]["containers"][0]["env"]  # type: ignore[index]
            found[name] = next(e["value"] for e in env if e["name"] == "FORWARDED_ALLOW_IPS")
    assert len(found) == 6, found
    for where, value in found.items():
        proxies = _proxies(value)
        assert proxies and "*" not in proxies, f"{where}: FORWARDED_ALLOW_IPS={value!r}"
        for proxy in proxies:
            network = ipaddress.ip_network(proxy)
            # A known proxy or the pod network it lives in, never "everyone".
            assert network.prefixlen >= 8 and not network.is_global, f"{where}: {proxy}"


def test_the_ingress_denies_metrics_and_believes_only_the_balancer() -> None:
    docs: dict[str, Any] = dict(_manifests())
    ingresses = [d for n, d in docs.items() if ":Ingress/" in n]
    routes = {}
    for ingress in ingresses:
        annotations = ingress["metadata"].get("annotations") or {}
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                routes[(rule["host"], path["path"], path["pathType"])] = annotations
    metrics = routes[("embed.example.com", "/metrics", "Exact")]
    allowed = _proxies(metrics["nginx.ingress.kubernetes.io/whitelist-source-range"])
    # Only the controller's own loopback: every client is refused.
    assert allowed and all(ipaddress.ip_network(a).is_loopback for a in allowed)
    assert "nginx.ingress.kubernetes.io/whitelist-source-range" not in routes[
        ("embed.example.com", "/", "Prefix")]
    controller = next(d for n, d in docs.items()
                      if n.endswith("ConfigMap/ingress-nginx-controller"))
    data = controller["data"]
    assert data["use-forwarded-headers"] == "true"
    for cidr in _proxies(data["proxy-real-ip-cidr"]):
        network = ipaddress.ip_network(cidr)
        assert network.prefixlen >= 8 and not network.is_global, cidr
    assert data["compute-full-forwarded-for"] == "false"
