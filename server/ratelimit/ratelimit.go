// Package ratelimit turns away sources of repeated failures (bad agent
// tokens, guessed viewer credentials): failures are counted per source
// address and per network (/24 for IPv4, /64 for IPv6, the block one
// subscriber usually holds) over a fixed window. Memory stays bounded under a
// spray of addresses, and a flood gives one summary log line per window
// instead of one line per failure, so it cannot fill the disk either.
//
// The limiter runs no goroutine: a window ends lazily on the next Allow or
// Fail, or when the owner calls Flush (e.g. from a ticker it already has).
package ratelimit

import (
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Defaults applied to zero Options fields.
const (
	DefaultPerAddress = 10
	DefaultPerNetwork = 50
	DefaultWindow     = time.Minute
)

// maxAddresses and maxNetworks bound one window's tables (about 40 bytes an
// entry, so under 1 MiB in all). Past them, failures of new addresses or
// networks are still counted in the summary but not limited one by one: the
// limiter fails open rather than refusing everyone once a spray filled it.
const (
	maxAddresses = 10_000
	maxNetworks  = 10_000
)

// Options configure a Limiter; zero fields take the defaults.
type Options struct {
	Name       string        // what is limited, in log lines: "agent handshakes", "viewer sign-ins"
	PerAddress int           // failures per address per window (default 10)
	PerNetwork int           // failures per /24 or /64 per window (default 50)
	Window     time.Duration // default 1 minute
	Logger     *slog.Logger
	Now        func() time.Time // tests
}

// Limiter counts failures per address and per network. Safe for concurrent
// use.
type Limiter struct {
	o Options

	mu sync.Mutex
	// start is when the current window began (its first failure); zero
	// while no failure was counted.
	start     time.Time
	failures  int // every Fail of the window, including untracked ones
	untracked int // failures whose address or network found its table full
	addrs     map[netip.Addr]int
	nets      map[netip.Prefix]int
}

// New returns a Limiter with o's defaults applied.
func New(o Options) *Limiter {
	if o.Name == "" {
		o.Name = "attempts"
	}
	if o.PerAddress <= 0 {
		o.PerAddress = DefaultPerAddress
	}
	if o.PerNetwork <= 0 {
		o.PerNetwork = DefaultPerNetwork
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Limiter{o: o, addrs: make(map[netip.Addr]int), nets: make(map[netip.Prefix]int)}
}

// Allow reports whether addr may try again: false while the address or its
// network has reached its limit in the current window.
func (l *Limiter) Allow(addr netip.Addr) bool {
	a, p := keys(addr)
	l.mu.Lock()
	s := l.rollLocked(l.o.Now())
	ok := l.addrs[a] < l.o.PerAddress && l.nets[p] < l.o.PerNetwork
	l.mu.Unlock()
	l.log(s)
	return ok
}

// Fail counts one failure of addr. Callers count refused attempts too (those
// Allow turned away), so that the summary shows the whole flood; this does
// not extend a block past the end of the window.
func (l *Limiter) Fail(addr netip.Addr) {
	a, p := keys(addr)
	now := l.o.Now()
	l.mu.Lock()
	s := l.rollLocked(now)
	if l.start.IsZero() {
		l.start = now
	}
	l.failures++
	dropped := false
	if n, ok := l.addrs[a]; ok || len(l.addrs) < maxAddresses {
		l.addrs[a] = n + 1
	} else {
		dropped = true
	}
	if n, ok := l.nets[p]; ok || len(l.nets) < maxNetworks {
		l.nets[p] = n + 1
	} else {
		dropped = true
	}
	if dropped {
		l.untracked++
	}
	l.mu.Unlock()
	l.log(s)
}

// RetryAfter is how long until the current window ends, rounded up to a
// whole second (at least one), for the Retry-After header.
func (l *Limiter) RetryAfter() time.Duration {
	l.mu.Lock()
	d := l.o.Window
	if !l.start.IsZero() {
		d = l.start.Add(l.o.Window).Sub(l.o.Now())
	}
	l.mu.Unlock()
	return max(time.Second, time.Duration(math.Ceil(d.Seconds()))*time.Second)
}

// Flush logs the summary of the window just ended, if it had failures. A
// window still running is left alone: call Flush periodically so that the
// last window of a flood is reported even when nothing follows it.
func (l *Limiter) Flush() {
	l.mu.Lock()
	s := l.rollLocked(l.o.Now())
	l.mu.Unlock()
	l.log(s)
}

// AddrOf returns the source address of r (its RemoteAddr, IPv4-mapped
// addresses unmapped), or the zero Addr when RemoteAddr is not an address
// (a Unix socket): all such requests then share one counter.
func AddrOf(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// keys returns the counters addr falls under. The zone is dropped: it names
// an interface of this host, not a different peer.
func keys(addr netip.Addr) (netip.Addr, netip.Prefix) {
	if !addr.IsValid() {
		return netip.Addr{}, netip.Prefix{}
	}
	addr = addr.Unmap().WithZone("")
	bits := 64
	if addr.Is4() {
		bits = 24
	}
	p, _ := addr.Prefix(bits) // cannot fail: bits fits both families
	return addr, p
}

// summary is what one ended window logs.
type summary struct {
	failures, addresses, networks, untracked int
	topNet                                   netip.Prefix
	topNetFailures                           int
	topAddr                                  netip.Addr
	topAddrFailures                          int
}

// rollLocked ends the current window if it is over, returning its summary
// (nil when it had no failures).
func (l *Limiter) rollLocked(now time.Time) *summary {
	if l.start.IsZero() || now.Sub(l.start) < l.o.Window {
		return nil
	}
	s := &summary{failures: l.failures, addresses: len(l.addrs), networks: len(l.nets), untracked: l.untracked}
	for p, n := range l.nets {
		if n > s.topNetFailures || n == s.topNetFailures && p.Addr().Less(s.topNet.Addr()) {
			s.topNet, s.topNetFailures = p, n
		}
	}
	for a, n := range l.addrs {
		if n > s.topAddrFailures || n == s.topAddrFailures && a.Less(s.topAddr) {
			s.topAddr, s.topAddrFailures = a, n
		}
	}
	// Fresh maps, not clear(): a map keeps the buckets of its largest size,
	// and a spray should not pin that memory after it stops.
	l.addrs = make(map[netip.Addr]int)
	l.nets = make(map[netip.Prefix]int)
	l.start, l.failures, l.untracked = time.Time{}, 0, 0
	if s.failures == 0 {
		return nil
	}
	return s
}

// log writes the summary; called without the lock held so that a slow
// handler does not stall every request. Only addresses and counts are
// logged, never anything the peer sent.
func (l *Limiter) log(s *summary) {
	if s == nil {
		return
	}
	attrs := []any{
		"what", l.o.Name,
		"failures", s.failures,
		"addresses", s.addresses,
		"networks", s.networks,
		"window", l.o.Window,
		"top_network", prefixString(s.topNet),
		"top_network_failures", s.topNetFailures,
		"top_address", addrString(s.topAddr),
		"top_address_failures", s.topAddrFailures,
	}
	if s.untracked > 0 {
		attrs = append(attrs, "untracked", s.untracked)
	}
	l.o.Logger.Warn("refused attempts in the last window", attrs...)
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return "unknown"
	}
	return p.String()
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}
