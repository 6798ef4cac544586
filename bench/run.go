package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/mem"
)

// Options of a whole benchmark run (cmd/imaging-bench maps its flags here).
type Options struct {
	HubBin, AgentBin string
	Scenarios        string // "100x10,1000x100"
	Measure          time.Duration
	Interval         time.Duration
	AgentDuration    time.Duration
	AgentImages      int
	AgentSkipEmpty   bool // skip the second agent run, on an empty repository
	Browser          bool
	Chromium         string
	WasmDir          string
	ScanBenchFile    string
	Markdown, JSON   string
	WorkDir          string
	Command          string
	Log              io.Writer
}

// Scenario is one AGENTSxVIEWERS pair; a trailing "d" (1000x100d) makes
// each viewer ask for one entity in full and summaries for the rest, as the
// dashboard does.
type Scenario struct {
	Agents, Viewers int
	Detail          bool
}

// ParseScenarios reads "100x10,1000x100".
func ParseScenarios(s string) ([]Scenario, error) {
	var out []Scenario
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		spec := f
		detail := strings.HasSuffix(f, "d")
		f = strings.TrimSuffix(f, "d")
		a, v, ok := strings.Cut(f, "x")
		na, err1 := strconv.Atoi(a)
		nv, err2 := strconv.Atoi(v)
		if !ok || err1 != nil || err2 != nil || na < 1 || nv < 1 || na > 50_000 || nv > 5_000 {
			return nil, fmt.Errorf("scenario %q: want AGENTSxVIEWERS[d], e.g. 1000x100 or 1000x100d (at most 50000x5000)", spec)
		}
		out = append(out, Scenario{na, nv, detail})
	}
	return out, nil
}

