# Benchmarks (bench/, cmd/imaging-bench, docs/BENCHMARKS.md).
# Included by the top-level Makefile; $(BIN)/imaging-hub and
# $(BIN)/imaging-agent come from its `build` target.
#
#   make bench                 full run (~20 min: scan benchmark, 8 hub scenarios, 3 min agent, browser);
#                              a trailing d (10000x1000d): viewers ask for one entity in full, summaries for the rest
#   make bench BENCH_QUICK=1   ~4 min subset (1000x100 and 10000x10, agent 1 min, browser)
#   make bench-profile         CPU profile of the hub at 10,000 agents + 1,000 viewers
#
# Results: $(BENCH_OUT)/bench-results.md (the table, also printed) and .json.

BENCH_OUT      ?= $(CURDIR)/artifacts/bench
BENCH_QUICK    ?=
ifeq ($(BENCH_QUICK),1)
BENCH_SCENARIOS ?= 1000x100,10000x1000d
BENCH_MEASURE   ?= 20s
BENCH_AGENT     ?= 1m
BENCH_SCANTIME  ?= 1x
else
BENCH_SCENARIOS ?= 100x10,1000x100,1000x1000,1000x1000d,10000x10,10000x100,10000x1000,10000x1000d
BENCH_MEASURE   ?= 30s
BENCH_AGENT     ?= 3m
BENCH_SCANTIME  ?= 10x
endif
BENCH_FLAGS    ?=

.PHONY: bench bench-scan bench-profile

$(BIN)/imaging-bench: $(GO_SOURCES)
	$(GO) build -trimpath -o $@ ./cmd/imaging-bench

# `make bin/imaging-bench` names the same file by its relative path.
ifneq ($(abspath bin/imaging-bench),$(abspath $(BIN)/imaging-bench))
else ifneq (bin/imaging-bench,$(BIN)/imaging-bench)
bin/imaging-bench: $(BIN)/imaging-bench
endif

bench-scan:
	@mkdir -p $(BENCH_OUT)
	$(GO) test -run '^$$' -bench 'Scan' -benchmem -benchtime $(BENCH_SCANTIME) ./agent/repo/ | tee $(BENCH_OUT)/scan.txt

bench: build $(BIN)/imaging-bench bench-scan
	$(BIN)/imaging-bench --bin $(BIN) --scenarios $(BENCH_SCENARIOS) --measure $(BENCH_MEASURE) \
		--agent-duration $(BENCH_AGENT) --scan-bench $(BENCH_OUT)/scan.txt --wasm-dir web/static \
		--out $(BENCH_OUT)/bench-results.md --json $(BENCH_OUT)/bench-results.json $(BENCH_FLAGS)

BENCH_PROFILE_SCENARIO ?= 10000x1000
bench-profile:
	@mkdir -p $(BENCH_OUT)
	LOADTEST_PROFILE=$(BENCH_OUT)/hub.pprof LOADTEST_SCENARIO=$(BENCH_PROFILE_SCENARIO) \
		$(GO) test -run '^TestProfileHub$$' -v -count=1 -timeout 10m ./bench/
	$(GO) tool pprof -top -nodecount 40 $(BENCH_OUT)/hub.pprof | tee $(BENCH_OUT)/hub-profile.txt
