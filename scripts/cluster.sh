#!/usr/bin/env bash
# cluster.sh — `make cluster`: on 127.0.0.1, a three-node NATS cluster with JetStream and two
# relays sharing its log (DESIGN §6), until Ctrl-C, which stops all five and waits for them.
#
#   nodes n1 n2 n3   clients 4222 4223 4224, routes 6222 6223 6224, monitoring http 8222 8223 8224
#   relays           ws://127.0.0.1:8471 and ws://127.0.0.1:8472, both --nats to all three nodes
#
# nats-server is built from the module go.mod pins (github.com/nats-io/nats-server/v2, fetched
# through the Go module proxy like any dependency), the relay from ./sync/cmd/relay, both into
# build/bin. Each node gets a config file (.cluster-data/nN.conf) with file storage in
# .cluster-data/nN and `sync_interval: always`; relays keep only caches in .cluster-data/relayN.
# Logs go to .cluster-data/logs/. The data stays between runs (the cluster comes back with its
# streams); CLUSTER_RESET=1 starts from nothing.
#
#   scripts/cluster.sh              all five
#   scripts/cluster.sh --nats-only  the three NATS nodes alone (for a relay run by hand)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

NATS_ONLY=0
case "${1:-}" in
  "") ;;
  --nats-only) NATS_ONLY=1 ;;
  *) echo "usage: $0 [--nats-only]" >&2; exit 2 ;;
esac

GO=${GO:-go}
DATA=$ROOT/.cluster-data
LOGS=$DATA/logs
BIN=$ROOT/build/bin
NODES=(n1 n2 n3)
CLIENT_PORTS=(4222 4223 4224)
ROUTE_PORTS=(6222 6223 6224)
HTTP_PORTS=(8222 8223 8224)
RELAY_PORTS=(8471 8472)
NATS_URLS=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224

say() { printf 'cluster: %s\n' "$*"; }
die() { printf 'cluster: %s\n' "$*" >&2; exit 1; }

# listening PORT: whether something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# http_get PORT PATH: the body of http://127.0.0.1:PORT/PATH, or nothing. Plain bash, so that
# nothing beyond what `make run` needs has to be installed.
http_get() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3
    cat <&3' _ "$1" "$2" 2>/dev/null | tr -d '\r' | sed '1,/^$/d' || true
}

# ---- what runs, and how it stops -------------------------------------------------------------
# Each process runs in a session of its own (setsid), so that Ctrl-C reaches this script only
# and it stops them in order: the relays first (they close their sessions and finish their
# group commits against a cluster that is still up), then the NATS nodes. Without setsid
# (not Linux) Ctrl-C reaches them all at once, and they still stop.
DETACH=()
command -v setsid >/dev/null && DETACH=(setsid)
PIDS=()    # every process started, in start order
NAMES=()
SLEEPER=
stopping=0

