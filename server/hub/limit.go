package hub

import (
	"sync"
	"time"
)

// failLimiter counts refused handshakes per source address in a fixed
// window; past the limit, that address is turned away before any work.
type failLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	seen map[string]*failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

func newFailLimiter(max int, window time.Duration, now func() time.Time) *failLimiter {
	return &failLimiter{max: max, window: window, now: now, seen: make(map[string]*failWindow)}
}

func (f *failLimiter) allow(ip string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.seen[ip]
	return w == nil || f.now().Sub(w.start) > f.window || w.n < f.max
}

func (f *failLimiter) fail(ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if len(f.seen) > 10_000 { // forget old addresses so the map stays bounded
		for k, w := range f.seen {
			if now.Sub(w.start) > f.window {
				delete(f.seen, k)
			}
		}
	}
	w := f.seen[ip]
	if w == nil || now.Sub(w.start) > f.window {
		f.seen[ip] = &failWindow{start: now, n: 1}
		return
	}
	w.n++
}

// budget bounds how many messages a session may send per interval.
type budget struct {
	max      int
	interval time.Duration
	now      func() time.Time
	start    time.Time
	n        int
}

func newBudget(max int, interval time.Duration, now func() time.Time) *budget {
	return &budget{max: max, interval: interval, now: now, start: now()}
}

func (b *budget) take() bool {
	if now := b.now(); now.Sub(b.start) > b.interval {
		b.start, b.n = now, 0
	}
	b.n++
	return b.n <= b.max
}
