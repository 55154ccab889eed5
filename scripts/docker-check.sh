#!/usr/bin/env bash
# Builds the product image and runs docker-compose.yml the way an operator would, then proves from the
# host what the README's Docker section promises. Not part of CI (needs a Docker engine and minutes).
#
#   sudo scripts/docker-check.sh
#
# 1. Engine: uses the running one, or starts `dockerd` (as root) and stops it again at the end.
# 2. Base images: the Dockerfile's `node:` and the compose file's `redis:` image are used as they are, or
#    pulled; where no registry answers, stand-ins are built: a Debian bookworm root from debootstrap
#    (cached under $DOCKER_CHECK_CACHE) with this machine's node and npm and a `node` user (uid 1000), and
#    the same base with Debian's redis-server.
# 3. Product image: BuildKit build; the host's CA bundle reaches `npm ci` as a build secret only.
# 4. Refusal: a chat token without a GPU backend stops `up` at the preflight, and no role starts.
# 5. First try: no .env, nothing set: the bots run headless, the worker on its built-in simulator.
# 6. Run: no .env and HTTP_HOST=127.0.0.1 in the environment (both former traps), the product's own
#    simulator as the GPU backend: /healthz 200 on the published port, one /imagine through the
#    containers gives a PNG on the host, a waiting job survives a Redis restart (AOF) and then runs,
#    no role restarted, and `docker-compose stop` ends each service within its grace period.
# It stops everything it started (compose down -v; dockerd if it started it) and prints a summary.
#
# Environment: DOCKER_CHECK_REF (a commit: build and run that commit's files instead of the work tree,
# e.g. HEAD while work in progress does not compile), DOCKER (client; default: the first docker on the
# PATH that builds with BuildKit), COMPOSE (default docker-compose if present, else
# "docker compose"), DOCKER_CHECK_CACHE (default /var/cache/comfy-chat-bot-docker), DEBIAN_MIRROR
# (default: the first Debian mirror in /etc/apt/sources.list*), CA_BUNDLE
# (default /etc/ssl/certs/ca-certificates.crt), PUBLISHED_HTTP_PORT (default: a free port).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# A client that builds with BuildKit: the buildx plugin, or the builder built into clients before 23.
buildkit_client() {
  "$1" buildx version >/dev/null 2>&1 && return
  local v
  v=$("$1" version -f '{{.Client.Version}}' 2>/dev/null || true)
  [ "${v%%.*}" -lt 23 ] 2>/dev/null
}
if [ -z "${DOCKER:-}" ]; then
  for c in $(which -a docker 2>/dev/null | awk '!seen[$0]++'); do
    if buildkit_client "$c"; then DOCKER=$c && break; fi
  done
  DOCKER=${DOCKER:-docker}
fi
if [ -n "${COMPOSE:-}" ]; then
  read -r -a COMPOSE_CMD <<<"$COMPOSE"
elif command -v docker-compose >/dev/null; then
  COMPOSE_CMD=(docker-compose)
else
  COMPOSE_CMD=("$DOCKER" compose)
fi
CACHE=${DOCKER_CHECK_CACHE:-/var/cache/comfy-chat-bot-docker}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
PROJECT=ccbcheck
IMAGE=comfy-chat-bot
WORK=$(mktemp -d /tmp/docker-check.XXXXXX)
DOCKERD_PID=
PROJECT_UP=0
SUMMARY=()
if [ -n "${DOCKER_CHECK_REF:-}" ]; then
  mkdir "$WORK/tree"
  git -C "$ROOT" archive "$DOCKER_CHECK_REF" | tar -x -C "$WORK/tree"
  cd "$WORK/tree"
  SUMMARY+=("files: commit $(git -C "$ROOT" rev-parse --short "$DOCKER_CHECK_REF") ($DOCKER_CHECK_REF)")
else
  cd "$ROOT"
  SUMMARY+=("files: work tree $ROOT")
