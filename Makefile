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

MODELS_DIR := configs/models
BIN        := bin/infergate
GOFILES    := $(shell find . -name '*.go' -not -path './.ort/*' 2>/dev/null) go.mod go.sum
CSOURCES   := $(wildcard runtime/*.c runtime/*.h)

.PHONY: run test ort models build vet fmt-check bench clean

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

# models writes the demo models' .onnx files next to their committed config.yaml.
models: $(BIN)
	$(BIN) gen-models $(MODELS_DIR)

run: ort $(BIN) models
	$(BIN) serve --model-repository $(MODELS_DIR)

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
