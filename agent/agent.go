// Package agent collects one report of an imaging server: partitions, host,
// memory, load, the imaging repository and the service probes. The push
// loop and `imaging-agent report` both call Collect, so what an
// administrator prints is exactly what the hub receives.
package agent

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"imagingstatus/agent/collect"
	"imagingstatus/agent/probe"
	"imagingstatus/agent/repo"
	"imagingstatus/wire"
)

// DefaultRepository is Pulse 2 / Medulla's imaging repository.
const DefaultRepository = "/var/lib/pulse2/imaging"

// Collector is owned by one goroutine: its scanner caches per-image metadata
// between collections so an unchanged repository costs a directory listing.
type Collector struct {
	root    string
	scanner *repo.Scanner
	prober  *probe.Prober
	now     func() time.Time

	// A full rescan stats every image (about 55 ms for 10,000 on a small VM):
	// at every 5 s report that alone would be 1 % of a core. So the figures
	// are rescanned when masters/ changes (an image added or removed) and at
	// least every RescanEvery (an image being written, or rewritten in place,
	// shows its progress within that time).
	RescanEvery time.Duration
	last        *wire.Repository
	lastErr     error
	lastScan    time.Time
	mastersMod  time.Time
}

// DefaultRescanEvery bounds how late an in-place change inside an existing
// image (its metadata rewritten) shows in the figures.
const DefaultRescanEvery = time.Minute

// NewCollector collects for the repository at root with the given probes
// (nil: none besides the repository itself).
func NewCollector(root string, prober *probe.Prober) *Collector {
	return &Collector{root: root, scanner: repo.New(root), prober: prober, now: time.Now, RescanEvery: DefaultRescanEvery}
}

// Collect makes one report. A collector that fails leaves its part empty and
// says why in Errors; a repository that cannot be read is a failed probe,
// which the hub shows as Connection error.
func (c *Collector) Collect(ctx context.Context) wire.Report {
	r := wire.Report{Type: wire.TypeReport, Figures: wire.Figures{CollectedAt: c.now().UTC()}}
	fail := func(err error) { r.Errors = append(r.Errors, err.Error()) }

	host, up, boot, err := collect.Host(ctx)
	if err != nil {
		fail(err)
		host, _ = os.Hostname()
	}
	r.Hostname, r.UptimeSeconds, r.BootTime = host, up, boot.UTC()
	if r.Partitions, err = collect.Partitions(ctx, c.root); err != nil {
		fail(err)
	}
	if r.Memory, err = collect.Memory(ctx); err != nil {
		fail(err)
	}
	if r.Load, err = collect.Load(ctx); err != nil {
		fail(err)
	}

	start := time.Now()
	repoProbe := wire.Probe{Name: "repository", Target: c.root}
	rep, err := c.repository()
	repoProbe.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		repoProbe.Error = err.Error()
	} else {
		repoProbe.OK = true
		r.Repository = rep
		r.Errors = append(r.Errors, c.scanner.Problems()...)
	}
	r.Probes = append(r.Probes, repoProbe)
	if c.prober != nil {
		r.Probes = append(r.Probes, c.prober.Run(ctx)...)
	}
	if r.Partitions == nil {
		r.Partitions = []wire.Partition{}
	}
	return r
}

// repository returns the scan's figures, rescanning only when needed. The
// stat of masters/ runs every time, so a repository that vanishes or turns
// unreadable is reported at once.
func (c *Collector) repository() (*wire.Repository, error) {
	fi, err := os.Stat(filepath.Join(c.root, "masters"))
	due := c.last == nil || c.lastErr != nil || err != nil ||
		!fi.ModTime().Equal(c.mastersMod) || c.now().Sub(c.lastScan) >= c.RescanEvery
	if !due {
		return c.last, nil
	}
	rep, err := c.scanner.Scan()
	c.lastScan, c.lastErr = c.now(), err
	if fi != nil {
		c.mastersMod = fi.ModTime()
	}
	if err != nil {
		c.last = nil
		return nil, err
	}
	c.last = &rep
	return c.last, nil
}
