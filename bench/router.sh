#!/usr/bin/env bash
# Router benchmark in one command: build, raise the open-file limit (10,000 idle connections need ~40,000 fds
# across the bench and the router), run bench/router.ts. Arguments go through: --duration S --rounds N
# --clients 8,32 --protocol simple,prepared --idle N --only router,haproxy,pgbouncer,router-txn,pgbouncer-txn
# --pool-size N --workloads select-only,tpcb-like,select-only-C --txn-workers N --quick. See bench/README.md.
set -euo pipefail
export BENCH_COMMAND="$0${*:+ $*}"
cd "$(dirname "$0")/.."
npx tsc -p . >/dev/null || true   # others' files may not compile mid-work; dist/bench/router.js is what we need
test -f dist/bench/router.js || { echo "dist/bench/router.js missing: the build failed" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec node dist/bench/router.js "$@"
