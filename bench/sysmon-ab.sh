#!/usr/bin/env bash
# What serve's sysmon setting (cmd/infergate/sysmon.go) is worth: the
# gateway on the demo repository, started with GODEBUG=schedtrace=0 (Go's
# default sysmon) and without (the setting), each alone on CPU 0, warmed a
# second, measured by wrk on CPU 1 for DURATION at CONNS connections,
# stopped; alternating, ROUNDS rounds. Prints each round's req/s, p50 and
# p99, then the medians. With BATCH, the load is `infergate bench` instead
# (any model, synthesized requests of BATCH rows, CONNS closed-loop
# clients).
#
#   bash bench/sysmon-ab.sh                        (after `make ort models build`)
#   CONNS=1 MODEL=mlp ROUNDS=5 bash bench/sysmon-ab.sh
#   MODEL=cnn BATCH=32 CONNS=1 ROUNDS=3 bash bench/sysmon-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-3s} CONNS=${CONNS:-64} MODEL=${MODEL:-mlp} BATCH=${BATCH:-}
SERVER_CPU=${SERVER_CPU:-0} LOAD_CPU=${LOAD_CPU:-1}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
go build -o bin/infergate ./cmd/infergate
[ -f configs/models/$MODEL/1/model.onnx ] || bin/infergate gen-models configs/models
. bench/fraud-common.sh   # wait_ready, median

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
url=http://127.0.0.1:9000/v2/models/$MODEL/infer
for _ in $(seq "$ROUNDS"); do
  for s in default setting; do
    godebug=schedtrace=0
    [ $s = setting ] && godebug=
    GODEBUG=$godebug taskset -c "$SERVER_CPU" bin/infergate serve --model-repository configs/models \
      --http-address 127.0.0.1 --http-port 9000 --metrics-port 9002 --log-level warn & G=$!
    wait_ready 9000
    printf '%s ' "$s"
    if [ -n "$BATCH" ]; then
      taskset -c "$LOAD_CPU" bin/infergate bench -url http://127.0.0.1:9000 -model "$MODEL" -batch "$BATCH" \
        -concurrency "$CONNS" -duration "$DURATION" -warmup 1s -metrics-url off -format json -quiet |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["run"]; l=r["latency"]; print(int(r["throughput"]), l["p50_ns"]//1000, l["p99_ns"]//1000)' |
        tee -a "$TMP/$s" | awk '{printf "%6d req/s  p50 %5.0f us  p99 %5.0f us  ", $1, $2, $3}'
    else
      taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d1s -s bench/$MODEL.lua $url >/dev/null
      taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s bench/$MODEL.lua $url |
        awk -v f="$TMP/$s" '
          function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; return (v+0)*1e6 }
          /Requests\/sec/ {q=$2} $1=="50%" {p50=us($2)} $1=="99%" {p99=us($2)}
          END {printf "%d %.0f %.0f\n", q, p50, p99 >> f; printf "%6d req/s  p50 %5.0f us  p99 %5.0f us  ", q, p50, p99}'
    fi
    kill "$G"; wait "$G" 2>/dev/null || true
  done
  echo
done
for s in default setting; do
  printf '%-8s (%s%s, %s conns) medians: %s req/s, p50 %s us, p99 %s us\n' "$s" "$MODEL" "${BATCH:+ batch $BATCH}" "$CONNS" \
    "$(cut -d' ' -f1 "$TMP/$s" | median)" "$(cut -d' ' -f2 "$TMP/$s" | median)" "$(cut -d' ' -f3 "$TMP/$s" | median)"
done
