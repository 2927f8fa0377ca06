#!/usr/bin/env bash
# The whole test suite, twice: on the embedded default (SQLite + in-memory
# channel layer), then on PostgreSQL + Redis. Locally the second run is
# skipped with a message when those servers are unreachable; in CI
# (CI=true) it is required.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PG_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cerveau}
REDIS=${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
export CERVEAU_INSECURE_DEFAULTS=1
# Every core works: pytest-xdist spreads the tests over one worker per core
# (module fixtures, a daphne or a browser, start once per worker that needs them). TEST_WORKERS=0 runs in
# this process only.
WORKERS=${TEST_WORKERS:-auto}
XDIST=(-n "$WORKERS")
if [ "$WORKERS" = "0" ]; then XDIST=(); fi

"$PY" manage.py compilemessages --ignore=.venv -v0

if [ "${1:-}" = "--quick" ]; then
  shift
  echo "== Quick tier: SQLite + in-memory, no browser, no daphne process, no fault scenario"
  exec env -u DATABASE_URL -u REDIS_URL "$PY" -m pytest "${XDIST[@]}" -m "not browser and not servers and not faults" "$@"
fi

reachable() {
  "$PY" - "$PG_URL" "$REDIS" <<'PY'
import sys, socket
from urllib.parse import urlparse
for url in sys.argv[1:]:
    u = urlparse(url)
    try:
        socket.create_connection((u.hostname, u.port), timeout=2).close()
    except OSError as exc:
        sys.exit(f"{u.scheme} at {u.hostname}:{u.port} unreachable: {exc}")
PY
}

backends=true
if ! why=$(reachable 2>&1); then
  if [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL and Redis are required in CI: $why" >&2
    exit 1
  fi
  backends=false
fi

# The fault scenarios (tests/test_faults.py) cut real servers for up to a
# minute at a time: mostly waiting, so they run beside run 1, in one process
# of their own on PostgreSQL + Redis (their own redis-server, a TCP proxy in
# front of their own test database). Arguments given to `make test` come
# after and may override -m.
faults_pid=""
faults_log=""
if $backends; then
  faults_log=$(mktemp -t cerveau-faults.XXXXXX)
  echo "== Fault scenarios (PostgreSQL + Redis): started beside run 1, reported at the end"
  DATABASE_URL="$PG_URL" REDIS_URL="$REDIS" "$PY" -m pytest -p no:xdist -m faults "$@" >"$faults_log" 2>&1 &
  faults_pid=$!
  trap '[ -n "$faults_pid" ] && kill "$faults_pid" 2>/dev/null; rm -f "$faults_log"' EXIT
fi

# The `production` scenarios load the shared counters of a real deployment:
# they run once, in run 2, against the production topology.
echo "== Test run 1/2: SQLite + in-memory channel layer (fault and production scenarios: PostgreSQL + Redis)"
env -u DATABASE_URL -u REDIS_URL "$PY" -m pytest "${XDIST[@]}" -m "not faults and not production" "$@"

if ! $backends; then
  echo "== Test run 2/2 SKIPPED: $why (start PostgreSQL and Redis to run it and the fault scenarios)"
  exit 0
fi

# Tests marked `once` (templates, docs, deploy checks, layout and accessibility
# in the browser, the benchmark's own embedded run) give the same answer on
# any backend: they ran in the first run.
echo "== Test run 2/2: PostgreSQL + Redis (channels-redis)"
DATABASE_URL="$PG_URL" REDIS_URL="$REDIS" "$PY" -m pytest "${XDIST[@]}" -m "not once and not faults" "$@"

echo "== Fault scenarios (PostgreSQL + Redis), run beside run 1:"
status=0
wait "$faults_pid" || status=$?
faults_pid=""
cat "$faults_log"
# 5: no test selected (arguments that leave out tests/test_faults.py).
if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
  echo "The fault scenarios failed (exit $status)" >&2
  exit "$status"
fi
