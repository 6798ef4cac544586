package hub

import (
	"context"
	"strings"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/server/history"
	"imagingstatus/server/state"
	"imagingstatus/server/store"
	"imagingstatus/wire"
)

// recorder writes the state file off the loop, with three goroutines of
// its own: the group commit of status changes, the periodic saves of
// figures, and the history retention. Its interface to the loop is record
// and save (never blocking), the committed and storeHealth events, and
// close.
type recorder struct {
	h  *Hub
	st Store

	jobs       chan recordJob
	recorded   chan struct{}
	stop       chan struct{}  // closed at shutdown: a failing commit stops retrying
	unrecorded chan recordJob // the job given up at shutdown
	saves      chan []wire.Entity
	savesDone  chan struct{}
	stopPrune  context.CancelFunc
	pruneDone  chan struct{}
	// series feeds the figure history and recomputes the forecasts; nil
	// when the store keeps no figure history.
	series     SeriesStore
	samples    chan seriesBatch
	seriesDone chan struct{}
}

// seriesBatch is one round of samples, with each server's repository
// partition (for its forecast).
type seriesBatch struct {
	at      time.Time
	samples []store.Sample
	servers map[string]serverDisk
}

type serverDisk struct {
	mountpoint string
	total      float64
}

// recordJob is one commit of status changes.
type recordJob struct {
	changes []store.Change
	views   []wire.Entity
}

// heldBack turns a job that could not be committed back into held
// changes, for the final write at shutdown.
func (j recordJob) heldBack() []state.Transition {
	out := make([]state.Transition, len(j.changes))
	for i, c := range j.changes {
		out[i] = state.Transition{Entity: c.Entity, At: c.At, From: c.From, To: c.To, Reason: c.Reason}
	}
	return out
}

func newRecorder(h *Hub, st Store) *recorder {
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{h: h, st: st, jobs: make(chan recordJob, 1), recorded: make(chan struct{}), stop: make(chan struct{}),
		unrecorded: make(chan recordJob, 1), saves: make(chan []wire.Entity, 1), savesDone: make(chan struct{}),
		stopPrune: cancel, pruneDone: make(chan struct{})}
	if ss, ok := st.(SeriesStore); ok {
		r.series, r.samples, r.seriesDone = ss, make(chan seriesBatch, 1), make(chan struct{})
		go r.history()
	}
	go r.commits()
	go r.pruner(ctx)
	return r
}

// sample hands a round of samples over; dropped (and logged) when the
// previous one is still being written.
func (r *recorder) sample(b seriesBatch) {
	select {
	case r.samples <- b:
	default:
		r.h.log.Warn("figure samples skipped: the previous batch is still being written", "samples", len(b.samples))
	}
}

// history writes the figure samples and, every ForecastEvery, recomputes
// the disk-full forecast of every server it has samples of.
func (r *recorder) history() {
	defer close(r.seriesDone)
	h := r.h
	var last time.Time
	disks := map[string]serverDisk{}
	for b := range r.samples {
		if err := r.series.AppendSamples(b.samples); err != nil {
			h.stats.stateErrors.Add(1)
			h.log.Error("figure samples not recorded", "samples", len(b.samples), "err", err)
		}
		for id, d := range b.servers {
			disks[id] = d
		}
		if _, every := h.sampling(); b.at.Sub(last) < every {
			continue
		}
		last = b.at
		out := make(map[string]*wire.DiskForecast, len(disks))
		cfg := h.config()
		for id, d := range disks {
			if e, ok := cfg.Lookup(id); !ok || e.Server == nil {
				delete(disks, id)
				continue
			}
			points, err := r.series.Series(id, wire.FigureRepoDiskUsed, b.at.Add(-history.ForecastWindow), b.at)
			if err != nil {
				h.log.Error("figure history not read for the forecast", "entity", id, "err", err)
				continue
			}
			f := history.Forecast(points, d.total, b.at, d.mountpoint)
			f.Synthetic = cfg.SyntheticHistory(id)
			out[id] = &f
		}
		r.tell(&forecastsComputed{forecasts: out})
	}
}

// record hands a commit over; the loop hands one at a time (it waits for
// committed), so this never blocks.
func (r *recorder) record(job recordJob) { r.jobs <- job }

// save hands periodic figure saves over; false when the previous save is
// still being written (try again next time).
func (r *recorder) save(views []wire.Entity) bool {
	select {
	case r.saves <- views:
		return true
	default:
		return false
	}
}

// close lets the commit under way finish (one more try if it is failing)
// and stops the goroutines; it returns the job given up, if any.
func (r *recorder) close() (recordJob, bool) {
	close(r.stop)
	close(r.jobs)
	close(r.saves)
	<-r.recorded
	if r.samples != nil {
		close(r.samples)
		<-r.seriesDone
	}
	r.stopPrune()
	<-r.pruneDone
	select {
	case j := <-r.unrecorded:
		return j, true
	default:
		return recordJob{}, false
	}
}

