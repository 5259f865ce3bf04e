#!/usr/bin/env bash
# Checks the Dockerfile (and deploy/compose, deploy/systemd) as far as a Debian 12 machine without a Docker daemon
# can, by running what can run in a scratch directory:
#
#   1. parse     every instruction; ARG defaults substituted; stages and `COPY --from` names resolve
#   2. base      both stages are Debian bookworm (the Node binary copied from node:<major>-bookworm links against
#                bookworm's glibc and libstdc++), and <major> satisfies package.json "engines"
#   3. COPY      every build-context source exists and is not excluded by .dockerignore
#   4. RUN       every step parses with dash -n (Docker runs RUN through /bin/sh, which is dash on Debian)
#   5. apt       every `apt-get install` name exists in this machine's bookworm index (apt-cache show), the set
#                resolves (apt-get install -s, a simulation), and the runtime packages really contain the paths the
#                Dockerfile uses (their .debs are downloaded into the scratch dir and listed with dpkg-deb);
#                the createcluster.conf `sed` is run on the file from the downloaded postgresql-common
#   6. build     the builder stage's RUN steps are run for real in a scratch copy of its COPY sources (npm ci from the
#                local npm cache, tsc, prune); then every `COPY --from=build` source must exist in that tree, the
#                pruned tree (production dependencies only) must run `pgha version`, `pgha agent --help` and
#                `pgha router --help`, and the `ln -s` target of the pgha command must be a copied file
#   7. health    the HEALTHCHECK command is run against a local HTTP server answering 200, then 503, then nothing
#   8. deploy    deploy/compose: YAML parses, build context and mounted files exist, the agents' file loads with
#                each node's environment and the router's file loads (pgha's own config loaders); deploy/systemd:
#                `systemd-analyze verify` (ExecStart paths swapped for /bin/true: pgha is not installed here)
#
# What it cannot check here (a `docker build` and `docker compose up` in CI are the real test):
#   - pulling the base images, and what they hold (/usr/local/bin/node of node:20-bookworm is assumed; the image
#     build itself runs `pgha version` in the runtime stage, which fails if node or a module is missing there);
#   - package maintainer scripts inside the image (postgresql-common adopting the pre-created postgres user, not
#     creating the main cluster); the apt simulation runs against this host's dpkg state, not an empty image;
#   - USER/VOLUME ownership at run time, named-volume initialisation, networking between compose services;
#   - .dockerignore beyond whole top-level names; BuildKit-only syntax.
#
# Usage: bash scripts/check-dockerfile.sh [--quick]      (--quick skips step 6, the slowest: ~30 s)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
quick=0
[ "${1:-}" = "--quick" ] && quick=1

scratch=$(mktemp -d /tmp/pgha-dockercheck-XXXXXX)
health_pid=""
cleanup() {
  if [ -n "$health_pid" ]; then kill "$health_pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

failures=0
ok() { printf '  ok    %s\n' "$*"; }
bad() { printf '  FAIL  %s\n' "$*"; failures=$((failures + 1)); }
step() { printf '%s\n' "$*"; }

# ---- 1. parse: one line per instruction, TAB-separated: stage, keyword, flags JSON, arguments (ARGs substituted)
node - "$repo/Dockerfile" > "$scratch/instructions.tsv" <<'EOF'
const fs = require('fs');
const text = fs.readFileSync(process.argv[2], 'utf8');
const lines = [];
let cur = '';
for (const raw of text.split('\n')) {
  if (cur === '' && /^\s*#/.test(raw)) continue;
  if (/^\s*#/.test(raw)) continue; // comment inside a continued instruction
  if (/\\\s*$/.test(raw)) { cur += raw.replace(/\\\s*$/, ' '); continue; }
  cur += raw;
  if (cur.trim()) lines.push(cur.trim());
  cur = '';
}
const globalArgs = {};
const out = [];
let stage = '', stageArgs = {}, seenFrom = false;
const subst = (s, args) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a, b) => (args[a || b] !== undefined ? args[a || b] : m));
for (const line of lines) {
  const m = /^(\w+)\s+([\s\S]*)$/.exec(line);
  if (!m) { out.push(['-', 'INVALID', '{}', line]); continue; }
  const kw = m[1].toUpperCase();
  let rest = m[2];
  if (kw === 'ARG') {
    const [name, ...def] = rest.split('=');
    const value = def.length ? def.join('=') : (globalArgs[name.trim()]);
    if (!seenFrom) globalArgs[name.trim()] = value; else stageArgs[name.trim()] = value;
    continue;
  }
  if (kw === 'FROM') {
    seenFrom = true;
    stageArgs = {};
    const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(subst(rest, globalArgs));
    stage = f && f[2] ? f[2] : `stage${out.filter((o) => o[1] === 'FROM').length}`;
    out.push([stage, 'FROM', '{}', f ? f[1] : rest]);
    continue;
  }
  const flags = {};
  while (/^--\w[\w-]*=\S+\s/.test(rest)) {
    const fm = /^--(\w[\w-]*)=(\S+)\s+/.exec(rest);
    flags[fm[1]] = fm[2];
    rest = rest.slice(fm[0].length);
  }
  const args = { ...globalArgs, ...stageArgs };
  out.push([stage, kw, JSON.stringify(flags), subst(rest, args).replace(/\t/g, ' ')]);
}
for (const o of out) process.stdout.write(o.join('\t') + '\n');
EOF
step "1. parse"
known='FROM RUN COPY ADD ENV WORKDIR USER VOLUME EXPOSE STOPSIGNAL HEALTHCHECK ENTRYPOINT CMD LABEL SHELL ONBUILD'
stages=()
while IFS=$'\t' read -r stage kw flags args; do
  case " $known " in *" $kw "*) ;; *) bad "unknown instruction $kw: $args" ;; esac
  [ "$kw" = FROM ] && stages+=("$stage")
  if [ "$kw" = COPY ]; then
    from=$(node -e 'const f=JSON.parse(process.argv[1]);process.stdout.write(f.from||"")' "$flags")
    if [ -n "$from" ] && [[ ! " ${stages[*]} " == *" $from "* ]]; then bad "COPY --from=$from: no earlier stage named $from"; fi
  fi
