// Package agent collects one report of an imaging server: partitions, host,
// memory, load, the imaging repository and the service probes. The push
// loop and `imaging-agent report` both call Collect, so what an
// administrator prints is exactly what the hub receives.
package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"time"

	"imagingstatus/agent/collect"
	"imagingstatus/agent/probe"
	"imagingstatus/agent/push"
	"imagingstatus/agent/repo"
	"imagingstatus/wire"
)

// DefaultRepository is Pulse 2 / Medulla's imaging repository.
const DefaultRepository = "/var/lib/pulse2/imaging"

// Collector is owned by one goroutine: its scanner caches per-image metadata
// between collections, and a watch of the repository says what to read again.
type Collector struct {
	root    string
	scanner *repo.Scanner
	prober  *probe.Prober
	now     func() time.Time

	// Watch makes the collector watch the repository with inotify and read
	// again only what changed (NewCollector sets it). Unset, or when
	// watching fails (a limit reached, no inotify), it polls: a full rescan
	// when masters/ changes and at least every RescanEvery.
	Watch bool
	// RescanEvery is the cadence of the images being written (or written
	// within the last hour) while watching, and of full rescans while
	// polling: it bounds how late the progress of an image, or (polling) an
	// in-place change, shows. A full rescan stats every image (about 55 ms
	// for 10,000 on a small VM): at every 5 s report that alone would be
	// 1 % of a core.
	RescanEvery time.Duration
	// SafetyRescan is the full rescan interval while watching, spread by
	// ±20 % so a fleet does not rescan in step: it catches what a watch
	// cannot see (a file rewritten inside an old image) and anything a
	// watch would have missed.
	SafetyRescan time.Duration

	last       *wire.Repository
	lastErr    error
	lastScan   time.Time // last full scan
	lastHot    time.Time // last read of the hot images
	nextFull   time.Time // next full scan while watching
	mastersMod time.Time

	watch      *watcher
	watchErr   error     // why the collector polls instead of watching
	watchRetry time.Time // when to try watching again
}

// DefaultRescanEvery bounds how late an image being written shows its
// progress (and, when polling, how late an in-place change shows).
const DefaultRescanEvery = time.Minute

// DefaultSafetyRescan is the full rescan interval while watching.
const DefaultSafetyRescan = 15 * time.Minute

// NewCollector collects for the repository at root with the given probes
// (nil: none besides the repository itself). Close releases its watch.
func NewCollector(root string, prober *probe.Prober) *Collector {
	return &Collector{root: root, scanner: repo.New(root), prober: prober, now: time.Now,
		Watch: true, RescanEvery: DefaultRescanEvery, SafetyRescan: DefaultSafetyRescan}
}

// Close stops watching the repository.
func (c *Collector) Close() {
	if c.watch != nil {
		c.watch.close()
		c.watch = nil
	}
}

// Collect makes one report. A collector that fails leaves its part empty and
// says why in Errors; a repository that cannot be read is a failed probe,
// which the hub shows as Connection error. The image list is not in the
// report: Images walks the scanner's cache, valid until the next Collect.
func (c *Collector) Collect(ctx context.Context) push.Collected {
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
	var images func(func(*wire.Image) bool)
	if err != nil {
		repoProbe.Error = err.Error()
	} else {
		repoProbe.OK = true
		r.Repository = rep
		images = c.scanner.EachImage
		r.Errors = append(r.Errors, c.scanner.Problems()...)
	}
	if c.watchErr != nil {
		r.Errors = append(r.Errors, fmt.Sprintf("repository not watched (%s): polling it instead, a full rescan every %v", c.watchErr, c.RescanEvery))
	}
	if c.watch != nil {
		if p := c.watch.problem(c.RescanEvery.String()); p != "" {
			r.Errors = append(r.Errors, p)
		}
	}
	r.Probes = append(r.Probes, repoProbe)
	if c.prober != nil {
		r.Probes = append(r.Probes, c.prober.Run(ctx)...)
	}
	if r.Partitions == nil {
		r.Partitions = []wire.Partition{}
	}
	if len(r.Errors) > wire.MaxErrors {
		r.Errors = r.Errors[:wire.MaxErrors]
	}
	return push.Collected{Report: r, Images: images}
}

// repository returns the scan's figures, reading again only what changed.
// Watching, that is what the watch saw, the hot images every RescanEvery,
// and everything every SafetyRescan; polling, everything when masters/
// changed or every RescanEvery. The root and masters/ are stat'ed every
// time, so a repository that vanishes or turns unreadable is reported at
// once.
func (c *Collector) repository() (*wire.Repository, error) {
	now := c.now()
	var ch changes
	if c.watch != nil {
		ch = c.watch.drain()
		if ch.broken != nil {
			c.Close() // set up again below, before the full scan
			ch.full = true
		}
	}
	if c.watch == nil && c.Watch && (c.watchErr == nil || !now.Before(c.watchRetry)) {
		w, err := startWatch(c.root, c.scanner.Masters())
		var we *errWatch
		switch {
		case err == nil:
			// Watching from before the scan: nothing falls between them.
			c.watch, c.watchErr = w, nil
			ch.full = true
		case errors.As(err, &we):
			c.watchErr, c.watchRetry = we, now.Add(c.SafetyRescan)
		}
		// Otherwise the repository is missing: the scan says so, and the
		// watch is tried again at the next report.
	}

	full := c.last == nil || c.lastErr != nil || ch.full
	if c.watch != nil {
		full = full || !now.Before(c.nextFull)
	} else {
		fi, err := os.Stat(c.scanner.Masters())
		full = full || err != nil || !fi.ModTime().Equal(c.mastersMod) || now.Sub(c.lastScan) >= c.RescanEvery
		if fi != nil {
			c.mastersMod = fi.ModTime()
		}
	}
	var rep wire.Repository
	var err error
	switch {
	case full:
		reads := c.scanner.Reads()
		rep, err = c.scanner.Rescan()
		c.lastScan, c.lastHot = now, now
		c.nextFull = now.Add(spread(c.SafetyRescan))
		if c.scanner.Reads()-reads >= bigScan {
			// A cold scan of 10,000 images allocates about 90 MB in small
			// pieces, of which 2 MB stay: give the rest back to the system
			// now rather than over minutes (one extra GC, at start and
			// after a mass change).
			debug.FreeOSMemory()
		}
	case c.watch != nil:
		hot := now.Sub(c.lastHot) >= c.RescanEvery
		if hot {
			c.lastHot = now
		}
		rep, err = c.scanner.Update(repo.Changes{Images: ch.Images, Clients: ch.Clients, Hot: hot})
	default:
		return c.last, nil // polling, nothing due
	}
	c.lastErr = err
	if err != nil {
		c.last = nil
		return nil, err
	}
	if c.watch != nil {
		c.watch.sync(c.scanner)
	}
	c.last = &rep
	return c.last, nil
}

// bigScan is the number of image reads after which a scan's garbage is
// returned to the system at once.
const bigScan = 1000

// startWatch is newWatcher; tests replace it to make watching fail.
var startWatch = newWatcher

// spread returns d ± 20 %.
func spread(d time.Duration) time.Duration {
	return d*4/5 + rand.N(d*2/5+1)
}
