#!/usr/bin/env bash
# Switchover / failover benchmark in one command: build, then run bench/switchover.ts (a 3-node pgha cluster, a
# router, writers through it; a planned switchover, then a kill -9 of the leader). Arguments go through:
# --clients N --pre S --post S --only switchover|kill --sync --keep. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p . >/dev/null || true   # others' files may not compile mid-work; dist/bench/switchover.js is what we need
test -f dist/bench/switchover.js || { echo "dist/bench/switchover.js missing: the build failed" >&2; exit 1; }
exec node dist/bench/switchover.js "$@"
