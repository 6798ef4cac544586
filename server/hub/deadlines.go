package hub

import (
	"container/heap"
	"time"
)

// deadlines is when the loop must next judge the clock: each time an
// entity's server shows a sign of life (or of trouble), its status may
// change one deadline later (missed pings, a stale report, a refusal that
// expires). The loop owns it; a single timer is set to the earliest. It is
// checked before any fan-out work, so a silent server is Offline at its
// deadline whatever the viewers cost.
type deadlines struct {
	h  deadlineHeap
	at map[string]time.Time // newest due time per entity; older heap entries are stale
}

type deadline struct {
	due    time.Time
	entity string
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newDeadlines() *deadlines { return &deadlines{at: make(map[string]time.Time)} }

// set makes entity due at due (a later call replaces an earlier one).
func (d *deadlines) set(entity string, due time.Time) {
	if cur, ok := d.at[entity]; ok && cur.Equal(due) {
		return
	}
	d.at[entity] = due
	heap.Push(&d.h, deadline{due: due, entity: entity})
	// Stale entries are dropped when they reach the top; bound them anyway.
	if len(d.h) > 4*len(d.at)+1024 {
		d.compact()
	}
}

// next is the earliest due time, if any.
func (d *deadlines) next() (time.Time, bool) {
	for len(d.h) > 0 {
		top := d.h[0]
		if cur, ok := d.at[top.entity]; ok && cur.Equal(top.due) {
			return top.due, true
		}
		heap.Pop(&d.h) // stale
	}
	return time.Time{}, false
}

// due pops every entity due at or before now.
func (d *deadlines) due(now time.Time, out []string) []string {
	for len(d.h) > 0 && !d.h[0].due.After(now) {
		top := heap.Pop(&d.h).(deadline)
		if cur, ok := d.at[top.entity]; ok && cur.Equal(top.due) {
			delete(d.at, top.entity)
			out = append(out, top.entity)
		}
	}
	return out
}

func (d *deadlines) compact() {
	h := d.h[:0]
	for _, e := range d.h {
		if cur, ok := d.at[e.entity]; ok && cur.Equal(e.due) {
			h = append(h, e)
		}
	}
	d.h = h
	heap.Init(&d.h)
}
