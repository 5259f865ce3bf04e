#!/usr/bin/env bash
# Switchover / failover benchmark in one command: build, then run bench/switchover.ts (a 3-node pgha cluster, a
# router, writers through it; a planned switchover, then a kill -9 of the leader). Arguments go through:
# --clients N --pre S --post S --only switchover|kill --sync --keep. See bench/README.md.
# With --ledger: bench/switchover-ledger.ts instead (issue 13's target: 32 clients on one connection each, pooled and
# passthrough rows alternately, the write gap against < 1 s and the timeline of each switchover; --rounds N --clients N).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p . >/dev/null || true   # others' files may not compile mid-work; the dist/bench file is what we need
script=dist/bench/switchover.js
[ "${1:-}" = "--ledger" ] && script=dist/bench/switchover-ledger.js
test -f "$script" || { echo "$script missing: the build failed" >&2; exit 1; }
exec node "$script" "$@"
