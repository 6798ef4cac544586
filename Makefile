# Imaging status: `make demo` runs the product, `make test` checks it.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
DEMO_ADDR ?= 127.0.0.1:8080
STATICCHECK_VERSION := v0.8.2
GO_SOURCES := $(shell find . -name '*.go' -not -path './bin/*' -not -path './.tmp/*') go.mod go.sum

.PHONY: all build demo test lint vet fmt-check unit fuzz bench clean

all: build

-include web/web.mk
-include bench.mk

build: $(BIN)/imaging-hub $(BIN)/imaging-agent $(BIN)/imaging-demo

$(BIN)/imaging-hub: $(GO_SOURCES) $(WASM_OUTPUTS) $(WEB_STATIC)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/imaging-hub

$(BIN)/imaging-agent: $(GO_SOURCES)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/imaging-agent

$(BIN)/imaging-demo: $(GO_SOURCES) $(WASM_OUTPUTS) $(WEB_STATIC)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/imaging-demo

# The demo: a hub with an embedded configuration, real local agents, every
# status on show. Ctrl-C stops everything it started.
demo: build
	exec $(BIN)/imaging-demo --addr $(DEMO_ADDR) --agent $(BIN)/imaging-agent

test: lint unit fuzz

# axe-core for the accessibility checks of the browser tests, from npm.
E2E_DEPS := web/e2e/node_modules/axe-core/axe.min.js
$(E2E_DEPS): web/e2e/package.json web/e2e/package-lock.json
	npm ci --prefix web/e2e --no-audit --no-fund
	@touch $@

unit: build $(E2E_DEPS)
	IMAGING_BIN=$(BIN) $(GO) test -race -count=1 -timeout 20m ./...

lint: vet fmt-check $(BIN)/staticcheck
	$(BIN)/staticcheck ./...

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./app/... ./cmd/imaging-app/ ./wire/

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed on: $$out"; exit 1; fi

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Short fuzz runs of every decoder of network input (the seeds are in the tests).
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeHello$$' -fuzztime $(FUZZTIME) ./wire/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeReport$$' -fuzztime $(FUZZTIME) ./wire/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeViewerRequest$$' -fuzztime $(FUZZTIME) ./wire/
	$(GO) test -run '^$$' -fuzz '^FuzzDavosInfo$$' -fuzztime $(FUZZTIME) ./agent/repo/
	$(GO) test -run '^$$' -fuzz '^FuzzUUIDCache$$' -fuzztime $(FUZZTIME) ./agent/repo/

clean:
	rm -rf $(BIN) $(WASM_OUTPUTS)
