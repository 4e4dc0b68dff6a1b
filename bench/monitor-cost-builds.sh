#!/usr/bin/env bash
# Several builds' drift-monitor cost in one run, each build measured against
# itself: the fraud demo sampled into the monitor (its defaults) and not
# monitored, every gateway alone on CPU 0, started, warmed for WARMUP
# (default 4s, which fills the prediction table), measured by wrk at 64
# connections from CPU 1 for DURATION and stopped; with RATE, by the harness
# at RATE requests a second instead (open loop), whose p99 takes
# throughput's place. Each round measures every entry once, the order
# rotating by one entry a round. Prints each round (requests, server CPU ns
# a request and, with RATE, p99 per entry), then for each build its
# monitored/unmonitored medians of the per-round ratios (every monitored
# entry, variants too, against its build's :off), and every entry against
# the first.
#
# An entry is BIN[:VARIANT]: VARIANT "on" (the default) or "off", or the
# name of a variant that EXTRA defines as "name=key=value" (the monitored
# repository with one key of its monitor section set).
#
# Why: builds compared with each other (bench/alone-ab.sh with A_BIN and
# B_BIN) differ by a few percent for reasons that are not their code (an
# A/A of one source built twice: +0.0%; a build differing by a dead branch
# in a start-up function: +5.1%; bench/README.md, twelfth session), while
# a build against itself, monitored and not, is steadier. So a change to
# the monitor is judged by its build's own on/off, measured beside the
# other build's in the same run.
#
#   B=/tmp/base/bin/infergate; bash bench/monitor-cost-builds.sh bin/infergate bin/infergate:off $B $B:off
#   RATE=40000 DURATION=4s bash bench/monitor-cost-builds.sh bin/infergate bin/infergate:off
#   EXTRA="r1024=buffer_size=1024" bash bench/monitor-cost-builds.sh bin/infergate bin/infergate:off bin/infergate:r1024
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-11} WARMUP=${WARMUP:-4s} DURATION=${DURATION:-2s} SERVER_CPU=${SERVER_CPU:-0} LOAD_CPU=${LOAD_CPU:-1}
[ $# -ge 2 ] || { echo "usage: bash bench/monitor-cost-builds.sh BIN[:VARIANT]..."; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
. bench/fraud-common.sh

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fraud_repos "$TMP"
for kv in ${EXTRA:-}; do
  name=${kv%%=*}
  cp -r "$TMP/on" "$TMP/$name"
  set_monitor "$TMP/$name/fraud/config.yaml" "${kv#*=}"
done
entries=("$@")
n=${#entries[@]}
url=http://127.0.0.1:9000/v2/models/fraud/infer
for r in $(seq 0 $((ROUNDS - 1))); do
  echo -n "round $r:"
  for k in $(seq 0 $((n - 1))); do
    i=$(((k + r) % n))
    bin=${entries[$i]%%:*} variant=on
    case "${entries[$i]}" in *:*) variant=${entries[$i]#*:} ;; esac
    [ -d "$TMP/$variant" ] || { echo " no variant $variant"; exit 1; }
    taskset -c "$SERVER_CPU" "$bin" serve --model-repository "$TMP/$variant" --http-address 127.0.0.1 \
      --http-port 9000 --metrics-port 9002 --log-level warn --data-dir "$TMP/d-$r-$i" & G=$!
    wait_ready 9000
    taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"$WARMUP" -s bench/fraud.lua "$url" -- "$TMP/bodies.txt" >/dev/null
    c0=$(cpu_ns $G)
    if [ -n "${RATE:-}" ]; then
      taskset -c "$LOAD_CPU" bin/infergate bench -url http://127.0.0.1:9000 -model fraud -input "$TMP/bodies" \
        -rate "$RATE" -duration "$DURATION" -warmup 0s -metrics-url off -format json -quiet > "$TMP/h.json"
      read -r reqs p99 < <(python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["run"]; print(r["requests"], r["latency"]["p99_ns"] // 1000)' "$TMP/h.json")
    else
      reqs=$(taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"$DURATION" -s bench/fraud.lua "$url" -- "$TMP/bodies.txt" | awk '/requests in/ {print $1}')
      p99=0
    fi
    c1=$(cpu_ns $G)
    kill $G; wait $G 2>/dev/null || true
    echo "$r $i $reqs $(((c1 - c0) / reqs)) $p99" >> "$TMP/res"
    echo -n "  [$i] $reqs $(((c1 - c0) / reqs))$([ -n "${RATE:-}" ] && echo " p99 ${p99}us")"
  done
  echo
done
RATE=${RATE:-} python3 - "$TMP/res" "${entries[@]}" <<'PY'
import collections, os, statistics, sys
got = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    r, i, reqs, cpu, p99 = map(int, line.split())
    got[r][i] = (reqs, cpu, p99)
entries = sys.argv[2:]
def ratios(i, j):
    med = lambda k: 100 * statistics.median(got[r][i][k] / got[r][j][k] - 1 for r in got)
    first = f"p99 {med(2):+.1f}%" if os.environ["RATE"] else f"throughput {med(0):+.1f}%"
    return f"{first}, server CPU per request {med(1):+.1f}% ({len(got)} rounds)"
for i, e in enumerate(entries):
    b = e.split(":")[0]
    if e != b + ":off" and b + ":off" in entries:
        what = "sampling every request" if e in (b, b + ":on") else e.split(":")[1]
        print(f"{b}: {what} against not: {ratios(i, entries.index(b + ':off'))}")
for i, e in enumerate(entries[1:], 1):
    print(f"[{i}] {e} against [0] {entries[0]}: {ratios(i, 0)}")
PY
