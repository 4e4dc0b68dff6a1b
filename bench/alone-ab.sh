#!/usr/bin/env bash
# Two gateways compared with each alone on CPU 0: A and B, each a build
# (A_BIN, B_BIN, default bin/infergate) serving MODEL from a repository
# variant (A, B):
#   batched      the demo repository's config
#   unbatched    the same without max_batch_size
#   monitored    fraud sampling every request into the drift monitor
#   unmonitored  fraud without a monitor section
# Each round starts A, warms it for WARMUP (default 1s), measures it with
# wrk from CPU 1 at CONNS connections for DURATION, stops it, then does
# the same for B
# (the order alternating between rounds). Prints each round (req/s, p50
# and p99 µs, server CPU µs a request) and the medians of the per-round
# B/A ratios. Two Go servers side by side on one core change each other's
# speed on this VM (bench/README.md, sixth session), hence one at a time.
#
#   MODEL=mlp A=batched B=unbatched CONNS=1 bash bench/alone-ab.sh  # a lone client, batching on and off
#   MODEL=mlp A=unbatched B=unbatched A_BIN=/tmp/old/bin/infergate bash bench/alone-ab.sh
#   MODEL=fraud A=monitored B=monitored B_BIN=/tmp/other bash bench/alone-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-mlp} A=${A:-batched} B=${B:-unbatched} ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-3s} CONNS=${CONNS:-64}
A_BIN=${A_BIN:-bin/infergate} B_BIN=${B_BIN:-bin/infergate} SERVER_CPU=${SERVER_CPU:-0} LOAD_CPU=${LOAD_CPU:-1} WARMUP=${WARMUP:-1s}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
go build -o bin/infergate ./cmd/infergate
. bench/fraud-common.sh   # fraud_repos, wait_ready, cpu_ns, median

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for v in batched unbatched; do
  mkdir -p "$TMP/$v/$MODEL/1"
  cp configs/models/$MODEL/1/model.onnx "$TMP/$v/$MODEL/1/"
done
cp configs/models/$MODEL/config.yaml "$TMP/batched/$MODEL/"
grep -v max_batch_size configs/models/$MODEL/config.yaml > "$TMP/unbatched/$MODEL/config.yaml"
args=()
lua=bench/$MODEL.lua
if [ "$MODEL" = fraud ]; then
  fraud_repos "$TMP"
  mv "$TMP/on" "$TMP/monitored"
  mv "$TMP/off" "$TMP/unmonitored"
  args=(-- "$TMP/bodies.txt")
fi
url=http://127.0.0.1:9000/v2/models/$MODEL/infer

one() { # one LABEL BIN VARIANT: a measurement appended to $TMP/LABEL
  taskset -c "$SERVER_CPU" "$2" serve --model-repository "$TMP/$3" --http-address 127.0.0.1 \
    --http-port 9000 --metrics-port 9002 --log-level warn --data-dir "$TMP/d-$1" & G=$!
  wait_ready 9000
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$WARMUP" -s "$lua" "$url" "${args[@]}" >/dev/null
  c0=$(cpu_ns $G)
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$lua" "$url" "${args[@]}" > "$TMP/wrk.out"
  c1=$(cpu_ns $G)
  kill $G; wait $G 2>/dev/null || true
  awk -v c=$((c1 - c0)) -v f="$TMP/$1" '
    function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; return (v+0)*1e6 }
    /Requests\/sec/ {q=$2} $1=="50%" {p50=us($2)} $1=="99%" {p99=us($2)} /requests in/ {n=$1}
    END {printf "%d %.0f %.0f %.1f\n", q, p50, p99, c/n/1000 >> f; printf "%6d req/s  p50 %6.0f us  p99 %6.0f us  cpu %5.1f us   ", q, p50, p99, c/n/1000}' "$TMP/wrk.out"
}

for r in $(seq "$ROUNDS"); do
  order="a b"; [ $((r % 2)) = 0 ] && order="b a"
  for s in $order; do
    printf '%s ' "$s"
    if [ $s = a ]; then one a "$A_BIN" "$A"; else one b "$B_BIN" "$B"; fi
  done
  echo
done
paste -d' ' "$TMP/a" "$TMP/b" | awk '{print $5/$1, $6/$2, $7/$3, $8/$4}' > "$TMP/ratio"
printf 'B (%s %s) / A (%s %s), %s %s conns, medians of %s rounds: req/s %s, p50 %s, p99 %s, CPU per request %s\n' \
  "$B_BIN" "$B" "$A_BIN" "$A" "$MODEL" "$CONNS" "$ROUNDS" \
  "$(cut -d' ' -f1 "$TMP/ratio" | median | awk '{printf "%+.1f%%", 100*($1-1)}')" \
  "$(cut -d' ' -f2 "$TMP/ratio" | median | awk '{printf "%+.1f%%", 100*($1-1)}')" \
  "$(cut -d' ' -f3 "$TMP/ratio" | median | awk '{printf "%+.1f%%", 100*($1-1)}')" \
  "$(cut -d' ' -f4 "$TMP/ratio" | median | awk '{printf "%+.1f%%", 100*($1-1)}')"
