# Imaging status: `make demo` runs the product, `make test` checks it.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
DEMO_ADDR ?= 127.0.0.1:8080
STATICCHECK_VERSION := v0.8.2
GO_SOURCES := $(shell find . -name '*.go' -not -path './bin/*' -not -path './.tmp/*') go.mod go.sum

.PHONY: all build demo test test-deps lint vet fmt-check unit fuzz bench clean screenshots

all: build

-include web/web.mk
include bench/bench.mk

build: $(BIN)/imaging-hub $(BIN)/imaging-agent $(BIN)/imaging-demo

$(BIN)/imaging-hub: $(GO_SOURCES) $(WASM_OUTPUTS) $(WEB_STATIC)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/imaging-hub

# The agent is built without cgo: Go's own resolver instead of libc's saves
# about 1.5 MiB of resident memory on every imaging server. Without net/http's
# HTTP/2 (nethttpomithttp2, a tag of the standard library) its binary is
# 0.37 MB smaller: the hub link is HTTP/1.1 (WebSocket) and a probe of an
# HTTP/2 server answers over HTTP/1.1.
$(BIN)/imaging-agent: $(GO_SOURCES)
	CGO_ENABLED=0 $(GO) build -trimpath -tags nethttpomithttp2 -ldflags '$(LDFLAGS)' -o $@ ./cmd/imaging-agent

$(BIN)/imaging-demo: $(GO_SOURCES) $(WASM_OUTPUTS) $(WEB_STATIC)
	@echo "==> building the demo launcher (bin/imaging-demo)"
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/imaging-demo

# The demo: a hub with an embedded configuration, real local agents, every
# status on show. Ctrl-C stops everything it started.
demo:
	@echo "==> make demo: building the hub, the agent and the browser app (a first build can take several minutes; later ones only rebuild what changed)"
	@$(MAKE) --no-print-directory build
	@echo "==> make demo: built; starting the demo on http://$(DEMO_ADDR)/"
	exec $(BIN)/imaging-demo --addr $(DEMO_ADDR) --agent $(BIN)/imaging-agent

test: test-deps lint unit fuzz

# What the tests need beyond Go, as COMMAND:DEBIAN-PACKAGE (a path for a
# command outside PATH): the browser tests drive Chromium, the database
# tests run MariaDB, the metrics checks use promtool, and npm fetches
# axe-core. Missing ones are installed when run as root; otherwise make
# stops with the command to run. The tests never skip what is missing
# (only `go test -short` does).
TEST_NEEDS := /usr/bin/chromium:chromium /usr/sbin/mariadbd:mariadb-server promtool:prometheus npm:npm

test-deps:
	@missing=""; \
	for need in $(TEST_NEEDS); do \
	  cmd=$${need%%:*}; pkg=$${need##*:}; \
	  if [ -x "$$cmd" ] || command -v "$$cmd" >/dev/null 2>&1; then continue; fi; \
	  missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "make test needs:$$missing. Install with:"; \
	  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$$missing"; \
	  exit 1; \
	fi; \
	echo "installing:$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing

# axe-core for the accessibility checks of the browser tests, from npm.
E2E_DEPS := web/e2e/node_modules/axe-core/axe.min.js
$(E2E_DEPS): web/e2e/package.json web/e2e/package-lock.json | test-deps
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "the browser tests need axe-core ($@ missing or older than web/e2e/package-lock.json). Install with:"; \
	  echo "  npm ci --prefix web/e2e --no-audit --no-fund"; \
	  exit 1; \
	fi
	npm ci --prefix web/e2e --no-audit --no-fund
	@touch $@

# REQUIRE_MARIADB: a missing MariaDB fails the database tests (server/medulla
# and cmd/imaging-hub) instead of skipping them.
unit: build test-deps $(E2E_DEPS)
	REQUIRE_MARIADB=1 IMAGING_BIN=$(BIN) $(GO) test -race -count=1 -timeout 20m ./...

lint: vet fmt-check $(BIN)/staticcheck
	$(BIN)/staticcheck ./...

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./app/... ./cmd/imaging-app/ ./wire/

# Every Go file git knows or would add (new ones too), that still exists.
fmt-check:
	@out=$$(git ls-files -co --exclude-standard '*.go' | while read -r f; do [ -f "$$f" ] && echo "$$f"; done | xargs -r gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Short fuzz runs of every decoder of network input (the seeds are in the tests).
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeHello$$' -fuzztime $(FUZZTIME) ./wire/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeReport$$' -fuzztime $(FUZZTIME) ./wire/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeImagesPage$$' -fuzztime $(FUZZTIME) ./wire/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeViewerRequest$$' -fuzztime $(FUZZTIME) ./wire/
	$(GO) test -run '^$$' -fuzz '^FuzzDavosInfo$$' -fuzztime $(FUZZTIME) ./agent/repo/
	$(GO) test -run '^$$' -fuzz '^FuzzUUIDCache$$' -fuzztime $(FUZZTIME) ./agent/repo/
	$(GO) test -run '^$$' -fuzz '^FuzzClassifyReason$$' -fuzztime $(FUZZTIME) ./wire/
	$(GO) test -run '^$$' -fuzz '^FuzzAppendImage$$' -fuzztime $(FUZZTIME) ./agent/push/

clean:
	rm -rf $(BIN) $(WASM_OUTPUTS)

# The README's screenshots: the browser tests take them (checking first that
# each shows what its caption says) into artifacts/screenshots/readme-*.png;
# this copies them into docs/screenshots/, ready to commit.
screenshots: build test-deps
	ARTIFACTS=$(CURDIR)/artifacts/screenshots IMAGING_BIN=$(BIN) $(GO) test -count=1 -run '^TestReadmeScreenshots$$' ./cmd/imaging-hub/
	mkdir -p docs/screenshots
	cp artifacts/screenshots/readme-dashboard.png artifacts/screenshots/readme-connection-error.png \
	   artifacts/screenshots/readme-wall.png artifacts/screenshots/readme-phone.png docs/screenshots/
