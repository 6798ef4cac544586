# Browser app: included by the top-level Makefile (include web/web.mk).
# `make wasm` builds web/static/app.wasm and its precompressed copies, which
# the hub embeds; it rebuilds only when the app's sources change.

GO       ?= go
WASM_DIR := web/static
WASM     := $(WASM_DIR)/app.wasm
# Everything the hub embeds from a WASM build; hub targets depend on it.
WASM_OUTPUTS := $(WASM) $(WASM).br $(WASM).gz $(WASM).sum
WASM_SRC := $(shell find app cmd/imaging-app wire -name '*.go' ! -name '*_test.go' 2>/dev/null) go.mod go.sum

.PHONY: wasm wasm-clean wasm-size

wasm: $(WASM_OUTPUTS)

$(WASM): $(WASM_SRC)
	@echo "==> compiling the browser app to WebAssembly (web/static/app.wasm): the slowest step, often a minute or more"
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o $@ ./cmd/imaging-app

# .br, .gz and .sum are written together; .sum is the one make tracks.
$(WASM).sum: $(WASM) web/internal/precompress/main.go
	@echo "==> compressing app.wasm (brotli and gzip, served precompressed)"
	$(GO) run ./web/internal/precompress $(WASM)

$(WASM).br $(WASM).gz: $(WASM).sum ;

wasm-size: wasm
	@ls -l $(WASM) $(WASM).gz $(WASM).br

wasm-clean:
	rm -f $(WASM_OUTPUTS)

# Files the hub embeds besides Go sources and the WASM build: the stylesheet,
# the icons and the service worker template. Hub targets should depend on
# them too, or a CSS-only change leaves the hub binary stale.
WEB_STATIC := $(filter-out $(WASM_OUTPUTS),$(wildcard web/static/*)) server/webapp/worker.js
