#!/usr/bin/env bash
# Issue 5's target, outside CI: every scenario N times in a row (default 20), with the same invariants as the CI
# subset, against one cluster per set of needs (fill-leader-disk, lose-etcd-member and cut-replica-from-leader each
# get a cluster of their own: tmpfs disks, a 3-member etcd, relays in front of postgres); the per-scenario report
# lands in test-output/scenario/report.md. Scenario names: README.md, "Scenarios", or test/scenario/support/scenarios.ts.
#   bash scripts/scenario-soak.sh [RUNS] [scenario,scenario,…|all|random:SEED,…]
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
PGHA_SCENARIO_RUNS="${1:-20}" PGHA_SCENARIOS="${2:-all}" node --test --test-reporter=spec dist/test/scenario/faults.test.js
