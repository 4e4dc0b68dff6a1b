#!/usr/bin/env bash
# Reproduces the HTTP figures in bench/README.md: the trivial fasthttp
# baseline, the gateway on the demo repository (batching on) and the
# gateway with the model's batching off, all pinned to CPU 0, driven by wrk
# pinned to CPU 1. Each round measures the three in turn, each server alone
# (see below), so drift in the machine's speed hits them alike; the table
# shows each round and the medians.
#
#   bash bench/run.sh                       (after `make ort models build`)
#   ROUNDS=7 DURATION=10s WARMUP=10s bash bench/run.sh
#   MODEL=mlp ROUNDS=7 DURATION=4s bash bench/run.sh   (issue 3's table: also
#                                           measures R in every round and prints
#                                           the ratios; RAW=0 skips R)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-5}
# WARMUP is each server's unmeasured load after it starts: before serve kept
# sysmon awake, a fresh gateway serving the MLP on this VM ran at about half
# speed for its first seconds, sometimes longer (bench/README.md, sixth
# session); a warm server is what the table compares either way.
WARMUP=${WARMUP:-5s}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
MODEL=${MODEL:-elementwise}
LUA=bench/$MODEL.lua
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
go build -o bin/baseline ./bench/baseline
go build -o bin/infergate ./cmd/infergate
[ -f configs/models/$MODEL/1/model.onnx ] || bin/infergate gen-models configs/models

wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "server at $1 did not start"; exit 1; }

# The host's processor, since R and F depend on it: on a Zen 4 host (family
# 25 model 17) R was about 37k samples/s, on earlier sessions' hosts 47-70k.
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | xargs)"
TMP=$(mktemp -d)
# The same model with batching off: its config without max_batch_size.
mkdir -p "$TMP/unbatched/$MODEL/1"
cp configs/models/$MODEL/1/model.onnx "$TMP/unbatched/$MODEL/1/"
grep -v max_batch_size configs/models/$MODEL/config.yaml > "$TMP/unbatched/$MODEL/config.yaml"

# Each server runs alone, started for its own measurement and stopped
# after it: two Go servers pinned to one core change each other's speed
# (on this VM, a gateway measured beside another idle one served the MLP at
# 19-21k req/s, beside one whose goroutine woke every millisecond at
# 13-15k, and alone at 13-15k; bench/README.md), so side by side measures
# the pair rather than the server.
SRV=
start_server() {
  case $1 in
  trivial) taskset -c "$SERVER_CPU" bin/baseline --listen 127.0.0.1:9100 & SRV=$! ;;
  infergate) taskset -c "$SERVER_CPU" bin/infergate serve --model-repository configs/models \
      --http-address 127.0.0.1 --http-port 9000 --metrics-port 9002 --log-level warn & SRV=$!
    wait_up http://127.0.0.1:9000/v2/health/ready ;;
  unbatched) taskset -c "$SERVER_CPU" bin/infergate serve --model-repository "$TMP/unbatched" \
      --http-address 127.0.0.1 --http-port 9010 --metrics-port 9012 --log-level warn & SRV=$!
    wait_up http://127.0.0.1:9010/v2/health/ready ;;
  esac
  sleep 0.2
}
stop_server() { kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; SRV=; }
trap 'stop_server' EXIT
declare -A URL=([trivial]=http://127.0.0.1:9100/v2/models/$MODEL/infer
  [infergate]=http://127.0.0.1:9000/v2/models/$MODEL/infer
  [unbatched]=http://127.0.0.1:9010/v2/models/$MODEL/infer)

one() {
  taskset -c "$LOAD_CPU" wrk -t1 -c"$3" -d"$DURATION" --latency -s "$LUA" "$2" > "$TMP/out"
  awk -v f="$TMP/$1.$3" '
    function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1e6; return v }
    /Requests\/sec/ {rps=$2} $1=="50%" {p50=us($2)} $1=="99%" {p99=us($2)}
    END {printf "%d %.0f %.0f\n", rps, p50, p99 >> f}' "$TMP/out"
}
# The MLP's targets (issue 3) need R, raw ONNX Runtime's best samples/s on
# the server's core: the best over batch sizes 8, 16, 32 and 64 of
# BenchmarkRawMLP (on a Zen 4 host, 8 rows were as fast as 64: the product
# is compute-bound from 8 rows on; bench/README.md, ninth session), with Go's
# default GODEBUG (the gateway's sysmon setting slows a loop of
# back-to-back calls; bench/README.md, seventh session). It is measured in
# every round, right after the servers, so each round has its own L and its
# own on/L: this machine's speed drifts by up to 2x within minutes, and an R
# taken once, after all the rounds, moved on/L by 20 points between two
# runs minutes apart (bench/README.md, eighth session).
RAW=${RAW:-1}
[ "$MODEL" = mlp ] || RAW=0
if [ "$RAW" = 1 ]; then
  go test -c -o "$TMP/raw.test" ./runtime/
