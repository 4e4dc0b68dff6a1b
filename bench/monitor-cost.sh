#!/usr/bin/env bash
# Reproduces the drift monitor's end-to-end cost in bench/README.md: the
# fraud demo model served by two gateways side by side on CPU 0, one
# sampling every request into the drift monitor (its default windows and
# thresholds), one with monitoring off; load from CPU 1, alternating
# rounds, medians:
#   - throughput at 64 connections (wrk, closed loop, the server saturated);
#   - p99 at a fixed open-loop rate (infergate bench -rate, timed from each
#     request's intended send time).
#
# Each round runs both gateways back to back, so the per-round ratio
# compares the same minute of a noisy machine; its median is the figure
# to quote, the medians of the rates are printed beside it.
#
#   bash bench/monitor-cost.sh              (after `make ort models build`)
#   ROUNDS=7 DURATION=5s RATE=4000 bash bench/monitor-cost.sh
#   RATE=0 ROUNDS=15 DURATION=2s bash bench/monitor-cost.sh   (throughput only)
#   MONITOR="buffer_size=1024 window_size=5000" bash bench/monitor-cost.sh
#   BIN=/tmp/other/bin/infergate bash bench/monitor-cost.sh   (another build, both gateways)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-4s} RATE=${RATE:-4000}
SERVER_CPU=${SERVER_CPU:-0} LOAD_CPU=${LOAD_CPU:-1} BIN=${BIN:-bin/infergate}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
go build -o bin/infergate ./cmd/infergate
. bench/fraud-common.sh

TMP=$(mktemp -d)
fraud_repos "$TMP"

# Gateway a samples every request, b does not monitor.
start_pair "$BIN" "$TMP/on" "$BIN" "$TMP/off"
warm_up
# measure S: throughput and CPU per request of gateway S, then its p99 at
# RATE unless RATE is 0.
measure() {
  wrk_round "$1"
  [ "$RATE" = 0 ] && return
  latency_round "$1"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run"]["latency"]["p99_ns"]//1000)' "$TMP/h.json" >> "$TMP/$1.p99"
}
alternate "$ROUNDS" measure
sampled=$(curl -s http://127.0.0.1:9502/metrics | awk '/^infergate_monitor_sampled_total/ {s+=$2} END {print s+0}')
dropped=$(curl -s http://127.0.0.1:9502/metrics | awk '/^infergate_monitor_dropped_total/ {s+=$2} END {print s+0}')
name() { [ "$1" = a ] && echo on || echo off; }
for s in a b; do
  printf 'monitoring %-3s  req/s at 64 conns: %-40s median %s\n' "$(name $s)" "$(tr '\n' ' ' < "$TMP/$s.rps")" "$(median < "$TMP/$s.rps")"
  [ "$RATE" = 0 ] ||
    printf 'monitoring %-3s  p99 µs at %s req/s: %-36s median %s\n' "$(name $s)" "$RATE" "$(tr '\n' ' ' < "$TMP/$s.p99")" "$(median < "$TMP/$s.p99")"
done
for s in a b; do
  printf 'monitoring %-3s  server CPU µs per request: %-30s median %s\n' "$(name $s)" "$(tr '\n' ' ' < "$TMP/$s.cpu")" "$(median < "$TMP/$s.cpu")"
done
ratios a b
printf 'per-round throughput on/off: %s\n' "$(tr '\n' ' ' < "$TMP/ratio")"
printf 'per-round CPU per request on/off: %s\n' "$(tr '\n' ' ' < "$TMP/cratio")"
awk -v r="$(median < "$TMP/cratio")" 'BEGIN {printf "sampling every request: server CPU per request %+.1f%% (median of per-round ratios)\n", 100*(r-1)}'
awk -v r="$(median < "$TMP/ratio")" -v a="$(median < "$TMP/a.rps")" -v b="$(median < "$TMP/b.rps")" \
  'BEGIN {printf "sampling every request: throughput %+.1f%% (median of per-round ratios; %+.1f%% from the medians)", 100*(r-1), 100*(a/b-1)}'
[ "$RATE" = 0 ] || awk -v c="$(median < "$TMP/a.p99")" -v d="$(median < "$TMP/b.p99")" 'BEGIN {printf ", p99 %+.1f%%", 100*(c/d-1)}'
echo " against monitoring off"
echo "the monitored gateway sampled $sampled requests and dropped $dropped"