fi

say() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
note() {
  SUMMARY+=("$*")
  say "$*"
}
fail() {
  say "FAILED: $*"
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

cleanup() {
  local code=$?
  set +e
  if [ "$PROJECT_UP" = 1 ]; then
    say "cleanup: compose down -v"
    compose down -v --remove-orphans >"$WORK/down.log" 2>&1 || cat "$WORK/down.log"
  fi
  if [ -n "$DOCKERD_PID" ]; then
    say "cleanup: stopping the dockerd this script started (pid $DOCKERD_PID)"
    kill -TERM "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
  fi
  cd /
  rm -rf "$WORK"
  echo
  echo "================ docker-check summary ================"
  printf '  %s\n' "${SUMMARY[@]}"
  if [ "$code" = 0 ]; then echo "  RESULT: PASS"; else echo "  RESULT: FAIL (exit $code)"; fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Compose sees only what this script gives it: no .env of this checkout (an empty env file instead) and
# no chat token from the caller's shell.
: >"$WORK/empty.env"
COMPOSE_VARS=()
compose() {
  env -i PATH="$PATH" HOME="${HOME:-/root}" ${DOCKER_HOST:+DOCKER_HOST="$DOCKER_HOST"} \
    "${COMPOSE_VARS[@]}" "${COMPOSE_CMD[@]}" --env-file "$WORK/empty.env" -p "$PROJECT" \
    -f docker-compose.yml -f "$WORK/check.override.yml" "$@"
}
container_of() { compose ps -q "$1" 2>/dev/null | head -1; }
health_of() { "$DOCKER" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$1"; }
redis_cli() { compose exec -T redis redis-cli "$@" | tr -d '\r'; }

# ---- 1. engine ----
if ! "$DOCKER" info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || fail "no Docker engine answers and dockerd is not installed (apt-get install docker.io)"
  [ "$(id -u)" = 0 ] || fail "no Docker engine answers; run as root so this script can start dockerd"
  say "starting dockerd (log: $WORK/dockerd.log)"
  setsid dockerd >"$WORK/dockerd.log" 2>&1 </dev/null &
  DOCKERD_PID=$!
  for _ in $(seq 1 150); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.2; done
  "$DOCKER" info >/dev/null 2>&1 || fail "dockerd did not come up: $(tail -5 "$WORK/dockerd.log")"
fi
note "engine: $("$DOCKER" version -f 'server {{.Server.Version}}, client {{.Client.Version}}'); compose: $(${COMPOSE_CMD[@]} version --short 2>/dev/null || echo "${COMPOSE_CMD[*]}")"

# ---- 2. base images ----
NODE_BASE=$(awk '/^FROM /{print $2; exit}' Dockerfile)
REDIS_BASE=$(awk '$1 == "image:" && $2 ~ /^redis:/ {print $2; exit}' docker-compose.yml)
STANDIN_ROOT=comfy-chat-bot-standin/bookworm:minbase

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
pulled() { timeout 60 "$DOCKER" pull -q "$1" >/dev/null 2>&1; }

standin_root() {
  have_image "$STANDIN_ROOT" && return
  local tar="$CACHE/bookworm-minbase.tar"
  if [ ! -s "$tar" ]; then
    command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
    local mirror=${DEBIAN_MIRROR:-$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -1 | tr -d ' ')}
    mirror=${mirror:-http://deb.debian.org/debian}
    say "debootstrap bookworm (minbase) from $mirror into $CACHE"
    mkdir -p "$CACHE"
    rm -rf "$CACHE/rootfs.tmp"
    debootstrap --variant=minbase bookworm "$CACHE/rootfs.tmp" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
      fail "debootstrap failed: $(tail -5 "$WORK/debootstrap.log")"
    tar -C "$CACHE/rootfs.tmp" -c . >"$tar.tmp" && mv "$tar.tmp" "$tar"
    rm -rf "$CACHE/rootfs.tmp"
  fi
  "$DOCKER" import "$tar" "$STANDIN_ROOT" >/dev/null
}

standin_node() {
  local prefix ctx="$WORK/node-standin"
  prefix=$(cd "$(dirname "$(readlink -f "$(command -v node)")")/.." && pwd)
  [ -d "$prefix/lib/node_modules/npm" ] || fail "npm not found under $prefix/lib/node_modules"
  mkdir -p "$ctx"
  cp "$prefix/bin/node" "$ctx/node"
  cp -a "$prefix/lib/node_modules/npm" "$ctx/npm"
  cat >"$ctx/Dockerfile" <<EOF
FROM $STANDIN_ROOT
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
LABEL org.opencontainers.image.description="stand-in for $NODE_BASE built by scripts/docker-check.sh"
CMD ["node"]
EOF
  DOCKER_BUILDKIT=1 "$DOCKER" build -q -t "$NODE_BASE" "$ctx" >"$WORK/node-standin.log" 2>&1 ||
    fail "node stand-in build failed: $(tail -20 "$WORK/node-standin.log")"
}

standin_redis() {
  local ctx="$WORK/redis-standin"
  mkdir -p "$ctx"
  # As the official image's entrypoint does: without a config file, protected mode would refuse every
  # client from another container.
  cat >"$ctx/entrypoint.sh" <<'EOF'
#!/bin/sh
case "$1" in redis-server) case "$2" in *.conf) ;; *) shift; set -- redis-server --protected-mode no "$@" ;; esac ;; esac
exec "$@"
EOF
  chmod 0755 "$ctx/entrypoint.sh"
  cat >"$ctx/Dockerfile" <<EOF
FROM $STANDIN_ROOT
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \\
 && rm -rf /var/lib/apt/lists/* && mkdir /data && chown redis:redis /data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
USER redis
EXPOSE 6379
LABEL org.opencontainers.image.description="stand-in for $REDIS_BASE built by scripts/docker-check.sh"
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
EOF
  DOCKER_BUILDKIT=1 "$DOCKER" build -q -t "$REDIS_BASE" "$ctx" >"$WORK/redis-standin.log" 2>&1 ||
    fail "redis stand-in build failed: $(tail -20 "$WORK/redis-standin.log")"
}

for base in "$NODE_BASE" "$REDIS_BASE"; do
  if have_image "$base"; then
    how="present"
    "$DOCKER" image inspect -f '{{index .Config.Labels "org.opencontainers.image.description"}}' "$base" | grep -q stand-in && how="present (stand-in)"
  elif pulled "$base"; then
    how="pulled"
  else
    t=$(now)
    standin_root
    if [ "$base" = "$NODE_BASE" ]; then standin_node; else standin_redis; fi
    how="stand-in built in $(since "$t") s (no registry answered)"
  fi
  note "base $base: $how"
done

# ---- 3. product image ----
BUILD_ARGS=(--secret "id=ca,src=$CA_BUNDLE")
if command -v npm >/dev/null; then
  registry=$(npm config get registry)
  [ "$registry" = "https://registry.npmjs.org/" ] || BUILD_ARGS+=(--build-arg "NPM_REGISTRY=$registry")
fi
t=$(now)
DOCKER_BUILDKIT=1 "$DOCKER" build "${BUILD_ARGS[@]}" -t "$IMAGE" . >"$WORK/build.log" 2>&1 ||
  fail "image build failed: $(tail -30 "$WORK/build.log")"
size=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")
note "image $IMAGE: built in $(since "$t") s, $((size / 1000000)) MB (its base $NODE_BASE: $(($("$DOCKER" image inspect -f '{{.Size}}' "$NODE_BASE") / 1000000)) MB)"
user=$("$DOCKER" run --rm --entrypoint sh "$IMAGE" -c 'id -un; test ! -e /run/secrets/ca && ! grep -rqs BEGIN /app/.npmrc /root/.npmrc && echo no-ca')
[ "$(echo "$user" | head -1)" = node ] || fail "the image runs as '$(echo "$user" | head -1)', not node"
echo "$user" | grep -q no-ca || fail "the CA bundle is left in the image"
note "image runs as user node (uid $("$DOCKER" run --rm "$IMAGE" id -u)); no CA bundle left in it"

# ---- 4. a chat token without a GPU backend is refused before any role starts ----
cat >"$WORK/check.override.yml" <<'EOF'
# The product's own simulator as the GPU backend, reachable as http://simulator:8188 on the compose network.
services:
  simulator:
    image: comfy-chat-bot
    init: true
    command: ['node', 'dist/cli/simulator.js', '--host', '0.0.0.0', '--port', '8188', '--step-ms', '200']
  worker:
    depends_on:
      simulator:
        condition: service_started
EOF
PORT=${PUBLISHED_HTTP_PORT:-$(node -e 's=require("net").createServer().listen(0,()=>{console.log(s.address().port);s.close()})')}
PROJECT_UP=1
COMPOSE_VARS=(PUBLISHED_HTTP_PORT="$PORT" TELEGRAM_BOT_TOKEN=123456:not-a-real-token)
if compose up -d >"$WORK/refused.log" 2>&1; then
  fail "up succeeded with a chat token and no backend"
fi
running=$(compose ps --services --filter status=running 2>/dev/null | tr '\n' ' ')
compose logs --no-color preflight >"$WORK/preflight.log" 2>&1
grep -q 'COMFYUI_URLS' "$WORK/preflight.log" || fail "the preflight did not name COMFYUI_URLS: $(cat "$WORK/preflight.log")"
case " $running " in *" bots "* | *" worker "*) fail "a role started despite the refusal: $running" ;; esac
note "chat token without backend: up refused (\"$(grep -m1 -o 'ERROR: for bots.*' "$WORK/refused.log")\"); running: ${running:-none}"
say "  preflight said: $(grep -o 'A chat token.*' "$WORK/preflight.log" | head -1 | cut -c1-150)"
compose down -v >/dev/null 2>&1

# ---- 5. an operator's first try: no .env, nothing set ----
# Waits until both roles report healthy; prints seconds since $1.
wait_healthy() {
  for _ in $(seq 1 900); do
    if [ "$(health_of "$(container_of bots)")" = healthy ] && [ "$(health_of "$(container_of worker)")" = healthy ]; then
      since "$1"
      return
    fi
    sleep 0.1
  done
  say "FAILED: bots/worker never became healthy: bots $(health_of "$(container_of bots)"), worker $(health_of "$(container_of worker)")" >&2
  exit 1
}
COMPOSE_VARS=(PUBLISHED_HTTP_PORT="$PORT")
t=$(now)
compose up -d >"$WORK/first.log" 2>&1 || fail "compose up with nothing set failed: $(tail -20 "$WORK/first.log")"
first_healthy=$(wait_healthy "$t")
WHEALTH=$(compose exec -T worker node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>r.text()).then(t=>console.log(t))")
echo "$WHEALTH" | grep -q '"backend:simulator":{"ok":true' || fail "the worker has no healthy built-in simulator: $WHEALTH"
# grep reads the whole log (not -q): with pipefail, a grep -q that stops at the first match leaves the
# writer a broken pipe, and the check failed although the line was there.
compose logs --no-color bots 2>&1 | grep 'running headless' >/dev/null || fail "the bots did not say they run headless"
note "first try (no .env, nothing set): bots headless, worker on its built-in simulator, both healthy ${first_healthy} s after up"
compose down -v >/dev/null 2>&1

# ---- 6. headless run, no .env, HTTP_HOST=127.0.0.1 in the environment, simulator as backend ----
COMPOSE_VARS=(PUBLISHED_HTTP_PORT="$PORT" HTTP_HOST=127.0.0.1 COMFYUI_URLS=sim=http://simulator:8188)
t=$(now)
compose up -d >"$WORK/up.log" 2>&1 || fail "compose up failed: $(tail -20 "$WORK/up.log")"
up_returned=$(since "$t")
healthz_at=
for _ in $(seq 1 600); do
  code=$(curl -s -o "$WORK/healthz.json" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz" || true)
  if [ "$code" = 200 ]; then healthz_at=$(since "$t"); break; fi
  sleep 0.1
done
[ -n "$healthz_at" ] || fail "/healthz on port $PORT never answered 200 (last: $code)"
BOTS=$(container_of bots)
WORKER=$(container_of worker)
healthy_at=$(wait_healthy "$t")
note "up -d returned after ${up_returned} s (waits for healthy Redis and the preflight); /healthz 200 from the host after ${healthz_at} s; bots and worker healthy after ${healthy_at} s"
note "GET http://127.0.0.1:$PORT/healthz -> 200 $(head -c 160 "$WORK/healthz.json")"
WHEALTH=$(compose exec -T worker node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>r.text()).then(t=>console.log(t))")
echo "$WHEALTH" | grep -q '"backend:sim":{"ok":true' || fail "the worker does not see the simulator as a healthy backend: $WHEALTH"
note "worker /healthz: backend sim (http://simulator:8188) healthy"

# One job through the containers: the console chat (piped stdin) runs in a bots container, the worker
# container generates on the simulator, the console writes the PNG into a host folder.
mkdir -p "$WORK/out" && chmod 0777 "$WORK/out"
t=$(now)
echo '/imagine a red fox in snow --seed 7' |
  compose run --rm -T --no-deps --name "${PROJECT}_console" -e ROLE=bots -e HTTP_PORT=0 \
    -v "$WORK/out:/app/outputs" bots >"$WORK/console.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 1 1800); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$RUN_PID" 2>/dev/null; then
  "$DOCKER" rm -f "${PROJECT}_console" >/dev/null 2>&1
  fail "the console run did not end within 180 s: $(tail -20 "$WORK/console.log")"
fi
wait "$RUN_PID" || fail "the console run failed: $(tail -20 "$WORK/console.log")"
png=$(ls "$WORK"/out/*.png 2>/dev/null | head -1)
[ -n "$png" ] || fail "no PNG came out: $(tail -20 "$WORK/console.log")"
magic=$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')
[ "$magic" = 89504e470d0a1a0a ] || fail "$png is not a PNG (magic $magic)"
dims=$(node -e 'const b=require("fs").readFileSync(process.argv[1]);console.log(b.readUInt32BE(16)+"x"+b.readUInt32BE(20))' "$png")
note "one /imagine through the containers in $(since "$t") s: $(basename "$png"), PNG ${dims}, $(stat -c %s "$png") bytes"

# A waiting job survives a Redis restart (append-only file), then runs.
waiting() { echo $(($(redis_cli LLEN ccb:generate:wait) + $(redis_cli ZCARD ccb:generate:prioritized))); }
compose stop worker >/dev/null 2>&1
echo '/imagine a lighthouse at dusk --seed 8' |
  compose run --rm -T --no-deps --name "${PROJECT}_waiting" -e ROLE=bots -e HTTP_PORT=0 bots >"$WORK/waiting.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 1 300); do [ "$(waiting)" -ge 1 ] && break; sleep 0.1; done
[ "$(waiting)" -ge 1 ] || fail "the second job never reached the queue: $(tail -10 "$WORK/waiting.log")"
"$DOCKER" rm -f "${PROJECT}_waiting" >/dev/null 2>&1 || true
wait "$RUN_PID" 2>/dev/null || true
before=$(waiting)
completed_before=$(redis_cli ZCARD ccb:generate:completed)
compose restart redis >/dev/null 2>&1
for _ in $(seq 1 150); do [ "$(health_of "$(container_of redis)")" = healthy ] && break; sleep 0.2; done
after=$(waiting)
[ "$after" = "$before" ] || fail "waiting jobs before the Redis restart: $before, after: $after"
compose start worker >/dev/null 2>&1
for _ in $(seq 1 600); do [ "$(redis_cli ZCARD ccb:generate:completed)" -gt "$completed_before" ] && break; sleep 0.1; done
[ "$(redis_cli ZCARD ccb:generate:completed)" -gt "$completed_before" ] || fail "the kept job did not run after the restart"
note "Redis restart: waiting jobs before $before, after $after; the worker then ran it (completed $completed_before -> $(redis_cli ZCARD ccb:generate:completed)); appendonly=$(redis_cli CONFIG GET appendonly | tail -1)"
for _ in $(seq 1 300); do [ "$(health_of "$WORKER")" = healthy ] && break; sleep 0.1; done

restarts=$("$DOCKER" inspect -f '{{.RestartCount}}' "$BOTS" "$WORKER" | tr '\n' ' ')
[ "$restarts" = "0 0 " ] || fail "bots/worker restarted during the run (restart counts: $restarts)"
note "no restarts: bots and worker restart counts 0 0"

# ---- 7. docker-compose stop: each service ends within its grace period (137 would mean SIGKILL) ----
declare -A GRACE=([simulator]=10 [bots]=45 [worker]=45 [redis]=10)
stops=()
stopped() {
  local exit_code
  exit_code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$2")
  [ "$exit_code" != 137 ] || fail "$1 was killed after its grace period (${3} s)"
  awk -v a="$3" -v g="${GRACE[$1]}" 'BEGIN { exit !(a < g) }' || fail "$1 took ${3} s to stop (grace ${GRACE[$1]} s)"
  stops+=("$1 ${3} s (exit $exit_code, grace ${GRACE[$1]} s)")
}
# The worker is stopped in the middle of a job: the job finishes within SHUTDOWN_GRACE_SECONDS and is delivered.
mkdir -p "$WORK/out2" && chmod 0777 "$WORK/out2"
echo '/imagine a harbour in fog --steps 40 --seed 9' |
  compose run --rm -T --no-deps --name "${PROJECT}_running" -e ROLE=bots -e HTTP_PORT=0 \
    -v "$WORK/out2:/app/outputs" bots >"$WORK/running.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 1 300); do [ "$(redis_cli LLEN ccb:generate:active)" -ge 1 ] && break; sleep 0.1; done
[ "$(redis_cli LLEN ccb:generate:active)" -ge 1 ] || fail "the job never started: $(tail -10 "$WORK/running.log")"
t=$(now)
compose stop worker >/dev/null 2>&1
took=$(since "$t")
stopped worker "$WORKER" "$took"
for _ in $(seq 1 600); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
"$DOCKER" rm -f "${PROJECT}_running" >/dev/null 2>&1 || true
wait "$RUN_PID" || fail "the job running at stop was not delivered: $(tail -10 "$WORK/running.log")"
ls "$WORK"/out2/*.png >/dev/null 2>&1 || fail "no PNG from the job running at stop: $(tail -10 "$WORK/running.log")"
"$DOCKER" logs "$WORKER" 2>&1 | grep '"signal":"SIGTERM"' >/dev/null || fail "the worker did not log the SIGTERM it got"
note "worker stopped mid-job (40 steps of 200 ms) in ${took} s, exit 0: the job finished and its PNG was delivered"
for svc in simulator bots redis; do
  id=$(container_of "$svc")
  t=$(now)
  compose stop "$svc" >/dev/null 2>&1
  stopped "$svc" "$id" "$(since "$t")"
done
note "docker-compose stop: ${stops[*]}"
say "  bots' last words: $("$DOCKER" logs --tail 3 "$BOTS" 2>&1 | grep -o '"msg":"[^"]*"' | tr '\n' ' ')"
