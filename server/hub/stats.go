package hub

import (
	"sync/atomic"
	"time"
)

// RoundBuckets are the upper bounds, in seconds, of the loop-round
// duration histogram.
var RoundBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// stats are the hub's own health figures, written where they happen and
// read by the metrics endpoint; all atomic.
type stats struct {
	agents, viewers atomic.Int64
	// rounds[i] counts loop rounds of at most RoundBuckets[i] (the last
	// one: longer); roundNanos is their total.
	rounds     [13]atomic.Uint64
	roundNanos atomic.Uint64
	// viewerDrops: viewers dropped because a write failed or timed out.
	viewerDrops atomic.Uint64
	// stateErrors: failed writes of the state file (each attempt).
	stateErrors atomic.Uint64
}

func (s *stats) observeRound(d time.Duration) {
	sec := d.Seconds()
	i := 0
	for i < len(RoundBuckets) && sec > RoundBuckets[i] {
		i++
	}
	s.rounds[i].Add(1)
	s.roundNanos.Add(uint64(d))
}

// Stats is a reading of the hub's own health.
type Stats struct {
	AgentsConnected, ViewersConnected int
	// RoundCounts[i] is the number of loop rounds of at most
	// RoundBuckets[i] seconds, cumulative as Prometheus counts them; Rounds
	// is every round and RoundSeconds their total duration.
	RoundCounts  []uint64
	Rounds       uint64
	RoundSeconds float64
	// ViewerChangesSkipped counts views a viewer never received because a
	// newer view of the entity replaced them first (it was slower than the
	// changes); ViewerResyncs counts viewers fallen behind the change log;
	// ViewerDrops viewers dropped because a write failed or timed out.
	ViewerChangesSkipped, ViewerResyncs, ViewerDrops uint64
	StateWriteErrors                                 uint64
}

// Stats reads the hub's own health figures.
func (h *Hub) Stats() Stats {
	s := &h.stats
	out := Stats{AgentsConnected: int(s.agents.Load()), ViewersConnected: int(s.viewers.Load()),
		RoundCounts: make([]uint64, len(RoundBuckets)), RoundSeconds: time.Duration(s.roundNanos.Load()).Seconds(),
		ViewerChangesSkipped: h.changes.skipped.Load(), ViewerResyncs: h.changes.resyncs.Load(), ViewerDrops: s.viewerDrops.Load(),
		StateWriteErrors: s.stateErrors.Load()}
	var cum uint64
	for i := range s.rounds {
		cum += s.rounds[i].Load()
		if i < len(RoundBuckets) {
			out.RoundCounts[i] = cum
		}
	}
	out.Rounds = cum
	return out
}
