# Sourced, from the repository root, by the bench scripts that run the
# fraud demo (bench/monitor-cost-ab.sh and bench/monitor-profile.sh lay
# out the mlp demo instead when MODEL=mlp: mlp_repos below): the fraud
# demo model in two repositories, $1/on sampling every request into the
# drift monitor (its defaults, plus MONITOR="key=value ..." overrides) and
# $1/off without a monitor section; the bodies the load sends, the first
# ROWS rows of the model's reference sample (default all 2,000, so the
# monitor's sketches see real spread; ROWS=1 sends one body, as these
# scripts did before 2026-11-26), without ids (the monitored gateway makes
# one up for each) or, with IDS=1, each with its own ("tx-<row>"), one a
# line in $1/bodies.txt for bench/fraud.lua and one a file in $1/bodies/
# for infergate bench; and helpers.
[ -f configs/models/fraud/1/reference.csv ] || bin/infergate gen-models configs/models

fraud_repos() {
  for s in on off; do
    mkdir -p "$1/$s/fraud/1"
    cp configs/models/fraud/1/model.onnx configs/models/fraud/1/reference.csv "$1/$s/fraud/1/"
  done
  # The demo's batching, with monitoring at its defaults (windows of 1,000
  # rows, the reference from reference.csv) sampling every request, or off.
  sed '/^monitor:/,$d' configs/models/fraud/config.yaml > "$1/off/fraud/config.yaml"
  { cat "$1/off/fraud/config.yaml"; printf 'monitor:\n  sample_rate: 1\n'; } > "$1/on/fraud/config.yaml"
  # shellcheck disable=SC2086
  set_monitor "$1/on/fraud/config.yaml" ${MONITOR:-}
  mkdir -p "$1/bodies"
  awk -F, -v rows="${ROWS:-2000}" -v ids="${IDS:-0}" 'NR > 1 && NR <= rows + 1 {
      id = ids == 1 ? sprintf("\"id\":\"tx-%d\",", NR - 1) : ""
      printf "{%s\"inputs\":[{\"name\":\"features\",\"shape\":[1,%d],\"datatype\":\"FP32\",\"data\":[%s]}]}\n", id, NF, $0 }' \
    configs/models/fraud/1/reference.csv > "$1/bodies.txt"
  split -a 4 -d -l 1 --additional-suffix=.json "$1/bodies.txt" "$1/bodies/"
}

# mlp_repos DIR: the mlp demo (256 features a request, 16 outputs) as
# fraud_repos lays out the fraud one: DIR/on sampling every request (the
# monitor's defaults, plus MONITOR overrides; the reference is the first
# 1,000 served rows, since the demo ships none), DIR/off unmonitored, and
# 2,000 bodies of 256 standard normal values (seed 1), in DIR/bodies.txt
# and DIR/bodies/.
mlp_repos() {
  local r
  for r in on off; do
    mkdir -p "$1/$r/mlp/1"
    cp configs/models/mlp/1/model.onnx "$1/$r/mlp/1/"
    cp configs/models/mlp/config.yaml "$1/$r/mlp/"
  done
  printf 'monitor:\n  sample_rate: 1\n' >> "$1/on/mlp/config.yaml"
  # shellcheck disable=SC2086
  set_monitor "$1/on/mlp/config.yaml" ${MONITOR:-}
  mkdir -p "$1/bodies"
  python3 - "$1/bodies.txt" <<'EOF'
import random, sys
random.seed(1)
with open(sys.argv[1], "w") as f:
    for _ in range(2000):
        row = ",".join("%.4f" % random.gauss(0, 1) for _ in range(256))
        f.write('{"inputs":[{"name":"input","shape":[1,256],"datatype":"FP32","data":[%s]}]}\n' % row)
EOF
  split -a 4 -d -l 1 --additional-suffix=.json "$1/bodies.txt" "$1/bodies/"
}

# model_repos DIR: fraud_repos or mlp_repos, as MODEL (default fraud) says.
model_repos() {
  case "${MODEL:-fraud}" in
  fraud) fraud_repos "$1" ;;
  mlp) mlp_repos "$1" ;;
  *) echo "MODEL is fraud or mlp" >&2; return 1 ;;
  esac
}

# set_monitor CONFIG key=value...: sets keys of CONFIG's monitor section
# (its last section), replacing a key that is there, adding one that is not.
set_monitor() {
  local f=$1 kv
  shift
  for kv in "$@"; do
    if grep -q "^  ${kv%%=*}:" "$f"; then
      sed -i "s|^  ${kv%%=*}:.*|  ${kv%%=*}: ${kv#*=}|" "$f"
    else
      printf '  %s: %s\n' "${kv%%=*}" "${kv#*=}" >> "$f"
    fi
  done
}

