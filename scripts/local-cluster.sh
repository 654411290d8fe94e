#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this host, for tests and demos (never the node on 5672).
#
#   scripts/local-cluster.sh up              start 3 nodes, join them, print their AMQP URLs
#   scripts/local-cluster.sh down            stop every node and remove its data
#   scripts/local-cluster.sh kill|stop|start|pause|resume N    one node (N = 1, 2, 3)
#   scripts/local-cluster.sh status|urls|leader QUEUE [VHOST]
#
# Node N is ${MRA_CLUSTER_NAME}N@localhost (default mra1@localhost), AMQP on
# MRA_CLUSTER_AMQP_BASE+N (default 5681-5683), stream protocol on MRA_CLUSTER_STREAM_BASE+N
# (5561-5563), Erlang distribution on MRA_CLUSTER_DIST_BASE+N (25681-25683); data, logs and
# configuration under MRA_CLUSTER_DIR (default /tmp/mra-cluster), owned by rabbitmq. Every
# node shares the rabbitmq user's Erlang cookie. Needs root (nodes run as rabbitmq).
set -euo pipefail

NAME=${MRA_CLUSTER_NAME:-mra}
DIR=${MRA_CLUSTER_DIR:-/tmp/mra-cluster}
AMQP_BASE=${MRA_CLUSTER_AMQP_BASE:-5680}
STREAM_BASE=${MRA_CLUSTER_STREAM_BASE:-5560}
DIST_BASE=${MRA_CLUSTER_DIST_BASE:-25680}
MEMORY=${MRA_CLUSTER_MEMORY:-600MB}
NODES=(1 2 3)
RMQ=/usr/lib/rabbitmq/bin
COOKIE_HOME=$(getent passwd rabbitmq | cut -d: -f6)

die() { echo "local-cluster: $*" >&2; exit 1; }
node() { echo "${NAME}$1@localhost"; }
amqp_port() { echo $((AMQP_BASE + $1)); }
node_dir() { echo "$DIR/${NAME}$1"; }
ctl() {  # ctl N ARGS...: rabbitmqctl against our node N only (never the node on 5672)
  local n=$1; shift
  timeout "${CTL_TIMEOUT:-120}" runuser -u rabbitmq -- env HOME="$COOKIE_HOME" ERL_EPMD_ADDRESS=127.0.0.1 \
    "$RMQ/rabbitmqctl" -q -n "$(node "$n")" "$@"
}
check_n() { [[ "${1:-}" =~ ^[123]$ ]] || die "node number must be 1, 2 or 3, not '${1:-}'"; }
pid_of() { local f; f="$(node_dir "$1")/pid"; [ -s "$f" ] && cat "$f"; }
alive() { local p; p=$(pid_of "$1") && kill -0 "$p" 2>/dev/null; }

configure() {  # configure N: the node's own config, plugins and directories
  local n=$1 d; d=$(node_dir "$n")
  mkdir -p "$d/mnesia" "$d/log"
  cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$(amqp_port "$n")
stream.listeners.tcp.default = 127.0.0.1:$((STREAM_BASE + n))
stream.advertised_host = localhost
stream.advertised_port = $((STREAM_BASE + n))
vm_memory_high_watermark.absolute = $MEMORY
disk_free_limit.absolute = 200MB
cluster_partition_handling = pause_minority
loopback_users = none
log.file.level = info
log.console = false
EOF
  echo "[rabbitmq_stream]." >"$d/enabled_plugins"
  : >"$d/rabbitmq-env.conf"
  chown -R rabbitmq:rabbitmq "$DIR"
}

start_node() {  # start_node N: boot in the background, return when the app runs
  local n=$1 d; d=$(node_dir "$n")
  alive "$n" && return 0
  rm -f "$d/pid"
  runuser -u rabbitmq -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$COOKIE_HOME" \
    RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" \
    RABBITMQ_NODENAME="$(node "$n")" \
    RABBITMQ_NODE_PORT="$(amqp_port "$n")" \
    RABBITMQ_DIST_PORT=$((DIST_BASE + n)) \
    RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$d/mnesia" \
    RABBITMQ_MNESIA_DIR="$d/mnesia/$(node "$n")" \
    RABBITMQ_LOG_BASE="$d/log" \
    RABBITMQ_PID_FILE="$d/pid" \
    RABBITMQ_PLUGINS_EXPAND_DIR="$d/plugins-expand" \
    ERL_CRASH_DUMP="$d/log/erl_crash.dump" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+S 1:1 +A 4" \
    setsid "$RMQ/rabbitmq-server" >"$d/log/console.log" 2>&1 </dev/null &
  wait_running "$n"
}