done < "$scratch/instructions.tsv"
ok "$(wc -l < "$scratch/instructions.tsv") instructions in stages: ${stages[*]}"
grep -q $'\tSTOPSIGNAL\tSIGTERM$' <(cut -f1,2,4 "$scratch/instructions.tsv") && ok "STOPSIGNAL SIGTERM" || bad "no STOPSIGNAL SIGTERM"
grep -q $'\tHEALTHCHECK\t' "$scratch/instructions.tsv" && ok "HEALTHCHECK present" || bad "no HEALTHCHECK"
user=$(awk -F'\t' '$2=="USER"{u=$4} END{print u}' "$scratch/instructions.tsv")
if [ -n "$user" ] && [ "$user" != root ] && grep -qE "useradd .*[[:space:]]$user(;|\$| )" <(awk -F'\t' '$2=="RUN"{print $4}' "$scratch/instructions.tsv"); then
  ok "runs as non-root user $user, created by useradd"
else
  bad "final USER is '$user' (must be a non-root user created by useradd in a RUN)"
fi

# ---- 2. base images
step "2. base images"
engines=$(node -p "require('./package.json').engines.node")
while IFS=$'\t' read -r stage kw _ image; do
  [ "$kw" = FROM ] || continue
  case "$image" in
    *bookworm*) ok "$stage: $image is Debian 12 (bookworm)" ;;
    *) bad "$stage: $image is not a bookworm image (the copied node binary needs bookworm's libraries)" ;;
  esac
  if [[ "$image" =~ ^node:([0-9]+) ]]; then
    major=${BASH_REMATCH[1]}
    node -e "process.exit(${major} >= Number('${engines}'.replace(/[^0-9.]/g,'').split('.')[0]) ? 0 : 1)" \
      && ok "node major $major satisfies engines $engines" || bad "node major $major does not satisfy engines $engines"
  fi
done < "$scratch/instructions.tsv"

