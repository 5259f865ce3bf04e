#!/usr/bin/env bash
# Issue 14 item 3: the fast profile's soak (docs/fast-profile.md). A 3-node cluster with ttl 5 / loop_wait 1 /
# retry_timeout 2 in synchronous mode, a router, pgbench and a write ledger through it, and etcd frozen by SIGSTOP
# (of the etcd process the run started, by its PID) for 1-3 s at random intervals. Prints stalls, leader changes,
# false failovers, pgbench errors and the longest write gap; exits 1 on a false failover or a lost write.
#   bash scripts/fast-soak.sh [MINUTES=60] [SEED=1]
# Env: FAST_SOAK_STALL_MS=1000-3000, FAST_SOAK_GAP_S=10-40, FAST_SOAK_RATE=200 (pgbench -R).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist && npx tsc -p tsconfig.json
exec node dist/bench/fast-soak.js "${1:-60}" "${2:-1}"
