#!/usr/bin/env bash
# Reproduces the HTTP figures in bench/README.md: the trivial fasthttp
# baseline and the gateway, each pinned to CPU 0, driven by wrk pinned to
# CPU 1, one after the other in the same run.
#
#   bash bench/run.sh            (after `make ort models build`)
#   DURATION=10s bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
go build -o bin/baseline ./bench/baseline
[ -x bin/infergate ] || go build -o bin/infergate ./cmd/infergate

wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "server at $1 did not start"; exit 1; }

# run NAME URL CONNS: prints "NAME CONNS req/s p50 p99"
run() {
  local name=$1 url=$2 conns=$3
  taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d3s -s bench/elementwise.lua "$url" >/dev/null # warm-up
  taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"$DURATION" --latency -s bench/elementwise.lua "$url" > /tmp/wrk.$$.txt
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' /tmp/wrk.$$.txt)
  p50=$(awk '$1=="50%" {print $2}' /tmp/wrk.$$.txt)
  p99=$(awk '$1=="99%" {print $2}' /tmp/wrk.$$.txt)
  printf '%-24s %6s %12s %10s %10s\n' "$name" "$conns" "$rps" "$p50" "$p99"
}

printf '%-24s %6s %12s %10s %10s\n' server conns req/s p50 p99
taskset -c "$SERVER_CPU" bin/baseline --listen 127.0.0.1:9100 & BASE=$!
trap 'kill $BASE $GW 2>/dev/null || true' EXIT
GW=
sleep 0.5
run "fasthttp-trivial" http://127.0.0.1:9100/v2/models/elementwise/infer 64
run "fasthttp-trivial" http://127.0.0.1:9100/v2/models/elementwise/infer 1
kill $BASE; wait $BASE 2>/dev/null || true

taskset -c "$SERVER_CPU" bin/infergate serve --model-repository configs/models \
  --http-address 127.0.0.1 --http-port 9000 --metrics-port 9002 --log-level warn & GW=$!
wait_up http://127.0.0.1:9000/v2/health/ready
run "infergate-elementwise" http://127.0.0.1:9000/v2/models/elementwise/infer 64
run "infergate-elementwise" http://127.0.0.1:9000/v2/models/elementwise/infer 1
