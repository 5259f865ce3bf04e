#!/usr/bin/env bash
# Installs what pgha needs on Debian 12, only what is missing: PostgreSQL 15 server, etcd (server + client),
# openssl (TLS tests), pgBackRest (replica and bootstrap methods from backups), HAProxy and PgBouncer (the router benchmark's anchors), Patroni 3.0.2 (a test peer: patronictl must read pgha clusters), Chromium (the status
# page test drives it headless through playwright-core), then npm packages and the TypeScript build. Safe to run
# again.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/lib/postgresql/15/bin/pg_ctl ] || missing+=(postgresql-15)
command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v patronictl >/dev/null 2>&1 || missing+=(patroni)
command -v pgbench >/dev/null 2>&1 || missing+=(postgresql-contrib)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pgbackrest >/dev/null 2>&1 || missing+=(pgbackrest)
# The anchors bench/router.sh compares the router with (not needed by the tests).
[ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
# Python drivers the pooling tests connect with (psycopg; asyncpg sends its CancelRequest inside TLS).
/usr/bin/python3 -c 'import psycopg' 2>/dev/null || missing+=(python3-psycopg)
/usr/bin/python3 -c 'import asyncpg' 2>/dev/null || missing+=(python3-asyncpg)
# pgJDBC and the JDK that compiles the driver test's small Java program (pool-drivers.test.ts).
[ -f /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
# Go and pgx v4, built offline in GOPATH mode by the same test.
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/jackc/pgx/v4 ] || missing+=(golang-github-jackc-pgx-v4-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # policy-rc.d keeps the packages' own services (a postgres on 5432, an etcd on 2379) from starting.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx tsc -p tsconfig.json
