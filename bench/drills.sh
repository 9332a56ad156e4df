#!/bin/bash
# The drill numbers of docs/benchmarks.md#drills for one replication mode:
#   bench/drills.sh async|sync BASEPORT [OUTDIR]
# starts `sonic up` (router on BASEPORT, the other processes on the ports after it) in
# OUTDIR/up, runs `sonic drill failover --mode kill --restart`, `--mode partition` (5 s
# SIGSTOP), then starts a fourth shard (primary + replica) and runs `sonic drill reshard
# --rebalance`; each report is in OUTDIR/<drill>.txt and .json. Stops everything at the end.
set -u
MODE=${1:?async or sync}; P=${2:?base port}; D=${3:-/tmp/sonic-drills-$MODE}
S="$(cd "$(dirname "$0")/.." && pwd)/packages/cli/dist/main.js"
rm -rf "$D"; mkdir -p "$D/s4p" "$D/s4r"
node "$S" up --dir "$D/up" --port "$P" --repl-sync-mode "$MODE" > "$D/up.out" 2>&1 &
UP=$!
N1=; N2=
trap 'kill $N1 $N2 2>/dev/null; kill $UP 2>/dev/null; wait $UP 2>/dev/null' EXIT
for _ in $(seq 1 90); do [ -f "$D/up/up.json" ] && break; sleep 1; done
[ -f "$D/up/up.json" ] || { echo "sonic up did not start: $D/up.out"; exit 2; }
CT=$(node -e "console.log(require('$D/up/up.json').controllers)")
healthy() { for _ in $(seq 1 60); do node "$S" cluster check --controllers "$CT" > "$D/check.out" 2>&1 && return 0; sleep 1; done; cat "$D/check.out"; }
drill() { local name=$1; shift; uptime > "$D/load-$name.txt"; node "$S" drill "$@" --dir "$D/up" --json "$D/$name.json" > "$D/$name.txt" 2>&1; echo "$name: exit $?"; }
drill kill failover --mode kill --restart
healthy
drill partition failover --mode partition --partition-time 5000
healthy
free() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
Q1=$(free); Q2=$(free); Q3=$(free); Q4=$(free)
A=(--bind 127.0.0.1 --cluster-enabled yes --controllers "$CT" --cluster-node-timeout 3000 --repl-sync-mode "$MODE")
node "$S" node --port "$Q1" --bus-port "$Q2" --dir "$D/s4p" --cluster-shard shard-4 --cluster-node-id s4-p "${A[@]}" > "$D/s4p.log" 2>&1 &
N1=$!
sleep 3
node "$S" node --port "$Q3" --bus-port "$Q4" --dir "$D/s4r" --cluster-shard shard-4 --cluster-node-id s4-r1 --replicaof "127.0.0.1:$Q1@$Q2" "${A[@]}" > "$D/s4r.log" 2>&1 &
N2=$!
node "$S" cluster add-node "127.0.0.1:$Q3" --replica-of shard-4 --controllers "$CT" > "$D/addnode.out" 2>&1 || { cat "$D/addnode.out"; exit 2; }
healthy
drill rebalance reshard --rebalance
for f in kill partition rebalance; do grep -v 'last second' "$D/$f.txt" | tail -13; done
