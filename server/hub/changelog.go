package hub

import (
	"sync"
)

// changeLog is the fan-out: the loop publishes each change once, encoded
// once, and every viewer's writer reads what it has not yet sent from its
// own cursor. Publishing costs the same for 10 or 10,000 viewers; a viewer
// that falls behind the ring skips to the newest state of each entity
// (never an older one after a newer one).
//
// The loop is the only writer; viewer writers read under the read lock and
// are woken by closing the current notify channel.
type changeLog struct {
	mu sync.RWMutex
	// ring holds the newest len(ring) entries; entry seq lives at
	// ring[seq%len(ring)] while seq >= next-len(ring).
	ring []logEntry
	next uint64 // seq of the next entry; entries are 1-based
	// latest is every entity's newest encoded view, by id, with the seq of
	// its last change and of its last summary change.
	latest map[string]*latestView
	// order is the entity order of snapshots (the configuration's tree
	// order); gen changes when it does (a reload), which makes every viewer
	// start again from a snapshot.
	order []string
	gen   uint64
	// stateError, when set, says the state file cannot be written; it rides
	// on snapshots, and a change of it is a new generation.
	stateError string
	notify     chan struct{}
}

type logEntry struct {
	seq            uint64
	id             string
	full, summary  []byte
	summaryChanged bool
}

type latestView struct {
	full, summary []byte
	seq           uint64 // last change
	summarySeq    uint64 // last change of the summary
}

// logSize bounds the ring: at 2,000 reports a second it holds ~4 s of
// changes; a viewer further behind reads the latest table instead.
const logSize = 8192

func newChangeLog() *changeLog {
	return &changeLog{ring: make([]logEntry, logSize), next: 1, latest: make(map[string]*latestView), notify: make(chan struct{})}
}

// wake tells every waiting writer that something was published; the loop
// holds the write lock.
func (c *changeLog) wakeLocked() {
	close(c.notify)
	c.notify = make(chan struct{})
}

// waitCh is closed at the next publication.
func (c *changeLog) waitCh() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.notify
}

// publish appends a round's changes (newest view per entity) at once.
func (c *changeLog) publish(items []published) {
	if len(items) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range items {
		lv := c.latest[it.id]
		summaryChanged := lv == nil || string(lv.summary) != string(it.summary)
		if lv == nil {
			lv = &latestView{}
			c.latest[it.id] = lv
		}
		seq := c.next
		c.next++
		lv.full, lv.summary, lv.seq = it.full, it.summary, seq
		if summaryChanged {
			lv.summarySeq = seq
		}
		c.ring[seq%uint64(len(c.ring))] = logEntry{seq: seq, id: it.id, full: it.full, summary: it.summary, summaryChanged: summaryChanged}
	}
	c.wakeLocked()
}

// published is one entity's new view, encoded.
type published struct {
	id            string
	full, summary []byte
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
		lv.full, lv.summary, lv.seq, lv.summarySeq = it.full, it.summary, c.next-1, c.next-1
	}
	c.gen++
	c.wakeLocked()
}

// setStateError changes the state-file trouble carried by snapshots.
func (c *changeLog) setStateError(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stateError == msg {
		return
	}
	c.stateError = msg
	c.gen++
	c.wakeLocked()
}

// cursor is a viewer's place in the log.
type cursor struct {
	gen  uint64
	next uint64 // first seq not yet read
	init bool
}

// readView is what a viewer's writer takes from the log in one go.
type readView struct {
	snapshot   bool   // a new generation: items are every entity, in order
	stateError string // with a snapshot
	items      []viewItem
}

// viewItem is one entity to send: its full and summary encodings and
// whether the summary moved since the cursor.
type viewItem struct {
	id             string
	full, summary  []byte
	summaryChanged bool
}

// read returns what happened since cur and advances it. A viewer in a new
// generation (or new) gets a snapshot of every entity; one behind the
// ring gets the newest view of every entity changed since its cursor.
// seen is the caller's scratch map (emptied here), so a writer reading
// thousands of times a second does not allocate one each time.
func (c *changeLog) read(cur *cursor, buf []viewItem, seen map[string]int) readView {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := readView{items: buf[:0]}
	if c.gen == 0 { // the loop has not published the entities yet
		return out
	}
	switch {
	case !cur.init || cur.gen != c.gen:
		out.snapshot, out.stateError = true, c.stateError
		for _, id := range c.order {
			if lv := c.latest[id]; lv != nil {
				out.items = append(out.items, viewItem{id: id, full: lv.full, summary: lv.summary, summaryChanged: true})
			}
		}
	case cur.next+uint64(len(c.ring)) < c.next:
		// Fell behind the ring: newest views of what changed since.
		for _, id := range c.order {
			if lv := c.latest[id]; lv != nil && lv.seq >= cur.next {
				out.items = append(out.items, viewItem{id: id, full: lv.full, summary: lv.summary, summaryChanged: lv.summarySeq >= cur.next})
			}
		}
	default:
		// Newest entry per entity, in the order of their newest change; a
		// summary moved if any entry of the range moved it.
		clear(seen)
		for seq := cur.next; seq < c.next; seq++ {
			e := &c.ring[seq%uint64(len(c.ring))]
			if i, ok := seen[e.id]; ok {
				it := &out.items[i]
				it.full, it.summary = e.full, e.summary
				it.summaryChanged = it.summaryChanged || e.summaryChanged
				continue
			}
			seen[e.id] = len(out.items)
			out.items = append(out.items, viewItem{id: e.id, full: e.full, summary: e.summary, summaryChanged: e.summaryChanged})
		}
	}
	cur.gen, cur.next, cur.init = c.gen, c.next, true
	return out
}

// view returns an entity's newest encodings (a subscription asks for it
// in full at once).
func (c *changeLog) view(id string) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	lv := c.latest[id]
	if lv == nil {
		return nil, false
	}
	return lv.full, true
}

// pending says whether anything was published after cur.
func (c *changeLog) pending(cur *cursor) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return !cur.init || cur.gen != c.gen || cur.next < c.next
}
