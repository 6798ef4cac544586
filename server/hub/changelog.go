package hub

import (
	"sync"
	"sync/atomic"
)

// changeLog is the fan-out: the loop publishes each change once, encoded
// once, and every viewer's writer reads what it has not yet sent from its
// own cursor. Publishing costs the loop one append per change and one
// wake-up per viewer that cares; a viewer that falls behind skips to the
// newest state of each entity (never an older one after a newer one).
//
// Two rings: every change, and the changes that moved an entity's summary
// (status, reason, fullest disk: rare). A viewer that asked for everything
// in full reads the first; one that looks at a few entities reads their
// newest views and the second, so its cost follows what it wants, not the
// number of agents.
//
// The loop is the only writer; viewer writers read under the read lock and
// are woken through their own channel.
type changeLog struct {
	mu      sync.RWMutex
	all     ring // every change
	sums    ring // changes that moved a summary
	latest  map[string]*latestView
	order   []string // snapshot order (the configuration's tree order)
	gen     uint64   // a new generation makes every viewer re-snapshot
	stateEr string   // rides on snapshots; a change is a new generation

	// Who to wake: viewers wanting everything in full, viewers by entity
	// they want in full, and every viewer (for summaries).
	subs    map[*logSub]struct{}
	allSubs map[*logSub]struct{}
	byID    map[string]map[*logSub]struct{}

	// skipped counts views a reader never sent because a newer view of the
	// same entity replaced them first (a slow viewer gets the newest state,
	// not every state); resyncs counts readers fallen behind a ring.
	skipped, resyncs atomic.Uint64
}

// ring holds the newest len(entries) entries; entry seq is at
// entries[seq%len] while seq >= next-len. Sequences start at 1.
type ring struct {
	entries []logEntry
	next    uint64
}

func newRing(n int) ring { return ring{entries: make([]logEntry, n), next: 1} }

func (r *ring) add(e logEntry) uint64 {
	e.seq = r.next
	r.entries[e.seq%uint64(len(r.entries))] = e
	r.next++
	return e.seq
}

func (r *ring) at(seq uint64) *logEntry { return &r.entries[seq%uint64(len(r.entries))] }

// behind says whether the entries from seq on are no longer all held.
func (r *ring) behind(seq uint64) bool { return seq+uint64(len(r.entries)) < r.next }

type logEntry struct {
	seq            uint64
	id             string
	full, summary  []byte
	summaryChanged bool
}

type latestView struct {
	full, summary []byte
	seq           uint64 // in the ring of every change
	sumSeq        uint64 // in the ring of summary changes
}

// Ring sizes: at 2,000 reports a second the first holds ~4 s of changes; a
// viewer further behind reads the latest table instead.
const (
	logSize    = 8192
	sumLogSize = 4096
)

// logSub is a viewer's registration: what it wants in full, and how to
// wake it: at once for what it wants in full (and a new snapshot), or for
// a summary, which the viewer may take after its summary window.
type logSub struct {
	wake, wakeSum chan struct{}
	d             detail
}

func (s *logSub) signal()    { poke(s.wake) }
func (s *logSub) signalSum() { poke(s.wakeSum) }

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func newChangeLog() *changeLog {
	return &changeLog{all: newRing(logSize), sums: newRing(sumLogSize), latest: make(map[string]*latestView),
		subs: make(map[*logSub]struct{}), allSubs: make(map[*logSub]struct{}), byID: make(map[string]map[*logSub]struct{})}
}

// register adds a viewer with what it wants in full; unregister removes it.
func (c *changeLog) register(d detail) *logSub {
	s := &logSub{wake: make(chan struct{}, 1), wakeSum: make(chan struct{}, 1), d: d}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subs[s] = struct{}{}
	c.index(s)
	return s
}

func (c *changeLog) unregister(s *logSub) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unindex(s)
	delete(c.subs, s)
}

// resubscribe changes what a viewer wants in full.
func (c *changeLog) resubscribe(s *logSub, d detail) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unindex(s)
	s.d = d
	c.index(s)
}

func (c *changeLog) index(s *logSub) {
	if s.d.all {
		c.allSubs[s] = struct{}{}
		return
	}
	for id := range s.d.ids {
		m := c.byID[id]
		if m == nil {
			m = make(map[*logSub]struct{})
			c.byID[id] = m
		}
		m[s] = struct{}{}
	}
}

func (c *changeLog) unindex(s *logSub) {
	delete(c.allSubs, s)
	for id := range s.d.ids {
		if m := c.byID[id]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(c.byID, id)
			}
		}
	}
}

// published is one entity's new view, encoded.
type published struct {
	id            string
	full, summary []byte
}

// publish appends a round's changes (newest view per entity) and wakes the
// viewers they concern.
func (c *changeLog) publish(items []published) {
	if len(items) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	anySummary := false
	for _, it := range items {
		lv := c.latest[it.id]
		summaryChanged := lv == nil || string(lv.summary) != string(it.summary)
		if lv == nil {
			lv = &latestView{}
			c.latest[it.id] = lv
		}
		e := logEntry{id: it.id, full: it.full, summary: it.summary, summaryChanged: summaryChanged}
		lv.full, lv.summary, lv.seq = it.full, it.summary, c.all.add(e)
		if summaryChanged {
			lv.sumSeq = c.sums.add(e)
			anySummary = true
		}
		for s := range c.byID[it.id] {
			s.signal()
		}
	}
	for s := range c.allSubs {
		s.signal()
	}
	if anySummary {
		for s := range c.subs {
			s.signalSum()
		}
	}
}

