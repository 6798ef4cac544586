package hub

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func pubs(kv ...string) []published {
	var out []published
	for i := 0; i+2 < len(kv)+1; i += 3 {
		out = append(out, published{id: kv[i], full: []byte(kv[i+1]), summary: []byte(kv[i+2])})
	}
	return out
}

func names(items []viewItem, summary bool) string {
	var parts []string
	for _, it := range items {
		b := it.full
		if summary {
			b = it.summary
		}
		s := string(b)
		if summary && it.summaryChanged {
			s += "*"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

func TestChangeLogReads(t *testing.T) {
	c := newChangeLog()
	var cur cursor
	seen := map[string]int{}
	if rv := c.read(&cur, nil, seen); rv.snapshot || len(rv.items) != 0 || cur.init {
		t.Fatalf("before the loop published anything: %+v", rv)
	}
	c.reset([]string{"A", "B", "C"}, pubs("A", "a0", "sa0", "B", "b0", "sb0", "C", "c0", "sc0"))
	rv := c.read(&cur, nil, seen)
	if !rv.snapshot || names(rv.items, false) != "a0,b0,c0" {
		t.Fatalf("first read: %+v", rv)
	}
	// A changes twice (its summary once), B once: newest per entity, and a
	// summary that moved anywhere in the range counts as moved.
	c.publish(pubs("A", "a1", "sa1"))
	c.publish(pubs("B", "b1", "sb0"))
	c.publish(pubs("A", "a2", "sa1"))
	rv = c.read(&cur, nil, seen)
	if rv.snapshot || names(rv.items, false) != "a2,b1" || names(rv.items, true) != "sa1*,sb0" {
		t.Fatalf("changes: full %q summaries %q", names(rv.items, false), names(rv.items, true))
	}
	if rv = c.read(&cur, nil, seen); len(rv.items) != 0 {
		t.Fatalf("read twice: %+v", rv)
	}
	// A new generation (a reload) is a snapshot again, in the new order.
	c.reset([]string{"C", "A"}, nil)
	rv = c.read(&cur, nil, seen)
	if !rv.snapshot || names(rv.items, false) != "c0,a2" {
		t.Fatalf("after reset: %q", names(rv.items, false))
	}
	// State-file trouble rides on a new snapshot.
	c.setStateError("disk full")
	if rv = c.read(&cur, nil, seen); !rv.snapshot || rv.stateError != "disk full" {
		t.Fatalf("state error: %+v", rv)
	}
}

// TestChangeLogSlowReaderSkipsToNewest: a reader further behind than the
// ring gets the newest state of each entity that changed, never an older
// one, and nothing for entities that did not change.
func TestChangeLogSlowReaderSkipsToNewest(t *testing.T) {
	c := newChangeLog()
	c.reset([]string{"A", "B", "C"}, pubs("A", "a0", "s", "B", "b0", "s", "C", "c0", "s"))
	var cur cursor
	seen := map[string]int{}
	c.read(&cur, nil, seen)
	for i := 1; i <= 3*logSize; i++ {
		c.publish(pubs("A", fmt.Sprintf("a%d", i), "s"))
		if i == logSize {
			c.publish(pubs("B", "b1", "sB"))
		}
	}
	rv := c.read(&cur, nil, seen)
	if got := names(rv.items, false); got != fmt.Sprintf("a%d,b1", 3*logSize) {
		t.Fatalf("behind the ring: %q", got)
	}
	if got := names(rv.items, true); got != "s,sB*" {
		t.Fatalf("behind the ring, summaries: %q", got)
	}
}

func TestDeadlines(t *testing.T) {
	d := newDeadlines()
	t0 := time.Unix(1000, 0)
	d.set("A", t0.Add(3*time.Second))
	d.set("B", t0.Add(1*time.Second))
	d.set("A", t0.Add(2*time.Second)) // replaces A's 3 s
	d.set("C", t0.Add(5*time.Second))
	if at, ok := d.next(); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("next: %v %v", at, ok)
	}
	if got := d.due(t0.Add(2500*time.Millisecond), nil); strings.Join(got, ",") != "B,A" {
		t.Fatalf("due at 2.5 s: %v", got)
	}
	// A's stale 3 s entry does not fire.
	if got := d.due(t0.Add(4*time.Second), nil); len(got) != 0 {
		t.Fatalf("due at 4 s: %v", got)
	}
	if at, ok := d.next(); !ok || !at.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("next after: %v %v", at, ok)
	}
	// Many re-schedulings of one entity stay bounded.
	for i := 0; i < 100_000; i++ {
		d.set("A", t0.Add(time.Duration(i)*time.Millisecond))
	}
	if len(d.h) > 4*len(d.at)+1025 {
		t.Fatalf("heap grew to %d for %d entities", len(d.h), len(d.at))
	}
}

// BenchmarkPublish: publishing a change costs the loop the same whatever
// the number of viewers (they read the log on their own goroutines).
func BenchmarkPublish(b *testing.B) {
	c := newChangeLog()
	ids := make([]string, 10_000)
	views := make([]published, len(ids))
	for i := range ids {
		ids[i] = fmt.Sprintf("UUID%d", i)
		views[i] = published{id: ids[i], full: make([]byte, 2048), summary: make([]byte, 200)}
	}
	c.reset(ids, views)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.publish(views[i%len(views) : i%len(views)+1])
	}
}
