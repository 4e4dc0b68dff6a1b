#!/usr/bin/env bash
# Throughput and server CPU per request of two gateways on the fraud model,
# side by side: A and B each run a binary (A_BIN, B_BIN, default
# bin/infergate) with monitoring on or off (A_MONITOR, B_MONITOR, default
# both on), both on CPU 0; wrk at 64 connections on CPU 1 measures them in
# alternating rounds, the first swapping each round. Prints each round's
# B/A ratios and their medians. It compares two builds of the monitor
# (build the other with `git worktree`), or two monitor settings (B_SET,
# key=value overrides of B's monitor section), as bench/monitor-cost.sh
# compares monitoring on against off.
#
#   A_BIN=/tmp/old/bin/infergate ROUNDS=21 bash bench/throughput-ab.sh
#   B_SET="sample_rate=0.0001" bash bench/throughput-ab.sh   (sampling 1 in 10,000 against every request)
#   B_SET="buffer_size=512" bash bench/throughput-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-15} DURATION=${DURATION:-2s}
A_BIN=${A_BIN:-bin/infergate} B_BIN=${B_BIN:-bin/infergate}
A_MONITOR=${A_MONITOR:-on} B_MONITOR=${B_MONITOR:-on}
SERVER_CPU=${SERVER_CPU:-0} LOAD_CPU=${LOAD_CPU:-1}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
go build -o bin/infergate ./cmd/infergate
. bench/fraud-common.sh

TMP=$(mktemp -d)
fraud_repos "$TMP"
B_REPO=$TMP/$B_MONITOR
if [ -n "${B_SET:-}" ]; then
  B_REPO=$TMP/b-repo
  cp -r "$TMP/$B_MONITOR" "$B_REPO"
  # shellcheck disable=SC2086
  set_monitor "$B_REPO/fraud/config.yaml" $B_SET
fi
start_pair "$A_BIN" "$TMP/$A_MONITOR" "$B_BIN" "$B_REPO"
warm_up
alternate "$ROUNDS" wrk_round
for s in a b; do
  printf '%s  req/s at 64 conns: %-40s median %s\n' "$s" "$(tr '\n' ' ' < "$TMP/$s.rps")" "$(median < "$TMP/$s.rps")"
  printf '%s  server CPU µs per request: %-30s median %s\n' "$s" "$(tr '\n' ' ' < "$TMP/$s.cpu")" "$(median < "$TMP/$s.cpu")"
done
ratios b a
printf 'per-round throughput B/A: %s\n' "$(tr '\n' ' ' < "$TMP/ratio")"
printf 'per-round CPU per request B/A: %s\n' "$(tr '\n' ' ' < "$TMP/cratio")"
awk -v r="$(median < "$TMP/ratio")" -v c="$(median < "$TMP/cratio")" \
  'BEGIN {printf "B against A: throughput %+.1f%%, server CPU per request %+.1f%% (medians of per-round ratios)\n", 100*(r-1), 100*(c-1)}'
