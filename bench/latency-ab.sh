#!/usr/bin/env bash
# Latency of two gateways on the fraud model at a fixed open-loop rate,
# side by side: A and B each run a binary (A_BIN, B_BIN, default
# bin/infergate) with monitoring on or off (A_MONITOR, B_MONITOR), both on
# CPU 0; `infergate bench -rate RATE` on CPU 1 measures them in alternating
# rounds, the first swapping each round. Prints each round's p99 and the
# medians of p50, p90 and p99. It compares monitoring on against off, or
# two builds of the monitor (build the other with `git worktree`).
#
#   bash bench/latency-ab.sh                                  (on against off)
#   A_BIN=/tmp/old/bin/infergate B_MONITOR=on ROUNDS=14 bash bench/latency-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-10} DURATION=${DURATION:-3s} RATE=${RATE:-4000}
A_BIN=${A_BIN:-bin/infergate} B_BIN=${B_BIN:-bin/infergate}
A_MONITOR=${A_MONITOR:-on} B_MONITOR=${B_MONITOR:-off}
SERVER_CPU=${SERVER_CPU:-0} LOAD_CPU=${LOAD_CPU:-1}
go build -o bin/infergate ./cmd/infergate
. bench/fraud-common.sh

TMP=$(mktemp -d)
fraud_repos "$TMP"
start_pair "$A_BIN" "$TMP/$A_MONITOR" "$B_BIN" "$TMP/$B_MONITOR"

# measure S: gateway S's p50, p90 and p99 at RATE, a line "S p50 p90 p99".
measure() {
  latency_round "$1"
  python3 -c 'import json,sys; l=json.load(open(sys.argv[1]))["run"]["latency"]; print(sys.argv[2], l["p50_ns"]//1000, l["p90_ns"]//1000, l["p99_ns"]//1000)' "$TMP/h.json" "$1"
}
alternate "$ROUNDS" measure > "$TMP/res"
for p in a b; do
  name="A ($A_BIN, monitoring $A_MONITOR)"
  [ $p = b ] && name="B ($B_BIN, monitoring $B_MONITOR)"
  printf '%s at %s req/s, µs: p50 %s  p90 %s  p99 %s   (p99 by round: %s)\n' "$name" "$RATE" \
    "$(awk -v p=$p '$1==p {print $2}' "$TMP/res" | median)" "$(awk -v p=$p '$1==p {print $3}' "$TMP/res" | median)" \
    "$(awk -v p=$p '$1==p {print $4}' "$TMP/res" | median)" "$(awk -v p=$p '$1==p {printf "%s ", $4}' "$TMP/res")"
done
