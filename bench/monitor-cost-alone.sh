#!/usr/bin/env bash
# The drift monitor's end-to-end cost with each gateway alone on CPU 0:
# the fraud demo model sampled into the monitor (its defaults) and not
# monitored, each started, warmed for WARMUP (default 1s), measured by wrk at 64
# connections from CPU 1 and stopped, alternating, ROUNDS rounds. Two Go
# servers pinned to one core change each other's speed on this VM
# (bench/README.md, sixth session), which bench/monitor-cost.sh, running
# its two side by side, cannot rule out. Prints each round (requests and
# CPU ns per request, monitored then not) and the medians of the
# per-round ratios. ARGS adds flags to both gateways. With RATE, each
# gateway is also measured at that fixed open-loop rate (infergate bench,
# every request timed from its intended send time) for its p50 and p99,
# for RATE_DURATION (default DURATION): 10s or more, so that a round's p99
# is the slowest hundreds of requests, not a few VM stalls (see
# bench/README.md, thirteenth session).
# BASELINE=on compares the monitored gateway with another monitored one
# (an A/A), which measures how far this machine's noise alone moves the
# ratios. With PAUSE=1 both gateways are started once and the one not being
# measured is stopped (SIGSTOP) while the other runs, so each is still
# alone on its core, but measured in its steady state: its prediction
# table full and evicting, its windows rolling, long past start-up. But
# a process keeps one placement of its memory for its life, and on this
# VM one placement against another moves a gateway's speed by a few
# percent, so paused runs of the same code disagree by as much (see
# bench/README.md, eleventh session). WARMUP=4s fills the prediction table
# (200,000 entries) before each measurement instead, and every round
# still starts the gateways anew: the figure to quote.
#
#   bash bench/monitor-cost-alone.sh        (after `make ort models build`)
#   ROUNDS=21 bash bench/monitor-cost-alone.sh
#   ROUNDS=15 RATE=4000 RATE_DURATION=10s bash bench/monitor-cost-alone.sh
#   BASELINE=on ROUNDS=15 RATE=4000 RATE_DURATION=10s bash bench/monitor-cost-alone.sh
#   PAUSE=1 ROUNDS=21 DURATION=2s bash bench/monitor-cost-alone.sh
#   WARMUP=4s DURATION=2s ROUNDS=31 bash bench/monitor-cost-alone.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-15} DURATION=${DURATION:-3s} BIN=${BIN:-bin/infergate} RATE=${RATE:-0}
SERVER_CPU=${SERVER_CPU:-0} LOAD_CPU=${LOAD_CPU:-1} ARGS=${ARGS:-} PAUSE=${PAUSE:-0} WARMUP=${WARMUP:-1s}
RATE_DURATION=${RATE_DURATION:-$DURATION} BASELINE=${BASELINE:-off}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
go build -o bin/infergate ./cmd/infergate
. bench/fraud-common.sh

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fraud_repos "$TMP"
# start S PORT [TAG]: a gateway serving repository S on CPU 0, its pid in
# G, its data in d-S[TAG].
start() {
  # shellcheck disable=SC2086
  taskset -c "$SERVER_CPU" "$BIN" serve --model-repository "$TMP/$1" --http-address 127.0.0.1 \
    --http-port "$2" --metrics-port $(($2 + 2)) --log-level warn --data-dir "$TMP/d-$1${3:-}" $ARGS & G=$!
  wait_ready "$2"
}
# measure PID PORT: one warmed measurement of the gateway PID listens on
# PORT: its requests and CPU ns a request [and p50, p99 µs].
measure() {
  local url=http://127.0.0.1:$2/v2/models/fraud/infer c0 c1 n
  taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"$WARMUP" -s bench/fraud.lua "$url" -- "$TMP/bodies.txt" >/dev/null
  c0=$(cpu_ns "$1")
  n=$(taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"$DURATION" -s bench/fraud.lua "$url" -- "$TMP/bodies.txt" | awk '/requests in/ {print $1}')
  c1=$(cpu_ns "$1")
  echo -n " $n $(((c1 - c0) / n))"
  if [ "$RATE" != 0 ]; then
    taskset -c "$LOAD_CPU" bin/infergate bench -url "http://127.0.0.1:$2" -model fraud -input "$TMP/bodies" \
      -rate "$RATE" -duration "$RATE_DURATION" -warmup 500ms -metrics-url off -format json -quiet > "$TMP/h.json"
    echo -n " $(python3 -c 'import json,sys; l=json.load(open(sys.argv[1]))["run"]["latency"]; print(l["p50_ns"]//1000, l["p99_ns"]//1000)' "$TMP/h.json")"
  fi
}
if [ "$PAUSE" = 1 ]; then
  start on 9000; ON=$G
  start "$BASELINE" 9010 b; OFF=$G
  trap 'kill -CONT $ON $OFF; kill $ON $OFF; wait; rm -rf "$TMP"' EXIT
  kill -STOP $OFF
fi
for _ in $(seq "$ROUNDS"); do
  if [ "$PAUSE" = 1 ]; then
    measure $ON 9000; kill -STOP $ON; kill -CONT $OFF
    measure $OFF 9010; kill -STOP $OFF; kill -CONT $ON
  else
    for s in on: "$BASELINE:b"; do
      start "${s%%:*}" 9000 "${s#*:}"
      measure $G 9000
      kill $G; wait $G 2>/dev/null || true
    done
  fi
  echo
done | tee "$TMP/res"
# A round's fields: on's requests and CPU ns a request [and p50, p99 µs],
# then off's.
k=2; [ "$RATE" != 0 ] && k=4
awk -v k=$k '{print $1/$(k+1)}' "$TMP/res" | median | awk '{printf "sampling every request: throughput %+.1f%%", 100*($1-1)}'
awk -v k=$k '{print $2/$(k+2)}' "$TMP/res" | median | awk '{printf ", server CPU per request %+.1f%%", 100*($1-1)}'
if [ "$RATE" != 0 ]; then
  awk '{print $3/$7}' "$TMP/res" | median | awk '{printf ", p50 at the fixed rate %+.1f%%", 100*($1-1)}'
  awk '{print $4/$8}' "$TMP/res" | median | awk '{printf ", p99 %+.1f%%", 100*($1-1)}'
fi
echo " (medians of per-round ratios, each gateway alone)"
# A round's p99 is set by the few VM stalls that land in it, so medians of
# its ratio move by several percent between runs; the ratio of the
# rounds' mean p99s is a second estimate that weighs every round.
if [ "$RATE" != 0 ]; then
  awk '{a+=$3; b+=$7; c+=$4; d+=$8} END {printf "ratios of the rounds'"'"' means: p50 %+.1f%%, p99 %+.1f%%\n", 100*(a/b-1), 100*(c/d-1)}' "$TMP/res"
fi
