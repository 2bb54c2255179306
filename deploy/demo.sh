#!/usr/bin/env bash
# make demo: a three-node quadrature group in network namespaces, each node
# a director and an application server (the iWash farm), a client, traffic
# through the VIP, the master killed, the VIP moving and traffic going on.
# Everything is torn down at the end, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }

BIN=$PWD/bin/quadrature
SRV=$PWD/bin/demoserver
# Per-run names: two demos (or a demo beside the tests) never collide.
RUN=/run/quadrature-demo-$$
P=qd$$
NODES=(iwash1 iwash2 iwash3)
declare -A ADDR=([iwash1]=203.0.113.11 [iwash2]=203.0.113.12 [iwash3]=203.0.113.13)
VIP=203.0.113.10
CLIENT=203.0.113.100
declare -A AGENT_PID=()
declare -A APP_PID=()

say()  { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ns()   { ip netns exec "$P-$1" "${@:2}"; }
cli()  { local n=$1; shift; ns "$n" "$BIN" "$@" -api "https://${ADDR[$n]}:9900" -ca-file "$RUN/credentials/ca.crt" -token-file "$RUN/credentials/api-token"; }

cleanup() {
  set +e
  for pid in "${AGENT_PID[@]}" "${APP_PID[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  sleep 1
  for n in iwash1 iwash2 iwash3 client lan; do
    if ip netns pids "$P-$n" >/dev/null 2>&1; then
      ip netns pids "$P-$n" | xargs -r kill -9 2>/dev/null
      ip netns del "$P-$n" 2>/dev/null
    fi
  done
  rm -rf "$RUN"
  echo "demo: torn down (namespaces $P-*, $RUN)"
}
trap cleanup EXIT INT TERM

[ -x "$BIN" ] || { echo "demo: $BIN missing; run 'make demo'" >&2; exit 1; }
CGO_ENABLED=0 go build -o "$SRV" ./deploy/demoserver

say "Network: a LAN bridge, three boxes ${NODES[*]}, a client; VIP $VIP"
cleanup >/dev/null 2>&1 || true
mkdir -p "$RUN"
chmod 0755 "$RUN"
# The group's credentials: a CA, one certificate per box, the gossip key
# and the API tokens (each box gets its own directory).
"$BIN" cluster init -dir "$RUN/credentials" iwash1=${ADDR[iwash1]} iwash2=${ADDR[iwash2]} iwash3=${ADDR[iwash3]} >/dev/null
# The one file of the group, with this run's directory.
sed "s#/run/quadrature-demo#$RUN#g" deploy/demo/iwash.conf > "$RUN/keepalived.conf"
cat > "$RUN/iweight" <<SH
#!/bin/sh
# The iWash weight program: prints nothing, exits 2 + weight of node \$1.
w=\$(cat $RUN/weight-"\$1" 2>/dev/null || echo 10)
exit \$((2 + w))
SH
chmod 0755 "$RUN/iweight"
echo 10 > "$RUN/weight-iwash1"; echo 20 > "$RUN/weight-iwash2"; echo 20 > "$RUN/weight-iwash3"

ip netns add "$P-lan"
ip -n "$P-lan" link add br0 type bridge
ip -n "$P-lan" link set br0 up
i=0
for n in "${NODES[@]}" client; do
  i=$((i + 1))
  ip netns add "$P-$n"
  ip -n "$P-$n" link set lo up
  ip -n "$P-$n" link add eth0 type veth peer name "${P}p$i"
  ip -n "$P-$n" link set "${P}p$i" netns "$P-lan"
  ip -n "$P-lan" link set "${P}p$i" master br0 up
  if [ "$n" = client ]; then a=$CLIENT; else a=${ADDR[$n]}; fi
  ip -n "$P-$n" addr add "$a/24" dev eth0
  ip -n "$P-$n" link set eth0 up
  ns "$n" sysctl -qw net.ipv4.ip_forward=1
done

say "Application servers: each box serves :8080"
for n in "${NODES[@]}"; do
  ip netns exec "$P-$n" "$SRV" -listen "${ADDR[$n]}:8080" -name "$n" > "$RUN/app-$n.log" 2>&1 &
  APP_PID[$n]=$!
  disown $!
done

say "Starting the group: one keepalived.conf for all (deploy/demo/iwash.conf, secured by 'quadrature cluster init')"
for n in "${NODES[@]}"; do
  # ip netns exec execs the agent: $! is the agent itself.
  ip netns exec "$P-$n" "$BIN" agent -config "$RUN/keepalived.conf" -node "$n" -timing tuned > "$RUN/agent-$n.log" 2>&1 &
  AGENT_PID[$n]=$!
  disown $!
  echo "  $n: agent pid ${AGENT_PID[$n]}, log $RUN/agent-$n.log"
done

wait_for() { # seconds, description, command...
  local t=$1 what=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then echo "demo: timed out waiting for $what" >&2; tail -n 30 "$RUN"/agent-*.log >&2; exit 1; fi
    sleep 0.2
  done
}
master_of_vip() {
  for n in "${NODES[@]}"; do
    [ -n "$n" ] || continue
    if ip -n "$P-$n" -br addr show dev eth0 2>/dev/null | grep -q " $VIP/"; then echo "$n"; return 0; fi
  done
  return 1
}
ready_all() { for n in "${NODES[@]}"; do [ -n "${AGENT_PID[$n]:-}" ] || continue; cli "$n" status -o json | grep -q '"config_version": [1-9]' || return 1; done; }

wait_for 60 "the group to commit its configuration" ready_all
wait_for 30 "a VRRP master to hold the VIP" master_of_vip
wait_for 30 "the table to be programmed" ns client curl -sf --max-time 1 "http://$VIP/"

say "Group status (from iwash2's API)"
cli iwash2 status
cli iwash2 members
say "The agreed table ('quadrature list', ipvsadm layout with verdicts)"
sleep 2
cli iwash3 list
echo "VIP $VIP is on: $(master_of_vip)"

traffic() { # n requests from the client; prints the spread
  local n=$1 ok=0 fail=0
  declare -A by=()
  for _ in $(seq "$n"); do
    if out=$(ns client curl -s --max-time 1 "http://$VIP/"); then
      ok=$((ok + 1)); by[${out##* }]=$(( ${by[${out##* }]:-0} + 1 ))
    else fail=$((fail + 1)); fi
  done
  printf '  %d requests: %d ok, %d failed;' "$n" "$ok" "$fail"
  for k in "${!by[@]}"; do printf ' %s=%d' "$k" "${by[$k]}"; done
  echo
}
say "Traffic through the VIP (weights 10:20:20 from the iweight program)"
traffic 50

m=$(master_of_vip)
say "The master box ($m) fails: its agent is killed (SIGKILL) and its cable pulled"
t0=$(date +%s.%N)
kill -9 "${AGENT_PID[$m]}"
unset "AGENT_PID[$m]"
i=0; for n in "${NODES[@]}"; do i=$((i + 1)); [ "$n" = "$m" ] && ip -n "$P-lan" link set "${P}p$i" down; done
NODES=("${NODES[@]/$m}")
( for _ in $(seq 30); do ns client curl -s --max-time 0.5 -o /dev/null -w '%{http_code}\n' "http://$VIP/" || true; sleep 0.1; done ) > "$RUN/during.txt" &
probe=$!
new=""
end=$((SECONDS + 20))
while [ $SECONDS -lt $end ]; do new=$(master_of_vip || true); [ -n "$new" ] && [ "$new" != "$m" ] && break; sleep 0.05; done
t1=$(date +%s.%N)
[ -n "$new" ] && [ "$new" != "$m" ] || { echo "demo: the VIP did not move" >&2; exit 1; }
wait "$probe" || true
awk -v a="$t0" -v b="$t1" -v m="$m" -v n="$new" 'BEGIN { printf "  VIP moved %s -> %s in %.2f s (VRRP v3, advert_int 0.2 s)\n", m, n, b - a }'
echo "  requests during failover (every 0.1 s from the kill on): $(grep -c 200 "$RUN/during.txt") ok, $(grep -vc 200 "$RUN/during.txt") failed"
say "Traffic after failover"
traffic 30
say "Group status after failover (from $new)"
cli "$new" status
cli "$new" members

say "A real server fails: stopping the application on iwash3"
kill -TERM "${APP_PID[iwash3]}" 2>/dev/null || true
sleep 4
cli "$new" list
traffic 20

say "Demo done; tearing down"
