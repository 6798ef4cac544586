// Command imaging-bench runs the benchmark harness (bench): hub
// capacity with simulated agents and viewers, the real agent's footprint,
// and the page in headless Chromium. `make bench` runs it; see
// docs/BENCHMARKS.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"imagingstatus/bench"
)

func main() {
	var o bench.Options
	bin := flag.String("bin", "bin", "directory holding imaging-hub and imaging-agent")
	flag.StringVar(&o.Scenarios, "scenarios", "100x10,100x100,100x1000,1000x10,1000x100,1000x1000,10000x10,10000x100,10000x1000", "hub capacity scenarios, AGENTSxVIEWERS, comma-separated (empty: skip)")
	flag.DurationVar(&o.Measure, "measure", 30*time.Second, "measurement window of each capacity scenario, after ramp-up (stretched to the offline deadline + 4 s)")
	flag.DurationVar(&o.Interval, "interval", 5*time.Second, "report and ping interval of the hub and the agents")
	flag.DurationVar(&o.AgentDuration, "agent-duration", 5*time.Minute, "how long the real agent runs for its footprint (0: skip)")
	flag.IntVar(&o.AgentImages, "agent-images", 10_000, "images in the agent's generated repository")
	flag.BoolVar(&o.Browser, "browser", true, "measure the page in headless Chromium")
	flag.StringVar(&o.Chromium, "chromium", "/usr/bin/chromium", "Chromium binary")
	flag.StringVar(&o.WasmDir, "wasm-dir", "web/static", "directory of app.wasm and its .gz/.br copies (sizes on disk)")
	flag.StringVar(&o.ScanBenchFile, "scan-bench", "", "output of `go test -bench Scan ./agent/repo/` to include in the table")
	flag.StringVar(&o.Markdown, "out", "bench-results.md", "results table (Markdown)")
	flag.StringVar(&o.JSON, "json", "bench-results.json", "raw results (JSON)")
	flag.StringVar(&o.WorkDir, "work", "", "work directory (default: a temporary one, removed at the end)")
	render := flag.String("render", "", "only re-render the Markdown (--out) of this JSON results file")
	timeout := flag.Duration("timeout", 40*time.Minute, "give up after")
	flag.Parse()

	o.HubBin = filepath.Join(*bin, "imaging-hub")
	o.AgentBin = filepath.Join(*bin, "imaging-agent")
	o.Command = commandLine()
	o.Log = os.Stderr
	if *render != "" {
		if err := bench.Render(*render, o, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "imaging-bench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := bench.Run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "imaging-bench:", err)
		os.Exit(1)
	}
}

func commandLine() string {
	parts := make([]string, 0, len(os.Args))
	for _, a := range os.Args {
		if strings.ContainsAny(a, " \t\"'$") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
