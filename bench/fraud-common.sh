# Shared by bench/monitor-cost.sh, bench/latency-ab.sh, bench/throughput-ab.sh and
# bench/monitor-profile.sh (sourced, from the repository root): the fraud
# demo model in two repositories, $1/on sampling every request into the
# drift monitor (its defaults, plus MONITOR="key=value ..." overrides) and
# $1/off without a monitor section; the bodies the load sends, the first
# ROWS rows of the model's reference sample (default all 2,000, so the
# monitor's sketches see real spread; ROWS=1 sends one body, as these
# scripts did before 2026-11-26), one a line in $1/bodies.txt for
# bench/fraud.lua and one a file in $1/bodies/ for infergate bench; and
# helpers.
[ -f configs/models/fraud/1/reference.csv ] || bin/infergate gen-models configs/models

fraud_repos() {
  for s in on off; do
    mkdir -p "$1/$s/fraud/1"
    cp configs/models/fraud/1/model.onnx configs/models/fraud/1/reference.csv "$1/$s/fraud/1/"
  done
  # The demo's batching, with monitoring at its defaults (windows of 1,000
  # rows, the reference from reference.csv) sampling every request, or off.
  sed '/^monitor:/,$d' configs/models/fraud/config.yaml > "$1/off/fraud/config.yaml"
  { cat "$1/off/fraud/config.yaml"; printf 'monitor:\n  sample_rate: 1\n'
    for kv in ${MONITOR:-}; do printf '  %s: %s\n' "${kv%%=*}" "${kv#*=}"; done; } > "$1/on/fraud/config.yaml"
  mkdir -p "$1/bodies"
  awk -F, -v rows="${ROWS:-2000}" 'NR > 1 && NR <= rows + 1 {
      printf "{\"inputs\":[{\"name\":\"features\",\"shape\":[1,%d],\"datatype\":\"FP32\",\"data\":[%s]}]}\n", NF, $0 }' \
    configs/models/fraud/1/reference.csv > "$1/bodies.txt"
  split -a 4 -d -l 1 --additional-suffix=.json "$1/bodies.txt" "$1/bodies/"
}

# wait_ready PORT...: until each gateway answers ready.
wait_ready() {
  for p in "$@"; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/v2/health/ready" >/dev/null && break; sleep 0.1; done
  done
}

# cpu_ns PID is a process's CPU time, all threads, in nanoseconds, from the
# scheduler's own accounting (which leaves out time the hypervisor stole,
# so CPU per request holds still on a machine whose neighbours do not).
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s+=$1} END {printf "%.0f", s}'; }

# median of the numbers on stdin, one a line.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