fi
raw() {
  (cd runtime && taskset -c "$SERVER_CPU" "$TMP/raw.test" -test.run '^$' -test.bench 'RawMLP$/batch=(8|16|32|64)$' \
    -test.cpu 1 -test.benchtime "${RAW_TIME:-1s}") | tee -a "$TMP/raw" |
    awk '/samples\/s/ {for (i = 1; i < NF; i++) if ($(i+1) == "samples/s") print int($i)}' | sort -n | tail -1 >> "$TMP/R"
}

for r in $(seq "$ROUNDS"); do
  for s in trivial infergate unbatched; do
    start_server $s
    taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"$WARMUP" -s "$LUA" "${URL[$s]}" >/dev/null
    for c in 64 1; do
      one $s "${URL[$s]}" $c
    done
    stop_server
  done
  if [ "$RAW" = 1 ]; then raw; fi
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-10s %5s  %-40s %8s %8s %8s\n' server conns "req/s per round" "median" "p50 us" "p99 us"
for c in 64 1; do
  for s in trivial infergate unbatched; do
    f="$TMP/$s.$c"
    printf '%-10s %5s  %-40s %8s %8s %8s\n' "$s" "$c" "$(cut -d' ' -f1 "$f" | tr '\n' ' ')" \
      "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" "$(cut -d' ' -f3 "$f" | median)"
  done
done
t64=$(cut -d' ' -f1 "$TMP/trivial.64" | median); g64=$(cut -d' ' -f1 "$TMP/infergate.64" | median)
u64=$(cut -d' ' -f1 "$TMP/unbatched.64" | median)
t1=$(cut -d' ' -f2 "$TMP/trivial.1" | median); g1=$(cut -d' ' -f2 "$TMP/infergate.1" | median)
u1=$(cut -d' ' -f2 "$TMP/unbatched.1" | median)
pct() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f%%", 100*a/b}'; }
echo "at 64 connections, infergate / trivial: $(pct "$g64" "$t64"); batching off / trivial: $(pct "$u64" "$t64")"
echo "p50 at 1 connection, minus trivial's: infergate $((g1 - t1)) us, batching off $((u1 - t1)) us"

if [ "$RAW" = 1 ]; then
  echo "R per round (samples/s): $(tr '\n' ' ' < "$TMP/R")"
  # Each round measures the three servers and R within a minute or so, so
  # its own ratios escape most of the machine's drift between rounds; the
  # figures to quote are the medians of the per-round ratios.
  paste -d' ' "$TMP/trivial.64" "$TMP/infergate.64" "$TMP/unbatched.64" "$TMP/R" |
    awk '{f = $1; on = $4; off = $7; r = $10; printf "%.3f %.4f\n", on/off, on * (1/f + 1/r)}' > "$TMP/ratios"
  echo "batching on / off, round by round: $(cut -d' ' -f1 "$TMP/ratios" | awk '{printf "%.2f ", $1}')(median $(cut -d' ' -f1 "$TMP/ratios" | median))"
  echo "on / L, round by round: $(cut -d' ' -f2 "$TMP/ratios" | awk '{printf "%.1f%% ", 100*$1}')(median $(cut -d' ' -f2 "$TMP/ratios" | median | awk '{printf "%.1f%%", 100*$1}'))"
  R=$(median < "$TMP/R")
  awk -v f="$t64" -v r="$R" -v on="$g64" -v off="$u64" -v ro="$(cut -d' ' -f1 "$TMP/ratios" | median)" -v rl="$(cut -d' ' -f2 "$TMP/ratios" | median)" 'BEGIN {
    l = 1 / (1/f + 1/r)
    printf "medians: F %d req/s, R %d samples/s, L = 1/(1/F + 1/R) = %.0f req/s, on %d req/s (target 22,000), off %d\n", f, r, l, on, off
    printf "issue 3: on %d req/s (target 22,000); on / off %.2fx (target 3x); on / L %.1f%% (target 75%%), medians of the per-round ratios\n", on, ro, 100*rl }'
fi
rm -rf "$TMP"