// Machine describes where the run happened.
type Machine struct {
	CPUs     int    `json:"cpus"`
	Model    string `json:"cpu_model"`
	MemTotal string `json:"mem_total"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	FileMax  uint64 `json:"nofile_limit"`
	LoadAvg  string `json:"loadavg_at_start"`
}

// Results of a run, written as JSON.
type Results struct {
	Date     time.Time        `json:"date"`
	Command  string           `json:"command"`
	Machine  Machine          `json:"machine"`
	Capacity []CapacityResult `json:"capacity"`
	Agent    *AgentResult     `json:"agent,omitempty"`
	// AgentEmpty is the same run on an empty repository.
	AgentEmpty *AgentResult   `json:"agent_empty,omitempty"`
	ScanBench  []BenchLine    `json:"scan_bench,omitempty"`
	Browser    *BrowserResult `json:"browser,omitempty"`
	Seconds    float64        `json:"seconds"`
}

// machine describes this machine through gopsutil.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadAvg: LoadAvg()}
	if ci, err := cpu.Info(); err == nil && len(ci) > 0 {
		m.Model = ci[0].ModelName
	}
	if vm, err := mem.VirtualMemory(); err == nil {
		m.MemTotal = fmt.Sprintf("%.1f GiB", float64(vm.Total)/(1<<30))
	}
	if k, err := host.KernelVersion(); err == nil {
		m.Kernel = k
	}
	return m
}

// Run runs every part the options ask for and writes the table (stdout
// and Markdown) and the JSON.
func Run(ctx context.Context, o Options, stdout io.Writer) error {
	if o.Log == nil {
		o.Log = io.Discard
	}
	scen, err := ParseScenarios(o.Scenarios)
	if err != nil {
		return err
	}
	nofile, err := RaiseFileLimit()
	if err != nil {
		return fmt.Errorf("raise the open-file limit: %w", err)
	}
	for _, s := range scen {
		if need := uint64(s.Agents+s.Viewers) + 256; need > nofile {
			return fmt.Errorf("scenario %dx%d needs about %d open files, the hard limit is %d (raise it with ulimit -Hn)", s.Agents, s.Viewers, need, nofile)
		}
	}
	work := o.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "imaging-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	started := time.Now()
	res := Results{Date: started.UTC().Truncate(time.Second), Command: o.Command, Machine: machine()}
	res.Machine.FileMax = nofile
	fmt.Fprintf(o.Log, "imaging-bench: %d CPUs (%s), %s, load %s, open files %d\n", res.Machine.CPUs, res.Machine.Model, res.Machine.MemTotal, res.Machine.LoadAvg, nofile)

	for _, s := range scen {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(o.Log, "hub capacity: %d agents, %d viewers\n", s.Agents, s.Viewers)
		r := RunCapacity(ctx, CapacityConfig{HubBin: o.HubBin, Dir: work, Agents: s.Agents, Viewers: s.Viewers,
			Interval: o.Interval, Measure: o.Measure, Log: o.Log, Detail: s.Detail})
		res.Capacity = append(res.Capacity, r)
		sleepCtx(ctx, 2*time.Second) // a pause between scenarios: the previous hub's sockets close
	}
	if o.AgentDuration > 0 && ctx.Err() == nil {
		fmt.Fprintf(o.Log, "agent footprint: %v with %d images\n", o.AgentDuration, o.AgentImages)
		r := RunAgentFootprint(ctx, AgentConfig{HubBin: o.HubBin, AgentBin: o.AgentBin, Dir: work,
			Duration: o.AgentDuration, Images: o.AgentImages, Interval: o.Interval, Log: o.Log})
		res.Agent = &r
	}
	if o.AgentDuration > 0 && !o.AgentSkipEmpty && o.AgentImages != 0 && ctx.Err() == nil {
		fmt.Fprintf(o.Log, "agent footprint: %v with an empty repository\n", o.AgentDuration)
		r := RunAgentFootprint(ctx, AgentConfig{HubBin: o.HubBin, AgentBin: o.AgentBin, Dir: filepath.Join(work, "empty"),
			Duration: o.AgentDuration, Images: 0, Interval: o.Interval, Log: o.Log})
		res.AgentEmpty = &r
	}
	if o.ScanBenchFile != "" {
		if b, err := os.ReadFile(o.ScanBenchFile); err == nil {
			res.ScanBench = ParseBenchOutput(string(b))
		} else {
			fmt.Fprintln(o.Log, "scan benchmark:", err)
		}
	}
	if o.Browser && ctx.Err() == nil {
		fmt.Fprintln(o.Log, "browser: headless Chromium")
		r := RunBrowser(ctx, BrowserConfig{HubBin: o.HubBin, Chromium: o.Chromium, Dir: work, WasmDir: o.WasmDir,
			Interval: o.Interval, Log: o.Log})
		res.Browser = &r
	}
	res.Seconds = time.Since(started).Seconds()

	md := Markdown(res)
	fmt.Fprint(stdout, md)
	if o.Markdown != "" {
		if err := os.WriteFile(o.Markdown, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if o.JSON != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.JSON, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stopped early: %w", ctx.Err())
	}
	return nil
}

// Render re-renders the Markdown of a saved JSON results file (with the
// scan benchmark re-read when o.ScanBenchFile is set), without measuring.
func Render(jsonPath string, o Options, stdout io.Writer) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	if o.ScanBenchFile != "" {
		sb, err := os.ReadFile(o.ScanBenchFile)
		if err != nil {
			return err
		}
		res.ScanBench = ParseBenchOutput(string(sb))
	}
	md := Markdown(res)
	fmt.Fprint(stdout, md)
	if o.Markdown != "" {
		return os.WriteFile(o.Markdown, []byte(md), 0o644)
	}
	return nil
}

// BenchLine is one result line of `go test -bench`.
type BenchLine struct {
	Name        string  `json:"name"`
	Iterations  int64   `json:"iterations"`
	NsPerOp     float64 `json:"ns_per_op"`
	CPUNsPerOp  float64 `json:"cpu_ns_per_op,omitempty"`
	BytesPerOp  float64 `json:"bytes_per_op,omitempty"`
	AllocsPerOp float64 `json:"allocs_per_op,omitempty"`
}

// ParseBenchOutput reads the Benchmark lines of `go test -bench` output.
func ParseBenchOutput(s string) []BenchLine {
	var out []BenchLine
	for l := range strings.SplitSeq(s, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		b := BenchLine{Name: f[0]}
		var err error
		if b.Iterations, err = strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				b.NsPerOp = v
			case "cpu-ns/op":
				b.CPUNsPerOp = v
			case "B/op":
				b.BytesPerOp = v
			case "allocs/op":
				b.AllocsPerOp = v
			}
		}
		if b.NsPerOp > 0 {
			out = append(out, b)
		}
	}
	return out
}
