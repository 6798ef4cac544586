package hub

import (
	"net/netip"
	"sync"
	"time"

	"imagingstatus/server/config"
)

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

// pendingHandshakes caps agent handshakes whose token is not checked yet
// (older agents that name their entity only in the hello), per address and
// overall, so that stalled strangers cannot pile up sockets and buffers.
type pendingHandshakes struct {
	mu     sync.Mutex
	total  int
	byAddr map[netip.Addr]int
}

// handshakeSlot is one place taken; release gives it back once.
type handshakeSlot struct {
	p    *pendingHandshakes
	addr netip.Addr
	once sync.Once
}

func (p *pendingHandshakes) acquire(addr netip.Addr, l config.Limits) (*handshakeSlot, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byAddr == nil {
		p.byAddr = make(map[netip.Addr]int)
	}
	if p.total >= l.Handshakes || p.byAddr[addr] >= l.HandshakesPerAddress {
		return nil, false
	}
	p.total++
	p.byAddr[addr]++
	return &handshakeSlot{p: p, addr: addr}, true
}

func (s *handshakeSlot) release() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		p := s.p
		p.mu.Lock()
		defer p.mu.Unlock()
		p.total--
		if p.byAddr[s.addr]--; p.byAddr[s.addr] <= 0 {
			delete(p.byAddr, s.addr)
		}
	})
}

// refusalLog coalesces identical refusals in the log: the first of a kind
// (entity and reason) in a window is logged with how many were not.
type refusalLog struct {
	window time.Duration

	mu   sync.Mutex
	seen map[[2]string]*refusalCount
}

type refusalCount struct {
	logged     time.Time
	suppressed int
}

// note counts a refusal; ok says to log it now, with n identical ones
// that were not logged since the last line.
func (r *refusalLog) note(entity, reason string, now time.Time) (n int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil || len(r.seen) > 10_000 { // bounded under a spray of entity ids
		r.seen = make(map[[2]string]*refusalCount)
	}
	k := [2]string{entity, reason}
	c := r.seen[k]
	if c == nil {
		r.seen[k] = &refusalCount{logged: now}
		return 0, true
	}
	if now.Sub(c.logged) < r.window {
		c.suppressed++
		return 0, false
	}
	n, c.suppressed, c.logged = c.suppressed, 0, now
	return n, true
}
