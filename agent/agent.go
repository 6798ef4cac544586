// Package agent collects one report of an imaging server: partitions, host,
// memory, load, the imaging repository and the service probes. The push
// loop and `imaging-agent report` both call Collect, so what an
// administrator prints is exactly what the hub receives.
package agent

import (
	"context"
	"os"
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
}

// NewCollector collects for the repository at root with the given probes
// (nil: none besides the repository itself).
func NewCollector(root string, prober *probe.Prober) *Collector {
	return &Collector{root: root, scanner: repo.New(root), prober: prober, now: time.Now}
}

// Collect makes one report. A collector that fails leaves its part empty and
// says why in Errors; a repository that cannot be read is a failed probe,
// which the hub shows as Connection error.
func (c *Collector) Collect(ctx context.Context) wire.Report {
	r := wire.Report{Type: wire.TypeReport, CollectedAt: c.now().UTC()}
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
	rep, err := c.scanner.Scan()
	repoProbe.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		repoProbe.Error = err.Error()
	} else {
		repoProbe.OK = true
		r.Repository = &rep
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
