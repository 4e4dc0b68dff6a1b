#!/usr/bin/env bash
# harness-table.sh is bench/run.sh's MLP table (issue 3's ratios) with the
# project's own load generator, `infergate bench`, in place of wrk: for
# machines without wrk, such as a lent GPU machine, whose many cores let
# the load run on several while the server has one. Each round measures
# the trivial fasthttp handler (F), the gateway with batching on and off
# (each alone on SERVER_CPU, closed loop at 64 connections and at 1), then
# R (raw ONNX Runtime's best samples/s at 8 to 64 rows on SERVER_CPU), and
# prints the rounds, the medians and the medians of the per-round ratios.
#
#   bash bench/harness-table.sh                 (after `make ort models build`)
#   SERVER_CPU=0 LOAD_CPUS=1-7 ROUNDS=5 bash bench/harness-table.sh
#   ON_CONFIG='max_queue_delay: 500' bash bench/harness-table.sh   (config lines
#                                         added to the batched MLP's config.yaml)
#
# builds with Go; on a machine without it, give prebuilt binaries:
#   INFERGATE=infergate BASELINE=baseline RUNTIME_TEST=runtime.test bash bench/harness-table.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-3s} WARMUP=${WARMUP:-2s}
SERVER_CPU=${SERVER_CPU:-0} LOAD_CPUS=${LOAD_CPUS:-1}
work=$(mktemp -d)
srv=
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; rm -rf "$work"' EXIT
infergate=${INFERGATE:-} baseline=${BASELINE:-} raw_test=${RUNTIME_TEST:-}
if [ -z "$infergate" ]; then go build -o "$work/infergate" ./cmd/infergate && infergate=$work/infergate; fi
if [ -z "$baseline" ]; then go build -o "$work/baseline" ./bench/baseline && baseline=$work/baseline; fi
if [ -z "$raw_test" ]; then go test -c -o "$work/raw.test" ./runtime && raw_test=$work/raw.test; fi
infergate=$(realpath "$infergate") baseline=$(realpath "$baseline") raw_test=$(realpath "$raw_test")
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); server on CPU $SERVER_CPU, load on CPUs $LOAD_CPUS"

# The demo MLP, batched as configs/models has it, and unbatched.
mkdir -p "$work/on" "$work/off/mlp/1"
cp -r configs/models/mlp "$work/on/"
"$infergate" gen-models "$work/on" >/dev/null
cp "$work/on/mlp/1/model.onnx" "$work/off/mlp/1/"
grep -v max_batch_size configs/models/mlp/config.yaml >"$work/off/mlp/config.yaml"
if [ -n "${ON_CONFIG:-}" ]; then
	printf '%s\n' "$ON_CONFIG" >>"$work/on/mlp/config.yaml"
	echo "batched MLP with: $ON_CONFIG"
fi
sed -n "s/^wrk.body = '\(.*\)'$/\1/p" bench/mlp.lua >"$work/body.json"

start() {
	case $1 in
	trivial) taskset -c "$SERVER_CPU" "$baseline" --listen 127.0.0.1:9100 & srv=$! ;;
	on | off) taskset -c "$SERVER_CPU" "$infergate" serve --model-repository "$work/$1" --http-address 127.0.0.1 \
		--http-port 9100 --metrics-port 9102 --log-level warn & srv=$! ;;
	esac
	for _ in $(seq 200); do
		python3 -c 'import sys, urllib.request as u; u.urlopen(u.Request("http://127.0.0.1:9100/v2/models/mlp/infer", data=open(sys.argv[1], "rb").read()), timeout=2)' \
			"$work/body.json" 2>/dev/null && return
		sleep 0.05
	done
	echo "$1 did not start" >&2
	exit 1
}
# load prints req/s and p50 µs of a closed loop at $1 connections.
load() {
	taskset -c "$LOAD_CPUS" "$infergate" bench -url http://127.0.0.1:9100 -model mlp -input "$work/body.json" \
		-metrics-url off -concurrency "$1" -duration "$DURATION" -warmup "$WARMUP" -format json -quiet |
		python3 -c 'import json,sys; r=json.load(sys.stdin)["run"]; print(int(r["throughput"]), int(r["latency"]["p50_ns"]/1000))'
}
for r in $(seq "$ROUNDS"); do
	line="round $r:"
	for s in trivial on off; do
		start $s
		read -r t64 _ < <(load 64)
		if [ $s = on ]; then
			# The batches' mean size so far (warm-up and 64 connections).
			batch=$(python3 - <<'PY'
import re, urllib.request as u
m = u.urlopen("http://127.0.0.1:9102/metrics", timeout=5).read().decode()
def total(kind):
    pat = r'^infergate_batch_requests_' + kind + r'\{[^}]*model="mlp"[^}]*\} (\S+)'
    return sum(float(x) for x in re.findall(pat, m, re.M))
print("%.1f" % (total("sum") / max(1, total("count"))))
PY
)
		fi
		read -r _ p1 < <(load 1)
		kill $srv && wait $srv 2>/dev/null || true
		srv=
		echo "$s $t64 $p1" >>"$work/rows"
		line="$line $s ${t64} req/s (p50 at 1 conn ${p1} µs);"
	done
	R=$(cd runtime && taskset -c "$SERVER_CPU" "$raw_test" -test.run '^$' -test.bench 'RawMLP$/batch=(8|16|32|64)$' \
		-test.cpu 1 -test.benchtime 1s | awk '/samples\/s/ {for (i = 1; i < NF; i++) if ($(i+1) == "samples/s") print int($i)}' | sort -n | tail -1)
	echo "R $R" >>"$work/rows"
	echo "$line R $R samples/s; batches at 64 connections averaged $batch requests"
done
python3 - "$work/rows" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
rounds, cur = [], {}
for r in rows:
    if r[0] == "R":
        cur["R"] = int(r[1]); rounds.append(cur); cur = {}
    else:
        cur[r[0]] = (int(r[1]), int(r[2]))
med = statistics.median
F = med(x["trivial"][0] for x in rounds); on = med(x["on"][0] for x in rounds)
off = med(x["off"][0] for x in rounds); R = med(x["R"] for x in rounds)
onoff = med(x["on"][0] / x["off"][0] for x in rounds)
onL = med(x["on"][0] * (1 / x["trivial"][0] + 1 / x["R"]) for x in rounds)
print(f"medians: F {F:.0f} req/s, R {R:.0f} samples/s, L {1 / (1 / F + 1 / R):.0f} req/s, on {on:.0f}, off {off:.0f}")
print(f"on / off {onoff:.2f}x (target 3x), on / L {100 * onL:.1f}% (target 75%), medians of the per-round ratios")
print(f"p50 at 1 connection: on {med(x['on'][1] for x in rounds)} µs, off {med(x['off'][1] for x in rounds)} µs")
EOF
