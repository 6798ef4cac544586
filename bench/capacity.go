package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// CapacityConfig is one hub capacity scenario.
type CapacityConfig struct {
	HubBin      string
	Dir         string // work directory (configuration and hub log)
	Agents      int
	Viewers     int
	Interval    time.Duration // report and ping interval (hub and agents)
	MissedPings int
	// Measure is the measurement window after ramp-up; it is stretched to
	// cover the offline deadline so killed agents are seen going offline.
	Measure time.Duration
	// Kill is how many agents are killed per mode (closed, silent) at the
	// window start; 0 picks max(2, min(25, agents/20)).
	Kill int
	// Detail makes each viewer ask for one entity in full (`?detail=`) and
	// the others as summaries, as the dashboard does; its deliveries are
	// then counted for that entity only. Off: every entity in full.
	Detail bool
	Log    io.Writer
	// InProcess, when set, replaces the hub process: it starts a hub for
	// the fleet (for example server.New in this process, to profile it)
	// and returns its base URL, its pid and a stop function.
	InProcess func(ctx context.Context, f *Fleet) (url string, pid int, stop func(), err error)
}

// CapacityResult is what one scenario measured.
type CapacityResult struct {
	Agents           int     `json:"agents"`
	Viewers          int     `json:"viewers"`
	Detail           bool    `json:"detail"` // each viewer: one entity in full, summaries for the rest
	AgentsConnected  int     `json:"agents_connected"`
	ViewersConnected int     `json:"viewers_connected"`
	ViewersLost      int     `json:"viewers_lost"` // streams that ended before the end
	RampSeconds      float64 `json:"ramp_seconds"`
	WindowSeconds    float64 `json:"window_seconds"`

	ReportsSent       int64   `json:"reports_sent"` // in the window
	ReportsPerSecond  float64 `json:"reports_per_second"`
	AppliedPerSecond  float64 `json:"applied_per_second"` // distinct reports seen by at least one viewer
	SendErrors        int64   `json:"send_errors"`
	Latency           Summary `json:"latency"` // collected_at → arrival, every viewer
	Expected          int64   `json:"expected_deliveries"`
	Received          int64   `json:"received_deliveries"`
	MissedPercent     float64 `json:"missed_percent"` // dropped or coalesced
	WorstViewerMissed float64 `json:"worst_viewer_missed_percent"`
	FramesPerSecond   float64 `json:"viewer_frames_per_second"`
	MiBPerSecond      float64 `json:"viewer_mib_per_second"`

	HubCPUPercent   float64 `json:"hub_cpu_percent"` // of one core, over the window
	HubPeakRSSMiB   float64 `json:"hub_peak_rss_mib"`
	HubThreads      int     `json:"hub_threads"`
	BenchCPUPercent float64 `json:"bench_cpu_percent"` // this process (the simulated clients)
	LoadAvg         string  `json:"loadavg_after"`

	Killed          int     `json:"killed_per_mode"`
	OfflineClosed   Summary `json:"offline_after_tcp_close"`  // kill → viewer sees offline
	OfflineSilent   Summary `json:"offline_after_last_frame"` // silent agent: last frame → offline
	OfflineMissing  int     `json:"offline_not_seen"`         // (entity, viewer) pairs that never saw it
	DeadlineSeconds float64 `json:"deadline_seconds"`
	Error           string  `json:"error,omitempty"`
}

func (c *CapacityConfig) logf(format string, a ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "  [%dx%d] "+format+"\n", append([]any{c.Agents, c.Viewers}, a...)...)
	}
}