// commits writes each job; a write that fails (a full disk) is retried
// with backoff until it passes: nothing is lost while the loop's queue
// holds, /healthz and the page say the state file cannot be written.
//
// Periodic figure saves go through the same goroutine, in small
// transactions between commits (a commit never waits long behind a big
// save for bbolt's single writer), and a save skips the entities a commit
// wrote since the save was taken: an older view never overwrites a newer
// one.
func (r *recorder) commits() {
	defer close(r.recorded)
	defer close(r.savesDone)
	var pending []wire.Entity // the save being written
	newer := map[string]bool{}
	jobs, saves := r.jobs, r.saves
	for jobs != nil || saves != nil || len(pending) > 0 {
		select {
		case <-r.stop: // shutdown saves every view itself
			pending = nil
		default:
		}
		var job recordJob
		var ok bool
		if len(pending) > 0 {
			// A commit first; else the next chunk of the save.
			select {
			case job, ok = <-jobs:
			default:
				pending = r.saveChunk(pending, newer)
				continue
			}
		} else {
			select {
			case job, ok = <-jobs:
			case views, sok := <-saves:
				if !sok {
					saves = nil
				}
				pending = views
				clear(newer)
				continue
			}
		}
		if !ok {
			jobs = nil
			continue
		}
		if !r.commit(job, newer) {
			return
		}
	}
}

// tell hands the loop an event, unless the hub is stopping (the loop no
// longer reads them then).
func (r *recorder) tell(e event) {
	select {
	case r.h.events <- e:
	case <-r.stop:
	case <-r.h.done:
	}
}

// commit writes one job, retrying until it passes; false when the hub
// stopped meanwhile (the job is handed back for the final write).
func (r *recorder) commit(job recordJob, newer map[string]bool) bool {
	h := r.h
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := r.st.Record(job.changes, job.views)
		if err == nil {
			if took := time.Since(start); took > 100*time.Millisecond {
				h.log.Warn("slow write of status changes to the state file", "changes", len(job.changes), "took", took)
			}
			if attempt > 1 {
				h.log.Info("state file writable again: queued status changes recorded", "changes", len(job.changes), "attempts", attempt)
			}
			r.setStoreErr(nil)
			for _, v := range job.views {
				newer[v.ID] = true
			}
			r.tell(committed{})
			return true
		}
		h.stats.stateErrors.Add(1)
		h.log.Error("status changes not recorded in the state file; retrying", "changes", len(job.changes), "attempt", attempt, "retry_in", wait, "err", err)
		r.setStoreErr(err)
		select {
		case <-r.stop:
			r.unrecorded <- job
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, h.opt.RetryMax)
	}
}

// saveChunk writes the next views of a periodic save (at most 256, those
// no commit wrote since) and returns the rest.
func (r *recorder) saveChunk(views []wire.Entity, newer map[string]bool) []wire.Entity {
	n := min(len(views), 256)
	chunk := make([]wire.Entity, 0, n)
	for _, v := range views[:n] {
		if !newer[v.ID] {
			chunk = append(chunk, v)
		}
	}
	if err := r.st.SaveViews(chunk); err != nil {
		r.h.stats.stateErrors.Add(1)
		r.h.log.Error("last known states not saved", "err", err)
	}
	return views[n:]
}

// pruner applies the history retention at start and then periodically,
// and forgets ended viewer sign-ins.
func (r *recorder) pruner(ctx context.Context) {
	defer close(r.pruneDone)
	h := r.h
	t := time.NewTicker(h.opt.PruneEvery)
	defer t.Stop()
	for {
		maxAge, maxChanges := h.config().HistoryRetention()
		start := time.Now()
		n, err := r.st.PruneHistory(h.now(), maxAge, maxChanges)
		switch {
		case err != nil:
			h.log.Error("history retention not applied", "err", err)
		case n > 0:
			h.log.Info("history retention applied", "removed", n, "max_age", maxAge, "max_changes", maxChanges, "took", time.Since(start))
		}
		if r.series != nil {
			if n, err := r.series.PruneSeries(h.now()); err != nil {
				h.log.Error("figure history retention not applied", "err", err)
			} else if n > 0 {
				h.log.Info("figure history retention applied", "removed", n)
			}
		}
		if ss, ok := r.st.(sessionPruner); ok {
			if n, err := ss.PruneSessions(h.now(), viewerTokenHashes(h.config())); err != nil {
				h.log.Error("ended viewer sign-ins not removed", "err", err)
			} else if n > 0 {
				h.log.Info("ended viewer sign-ins removed", "sessions", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sessionPruner is a state file that also keeps viewer sign-ins.
type sessionPruner interface {
	PruneSessions(now time.Time, validTokens map[string]bool) (int, error)
}

// viewerTokenHashes are the viewer tokens in force (hex SHA-256, lower
// case, as sessions record them); sign-ins of other tokens are dead.
func viewerTokenHashes(c *config.Config) map[string]bool {
	out := map[string]bool{}
	if v := c.Source.Viewers; v != nil {
		for _, t := range v.Tokens {
			out[strings.ToLower(t.TokenSHA256)] = true
		}
	}
	return out
}

// setStoreErr records whether the state file can be written and, when
// that changes, tells the loop.
func (r *recorder) setStoreErr(err error) {
	h := r.h
	var next *string
	if err != nil {
		msg := "the state file cannot be written: " + err.Error()
		next = &msg
	}
	prev := h.storeErr.Swap(next)
	if (prev == nil) != (next == nil) {
		r.tell(storeHealth{})
	}
}
