#!/usr/bin/env bash
# The drift monitor's end-to-end cost measured by the harness's A/B mode
# (infergate bench -compare): the fraud demo unmonitored (A) and sampling
# every request into the monitor (B, its defaults), both gateways pinned to
# CPU 0, the harness on CPU 1. Each of PAIRS pairs of freshly started
# gateways is warmed by wrk at 64 connections for WARMUP (default 4s, which
# fills the monitored one's prediction table), then measured by ROUNDS
# alternations (default 10) of a 300 ms warm-up and a DURATION window
# (default 2s) on each, the order swapping every round, at RATE requests a
# second (default 4000, open loop, every request timed from its intended
# send time) or, with RATE=0, at CONNS closed-loop clients (default 64).
# The gateway not being measured is idle, not stopped. Without wrk the
# warm-up is the harness's, at 64 clients; BUILD=0 uses bin/infergate as it
# is (a machine without Go, such as a lent device machine), and BIN another
# build's binary for both gateways (the harness stays bin/infergate).
#
# Why: gateways measured one after the other for tens of seconds compare
# this machine's drift as much as the gateways (an A/A of two identical
# monitored gateways by bench/monitor-cost-alone.sh: p99 -8.3% in the
# median round, +9.7% on average), and a round's p99 is set by the few
# stalls that land in it. Alternating every two seconds puts both under the
# same drift, and each pair's report pools every window's latencies into
# one p99 over some 80,000 requests a side. New processes each pair, since
# a process keeps one placement of its memory for its life and placements
# differ by a few percent (bench/README.md, eleventh session).
#
# Prints each pair's pooled B/A ratios and the median of its rounds', then
# the medians over pairs. BASELINE=on makes A monitored too: an A/A, the
# noise floor of the same measurement. A_ENV and B_ENV are environment
# assignments ("GODEBUG=... X=y") for one side's gateway only: with
# BASELINE=on, a runtime setting against the same binary without it.
# B_MONITOR ("key=value ...") sets keys of B's monitor section only: with
# BASELINE=on, a monitor setting against its default. MODEL=mlp measures
# the mlp demo (256 features a request, 16 outputs) instead
# (fraud-common.sh's mlp_repos).
#
#   bash bench/monitor-cost-ab.sh                     (after `make ort models build`)
#   PAIRS=8 ROUNDS=10 RATE=4000 bash bench/monitor-cost-ab.sh
#   RATE=0 PAIRS=8 bash bench/monitor-cost-ab.sh      # throughput at 64 clients
#   BASELINE=on PAIRS=8 bash bench/monitor-cost-ab.sh # A/A
#   BASELINE=on B_MONITOR="buffer_size=1024" RATE=0 bash bench/monitor-cost-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-8} ROUNDS=${ROUNDS:-10} DURATION=${DURATION:-2s} RATE=${RATE:-4000} CONNS=${CONNS:-64}
WARMUP=${WARMUP:-4s} BASELINE=${BASELINE:-off} SERVER_CPU=${SERVER_CPU:-0} LOAD_CPU=${LOAD_CPU:-1}
[ "${BUILD:-1}" = 0 ] || go build -o bin/infergate ./cmd/infergate
BIN=${BIN:-bin/infergate}
. bench/fraud-common.sh

TMP=$(mktemp -d)
A= B=
trap 'kill $A $B 2>/dev/null || true; wait $A $B 2>/dev/null || true; rm -rf "$TMP"' EXIT
MODEL=${MODEL:-fraud}
model_repos "$TMP"
REPO_B=on
if [ -n "${B_MONITOR:-}" ]; then
  REPO_B=on-b
  cp -r "$TMP/on" "$TMP/$REPO_B"
  # shellcheck disable=SC2086
  set_monitor "$TMP/$REPO_B/$MODEL/config.yaml" $B_MONITOR
fi
load=(-rate "$RATE")
[ "$RATE" = 0 ] && load=(-concurrency "$CONNS")
for p in $(seq "$PAIRS"); do
  # shellcheck disable=SC2086 # A_ENV and B_ENV are lists of assignments
  env ${A_ENV:-} taskset -c "$SERVER_CPU" "$BIN" serve --model-repository "$TMP/$BASELINE" --http-address 127.0.0.1 \
    --http-port 9500 --metrics-port 9502 --log-level warn --data-dir "$TMP/a-$p" & A=$!
  # shellcheck disable=SC2086
  env ${B_ENV:-} taskset -c "$SERVER_CPU" "$BIN" serve --model-repository "$TMP/$REPO_B" --http-address 127.0.0.1 \
    --http-port 9520 --metrics-port 9522 --log-level warn --data-dir "$TMP/b-$p" & B=$!
  wait_ready 9500 9520
  for port in 9500 9520; do
    if command -v wrk >/dev/null; then
      taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"$WARMUP" -s bench/fraud.lua "http://127.0.0.1:$port/v2/models/$MODEL/infer" -- "$TMP/bodies.txt" >/dev/null
    else
      taskset -c "$LOAD_CPU" bin/infergate bench -url "http://127.0.0.1:$port" -model "$MODEL" -input "$TMP/bodies" \
        -concurrency 64 -duration "$WARMUP" -warmup 0s -quiet >/dev/null
    fi
  done
  taskset -c "$LOAD_CPU" bin/infergate bench -url http://127.0.0.1:9500 -compare http://127.0.0.1:9520 \
    -compare-rounds "$ROUNDS" -model "$MODEL" -input "$TMP/bodies" "${load[@]}" -duration "$DURATION" -warmup 300ms \
    -format json -quiet > "$TMP/pair-$p.json"
  kill $A $B; wait $A $B 2>/dev/null || true
  python3 - "$TMP/pair-$p.json" "$p" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["compare"]
f = lambda x: "%+.1f%%" % (100 * (x - 1))
po, me = c["pooled_ratio"], c["median_ratio"]
print("pair %s: pooled B/A throughput %s p50 %s p99 %s (A p99 %d µs, B %d µs); median of rounds: throughput %s p50 %s p99 %s" % (
    sys.argv[2], f(po["throughput"]), f(po["p50"]), f(po["p99"]), c["a"]["latency"]["p99_ns"] // 1000,
    c["b"]["latency"]["p99_ns"] // 1000, f(me["throughput"]), f(me["p50"]), f(me["p99"])))
EOF
done
python3 - "$TMP" "$PAIRS" "$BASELINE" <<'EOF'
import json, statistics, sys
cs = [json.load(open("%s/pair-%d.json" % (sys.argv[1], p)))["compare"] for p in range(1, int(sys.argv[2]) + 1)]
f = lambda x: "%+.1f%%" % (100 * (x - 1))
m = lambda k, key: statistics.median(c[k][key] for c in cs)
rounds = [r for c in cs for r in c["rounds"]]
allr = lambda key: statistics.median((r["b"][key] / r["a"][key]) for r in rounds if r["a"][key])
print("monitored (B) against %s (A), medians over %d pairs of each pair's pooled ratio: throughput %s, p50 %s, p99 %s; over all %d rounds: throughput %s, p50 %s, p99 %s" % (
    "monitored" if sys.argv[3] == "on" else "unmonitored", len(cs), f(m("pooled_ratio", "throughput")), f(m("pooled_ratio", "p50")),
    f(m("pooled_ratio", "p99")), len(rounds), f(allr("throughput")), f(allr("p50_ns")), f(allr("p99_ns"))))
EOF
