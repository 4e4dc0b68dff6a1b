#!/usr/bin/env bash
# Where the fraud gateway's core goes, in nanoseconds per request: the
# gateway (BIN, default bin/infergate; MONITOR_ON=0 for monitoring off) on
# CPU 0 under wrk at 64 connections on CPU 1 (or, with RATE, the harness at
# RATE requests a second, open loop), recorded by perf for the length of
# one run; each symbol's share of the samples times the
# server's CPU time (the scheduler's) over the requests wrk completed.
# Prints the symbols matching PATTERN and not EXCLUDE (default: the
# monitor's and the tap's code, not the request metrics every gateway
# keeps) and their sum. Needs perf.
#
#   bash bench/monitor-profile.sh
#   BIN=/tmp/old/bin/infergate bash bench/monitor-profile.sh
#   MODEL=mlp bash bench/monitor-profile.sh   # the mlp demo (fraud-common.sh's mlp_repos)
#   PATTERN='Tap\).Push|copyTensor|ring\).warm|prefetchLines' bash bench/monitor-profile.sh
#   RATE=4000 DURATION=16s PATTERN=. bash bench/monitor-profile.sh   # open loop at 4,000 req/s (harness), every symbol
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/infergate} DURATION=${DURATION:-5s} MONITOR_ON=${MONITOR_ON:-1}
PATTERN=${PATTERN:-'infergate/monitor\.|gateway\.\(\*Server\)\.(tapBatch|prepareTap|tapRequest)|gateway\.\(\*inferRequest\)\.fillSample|requestIDs|appendHex'}
EXCLUDE=${EXCLUDE:-'monitor\.Observe|RequestMetrics'}
command -v perf >/dev/null || { echo "perf is needed: apt-get install linux-perf"; exit 1; }
go build -o bin/infergate ./cmd/infergate
. bench/fraud-common.sh

TMP=$(mktemp -d)
MODEL=${MODEL:-fraud}
model_repos "$TMP"
repo=$TMP/on
[ "$MONITOR_ON" = 1 ] || repo=$TMP/off
taskset -c 0 "$BIN" serve --model-repository "$repo" --http-address 127.0.0.1 \
  --http-port 9600 --metrics-port 9602 --log-level warn --data-dir "$TMP/d" & P=$!
trap 'kill $P 2>/dev/null; wait $P 2>/dev/null || true; rm -rf "$TMP"' EXIT
wait_ready 9600
url=http://127.0.0.1:9600/v2/models/$MODEL/infer
taskset -c 1 wrk -t1 -c64 -d2s -s bench/fraud.lua $url -- "$TMP/bodies.txt" >/dev/null
c0=$(cpu_ns $P)
if [ -n "${RATE:-}" ]; then
  perf record -q -F 4999 -g -p $P -o "$TMP/perf.data" -- \
    taskset -c 1 bin/infergate bench -url http://127.0.0.1:9600 -model "$MODEL" -input "$TMP/bodies" \
    -rate "$RATE" -duration "$DURATION" -format json -quiet > "$TMP/bench.json"
  n=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["run"]["requests"])' "$TMP/bench.json")
  rps=$RATE
else
  perf record -q -F 2999 -g -p $P -o "$TMP/perf.data" -- \
    taskset -c 1 wrk -t1 -c64 -d"$DURATION" -s bench/fraud.lua $url -- "$TMP/bodies.txt" > "$TMP/wrk.out" 2>/dev/null
  n=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
  rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/wrk.out")
fi
c1=$(cpu_ns $P)
per=$(awk -v c=$((c1 - c0)) -v n="$n" 'BEGIN {printf "%.1f", c / n}')
echo "$n requests, $rps req/s under perf, server CPU $per ns a request"
perf report -i "$TMP/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null |
  awk -v per="$per" -v pat="$PATTERN" -v ex="$EXCLUDE" '
    /^ *[0-9.]+%/ { pct = $1 + 0; sub(/^ *[0-9.]+% +\[.\] +/, ""); sub(/ +$/, "")
      if ($0 ~ pat && $0 !~ ex) { printf "%6.0f ns  %s\n", pct * per / 100, $0; sum += pct } }
    END { printf "%6.0f ns  in all (%.2f%% of the core)\n", sum * per / 100, sum }'
