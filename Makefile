# samembed: `make run` serves the demo, `make test` runs the whole suite.
# Both set up everything on a fresh machine: the virtualenv with the hashed pins
# of requirements/ (`make lock` regenerates them from pyproject.toml), and (tests,
# bench) Debian's chromium, nginx, wrk, node and npm; the tests add the npm
# packages package-lock.json pins.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQS := requirements/app.txt requirements/embedded-db.txt requirements/dev.txt
STAMP := $(VENV)/.installed
# npm packages the tests drive (axe-core), exactly as package-lock.json pins them.
NODE_STAMP := node_modules/.installed

.PHONY: run test test-wordpress lint lock bench bench-ingest bench-images bench-events \
	bench-workers bench-profile bench-readme bench-release soak clean system-deps wordpress-deps

$(STAMP): $(REQS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes $(addprefix -r ,$(REQS))
	touch $@

$(NODE_STAMP): package.json package-lock.json | system-deps
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages the browser tests and the load tests drive (cc builds the bench's
# open-loop generator, bench/openloop.c).
system-deps:
	@missing=""; \
	for p in chromium:chromium nginx:nginx wrk:wrk cc:gcc node:nodejs npm:npm; do \
	  command -v $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Debian's WordPress, PHP and MariaDB, for the real oEmbed consumer test (about
# 16 MB to download); `make test` leaves them out, `.ci/run` runs both.
WORDPRESS_DEPS := wordpress php8.2-cli php8.2-mysql mariadb-server
wordpress-deps:
	@missing=""; \
	for p in $(WORDPRESS_DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null; \
	fi

run: $(STAMP)
	$(BIN)/python scripts/run.py

test: $(STAMP) system-deps $(NODE_STAMP)
	$(BIN)/python -m pytest -m "not bench and not wordpress"

# WordPress on loopback as a real oEmbed consumer (tests/test_wordpress.py).
test-wordpress: $(STAMP) system-deps $(NODE_STAMP) wordpress-deps
	$(BIN)/python -m pytest -m wordpress tests/test_wordpress.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy samembed tests scripts bench

bench: $(STAMP) system-deps
	$(BIN)/python bench/run.py

# requirements/*.txt from pyproject.toml, every release hashed; current pins kept
# (scripts/lock.py says how to move one).
lock: $(STAMP)
	$(BIN)/python scripts/lock.py

# The ingest path's figures: push API posts/s, upstream-to-queue latency.
bench-ingest: $(STAMP) system-deps
	$(BIN)/python bench/ingest.py

# The media path's figures: derive time, bytes per post view, cached image req/s.
bench-images: $(STAMP) system-deps
	$(BIN)/python bench/images.py

# The events path's figures: beacon req/s, rollups against what was sent, restarts,
# and the cached embed's req/s with beacons arriving beside it.
bench-events: $(STAMP) system-deps
	$(BIN)/python bench/events.py

# Ten minutes at half the maximum `make bench` measured; not part of `make bench`.
soak: $(STAMP) system-deps
	$(BIN)/python bench/run.py soak

# The worker model and count table (uvicorn, gthread, sync; 1-4 workers).
bench-workers: $(STAMP) system-deps
	$(BIN)/python bench/run.py workers

# The cached hit path under cProfile: µs per hit and the top of the profile.
bench-profile: $(STAMP)
	$(BIN)/python bench/hitprofile.py

# The README's performance figures from bench/results/.
bench-readme: $(STAMP)
	$(BIN)/python bench/readme.py

# Every figure the README quotes, on a quiet machine: bench, worker table, soak,
# then the README from what they published (each refuses to publish from a busy
# machine unless BENCH_PUBLISH=force).
bench-release: $(STAMP) system-deps
	$(BIN)/python bench/run.py
	$(BIN)/python bench/run.py workers
	$(BIN)/python bench/run.py soak
	$(BIN)/python bench/readme.py

clean:
	rm -rf node_modules var/static var/jinja-cache var/test-static var/test-jinja-cache var/bench
