#!/usr/bin/env bash
# The drift monitor's end-to-end cost with each gateway alone on CPU 0:
# the fraud demo model sampled into the monitor (its defaults) and not
# monitored, each started, warmed for a second, measured by wrk at 64
# connections from CPU 1 and stopped, alternating, ROUNDS rounds. Two Go
# servers pinned to one core change each other's speed on this VM
# (bench/README.md, sixth session), which bench/monitor-cost.sh, running
# its two side by side, cannot rule out. Prints each round (requests and
# CPU ns per request, monitored then not) and the medians of the
# per-round ratios. ARGS adds flags to both gateways.
#
#   bash bench/monitor-cost-alone.sh        (after `make ort models build`)
#   ROUNDS=21 bash bench/monitor-cost-alone.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-15} DURATION=${DURATION:-3s} BIN=${BIN:-bin/infergate}
SERVER_CPU=${SERVER_CPU:-0} LOAD_CPU=${LOAD_CPU:-1} ARGS=${ARGS:-}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
go build -o bin/infergate ./cmd/infergate
. bench/fraud-common.sh

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fraud_repos "$TMP"
url=http://127.0.0.1:9000/v2/models/fraud/infer
for _ in $(seq "$ROUNDS"); do
  line=""
  for s in on off; do
    # shellcheck disable=SC2086
    taskset -c "$SERVER_CPU" "$BIN" serve --model-repository "$TMP/$s" --http-address 127.0.0.1 \
      --http-port 9000 --metrics-port 9002 --log-level warn --data-dir "$TMP/d-$s" $ARGS & G=$!
    wait_ready 9000
    taskset -c "$LOAD_CPU" wrk -t1 -c64 -d1s -s bench/fraud.lua $url -- "$TMP/bodies.txt" >/dev/null
    c0=$(cpu_ns $G)
    n=$(taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"$DURATION" -s bench/fraud.lua $url -- "$TMP/bodies.txt" | awk '/requests in/ {print $1}')
    c1=$(cpu_ns $G)
    line="$line $n $(((c1 - c0) / n))"
    kill $G; wait $G 2>/dev/null || true
  done
  echo "$line"
done | tee "$TMP/res"
awk '{print $1/$3}' "$TMP/res" | median | awk '{printf "sampling every request: throughput %+.1f%%", 100*($1-1)}'
awk '{print $2/$4}' "$TMP/res" | median | awk '{printf ", server CPU per request %+.1f%% (medians of per-round ratios, each gateway alone)\n", 100*($1-1)}'