# wait_ready PORT...: until each gateway answers ready.
wait_ready() {
  local p
  for p in "$@"; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/v2/health/ready" >/dev/null && break; sleep 0.1; done
  done
}

# cpu_ns PID is a process's CPU time, all threads, in nanoseconds, from the
# scheduler's own accounting (which leaves out time the hypervisor stole,
# so CPU per request holds still on a machine whose neighbours do not).
# A thread that exits between the glob and the read is skipped (Go seldom
# ends threads; its time is then missing from that one reading).
cpu_ns() { { cat /proc/"$1"/task/*/schedstat 2>/dev/null || true; } | awk '{s+=$1} END {printf "%.0f", s}'; }

# median of the numbers on stdin, one a line.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# start_pair A_BIN A_REPO B_BIN B_REPO: serves gateway a on port 9500
# (metrics 9502) and gateway b on 9520 (metrics 9522), both pinned to
# $SERVER_CPU, their data under $TMP; sets $A and $B to their pids, stops
# them and removes $TMP on exit, and returns when both answer ready.
start_pair() {
  taskset -c "$SERVER_CPU" "$1" serve --model-repository "$2" --http-address 127.0.0.1 \
    --http-port 9500 --metrics-port 9502 --log-level warn --data-dir "$TMP/a" & A=$!
  taskset -c "$SERVER_CPU" "$3" serve --model-repository "$4" --http-address 127.0.0.1 \
    --http-port 9520 --metrics-port 9522 --log-level warn --data-dir "$TMP/b" & B=$!
  trap 'kill $A $B 2>/dev/null; wait $A $B 2>/dev/null || true; rm -rf "$TMP"' EXIT
  wait_ready 9500 9520
}
port() { [ "$1" = a ] && echo 9500 || echo 9520; }
pid() { [ "$1" = a ] && echo "$A" || echo "$B"; }

# warm_up: two seconds of wrk against each gateway of the pair, unrecorded.
warm_up() {
  for s in a b; do
    taskset -c "$LOAD_CPU" wrk -t1 -c64 -d2s -s bench/fraud.lua "http://127.0.0.1:$(port $s)/v2/models/fraud/infer" -- "$TMP/bodies.txt" >/dev/null
  done
}

# wrk_round S: one $DURATION run of wrk at 64 connections from $LOAD_CPU
# against gateway S (a or b); appends its req/s to $TMP/S.rps and the
# server's CPU time per request, in µs, to $TMP/S.cpu.
wrk_round() {
  local c0 c1
  c0=$(cpu_ns "$(pid "$1")")
  taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"$DURATION" -s bench/fraud.lua "http://127.0.0.1:$(port "$1")/v2/models/fraud/infer" -- "$TMP/bodies.txt" > "$TMP/wrk.out"
  c1=$(cpu_ns "$(pid "$1")")
  awk '/Requests\/sec/ {printf "%d\n", $2}' "$TMP/wrk.out" >> "$TMP/$1.rps"
  awk -v c=$((c1 - c0)) '/requests in/ {printf "%.2f\n", c / $1 / 1000}' "$TMP/wrk.out" >> "$TMP/$1.cpu"
}

# latency_round S: one $DURATION run of infergate bench at $RATE req/s from
# $LOAD_CPU against gateway S, its JSON report in $TMP/h.json.
latency_round() {
  taskset -c "$LOAD_CPU" bin/infergate bench -url "http://127.0.0.1:$(port "$1")" -model fraud -input "$TMP/bodies" \
    -rate "$RATE" -duration "$DURATION" -warmup 500ms -metrics-url off -format json -quiet > "$TMP/h.json"
}

# alternate ROUNDS MEASURE: calls MEASURE a and MEASURE b in each of ROUNDS
# rounds, a first in odd rounds and b first in even ones, so that neither
# always runs on the heels of the other.
alternate() {
  local r s order
  for r in $(seq "$1"); do
    order="a b"
    [ $((r % 2)) = 0 ] && order="b a"
    for s in $order; do "$2" "$s"; done
  done
}

# ratios X Y: the per-round ratios of gateway X's req/s and CPU per request
# to gateway Y's (from wrk_round), one a line, in $TMP/ratio and
# $TMP/cratio.
ratios() {
  paste "$TMP/$1.rps" "$TMP/$2.rps" | awk '{printf "%.4f\n", $1/$2}' > "$TMP/ratio"
  paste "$TMP/$1.cpu" "$TMP/$2.cpu" | awk '{printf "%.4f\n", $1/$2}' > "$TMP/cratio"
}
