# syntax=docker/dockerfile:1
# pgha: one image for both programs. The command chooses:
#   docker run … pgha:dev agent -c /etc/pgha/pgha.yml      (the default)
#   docker run … -e PGHA_HEALTH_URL=http://127.0.0.1:9187/health pgha:dev router -c /etc/pgha/router.yml
# deploy/compose/docker-compose.yml runs etcd, three agents and a router from it.
#
# This file cannot be built on the development machine (no Docker daemon); `bash scripts/check-dockerfile.sh` checks
# what can be checked without one (package names, COPY sources, shell syntax, the builder stage run for real in a
# scratch directory) and lists what it cannot. Every RUN step is plain Debian 12 shell.

ARG NODE_MAJOR=20
ARG PG_MAJOR=15

# ---- build: compile the TypeScript, keep production dependencies only ---------------------------------------------
FROM node:${NODE_MAJOR}-bookworm AS build
WORKDIR /build
# Dependencies first, so the layer is reused until the lockfile changes. --ignore-scripts: `prepare` (the build)
# needs the sources, copied below; no runtime dependency needs an install script.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/prune-dist.mjs ./scripts/
COPY src ./src
RUN npx tsc -p tsconfig.build.json \
 && node scripts/prune-dist.mjs \
 && find dist -name '*.map' -delete \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund
COPY bin ./bin
COPY config ./config

# ---- runtime: Debian 12 slim + the Node 20 binary + PostgreSQL 15 server binaries from Debian ----------------------
FROM debian:bookworm-slim AS runtime
ARG PG_MAJOR
# A fixed uid/gid for postgres (as the official postgres image), so bind-mounted data directories can be chowned
# ahead of time. Created before the packages so postgresql-common adopts it instead of picking a free system uid.
ARG PG_UID=999
ARG PG_GID=999
RUN set -eux; \
    groupadd --system --gid "${PG_GID}" postgres; \
    useradd --system --uid "${PG_UID}" --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres; \
    install -d -o postgres -g postgres -m 0755 /var/lib/postgresql
# postgresql-common first, told not to create the "main" cluster that Debian's postgresql-15 postinst would
# otherwise initdb into /var/lib/postgresql/15/main: the agent bootstraps or clones the data directory itself.
# tini is PID 1 (see ENTRYPOINT); ca-certificates for etcd/REST TLS against public CAs.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends postgresql-common tini ca-certificates; \
    sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*$/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf; \
    grep -qx 'create_main_cluster = false' /etc/postgresql-common/createcluster.conf; \
    apt-get install -y --no-install-recommends "postgresql-${PG_MAJOR}"; \
    rm -rf /var/lib/apt/lists/*; \
    test -x "/usr/lib/postgresql/${PG_MAJOR}/bin/postgres"; \
    test ! -e "/var/lib/postgresql/${PG_MAJOR}/main"

# Node 20 from the builder image: the same Debian release (bookworm, glibc 2.36), so the binary's libraries
# (libc, libstdc++6, libgcc-s1, all in bookworm-slim) match. Debian 12's own nodejs package is 18.
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=build /build/package.json /opt/pgha/package.json
COPY --from=build /build/node_modules /opt/pgha/node_modules
COPY --from=build /build/dist/src /opt/pgha/dist/src
COPY --from=build /build/bin /opt/pgha/bin
COPY --from=build /build/config /opt/pgha/config
# The pgha command; a smoke test that the runtime image can start it at all (node runs, modules resolve).
RUN set -eux; \
    ln -s /opt/pgha/bin/pgha.js /usr/local/bin/pgha; \
    chmod 0755 /opt/pgha/bin/pgha.js; \
    pgha version; \
    install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data; \
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql; \
    install -d -m 0755 /etc/pgha

ENV LANG=C.UTF-8 \
    PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:$PATH \
    NODE_ENV=production \
    PGHA_HEALTH_URL=http://127.0.0.1:8008/liveness

# PostgreSQL refuses to run as root, and so does the agent; the router needs no privilege either.
USER postgres
WORKDIR /var/lib/postgresql
# Put data_dir under here (e.g. /var/lib/postgresql/data/pgdata): the agent creates it, owned by postgres, 0700.
VOLUME ["/var/lib/postgresql/data"]
# PostgreSQL, the agent's REST API, the router's write and read ports and its metrics address.
EXPOSE 5432 8008 5000 5001 9187

# Docker sends this to PID 1 (tini), which passes it to pgha only: the agent then stops PostgreSQL itself (fast
# shutdown, releasing the leader key so a replica takes over at once), the router drains. Give it time to do so
# (docker stop -t 90 / compose stop_grace_period): after the grace period Docker kills everything.
STOPSIGNAL SIGTERM

# Agent: GET /liveness on the REST API (200 while the HA loop runs, as Patroni). Router: set PGHA_HEALTH_URL to its
# metrics address's /health. No curl in the slim image: Node's fetch does it. With restapi.certfile set the URL is
# https:// and the agent's certificate must verify against the image's CA store (or NODE_EXTRA_CA_CERTS).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PGHA_HEALTH_URL,{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# tini as PID 1: it reaps orphans (node as PID 1 would leave zombies of anything re-parented to it) and forwards
# SIGTERM/SIGINT to pgha alone (not -g: the agent stops PostgreSQL itself; signalling the postmaster too would turn
# a clean, leader-releasing shutdown into a race). When pgha exits, the container ends and the kernel kills what
# is left, so PostgreSQL never outlives its agent here: no primary runs without the agent that fences it.
ENTRYPOINT ["/usr/bin/tini", "--", "pgha"]
CMD ["agent", "-c", "/etc/pgha/pgha.yml"]
