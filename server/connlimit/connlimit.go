// Package connlimit caps the TCP connections one source address may hold
// open on a listener, so that one address cannot take every file
// descriptor of the hub while agents and viewers from elsewhere still get
// in.
package connlimit

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Listener wraps a net.Listener. A connection past the cap of its source
// address is closed at once, before any byte of it is read.
type Listener struct {
	net.Listener
	perAddr int
	log     *slog.Logger

	mu   sync.Mutex
	open map[netip.Addr]int

	refused  atomic.Int64 // since the last summary line
	lastLog  atomic.Int64 // unix nanoseconds of the last summary line
	logEvery time.Duration
}

// New caps each source address at perAddr open connections on ln.
func New(ln net.Listener, perAddr int, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.Default()
	}
	return &Listener{Listener: ln, perAddr: perAddr, log: log, open: make(map[netip.Addr]int), logEvery: time.Minute}
}

// Open is how many connections addr holds open (tests).
func (l *Listener) Open(addr netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[addr]
}

// Accept returns the next connection within its address's cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := addrOf(c.RemoteAddr())
		l.mu.Lock()
		over := l.open[addr] >= l.perAddr
		if !over {
			l.open[addr]++
		}
		l.mu.Unlock()
		if over {
			_ = c.Close()
			l.noteRefused(addr)
			continue
		}
		return &conn{Conn: c, l: l, addr: addr}, nil
	}
}

// noteRefused logs at most one line a minute, with the count since the last.
func (l *Listener) noteRefused(addr netip.Addr) {
	n := l.refused.Add(1)
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < int64(l.logEvery) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	l.refused.Add(-n)
	l.log.Warn("connections refused: too many open from one address", "refused", n, "last_address", addr.String(), "per_address", l.perAddr)
}

func (l *Listener) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[addr] <= 1 {
		delete(l.open, addr)
		return
	}
	l.open[addr]--
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

type conn struct {
	net.Conn
	l    *Listener
	addr netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
	return err
}

// NetConn lets TLS and HTTP code reach the TCP connection underneath.
func (c *conn) NetConn() net.Conn { return c.Conn }
