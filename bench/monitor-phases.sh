#!/usr/bin/env bash
# Where in the request the drift monitor's cost lands: the fraud demo
# unmonitored (A, port 9500) and sampling every request (B, 9520), both on
# CPU 0, warmed by wrk at 64 connections, then ROUNDS (default 6)
# alternations of `infergate bench -compare` at RATE requests a second
# (default 4000; RATE=0 for 64 closed-loop clients) from CPU 1. Prints
# each gateway's mean time a request in each phase of its own
# infergate_request_phase_seconds histogram (decode, queue, compute,
# encode) over those rounds, the compute phase's distribution (share of
# requests within each bucket bound, µs), requests a run, what the Go heap
# allocated and how many collections ran meanwhile, and the harness's
# pooled B/A ratios. The compute phase runs from a batch's start
# until the member's goroutine runs again, so it holds the run and what
# the processor did before the member got it back.
#
#   bash bench/monitor-phases.sh
#   RATE=0 bash bench/monitor-phases.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-4000} ROUNDS=${ROUNDS:-6} SERVER_CPU=0 LOAD_CPU=1
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
[ "${BUILD:-1}" = 0 ] || go build -o bin/infergate ./cmd/infergate
. bench/fraud-common.sh

TMP=$(mktemp -d)
fraud_repos "$TMP"
start_pair bin/infergate "$TMP/off" bin/infergate "$TMP/on"
for p in 9500 9520; do
  taskset -c "$LOAD_CPU" wrk -t1 -c64 -d3s -s bench/fraud.lua "http://127.0.0.1:$p/v2/models/fraud/infer" -- "$TMP/bodies.txt" >/dev/null
done
snap() {
  for p in 9502 9522; do
    curl -sf "http://127.0.0.1:$p/metrics" |
      grep -E '^infergate_request_phase_seconds_(sum|count|bucket)|^infergate_batch_requests_(sum|count)|^go_memstats_alloc_bytes_total|^go_gc_duration_seconds_count' |
      sed "s/^/$p /"
  done
}
load=(-rate "$RATE")
[ "$RATE" = 0 ] && load=(-concurrency 64)
snap > "$TMP/before"
taskset -c "$LOAD_CPU" bin/infergate bench -url http://127.0.0.1:9500 -compare http://127.0.0.1:9520 \
  -compare-rounds "$ROUNDS" -model fraud -input "$TMP/bodies" "${load[@]}" -duration 2s -warmup 300ms \
  -format json -quiet > "$TMP/ab.json"
snap > "$TMP/after"
python3 - "$TMP" <<'EOF'
import json, re, sys
t = sys.argv[1]
def read(f):
    return {(l.split()[0], l.split()[1]): float(l.split()[2]) for l in open(f)}
b, a = read(t + "/before"), read(t + "/after")
d = {k: a[k] - b.get(k, 0) for k in a}
for port, name in (("9502", "A (off)"), ("9522", "B (on)")):
    series = {k: v for (p, k), v in d.items() if p == port}
    phase = lambda k: re.search(r'phase="(\w+)"', k).group(1)
    count = {phase(k): v for k, v in series.items() if k.startswith("infergate_request_phase_seconds_count")}
    means = ["%s %.2f µs" % (phase(k), v / count[phase(k)] * 1e6)
             for k, v in sorted(series.items()) if k.startswith("infergate_request_phase_seconds_sum") and count[phase(k)]]
    runs = sum(v for k, v in series.items() if k.startswith("infergate_batch_requests_count"))
    reqs = sum(v for k, v in series.items() if k.startswith("infergate_batch_requests_sum"))
    cdf = sorted((float(re.search(r'le="([^"]+)"', k).group(1)), v) for k, v in series.items()
                 if k.startswith("infergate_request_phase_seconds_bucket") and 'phase="compute"' in k)
    total = cdf[-1][1] or 1
    print("%s: %d requests; %s; %.1f requests a run; Go heap %.2f MB allocated, %d collections" % (
        name, count.get("compute", 0), ", ".join(means), reqs / (runs or 1),
        series.get("go_memstats_alloc_bytes_total", 0) / 1e6, series.get("go_gc_duration_seconds_count", 0)))
    print("  compute within " + " ".join("%g:%.3f" % (le * 1e6, n / total) for le, n in cdf if 4e-6 <= le <= 3e-4))
c = json.load(open(t + "/ab.json"))["compare"]["pooled_ratio"]
print("harness, pooled B/A: throughput %+.1f%%, p50 %+.1f%%, p99 %+.1f%%" % tuple(100 * (c[k] - 1) for k in ("throughput", "p50", "p99")))
EOF
