package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"imagingstatus/agent/repo/sample"
)

// AgentConfig is the agent footprint run.
type AgentConfig struct {
	HubBin, AgentBin string
	Dir              string
	Duration         time.Duration
	Images           int
	Interval         time.Duration
	Log              io.Writer
}

// AgentResult is what the agent footprint run measured.
type AgentResult struct {
	Images           int     `json:"images"`
	IntervalSeconds  float64 `json:"interval_seconds"`
	Seconds          float64 `json:"seconds"`
	GenerateSeconds  float64 `json:"generate_seconds"`
	FirstAvailable   float64 `json:"first_available_seconds"` // start → entity available at the hub
	PeakRSSMiB       float64 `json:"peak_rss_mib"`            // VmHWM
	SteadyRSSMiB     float64 `json:"steady_rss_mib"`          // median RSS over the second half
	CPUPercentAll    float64 `json:"cpu_percent_all"`         // utime+stime over wall, whole run (first cold scan included)
	CPUPercentSteady float64 `json:"cpu_percent_steady"`      // after the first minute (or first fifth)
	Threads          int     `json:"threads"`
	Status           string  `json:"status_at_end"`
	Error            string  `json:"error,omitempty"`
}

func (c AgentConfig) logf(format string, a ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "  [agent] "+format+"\n", a...)
	}
}

// RunAgentFootprint runs the real imaging-agent against a real hub on a
// generated repository and samples it (gopsutil).
func RunAgentFootprint(ctx context.Context, c AgentConfig) (res AgentResult) {
	res.Images = c.Images
	res.IntervalSeconds = c.Interval.Seconds()
	fail := func(err error) AgentResult {
		res.Error = err.Error()
		c.logf("error: %v", err)
		return res
	}
	dir := filepath.Join(c.Dir, "agent")
	root := filepath.Join(dir, "imaging")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	// Same mix as agent/repo's BenchmarkScan*10k, scaled to the count.
	n := c.Images
	t0 := time.Now()
	if _, err := sample.Generate(root, sample.Options{
		Complete: n * 94 / 100, Legacy: n * 2 / 100, Failed: n * 3 / 100, InProgress: n / 1000, Invalid: n - n*94/100 - n*2/100 - n*3/100 - n/1000,
		Clients: max(n*3/10, 1), ClientsWithImages: n / 5, WithUUIDCache: true,
	}); err != nil {
		return fail(fmt.Errorf("generate the repository: %w", err))
	}
	res.GenerateSeconds = time.Since(t0).Seconds()
	c.logf("generated %d images in %.1f s", n, res.GenerateSeconds)

	fleet, err := NewFleet(1, c.Interval, 3)
	if err != nil {
		return fail(err)
	}
	hub, err := StartHub(ctx, c.HubBin, dir, fleet)
	if err != nil {
		return fail(err)
	}
	defer hub.Stop(10 * time.Second)
	tokPath := filepath.Join(dir, "agent.token")
	if err := os.WriteFile(tokPath, []byte(fleet.Tokens[0]+"\n"), 0o600); err != nil {
		return fail(err)
	}
	agent, err := StartProcess(c.AgentBin, []string{"run", "--hub", hub.URL, "--entity", EntityID(0), "--token-file", tokPath,
		"--repo", root, "--interval", c.Interval.String()}, []string{"IMAGING_AGENT_TOKEN="}, filepath.Join(dir, "agent.log"))
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	defer agent.StopWith(syscall.SIGINT, 10*time.Second)
	exited := agent.Done()
	s := NewSampler(agent.Pid(), time.Second, 4000)

	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	deadline := time.After(c.Duration)
	progress := time.NewTicker(time.Minute)
	defer progress.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			s.Stop()
			return fail(ctx.Err())
		case <-exited:
			s.Stop()
			return fail(fmt.Errorf("imaging-agent exited early; log: %s", agent.Tail(1000)))
		case <-deadline:
			break loop
		case <-progress.C:
			c.logf("%v: RSS %.1f MiB", time.Since(start).Round(time.Second), float64(s.PeakKiB())/1024)
		case <-poll.C:
			if res.FirstAvailable == 0 {
				if st, _ := entityStatus(hub.URL, EntityID(0)); st == "available" {
					res.FirstAvailable = time.Since(start).Seconds()
					poll.Stop()
				}
			}
		}
	}
	reads := s.Stop()
	res.Seconds = time.Since(start).Seconds()
	res.Status, _ = entityStatus(hub.URL, EntityID(0))
	if len(reads) < 2 {
		return fail(fmt.Errorf("only %d readings of the agent process", len(reads)))
	}
	last := reads[len(reads)-1]
	res.Threads = last.Threads
	res.PeakRSSMiB = float64(last.HWMKiB) / 1024
	res.CPUPercentAll = CPUPercent(ProcUsage{At: start}, last)
	warm := min(time.Minute, c.Duration/5)
	var from *ProcUsage
	var rss []uint64
	for i := range reads {
		r := reads[i]
		if from == nil && r.At.Sub(start) >= warm {
			from = &reads[i]
		}
		if r.At.Sub(start) >= c.Duration/2 {
			rss = append(rss, r.RSSKiB)
		}
	}
	if from != nil {
		res.CPUPercentSteady = CPUPercent(*from, last)
	}
	if len(rss) > 0 {
		res.SteadyRSSMiB = float64(Median(rss)) / 1024
	}
	c.logf("peak RSS %.1f MiB, steady %.1f MiB, CPU %.3f %% (steady %.3f %%), status %s",
		res.PeakRSSMiB, res.SteadyRSSMiB, res.CPUPercentAll, res.CPUPercentSteady, res.Status)
	return res
}

func entityStatus(hubURL, id string) (string, error) {
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(hubURL + "/api/v1/entities/" + id)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", err
	}
	return v.Status, nil
}
