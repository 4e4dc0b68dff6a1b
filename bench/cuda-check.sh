#!/usr/bin/env bash
# cuda-check.sh verifies the CUDA execution provider on a machine with an
# NVIDIA GPU, after `make ort-cuda`:
#   1. the runtime's CUDA tests: every demo model on CUDA equals CPU, the
#      batching property holds on the GPU, a missing device fails cleanly
#      or falls back, and TestProviderStates with the libraries present;
#   2. the raw MLP on the GPU next to the CPU (samples/s by batch size);
#   3. the gateway serving a repository where models ask for cuda, auto,
#      cuda on a missing device with fallback: cpu, and cuda on a missing
#      device without: the provider each version runs on must show in the
#      metadata, the repository index, the load log and the metric label;
#   4. the MLP through the gateway on the GPU and on CPU, 1 and 64 clients.
#
#   bash bench/cuda-check.sh
#
# builds with Go. On a machine without Go, give prebuilt binaries:
#   RUNTIME_TEST=runtime.test INFERGATE=infergate bash bench/cuda-check.sh
# (go test -c -o runtime.test ./runtime; go build -o infergate ./cmd/infergate).
#
# The CUDA 13 libraries (cudart, cuBLAS, cuRAND, cuDNN 9) must be where the
# loader finds them; when LD_LIBRARY_PATH does not name them, the script adds
# the lib folders of Python's nvidia-* packages (pip's CUDA wheels).
#
# Every step runs even when an earlier one fails (a GPU machine is lent for
# minutes, so one run must tell everything); the script exits 1 naming the
# steps that failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ort_lib=${INFERGATE_ORT_LIB:-$root/.ort/lib/libonnxruntime.so.1}
export INFERGATE_ORT_LIB=$ort_lib
for f in libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
	[ -e "$(dirname "$ort_lib")/$f" ] || { echo "no $f next to $ort_lib: run make ort-cuda" >&2; exit 1; }
done

