# infergate: two commands set everything up on a fresh machine.
#   make run    installs ONNX Runtime, generates the demo models, serves them
#   make test   installs what the tests need, then runs them

SHELL := /bin/bash
GO ?= go

# ONNX Runtime 1.29.0's Linux x64 library, from the npm package that ships it.
ORT_VERSION := 1.29.0
ORT_NPM     := onnxruntime-node@$(ORT_VERSION)
ORT_SHA256  := cfdfb45ec4044b1fdca43e5d2e180fb6817e649ff8ad1e0dfc90e18e51b67037
ORT_DIR     := .ort
ORT_LIB     := $(ORT_DIR)/lib/libonnxruntime.so.1

# The same version's CUDA execution provider (CUDA 13 build), from the npm
# package of ONNX Runtime for Unity. `make ort-cuda` only: 180 MB download,
# 230 MB installed, never part of run or test.
ORT_CUDA_NPM    := com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
ORT_CUDA_TGZ    := com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz
ORT_CUDA_SHA256 := 2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412
ORT_CUDA_SRC    := package/Plugins/Linux/x64
ORT_CUDA_LIBS   := $(ORT_DIR)/lib/libonnxruntime_providers_shared.so $(ORT_DIR)/lib/libonnxruntime_providers_cuda.so

MODELS_DIR := configs/models
BIN        := bin/infergate
GOFILES    := $(shell find . -name '*.go' -not -path './.ort/*' 2>/dev/null) go.mod go.sum
CSOURCES   := $(wildcard runtime/*.c runtime/*.h)

.PHONY: run test ort ort-cuda models build vet fmt-check bench clean

build: $(BIN)

$(BIN): $(GOFILES) $(CSOURCES)
	$(GO) build -o $(BIN) ./cmd/infergate

# ort fetches the pinned tarball, checks its sha256 and keeps only the library.
ort: $(ORT_LIB)

$(ORT_LIB):
	@command -v npm >/dev/null || { echo "npm is needed to fetch ONNX Runtime (apt-get install npm)"; exit 1; }
	@mkdir -p $(ORT_DIR)/tmp $(ORT_DIR)/lib
	cd $(ORT_DIR)/tmp && npm pack --silent $(ORT_NPM) >/dev/null
	echo "$(ORT_SHA256)  $(ORT_DIR)/tmp/onnxruntime-node-$(ORT_VERSION).tgz" | sha256sum -c -
	tar -xzf $(ORT_DIR)/tmp/onnxruntime-node-$(ORT_VERSION).tgz -C $(ORT_DIR)/tmp package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	mv $(ORT_DIR)/tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1 $(ORT_LIB)
	rm -rf $(ORT_DIR)/tmp
	@echo "ONNX Runtime $(ORT_VERSION) installed at $(ORT_LIB)"

# ort-cuda adds the CUDA provider libraries next to libonnxruntime.so.1,
# where ONNX Runtime looks for them (execution_provider: cuda or auto).
# They also need an NVIDIA driver, CUDA 13 and cuDNN 9 on the machine.
ort-cuda: $(ORT_CUDA_LIBS)

$(ORT_CUDA_LIBS) &: | $(ORT_LIB)
	@command -v npm >/dev/null || { echo "npm is needed to fetch the CUDA provider (apt-get install npm)"; exit 1; }
	@rm -rf $(ORT_DIR)/tmp-cuda && mkdir -p $(ORT_DIR)/tmp-cuda
	cd $(ORT_DIR)/tmp-cuda && npm pack --silent $(ORT_CUDA_NPM) >/dev/null
	echo "$(ORT_CUDA_SHA256)  $(ORT_DIR)/tmp-cuda/$(ORT_CUDA_TGZ)" | sha256sum -c -
	tar --no-same-owner -xzf $(ORT_DIR)/tmp-cuda/$(ORT_CUDA_TGZ) -C $(ORT_DIR)/tmp-cuda \
		$(ORT_CUDA_SRC)/libonnxruntime_providers_shared.so $(ORT_CUDA_SRC)/libonnxruntime_providers_cuda.so
	mv $(ORT_DIR)/tmp-cuda/$(ORT_CUDA_SRC)/libonnxruntime_providers_shared.so $(ORT_DIR)/tmp-cuda/$(ORT_CUDA_SRC)/libonnxruntime_providers_cuda.so $(ORT_DIR)/lib/
	rm -rf $(ORT_DIR)/tmp-cuda
	@echo "ONNX Runtime $(ORT_VERSION) CUDA provider installed in $(ORT_DIR)/lib;" \
		"it needs an NVIDIA driver, CUDA 13 (cudart, cuBLAS, cuRAND) and cuDNN 9 where the loader finds them"

# models writes the demo models' .onnx files next to their committed config.yaml.
models: $(BIN)
	$(BIN) gen-models $(MODELS_DIR)

run: ort $(BIN) models
	$(BIN) serve --model-repository $(MODELS_DIR) --data-dir .data

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# test: everything CI runs. -race covers the packages with concurrency.
test: ort fmt-check vet
	$(GO) test -count=1 -race ./...

bench: ort $(BIN) models
	bash bench/run.sh

clean:
	rm -rf bin
