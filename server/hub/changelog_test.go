package hub

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"imagingstatus/wire"
)

func pubs(kv ...string) []published {
	var out []published
	for i := 0; i+2 < len(kv)+1; i += 3 {
		out = append(out, published{id: kv[i], full: []byte(kv[i+1]), summary: []byte(kv[i+2])})
	}
	return out
}

func names(items []viewItem) string {
	var parts []string
	for _, it := range items {
		parts = append(parts, string(it.bytes))
	}
	return strings.Join(parts, ",")
}

var everything = detail{all: true}

func TestChangeLogReads(t *testing.T) {
	c := newChangeLog()
	var cur, dcur cursor
	seen := map[string]int{}
	onlyB := detailOf(wire.DetailOf("B"))
	if rv := c.read(&cur, everything, nil, seen); rv.snapshot || len(rv.items) != 0 || cur.init {
		t.Fatalf("before the loop published anything: %+v", rv)
	}
	c.reset([]string{"A", "B", "C"}, pubs("A", "a0", "sa0", "B", "b0", "sb0", "C", "c0", "sc0"))
	if rv := c.read(&cur, everything, nil, seen); !rv.snapshot || names(rv.items) != "a0,b0,c0" {
		t.Fatalf("first read: %+v", rv)
	}
	// A viewer of B in full gets B in full and summaries of the others.
	if rv := c.read(&dcur, onlyB, nil, seen); !rv.snapshot || names(rv.items) != "sa0,b0,sc0" {
		t.Fatalf("first read, B in full: %q", names(rv.items))
	}
	// A changes twice (its summary once), B once, C's figures once.
	c.publish(pubs("A", "a1", "sa1"))
	c.publish(pubs("B", "b1", "sb0"))
	c.publish(pubs("A", "a2", "sa1"))
	c.publish(pubs("C", "c1", "sc0"))
	if rv := c.read(&cur, everything, nil, seen); rv.snapshot || names(rv.items) != "a2,b1,c1" {
		t.Fatalf("changes in full: %q", names(rv.items))
	}
	// B in full, and the summary that moved (A's), not C's figures.
	if rv := c.read(&dcur, onlyB, nil, seen); rv.snapshot || names(rv.items) != "b1,sa1" {
		t.Fatalf("changes for B in full: %q", names(rv.items))
	}
	if rv := c.read(&cur, everything, nil, seen); len(rv.items) != 0 {
		t.Fatalf("read twice: %+v", rv)
	}
	// A new generation (a reload) is a snapshot again, in the new order.
	c.reset([]string{"C", "A"}, nil)
	if rv := c.read(&cur, everything, nil, seen); !rv.snapshot || names(rv.items) != "c1,a2" {
		t.Fatalf("after reset: %q", names(rv.items))
	}
	// State-file trouble rides on a new snapshot.
	c.setStateError("disk full")
	if rv := c.read(&cur, everything, nil, seen); !rv.snapshot || rv.stateError != "disk full" {
		t.Fatalf("state error: %+v", rv)
	}
}

// TestChangeLogWakesOnlyWhoCares: a change wakes the viewers that want
// that entity in full (or everything); a summary change wakes everyone's
// summary channel.
func TestChangeLogWakesOnlyWhoCares(t *testing.T) {
	c := newChangeLog()
	c.reset([]string{"A", "B"}, pubs("A", "a0", "s", "B", "b0", "s"))
	all := c.register(everything)
	onA := c.register(detailOf(wire.DetailOf("A")))
	none := c.register(detailOf(wire.DetailNone))
	drain := func(s *logSub) (full, sum bool) {
		select {
		case <-s.wake:
			full = true
		default:
		}
		select {
		case <-s.wakeSum:
			sum = true
		default:
		}
		return
	}
	for _, s := range []*logSub{all, onA, none} {
		drain(s)
	}
	c.publish(pubs("B", "b1", "s")) // figures only
	for name, tc := range map[string]struct {
		s         *logSub
		full, sum bool
	}{"all": {all, true, false}, "onA": {onA, false, false}, "none": {none, false, false}} {
		if f, s := drain(tc.s); f != tc.full || s != tc.sum {
			t.Errorf("B's figures: %s woken full=%v sum=%v, want %v %v", name, f, s, tc.full, tc.sum)
		}
	}
	c.publish(pubs("A", "a1", "sA")) // A's summary moved
	for name, tc := range map[string]struct {
		s         *logSub
		full, sum bool
	}{"all": {all, true, true}, "onA": {onA, true, true}, "none": {none, false, true}} {
		if f, s := drain(tc.s); f != tc.full || s != tc.sum {
			t.Errorf("A's status: %s woken full=%v sum=%v, want %v %v", name, f, s, tc.full, tc.sum)
		}
	}
	c.unregister(onA)
	if len(c.byID) != 0 {
		t.Fatalf("index not cleaned: %v", c.byID)
	}
}

// TestChangeLogSlowReaderSkipsToNewest: a reader further behind than the
// ring gets the newest state of each entity that changed, never an older
// one, and nothing for entities that did not change.
func TestChangeLogSlowReaderSkipsToNewest(t *testing.T) {
	c := newChangeLog()
	c.reset([]string{"A", "B", "C"}, pubs("A", "a0", "s", "B", "b0", "s", "C", "c0", "s"))
	var cur, scur cursor
	seen := map[string]int{}
	none := detailOf(wire.DetailNone)
	c.read(&cur, everything, nil, seen)
	c.read(&scur, none, nil, seen)
	for i := 1; i <= 3*logSize; i++ {
		c.publish(pubs("A", fmt.Sprintf("a%d", i), fmt.Sprintf("s%d", i)))
		if i == logSize {
			c.publish(pubs("B", "b1", "sB"))
		}
	}
	if got := names(c.read(&cur, everything, nil, seen).items); got != fmt.Sprintf("a%d,b1", 3*logSize) {
		t.Fatalf("behind the ring: %q", got)
	}
	if got := names(c.read(&scur, none, nil, seen).items); got != fmt.Sprintf("s%d,sB", 3*logSize) {
		t.Fatalf("behind the summary ring: %q", got)
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