# Each library the CUDA provider loads, looked for where the loader looks:
# a machine may register CUDA's runtime with ldconfig but not cuDNN (the
# lent H100's did), so one found library says nothing of the others.
found() {
	local dir path=${LD_LIBRARY_PATH:-}
	ldconfig -p | grep -F "$1 " >/dev/null && return 0 # not -q: an early exit fails the pipe
	for dir in ${path//:/ }; do
		[ -e "$dir/$1" ] && return 0
	done
	return 1
}
missing=()
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9; do
	found "$lib" || missing+=("$lib")
done
if [ ${#missing[@]} -gt 0 ]; then
	nv=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null || true)
	if [ -n "$nv" ]; then
		dirs=$(find "$nv" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)
		export LD_LIBRARY_PATH=$dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
		echo "${missing[*]} not registered: CUDA libraries from $nv"
	else
		echo "not found: ${missing[*]} (CUDA 13 and cuDNN 9 are needed)" >&2
	fi
fi
nvidia-smi -L || true

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
runtime_test=${RUNTIME_TEST:-}
infergate=${INFERGATE:-}
if [ -z "$runtime_test" ]; then
	go test -c -o "$work/runtime.test" ./runtime
	runtime_test=$work/runtime.test
fi
if [ -z "$infergate" ]; then
	go build -o "$work/infergate" ./cmd/infergate
	infergate=$work/infergate
fi
runtime_test=$(realpath "$runtime_test")
infergate=$(realpath "$infergate")

failed=()

echo "== 1. runtime tests on CUDA"
(cd runtime && INFERGATE_TEST_CUDA=1 "$runtime_test" -test.count=1 -test.v \
	-test.run 'CUDA|ProviderStates|NewSessionForProviders' 2>&1 | grep -Ev '^=== (RUN|PAUSE|CONT)') ||
	failed+=("1. runtime tests")

echo "== 2. raw MLP, GPU and CPU"
(cd runtime && INFERGATE_TEST_CUDA=1 "$runtime_test" -test.count=1 -test.run '^$' \
	-test.bench 'RawMLP' -test.benchtime 2s -test.cpu 1) || failed+=("2. raw MLP")

echo "== 3. gateway on CUDA"
gateway_check() {
	repo=$work/repo
	cp -r configs/models "$repo"
	"$infergate" gen-models "$repo" >/dev/null
	# mlp_cpu: the same MLP on CPU, for step 4's side-by-side figures.
	cp -r "$repo/mlp" "$repo/mlp_cpu"
	sed -i 's/^name: mlp$/name: mlp_cpu/' "$repo/mlp_cpu/config.yaml"
	printf 'execution_provider: cuda\ncuda_options:\n  gpu_mem_limit: 1GiB\n' >>"$repo/mlp/config.yaml"
	printf 'execution_provider: auto\n' >>"$repo/cnn/config.yaml"
	printf 'execution_provider: cuda\ndevice_id: 97\nfallback: cpu\n' >>"$repo/fraud/config.yaml"
	printf 'execution_provider: cuda\ndevice_id: 97\n' >>"$repo/elementwise/config.yaml"
	"$infergate" serve --model-repository "$repo" --http-address 127.0.0.1 --http-port 18000 \
		--metrics-port 18002 --strict-readiness=false 2>"$work/serve.log" &
	python3 - "$root" <<'EOF'
import json, sys, time, urllib.request, urllib.error
root = sys.argv[1]
base, metrics = "http://127.0.0.1:18000", "http://127.0.0.1:18002/metrics"
def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
def post(url, body):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
for _ in range(600):
    try:
        if get(base + "/v2/health/live")[0] == 200:
            break
    except Exception:
        pass
    time.sleep(0.1)
else:
    sys.exit("gateway did not come up")
failures = []
def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
want = {"mlp": "CUDAExecutionProvider", "cnn": "CUDAExecutionProvider", "fraud": "CPUExecutionProvider"}
for model, provider in want.items():
    code, body = get(f"{base}/v2/models/{model}")
    params = json.loads(body).get("parameters", {})
    print(model, "metadata:", {k: v for k, v in params.items() if "provider" in k})
    check(code == 200 and params.get("execution_provider") == provider, f"{model} runs on {provider}")
    with open(f"{root}/configs/requests/{model}.json", "rb") as f:
        req = f.read()
    code, body = post(f"{base}/v2/models/{model}/infer", req)
    check(code == 200 and '"outputs"' in body, f"{model} infers over HTTP on {provider} ({code})")
    t0 = time.perf_counter()
    for _ in range(200):
        post(f"{base}/v2/models/{model}/infer", req)
    print(f"  {model}: {(time.perf_counter() - t0) / 200 * 1e6:.0f} us per request, 1 client, python urllib")
code, body = get(f"{base}/v2/models/elementwise/ready")
check(code != 200, f"elementwise (cuda on device 97, no fallback) is not ready ({code})")
code, body = post(base + "/v2/repository/index", b"{}")
index = json.loads(body)
for m in index:
    if m.get("name") in ("elementwise", "fraud", "mlp"):
        print("index:", m)
el = [m for m in index if m.get("name") == "elementwise"]
check(bool(el) and el[0].get("state") == "UNAVAILABLE" and "97" in el[0].get("reason", ""), "index says why elementwise is unavailable")
code, body = get(metrics)
lines = [l for l in body.splitlines() if l.startswith("infergate_model_version_info")]
print("\n".join(lines))
check(any('model="mlp"' in l and "CUDAExecutionProvider" in l for l in lines), "metric label shows mlp on CUDA")
check(any('model="fraud"' in l and "CPUExecutionProvider" in l for l in lines), "metric label shows fraud on CPU")
if failures:
    sys.exit("gateway check failed: " + "; ".join(failures))
EOF
}
gateway_check || failed+=("3. gateway")

echo "== 4. the MLP through the gateway, GPU and CPU side by side (bench harness, closed loop)"
for conns in 1 64; do
	for model in mlp mlp_cpu; do
		echo "-- $model, $conns connections"
		"$infergate" bench -url http://127.0.0.1:18000 -metrics-url http://127.0.0.1:18002/metrics \
			-model "$model" -concurrency "$conns" -duration 3s -warmup 1s -format table -quiet ||
			failed+=("4. bench $model $conns")
	done
done
echo "-- load log"
grep -Ei 'provider|cuda|unavailable|fallback' "$work/serve.log" | cut -c1-400 || true
grep -qi 'CUDAExecutionProvider' "$work/serve.log" || { echo "FAIL: the load log does not name the CUDA provider"; failed+=("3. load log"); }
if [ ${#failed[@]} -gt 0 ]; then
	echo "cuda-check: FAILED: ${failed[*]}"
	exit 1
fi
echo "cuda-check: all passed"