# ---- 3. COPY sources from the build context
step "3. COPY sources"
ignored=$(grep -vE '^\s*(#|$)' .dockerignore 2>/dev/null || true)
while IFS=$'\t' read -r stage kw flags args; do
  [ "$kw" = COPY ] || continue
  [[ "$flags" == *'"from"'* ]] && continue
  read -r -a parts <<< "$args"
  for src in "${parts[@]:0:${#parts[@]}-1}"; do
    top=${src%%/*}
    if [ ! -e "$src" ]; then bad "COPY $src: not in the build context"
    elif grep -qxF "$top" <<< "$ignored"; then bad "COPY $src: excluded by .dockerignore ($top)"
    else ok "COPY $src"; fi
  done
done < "$scratch/instructions.tsv"

# ---- 4. RUN syntax under dash
step "4. RUN steps parse under /bin/sh (dash)"
n=0
while IFS=$'\t' read -r stage kw _ args; do
  [ "$kw" = RUN ] || continue
  n=$((n + 1))
  if printf '%s\n' "$args" | dash -n 2>"$scratch/dash.err"; then ok "$stage RUN #$n"; else bad "$stage RUN #$n: $(cat "$scratch/dash.err")"; fi
done < "$scratch/instructions.tsv"

# ---- 5. apt packages: names, resolution, contents
step "5. apt packages (this machine's Debian 12 index)"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] && ok "host index is $PRETTY_NAME" || bad "host is ${PRETTY_NAME:-unknown}, not bookworm: apt checks are not meaningful"
pkgs=$(awk -F'\t' '$2=="RUN"{print $4}' "$scratch/instructions.tsv" | grep -oE 'apt-get install[^;&|]*' \
  | sed -E 's/apt-get install//; s/(^| )-[^ ]+//g; s/"//g' | tr ' ' '\n' | grep -v '^$' | sort -u)
for p in $pkgs; do
  if apt-cache show --no-all-versions "$p" >/dev/null 2>&1; then ok "package $p exists"; else bad "package $p is not in the index"; fi
done
# shellcheck disable=SC2086
if apt-get install -s -y --no-install-recommends $pkgs >"$scratch/apt-sim.log" 2>&1; then ok "apt-get install -s resolves: $(echo $pkgs)"
else bad "apt-get install -s fails: $(tail -3 "$scratch/apt-sim.log")"; fi
mkdir -p "$scratch/debs" && chmod 777 "$scratch/debs"
# shellcheck disable=SC2086
if (cd "$scratch/debs" && apt-get download $pkgs >/dev/null 2>"$scratch/apt-dl.log"); then
  for deb in "$scratch"/debs/*.deb; do dpkg-deb -c "$deb" | awk '{print substr($6,2)}' >> "$scratch/contents.txt"; done
  pgbin=$(grep -oE '/usr/lib/postgresql/[0-9]+/bin' <(awk -F'\t' '$2=="ENV"||$2=="RUN"{print $4}' "$scratch/instructions.tsv") | head -1)
  # The agent's required programs (src/config/bin-dir.ts) and pg_rewind; pg_basebackup comes with the client
  # package, a dependency, so look for it in the index instead.
  for prog in postgres initdb pg_ctl pg_controldata pg_rewind; do
    grep -qx "$pgbin/$prog" "$scratch/contents.txt" && ok "$pgbin/$prog is in the packages" || bad "$pgbin/$prog is in none of: $pkgs"
  done
  client="postgresql-client-${pgbin//[^0-9]/}"
  apt-cache depends "postgresql-${pgbin//[^0-9]/}" 2>/dev/null | grep -q "Depends: $client" \
    && ok "pg_basebackup: $client is a dependency of postgresql-${pgbin//[^0-9]/}" || bad "$client is not a dependency"
  grep -qx /usr/bin/tini "$scratch/contents.txt" && ok "/usr/bin/tini is in package tini" || bad "/usr/bin/tini not found"
  # Run the createcluster.conf edit on the real file from the package.
  deb=$(ls "$scratch"/debs/postgresql-common_*.deb 2>/dev/null | head -1)
  if [ -n "$deb" ]; then
    dpkg-deb -x "$deb" "$scratch/pgcommon"
    # postgresql-common's postinst installs /usr/share/postgresql-common/createcluster.conf as
    # /etc/postgresql-common/createcluster.conf (through ucf): the edit is run on that template.
    conf="$scratch/pgcommon/usr/share/postgresql-common/createcluster.conf"
    edit=$(awk -F'\t' '$2=="RUN"{print $4}' "$scratch/instructions.tsv" | grep -oE "sed -ri '[^']*' /etc/postgresql-common/createcluster.conf" | head -1)
    if [ -f "$conf" ] && [ -n "$edit" ]; then
      grep -qE '^#?[[:space:]]*create_main_cluster' "$conf" || bad "the packaged createcluster.conf has no create_main_cluster line"
      sh -c "${edit% *} '$conf'" && grep -qx 'create_main_cluster = false' "$conf" \
        && ok "createcluster.conf edit turns off the main cluster (run on the packaged file)" || bad "createcluster.conf edit does not work"
    else bad "createcluster.conf or its sed edit not found"; fi
  fi
else
  bad "apt-get download failed (no access to the Debian mirror?): $(tail -1 "$scratch/apt-dl.log")"
fi

# ---- 6. the builder stage, run for real
if [ "$quick" = 1 ]; then
  step "6. builder stage: skipped (--quick)"
else
  step "6. builder stage, run in $scratch/build"
  build="$scratch/build"
  mkdir -p "$build"
  workdir=$(awk -F'\t' '$1=="build" && $2=="WORKDIR"{print $4}' "$scratch/instructions.tsv")
  while IFS=$'\t' read -r stage kw flags args; do
    [ "$stage" = build ] || continue
    case "$kw" in
      COPY)
        read -r -a parts <<< "$args"
        dest=${parts[-1]}
        for src in "${parts[@]:0:${#parts[@]}-1}"; do
          if [[ "$dest" == */ ]]; then mkdir -p "$build/$dest"; cp -a "$src" "$build/$dest"; else mkdir -p "$(dirname "$build/$dest")"; cp -a "$src" "$build/$dest"; fi
        done ;;
      RUN)
        # npm from the local cache first (the registry only for what is missing); output kept for failures.
        if (cd "$build" && npm_config_prefer_offline=true npm_config_update_notifier=false sh -ec "$args") >"$scratch/run.log" 2>&1; then
          ok "RUN ${args:0:70}…"
        else
          bad "RUN ${args:0:70}… failed:"; tail -20 "$scratch/run.log"
        fi ;;
    esac
  done < "$scratch/instructions.tsv"
  while IFS=$'\t' read -r stage kw flags args; do
    [ "$kw" = COPY ] && [[ "$flags" == *'"from":"build"'* ]] || continue
    read -r -a parts <<< "$args"
    src=${parts[0]}
    case "$src" in
      "$workdir"/*) [ -e "$build/${src#"$workdir"/}" ] && ok "COPY --from=build $src exists in the built tree" || bad "COPY --from=build $src: missing from the built tree" ;;
      *) ok "COPY --from=build $src: from the base image, not checkable here" ;;
    esac
  done < "$scratch/instructions.tsv"
  [ ! -e "$build/node_modules/typescript" ] && ok "dev dependencies pruned" || bad "typescript still in node_modules after prune"
  for cmd in "version" "agent --help" "router --help"; do
    # shellcheck disable=SC2086
    if (cd "$scratch" && node "$build/bin/pgha.js" $cmd >"$scratch/pgha.out" 2>&1); then ok "pgha $cmd (production dependencies only)"
    else bad "pgha $cmd: $(head -5 "$scratch/pgha.out")"; fi
  done
  link=$(awk -F'\t' '$2=="RUN"{print $4}' "$scratch/instructions.tsv" | grep -oE 'ln -s [^ ;]+ /usr/local/bin/pgha' | awk '{print $3}')
  copied=0
  while IFS=$'\t' read -r stage kw flags args; do
    [ "$kw" = COPY ] && [[ "$flags" == *'"from":"build"'* ]] || continue
    read -r -a parts <<< "$args"
    src=${parts[0]}; dest=${parts[-1]}
    if [[ -n "$link" && "$link" == "$dest"/* && -f "$build/${src#"$workdir"/}/${link#"$dest"/}" ]]; then copied=1; fi
  done < "$scratch/instructions.tsv"
  [ "$copied" = 1 ] && ok "pgha command -> $link, a copied file" || bad "the pgha symlink target '$link' is not a copied file"
  entry=$(awk -F'\t' '$2=="ENTRYPOINT"{print $4}' "$scratch/instructions.tsv")
  node -e 'const e=JSON.parse(process.argv[1]);process.exit(e[e.length-1]==="pgha"?0:1)' "$entry" \
    && ok "ENTRYPOINT $entry ends in pgha" || bad "ENTRYPOINT $entry does not run pgha"
fi

# ---- 7. the HEALTHCHECK command against a local server
step "7. HEALTHCHECK command"
hc=$(awk -F'\t' '$2=="HEALTHCHECK"{print $4}' "$scratch/instructions.tsv" | sed -E 's/^(--[a-z-]+=[^ ]+ )*CMD //')
cat > "$scratch/health-server.js" <<'EOF'
const http = require('http');
let answers = [200, 503];
const server = http.createServer((req, res) => { res.statusCode = answers.length ? answers.shift() : 200; res.end(); });
server.listen(0, '127.0.0.1', () => { process.stdout.write(`${server.address().port}\n`); });
EOF
node "$scratch/health-server.js" > "$scratch/health.port" &
health_pid=$!
for _ in $(seq 1 50); do [ -s "$scratch/health.port" ] && break; sleep 0.1; done
port=$(cat "$scratch/health.port")
run_hc() { node -e 'const c=JSON.parse(process.argv[1]);require("child_process").execFileSync(c[0],c.slice(1),{stdio:"ignore",env:{...process.env,PGHA_HEALTH_URL:process.argv[2]}})' "$hc" "$1"; }
run_hc "http://127.0.0.1:$port/liveness" && ok "exit 0 on 200" || bad "healthcheck fails on 200"
run_hc "http://127.0.0.1:$port/liveness" 2>/dev/null && bad "healthcheck passes on 503" || ok "exit 1 on 503"
kill "$health_pid" 2>/dev/null || true; wait "$health_pid" 2>/dev/null || true; health_pid=""
run_hc "http://127.0.0.1:$port/liveness" 2>/dev/null && bad "healthcheck passes with nothing listening" || ok "exit 1 with nothing listening"

# ---- 8. deploy/compose and deploy/systemd
step "8. deploy/"
if [ -f dist/src/config/load.js ]; then
  if node - >"$scratch/compose.log" 2>&1 <<'EOF'
const fs = require('fs'), path = require('path'), YAML = require('yaml');
const { loadAgentConfig } = require('./dist/src/config/load.js');
const { loadRouterConfig } = require('./dist/src/config/router.js');
const dir = 'deploy/compose';
const compose = YAML.parse(fs.readFileSync(path.join(dir, 'docker-compose.yml'), 'utf8'), { merge: true });
const problems = [];
for (const [name, svc] of Object.entries(compose.services)) {
  if (svc.build) {
    const ctx = path.join(dir, svc.build.context);
    if (!fs.existsSync(path.join(ctx, svc.build.dockerfile || 'Dockerfile'))) problems.push(`${name}: no Dockerfile in ${ctx}`);
  }
  for (const v of svc.volumes || []) {
    const host = String(v).split(':')[0];
    if (host.startsWith('.') && !fs.existsSync(path.join(dir, host))) problems.push(`${name}: mounts missing ${host}`);
  }
  const cmd = svc.command || [];
  if (cmd[0] === 'agent') {
    const env = { ...svc.environment };
    for (const k of Object.keys(env)) env[k] = String(env[k]).replace(/\$\{[A-Z_]+:-([^}]*)\}/, '$1');
    const file = (svc.volumes || []).map(String).find((v) => v.endsWith(`:${cmd[2]}:ro`)).split(':')[0];
    const c = loadAgentConfig(path.join(dir, file), env);
    if (c.name !== name) problems.push(`${name}: loads as member ${c.name}`);
    console.log(`${name}: agent config loads (member ${c.name}, data_dir ${c.postgresql.dataDir})`);
  }
  if (cmd[0] === 'router') {
    const file = (svc.volumes || []).map(String).find((v) => v.endsWith(`:${cmd[2]}:ro`)).split(':')[0];
    loadRouterConfig(YAML.parse(fs.readFileSync(path.join(dir, file), 'utf8')), file);
    console.log(`${name}: router config loads`);
  }
}
if (problems.length) { console.error(problems.join('\n')); process.exit(1); }
EOF
  then while read -r l; do ok "compose $l"; done < "$scratch/compose.log"
  else bad "compose: $(cat "$scratch/compose.log")"; fi
else
  bad "dist/ is not built: run npm run build for the compose checks"
fi
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$scratch/units"
  for unit in deploy/systemd/*.service; do
    sed -E -e 's#^(ExecStart|ExecReload)=.*#\1=/bin/true#' -e 's#^EnvironmentFile=([^-])#EnvironmentFile=-\1#' "$unit" > "$scratch/units/$(basename "$unit")"
    out=$(systemd-analyze verify --man=no "$scratch/units/$(basename "$unit")" 2>&1 || true)
    # verify exits 0 on unknown keys and bad values, so any output is a failure. Users must exist to be checked
    # only at run time; messages about them are expected where the user is not created here.
    out=$(grep -vE "Failed to resolve (user|group)|^$" <<< "$out" || true)
    [ -z "$out" ] && ok "systemd-analyze verify $unit" || bad "$unit: $out"
  done
else
  printf '  skip  systemd-analyze not installed\n'
fi

if [ "$failures" -gt 0 ]; then
  printf '%d check(s) failed\n' "$failures"
  exit 1
fi
printf 'all checks passed (see the header for what this script cannot check)\n'
