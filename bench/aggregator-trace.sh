#!/usr/bin/env bash
# How long requests wait for the drift monitor's aggregator on a shared
# core: the monitored fraud gateway (BIN, default bin/infergate) on CPU 0,
# the harness on CPU 1 sending RATE requests a second (default 4000, open
# loop; RATE=0: wrk at 64 connections, the rate it reaches counting as
# RATE), and one second of the Go execution tracer (the metrics port's
# /debug/pprof/trace) read back with `go tool trace -d=parsed`. For each
# time the aggregator goroutine ran, it counts the request goroutines that
# were runnable meanwhile (a batch's members its leader had woken, requests
# the network poller had found); their waits are the aggregator's direct
# cost to latency. Prints the aggregator's runs (count; median, 90th and
# 99th percentile and longest length; total) and the request time spent
# waiting, in all and per request. The tracer slows what it traces, so compare builds with
# this script, not its figures with the benchmarks'.
#
#   bash bench/aggregator-trace.sh
#   BIN=/tmp/old/bin/infergate bash bench/aggregator-trace.sh
#   RATE=0 bash bench/aggregator-trace.sh          # 64 closed-loop connections
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/infergate} RATE=${RATE:-4000}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
go build -o bin/infergate ./cmd/infergate
. bench/fraud-common.sh

TMP=$(mktemp -d)
fraud_repos "$TMP"
taskset -c 0 "$BIN" serve --model-repository "$TMP/on" --http-address 127.0.0.1 \
  --http-port 9600 --metrics-port 9602 --log-level warn --data-dir "$TMP/d" & P=$!
trap 'kill $P 2>/dev/null; wait $P 2>/dev/null || true; rm -rf "$TMP"' EXIT
wait_ready 9600
taskset -c 1 wrk -t1 -c64 -d3s -s bench/fraud.lua http://127.0.0.1:9600/v2/models/fraud/infer -- "$TMP/bodies.txt" >/dev/null
if [ "$RATE" = 0 ]; then
  taskset -c 1 wrk -t1 -c64 -d4s -s bench/fraud.lua http://127.0.0.1:9600/v2/models/fraud/infer -- "$TMP/bodies.txt" >"$TMP/wrk.txt" & L=$!
else
  taskset -c 1 bin/infergate bench -url http://127.0.0.1:9600 -model fraud -input "$TMP/bodies" \
    -rate "$RATE" -duration 4s -quiet >/dev/null & L=$!
fi
sleep 1.5
curl -sf "http://127.0.0.1:9602/debug/pprof/trace?seconds=1" -o "$TMP/trace.out"
wait $L
[ "$RATE" = 0 ] && RATE=$(awk '/^Requests\/sec/ {print $2}' "$TMP/wrk.txt")
go tool trace -d=parsed "$TMP/trace.out" > "$TMP/trace.txt"
python3 - "$TMP/trace.txt" "$RATE" <<'EOF'
import collections, re, sys
# Events: a header line "M=.. P=.. G=.. Kind Time=.. rest", then its stack,
# one frame a line ("\tfunc @ pc", "\t\tfile:line").
events, cur = [], None
for line in open(sys.argv[1]):
    if line.startswith("M="):
        m = re.match(r"M=\S+ P=\S+ G=\S+ (\S+) Time=(\d+)(.*)", line)
        cur = m and {"kind": m.group(1), "t": int(m.group(2)), "rest": m.group(3), "stack": []}
        if cur:
            events.append(cur)
    elif cur and line.startswith("\t") and not line.startswith("\t\t"):
        cur["stack"].append(line.strip().split(" @")[0])
role, moves = {}, []
for e in events:
    m = e["kind"] == "StateTransition" and re.search(r"GoID=(\d+) (\S+)->(\S+)", e["rest"])
    if not m:
        continue
    g, frm, to = m.groups()
    moves.append((e["t"], g, frm, to))
    stack = " ".join(e["stack"])
    if "monitor.(*model).run" in stack:
        role[g] = "aggregator"
    elif "fasthttp" in stack or "Batcher" in stack:
        role.setdefault(g, "request")
runnable, running, runs = set(), None, []
for t, g, frm, to in moves:
    if to == "Runnable":
        runnable.add(g)
    if frm == "Runnable":
        runnable.discard(g)
    if frm == "Runnable" and to == "Running":
        waiting = sum(1 for x in runnable if role.get(x) == "request")
        running = (g, t, waiting)
    elif frm == "Running" and running and running[0] == g:
        if role.get(g) == "aggregator":
            runs.append((t - running[1], running[2]))
        running = None
if not runs:
    sys.exit("no run of the aggregator in the trace")
d = sorted(x for x, _ in runs)
wait = sum(x * k for x, k in runs)
requests = float(sys.argv[2])
print("aggregator: %d runs in the traced second, median %.2f µs, p90 %.2f µs, p99 %.2f µs, longest %.2f µs, %.2f ms in all" % (
    len(d), d[len(d) // 2] / 1e3, d[int(len(d) * 0.9)] / 1e3, d[int(len(d) * 0.99)] / 1e3, d[-1] / 1e3, sum(d) / 1e6))
print("request goroutines runnable while it ran: %d runs with any, %.2f ms of waiting in all, %.2f µs a request" % (
    sum(1 for _, k in runs if k), wait / 1e6, wait / 1e3 / requests))
EOF