// reset starts a new generation: a new entity order (and views, for
// entities whose names or places changed), and every viewer re-snapshots.
func (c *changeLog) reset(order []string, views []published) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order = order
	keep := make(map[string]bool, len(order))
	for _, id := range order {
		keep[id] = true
	}
	for id := range c.latest {
		if !keep[id] {
			delete(c.latest, id)
		}
	}
	for _, it := range views {
		lv := c.latest[it.id]
		if lv == nil {
			lv = &latestView{}
			c.latest[it.id] = lv
		}
		lv.full, lv.summary, lv.seq, lv.sumSeq = it.full, it.summary, c.all.next-1, c.sums.next-1
	}
	c.newGenLocked()
}

// setStateError changes the state-file trouble carried by snapshots.
func (c *changeLog) setStateError(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stateEr == msg {
		return
	}
	c.stateEr = msg
	c.newGenLocked()
}

func (c *changeLog) newGenLocked() {
	c.gen++
	for s := range c.subs {
		s.signal()
	}
}

// cursor is a viewer's place in the log.
type cursor struct {
	gen     uint64
	next    uint64 // first seq of the ring of every change not yet read
	sumNext uint64 // same, in the ring of summary changes
	init    bool
}

// readView is what a viewer's writer takes from the log in one go.
type readView struct {
	snapshot   bool   // a new generation: items are every entity, in order
	stateError string // with a snapshot
	items      []viewItem
}

// viewItem is one entity to send: in full, or as a summary.
type viewItem struct {
	id    string
	bytes []byte
	full  bool
}

// read returns, for a viewer wanting d in full, what to send since cur,
// and advances cur: after a new generation (or at first) every entity; else
// the newest full view of each wanted entity that changed, and the newest
// summary of each other entity whose summary moved. seen is the caller's
// scratch map.
func (c *changeLog) read(cur *cursor, d detail, buf []viewItem, seen map[string]int) readView {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := readView{items: buf[:0]}
	if c.gen == 0 { // the loop has not published the entities yet
		return out
	}
	defer func() { cur.gen, cur.next, cur.sumNext, cur.init = c.gen, c.all.next, c.sums.next, true }()
	if !cur.init || cur.gen != c.gen {
		out.snapshot, out.stateError = true, c.stateEr
		for _, id := range c.order {
			if lv := c.latest[id]; lv != nil {
				if d.full(id) {
					out.items = append(out.items, viewItem{id: id, bytes: lv.full, full: true})
				} else {
					out.items = append(out.items, viewItem{id: id, bytes: lv.summary})
				}
			}
		}
		return out
	}
	if d.all {
		out.items = c.readRing(&c.all, cur.next, out.items, seen, true, func(lv *latestView) uint64 { return lv.seq })
		return out
	}
	for id := range d.ids {
		if lv := c.latest[id]; lv != nil && lv.seq >= cur.next {
			out.items = append(out.items, viewItem{id: id, bytes: lv.full, full: true})
		}
	}
	// Summaries of the others; the wanted ones came in full above.
	start := len(out.items)
	out.items = c.readRing(&c.sums, cur.sumNext, out.items, seen, false, func(lv *latestView) uint64 { return lv.sumSeq })
	kept := out.items[:start]
	for _, it := range out.items[start:] {
		if !d.ids[it.id] {
			kept = append(kept, it)
		}
	}
	out.items = kept
	return out
}

// readRing appends the newest view of each entity changed in r since
// from, in the order of their first change (or, when from is behind the
// ring, the newest of every entity changed since, in tree order).
func (c *changeLog) readRing(r *ring, from uint64, items []viewItem, seen map[string]int, full bool, seqOf func(*latestView) uint64) []viewItem {
	pick := func(lv *latestView) []byte {
		if full {
			return lv.full
		}
		return lv.summary
	}
	if r.behind(from) {
		c.resyncs.Add(1)
		for _, id := range c.order {
			if lv := c.latest[id]; lv != nil && seqOf(lv) >= from {
				items = append(items, viewItem{id: id, bytes: pick(lv), full: full})
			}
		}
		return items
	}
	clear(seen)
	for seq := from; seq < r.next; seq++ {
		e := r.at(seq)
		b := e.summary
		if full {
			b = e.full
		}
		if i, ok := seen[e.id]; ok {
			c.skipped.Add(1)
			items[i].bytes = b
			continue
		}
		seen[e.id] = len(items)
		items = append(items, viewItem{id: e.id, bytes: b, full: full})
	}
	return items
}

// has says whether the log holds a view of id.
func (c *changeLog) has(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.latest[id] != nil
}

// view returns an entity's newest full encoding (a subscription asks for
// it at once).
func (c *changeLog) view(id string) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	lv := c.latest[id]
	if lv == nil {
		return nil, false
	}
	return lv.full, true
}