// parallel runs f(i) for i in [0, n) on k goroutines, stopping early when
// ctx ends.
func parallel(ctx context.Context, n, k int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(k, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// RunCapacity runs one scenario against a fresh hub process.
func RunCapacity(ctx context.Context, c CapacityConfig) (res CapacityResult) {
	res = CapacityResult{Agents: c.Agents, Viewers: c.Viewers, Detail: c.Detail}
	if c.Interval == 0 {
		c.Interval = 5 * time.Second
	}
	if c.MissedPings == 0 {
		c.MissedPings = 3
	}
	if c.Kill == 0 {
		c.Kill = max(2, min(25, c.Agents/20))
	}
	c.Kill = min(c.Kill, c.Agents/2)
	res.Killed = c.Kill
	fail := func(err error) CapacityResult {
		res.Error = err.Error()
		c.logf("error: %v", err)
		return res
	}
	fleet, err := NewFleet(c.Agents, c.Interval, c.MissedPings)
	if err != nil {
		return fail(err)
	}
	res.DeadlineSeconds = fleet.Deadline().Seconds()
	dir := filepath.Join(c.Dir, fmt.Sprintf("capacity-%d-%d", c.Agents, c.Viewers))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	var hubURL string
	var hubPid int
	var hub *HubProc // nil when in process
	if c.InProcess != nil {
		url, pid, stop, err := c.InProcess(ctx, fleet)
		if err != nil {
			return fail(err)
		}
		defer stop()
		hubURL, hubPid = url, pid
	} else {
		hub, err = StartHub(ctx, c.HubBin, dir, fleet)
		if err != nil {
			return fail(err)
		}
		defer hub.Stop(10 * time.Second)
		hubURL, hubPid = hub.URL, hub.Pid()
	}
	hubSampler := NewSampler(hubPid, time.Second, 600)
	defer hubSampler.Stop()

	win := &window{}
	sh := newShared(c.Agents, win)
	runCtx, stopClients := context.WithCancel(ctx)
	defer stopClients()
	rampStart := time.Now()

	// Viewers first: their snapshot is small while no agent has reported.
	viewers := make([]*SimViewer, c.Viewers)
	var dialErrs atomic.Int64
	var firstErr atomic.Value
	// Ramp-ups are bounded: what is not connected in time is left out
	// (and said in the notes).
	vctx, vcancel := context.WithTimeout(runCtx, 60*time.Second)
	defer vcancel()
	parallel(vctx, c.Viewers, 16, func(i int) {
		detail := 0
		if c.Detail {
			detail = i%c.Agents + 1
		}
		v, err := dialViewer(vctx, hubURL, sh, detail)
		if err != nil {
			dialErrs.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return
		}
		select {
		case <-v.gotSnap:
		case <-time.After(20 * time.Second):
		}
		viewers[i] = v
	})
	viewers = slices.DeleteFunc(viewers, func(v *SimViewer) bool { return v == nil })
	defer func() {
		for _, v := range viewers {
			v.Close()
		}
	}()
	res.ViewersConnected = len(viewers)
	c.logf("%d viewers connected in %v", len(viewers), time.Since(rampStart).Round(time.Millisecond))

	agents := make([]*SimAgent, c.Agents)
	var agentWG sync.WaitGroup
	defer func() {
		stopClients()
		for _, a := range agents {
			if a != nil {
				a.Close()
			}
		}
		agentWG.Wait()
	}()
	actx, acancel := context.WithTimeout(runCtx, 90*time.Second)
	defer acancel()
	parallel(actx, c.Agents, 32, func(i int) {
		a, err := DialAgent(actx, hubURL, i, fleet.Tokens[i], win)
		if err != nil {
			dialErrs.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return
		}
		agents[i] = a
		agentWG.Go(func() { a.Run(runCtx, c.Interval) })
	})
	for _, a := range agents {
		if a != nil {
			res.AgentsConnected++
		}
	}
	c.logf("%d agents connected in %v (%d dial errors%s)", res.AgentsConnected, time.Since(rampStart).Round(time.Millisecond),
		dialErrs.Load(), func() string {
			if e, ok := firstErr.Load().(string); ok {
				return ", first: " + e
			}
			return ""
		}())
	if res.AgentsConnected == 0 || len(viewers) == 0 {
		return fail(fmt.Errorf("nothing to measure: %d agents and %d viewers connected", res.AgentsConnected, len(viewers)))
	}
	// Warm-up: every agent sends its first report (with its image list)
	// within one interval of connecting.
	if !sleepCtx(ctx, c.Interval+time.Second) {
		return fail(ctx.Err())
	}
	res.RampSeconds = time.Since(rampStart).Seconds()

	measure := max(c.Measure, fleet.Deadline()+4*time.Second)
	start := time.Now()
	win.start.Store(start.UnixNano())
	hub0, _ := ReadProc(hubPid)
	self0, _ := ReadProc(0)

	// Kill a spread-out sample: half dropped (TCP close, no close frame),
	// half silent (socket open, no frame at all).
	type kill struct {
		idx    int
		silent bool
		at     time.Time
	}
	var kills []kill
	for k := 0; k < 2*c.Kill; k++ {
		idx := (k*c.Agents)/(2*c.Kill) + c.Agents/(4*c.Kill)
		a := agents[min(idx, c.Agents-1)]
		if a == nil {
			continue
		}
		kl := kill{idx: a.Index, silent: k%2 == 1}
		// Marked before the kill: the hub may announce a dropped
		// connection before KillClosed returns.
		sh.killedAt[a.Index].Store(time.Now().UnixNano())
		if kl.silent {
			kl.at = a.KillSilent()
		} else {
			kl.at = a.KillClosed()
		}
		sh.killedAt[a.Index].Store(kl.at.UnixNano())
		kills = append(kills, kl)
	}
	c.logf("measuring for %v (%d agents killed)", measure, len(kills))
	if !sleepCtx(ctx, measure) {
		return fail(ctx.Err())
	}
	end := time.Now()
	win.end.Store(end.UnixNano())
	hub1, _ := ReadProc(hubPid)
	self1, _ := ReadProc(0)

	// Drain: wait until the viewers stop receiving in-window reports
	// (at most 10 s).
	total := func() int64 {
		var s int64
		for _, v := range viewers {
			s += v.count()
		}
		return s
	}
	prev := total()
	for drain := time.Now(); time.Since(drain) < 10*time.Second; {
		if !sleepCtx(ctx, 500*time.Millisecond) {
			break
		}
		cur := total()
		if cur == prev {
			break
		}
		prev = cur
	}
	stopClients()

	wall := end.Sub(start).Seconds()
	res.WindowSeconds = wall
	var expected int64
	for _, a := range agents {
		if a != nil {
			expected += a.inWin.Load()
			res.SendErrors += a.sendErr.Load()
		}
	}
	res.ReportsSent = expected
	res.ReportsPerSecond = float64(expected) / wall
	res.AppliedPerSecond = float64(sh.applied.Load()) / wall

	var lat, offClosed, offSilent Histogram
	var frames, bytesIn int64
	for _, v := range viewers {
		v.mu.Lock()
		lat.Merge(&v.lat)
		res.Received += v.received
		frames += v.frames
		bytesIn += v.bytes
		want := expected
		if v.detail > 0 {
			want = 0
			if a := agents[v.detail-1]; a != nil {
				want = a.inWin.Load()
			}
		}
		res.Expected += want
		if want > 0 {
			res.WorstViewerMissed = max(res.WorstViewerMissed, 100*float64(want-v.received)/float64(want))
		}
		if !v.alive() {
			res.ViewersLost++
		}
		for _, k := range kills {
			seen, ok := v.offline[k.idx]
			if !ok {
				res.OfflineMissing++
				continue
			}
			if k.silent {
				last := agents[k.idx].lastFrame.Load()
				offSilent.Record(time.Duration(seen - last))
			} else {
				offClosed.Record(time.Duration(seen - k.at.UnixNano()))
			}
		}
		v.mu.Unlock()
	}
	if res.Expected > 0 {
		res.MissedPercent = 100 * float64(res.Expected-res.Received) / float64(res.Expected)
	}
	res.Latency = lat.Summary()
	res.OfflineClosed = offClosed.Summary()
	res.OfflineSilent = offSilent.Summary()
	res.FramesPerSecond = float64(frames) / time.Since(rampStart).Seconds()
	res.MiBPerSecond = float64(bytesIn) / (1 << 20) / time.Since(rampStart).Seconds()
	res.HubCPUPercent = CPUPercent(hub0, hub1)
	res.BenchCPUPercent = CPUPercent(self0, self1)
	res.HubThreads = hub1.Threads
	res.HubPeakRSSMiB = float64(max(hubSampler.PeakKiB(), hub1.HWMKiB)) / 1024
	res.LoadAvg = LoadAvg()
	if hub != nil && hub.Exited() {
		res.Error = "the hub process exited during the run; log: " + hub.Tail(500)
	}
	c.logf("p50 %.1f ms, p99 %.1f ms, max %.1f ms; missed %.2f %%; hub CPU %.0f %%, peak RSS %.0f MiB",
		res.Latency.P50MS, res.Latency.P99MS, res.Latency.MaxMS, res.MissedPercent, res.HubCPUPercent, res.HubPeakRSSMiB)
	return res
}
