package hub

import (
	"context"
	"strings"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/wire"
)

// recorder commits status changes to the state file, one job at a time
// (the loop gathers what queues meanwhile into the next: group commit). A
// write that fails (a full disk) is retried with backoff until it passes:
// nothing is lost while the queue holds, /healthz and the page say the state
// file cannot be written, and the loop keeps showing the truth live.
func (h *Hub) recorder(st Store, jobs <-chan recordJob, done chan<- struct{}, stop <-chan struct{}, unrecorded chan<- recordJob) {
	defer close(done)
	for job := range jobs {
		wait := 100 * time.Millisecond
		for attempt := 1; ; attempt++ {
			start := time.Now()
			err := st.Record(job.changes, job.views)
			if err == nil {
				if took := time.Since(start); took > 100*time.Millisecond {
					h.log.Warn("slow write of status changes to the state file", "changes", len(job.changes), "took", took)
				}
				if attempt > 1 {
					h.log.Info("state file writable again: queued status changes recorded", "changes", len(job.changes), "attempts", attempt)
				}
				h.setStoreErr(nil)
				break
			}
			h.log.Error("status changes not recorded in the state file; retrying", "changes", len(job.changes), "attempt", attempt, "retry_in", wait, "err", err)
			h.setStoreErr(err)
			select {
			case <-stop:
				// Shutting down: Run makes one last try with what is held.
				unrecorded <- job
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, h.opt.RetryMax)
		}
		h.post(func(l *loop) { l.committed() })
	}
}

// saver writes periodic figure saves in small transactions, so that the
// recorder's commits never wait long behind a big one for bbolt's single
// writer.
func (h *Hub) saver(st Store, saves <-chan []wire.Entity, done chan<- struct{}) {
	defer close(done)
	for views := range saves {
		for len(views) > 0 {
			n := min(len(views), 256)
			if err := st.SaveViews(views[:n]); err != nil {
				h.log.Error("last known states not saved", "err", err)
			}
			views = views[n:]
		}
	}
}

// pruner applies the history retention at start and then periodically, off
// the loop.
func (h *Hub) pruner(ctx context.Context, st Store) {
	t := time.NewTicker(h.opt.PruneEvery)
	defer t.Stop()
	for {
		maxAge, maxChanges := h.config().HistoryRetention()
		start := time.Now()
		n, err := st.PruneHistory(h.now(), maxAge, maxChanges)
		switch {
		case err != nil:
			h.log.Error("history retention not applied", "err", err)
		case n > 0:
			h.log.Info("history retention applied", "removed", n, "max_age", maxAge, "max_changes", maxChanges, "took", time.Since(start))
		}
		if ss, ok := st.(sessionPruner); ok {
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
// that changes, lets the loop tell the viewers.
func (h *Hub) setStoreErr(err error) {
	var next *string
	if err != nil {
		msg := "the state file cannot be written: " + err.Error()
		next = &msg
	}
	prev := h.storeErr.Swap(next)
	if (prev == nil) != (next == nil) {
		h.post(func(l *loop) { l.storeHealth() })
	}
}