stop_all() {
  ((stopping)) && return 0   # (a bare return in a trap returns the status before the trap)
  stopping=1
  set +e                     # stop everything, whatever fails on the way
  trap '' INT TERM HUP
  [[ -n $SLEEPER ]] && kill "$SLEEPER" 2>/dev/null
  ((${#PIDS[@]})) || return 0
  echo
  say "stopping…"
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do   # reverse start order: relays, then nodes
    stop_one "${PIDS[i]}" "${NAMES[i]}"
  done
  say "stopped (data kept in ${DATA#"$ROOT"/}; CLUSTER_RESET=1 make cluster starts from nothing)"
}

# stop_one PID NAME: SIGTERM, then up to 15 s (the relay's own shutdown bound) before SIGKILL.
stop_one() {
  local pid=$1 name=$2 t
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((t = 0; t < 150; t++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name did not stop within 15 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

on_signal() { stop_all; exit 0; }
trap on_signal INT TERM HUP
trap 'stop_all' EXIT   # a failed start stops what did start

# start NAME COMMAND…: runs it in the background, output to $LOGS/NAME.log.
start() {
  local name=$1; shift
  "${DETACH[@]}" "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  PIDS+=($!)
  NAMES+=("$name")
}

# alive NAME PID: fails, with the end of its log, if the process has exited.
alive() {
  kill -0 "$2" 2>/dev/null && return 0
  printf 'cluster: %s exited; the end of %s:\n' "$1" "${LOGS#"$ROOT"/}/$1.log" >&2
  tail -n 20 "$LOGS/$1.log" >&2 || true
  return 1
}

# ---- before anything starts ------------------------------------------------------------------
ports=("${CLIENT_PORTS[@]}" "${ROUTE_PORTS[@]}" "${HTTP_PORTS[@]}")
((NATS_ONLY)) || ports+=("${RELAY_PORTS[@]}")
for p in "${ports[@]}"; do
  listening "$p" && die "127.0.0.1:$p is in use (another make cluster still running?): stop it first"
done

say "building build/bin/nats-server (the version go.mod pins) and build/bin/relay"
mkdir -p "$BIN"
"$GO" build -o "$BIN/nats-server" github.com/nats-io/nats-server/v2
((NATS_ONLY)) || "$GO" build -o "$BIN/relay" ./sync/cmd/relay

if [[ ${CLUSTER_RESET:-0} == 1 ]]; then
  rm -rf "$DATA"
fi
mkdir -p "$LOGS"
echo '*' >"$DATA/.gitignore"   # the folder is the cluster's, never the repository's

# ---- the NATS cluster ------------------------------------------------------------------------
routes=""
for p in "${ROUTE_PORTS[@]}"; do routes+="nats-route://127.0.0.1:$p, "; done
routes=${routes%, }
for i in 0 1 2; do
  n=${NODES[i]}
  mkdir -p "$DATA/$n"
  cat >"$DATA/$n.conf" <<EOF
# Generated by scripts/cluster.sh: node $n of the loopback cluster "threadline".
server_name: $n
listen: 127.0.0.1:${CLIENT_PORTS[i]}
http: 127.0.0.1:${HTTP_PORTS[i]}

jetstream {
  store_dir: "$DATA/$n"
  # An ack means on disk (DESIGN §6); the relays' streams are R3 besides.
  sync_interval: always
}

cluster {
  name: threadline
  listen: 127.0.0.1:${ROUTE_PORTS[i]}
  # Every node, itself included (nats-server skips it): JetStream sizes its meta group from these.
  routes: [$routes]
}
EOF
  start "$n" "$BIN/nats-server" -js -c "$DATA/$n.conf"
done

# js_ready PORT: whether that node's /jsz names a meta leader of three peers and a leader for
# each stream it holds. On a restart with data, the streams elect their leaders a moment after
# the meta group (healthz says ok before), and a relay opening its stream needs one.
js_ready() {
  local jsz groups leaders
  jsz=$(http_get "$1" '/jsz?streams=true')
  [[ $jsz == *'"cluster_size": 3'* ]] || return 1
  groups=$(grep -c '"raft_group":' <<<"$jsz" || true)    # one per stream
  leaders=$(grep -c '"leader":' <<<"$jsz" || true)       # the meta group's, and the streams'
  ((leaders == groups + 1))
}

say "waiting for the NATS cluster (a JetStream meta leader of three, a leader for each stream)…"
ready=0
for ((t = 0; t < 300; t++)); do
  for i in 0 1 2; do alive "${NODES[i]}" "${PIDS[i]}" || exit 1; done
  ok=0
  for p in "${HTTP_PORTS[@]}"; do js_ready "$p" && ok=$((ok + 1)); done
  if ((ok == 3)); then   # and nats-server's own check; asked only now, as each "no" is logged
    for p in "${HTTP_PORTS[@]}"; do
      [[ $(http_get "$p" /healthz) == *'"ok"'* ]] && ok=$((ok + 1))
    done
  fi
  ((ok == 6)) && { ready=1; break; }
  sleep 0.2
done
((ready)) || die "the NATS cluster did not form within 60 s; logs in ${LOGS#"$ROOT"/}/n*.log"
say "NATS cluster up: $NATS_URLS"

# ---- the relays ------------------------------------------------------------------------------
if ((!NATS_ONLY)); then
  # examples/relay.json, with the relays' own origins allowed: each serves /demo, whose widget
  # connects back to the origin that served it.
  origins='"http://127.0.0.1:8471", "http://localhost:8471", "http://127.0.0.1:8472", "http://localhost:8472"'
  sed -E "s#\"allowedOrigins\": *\[[^]]*\]#\"allowedOrigins\": [$origins]#" examples/relay.json >"$DATA/relay.json"
  grep -q '127.0.0.1:8472' "$DATA/relay.json" ||
    die "examples/relay.json has no one-line \"allowedOrigins\": [...] to extend; update scripts/cluster.sh"

  for r in 1 2; do
    port=${RELAY_PORTS[r - 1]}
    start "relay$r" "$BIN/relay" --listen "127.0.0.1:$port" --data "$DATA/relay$r" \
      --config "$DATA/relay.json" --nats "$NATS_URLS" --demo-workspace acme --demo-hash
  done
  say "waiting for the relays…"
  for r in 1 2; do
    port=${RELAY_PORTS[r - 1]}
    for ((t = 0; ; t++)); do
      alive "relay$r" "${PIDS[r + 2]}" || exit 1   # PIDS: n1 n2 n3 relay1 relay2
      [[ $(http_get "$port" /healthz) == ok* ]] && break
      ((t < 600)) || die "relay$r is not healthy after 60 s; see ${LOGS#"$ROOT"/}/relay$r.log"
      sleep 0.1
    done
  done
fi

# ---- how to use it ---------------------------------------------------------------------------
cat <<EOF

  NATS JetStream cluster "threadline", three nodes on 127.0.0.1:
    clients     $NATS_URLS
    monitoring  http://127.0.0.1:8222/jsz  http://127.0.0.1:8223/jsz  http://127.0.0.1:8224/jsz
EOF
if ((NATS_ONLY)); then
  cat <<EOF

  A relay on it:
    build/bin/relay --listen 127.0.0.1:8471 --data ${DATA#"$ROOT"/}/relay1 --config examples/relay.json \\
      --nats $NATS_URLS
EOF
else
  cat <<EOF

  Two relays sharing its log (examples/relay.json, workspace "acme"):
    ws://127.0.0.1:8471    ws://127.0.0.1:8472

  Two desktop profiles, one on each relay (build the app first: make build):
    build/bin/threadline --profile ana &
        Settings → Connection: Relay address ws://127.0.0.1:8471, Workspace acme,
                               Agent token dev-token-ana-0123456789
    build/bin/threadline --profile ben &
        Settings → Connection: Relay address ws://127.0.0.1:8472, Workspace acme,
                               Agent token dev-token-ben-0123456789
  What one does shows in the other: the relays agree through JetStream.

  The widget demo (a website visitor; ?contact=42 to be a known contact), on either relay:
    http://127.0.0.1:8471/demo    http://127.0.0.1:8472/demo
EOF
fi
procs=""
for i in "${!PIDS[@]}"; do procs+="${NAMES[i]} ${PIDS[i]}, "; done
cat <<EOF

  Processes: ${procs%, }.
  kill -9 one node and the other two carry on: the relays' streams are R3 (--nats-replicas 3).
  Logs: ${LOGS#"$ROOT"/}/ (tail -f ${LOGS#"$ROOT"/}/*.log). Ctrl-C stops everything.

EOF

# Wait for Ctrl-C. A process that exits on its own (a node killed to watch the others carry on,
# say) is reported, with the end of its log, and the rest keep running; when none is left, the
# script ends too (exit 1).
GONE=()
while :; do
  left=0
  for i in "${!PIDS[@]}"; do
    [[ -n ${GONE[i]:-} ]] && continue
    if alive "${NAMES[i]}" "${PIDS[i]}"; then
      left=$((left + 1))
    else
      GONE[i]=1
      wait "${PIDS[i]}" 2>/dev/null || true
      say "the others keep running; Ctrl-C stops them"
    fi
  done
  ((left > 0)) || die "nothing left running"
  sleep 1 &
  SLEEPER=$!
  wait "$SLEEPER" || true   # returns at once when a signal comes
done