wait_running() {  # up to 90 s
  local n=$1
  for _ in $(seq 1 90); do
    if ctl "$n" await_startup --timeout 1 >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  tail -20 "$(node_dir "$n")/log/console.log" >&2 || true
  die "node $(node "$n") did not start"
}

stop_node() {  # graceful; kill -9 if it does not stop within 60 s
  local n=$1 p
  p=$(pid_of "$n") || return 0
  kill -0 "$p" 2>/dev/null || return 0
  kill -CONT "$p" 2>/dev/null || true
  CTL_TIMEOUT=60 ctl "$n" stop >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || return 0; sleep 1; done
  kill -9 "$p" 2>/dev/null || true
}

urls() { for n in "${NODES[@]}"; do echo "amqp://guest:guest@127.0.0.1:$(amqp_port "$n")/"; done; }

down() {
  for n in "${NODES[@]}"; do stop_node "$n" & done
  wait
  for n in "${NODES[@]}"; do  # anything of ours still running (a failed boot): by its pid only
    p=$(pid_of "$n") && kill -9 "$p" 2>/dev/null || true
  done
  case "$DIR" in /tmp/*|/var/tmp/*) rm -rf "$DIR" ;; *) echo "local-cluster: left $DIR in place" >&2 ;; esac
}

up() {
  [ "$(id -u)" = 0 ] || die "run as root (the nodes run as the rabbitmq user)"
  for n in "${NODES[@]}"; do
    alive "$n" && die "$(node "$n") already runs: scripts/local-cluster.sh down first"
  done
  trap 'echo "local-cluster: up failed, tearing down" >&2; down' ERR INT TERM
  rm -rf "$DIR"
  for n in "${NODES[@]}"; do configure "$n"; done
  for n in "${NODES[@]}"; do start_node "$n" & done
  wait
  for n in "${NODES[@]}"; do alive "$n" || die "$(node "$n") is not running"; done
  for n in 2 3; do
    ctl "$n" stop_app >/dev/null
    ctl "$n" join_cluster "$(node 1)" >/dev/null 2>>"$DIR/join.log"
    ctl "$n" start_app >/dev/null
  done
  ctl 1 await_online_nodes 3 --timeout 60 >/dev/null
  trap - ERR INT TERM
  urls
}

leader() {  # leader QUEUE [VHOST]: the node number leading a quorum queue or stream
  local q=$1 vhost=${2:-/} who
  who=$(ctl 1 list_queues -p "$vhost" name leader --no-table-headers 2>/dev/null | awk -v q="$q" '$1 == q {print $2}')
  [ -n "$who" ] || die "no leader known for $q in $vhost"
  who=${who%@localhost}
  echo "${who#"$NAME"}"
}

cmd=${1:-}
case "$cmd" in
  up) up ;;
  down) down ;;
  urls) urls ;;
  status) ctl 1 cluster_status ;;
  kill) check_n "${2:-}"; p=$(pid_of "$2") || die "node $2 has no pid"; kill -9 "$p" ;;
  stop) check_n "${2:-}"; stop_node "$2" ;;
  start) check_n "${2:-}"; start_node "$2" ;;
  pause) check_n "${2:-}"; p=$(pid_of "$2") || die "node $2 has no pid"; kill -STOP "$p" ;;
  resume) check_n "${2:-}"; p=$(pid_of "$2") || die "node $2 has no pid"; kill -CONT "$p" ;;
  leader) leader "${2:?queue}" "${3:-/}" ;;
  *) echo "usage: $0 up|down|urls|status|kill N|stop N|start N|pause N|resume N|leader QUEUE [VHOST]" >&2; exit 2 ;;
esac
