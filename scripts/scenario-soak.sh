#!/usr/bin/env bash
# Issue 5's target, outside CI: every scenario N times in a row (default 20) against one cluster, with the same
# invariants as the CI subset; the per-scenario report lands in test-output/scenario/report.md.
#   bash scripts/scenario-soak.sh [RUNS] [scenario,scenario,…|all|random:SEED,…]
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
PGHA_SCENARIO_RUNS="${1:-20}" PGHA_SCENARIOS="${2:-all}" node --test --test-reporter=spec dist/test/scenario/faults.test.js
