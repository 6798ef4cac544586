package ratelimit

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time for the limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer captures the limiter's log lines.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// ipv4s returns n addresses of the /24 prefix (e.g. "10.1.2"), from .1 on.
func ipv4s(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s.%d", prefix, i+1)
	}
	return out
}

// ipv6s returns n addresses of the /64 prefix (e.g. "2001:db8:1:2").
func ipv6s(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s::%x", prefix, i+1)
	}
	return out
}

func repeat(addr string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = addr
	}
	return out
}

func TestLimits(t *testing.T) {
	// step: after advancing the clock by at, each of attempts is tried the
	// way a handler does (Allow, then Fail: every attempt here is a bad
	// one); admitted is how many Allow let through, then allowed and refused
	// are checked without counting anything.
	type step struct {
		at       time.Duration
		attempts []string
		admitted int
		allowed  []string
		refused  []string
	}
	cases := []struct {
		name  string
		opt   Options
		steps []step
	}{
		{"per address", Options{}, []step{
			{attempts: repeat("192.0.2.7", 9), admitted: 9, allowed: []string{"192.0.2.7"}},
			{attempts: repeat("192.0.2.7", 5), admitted: 1,
				refused: []string{"192.0.2.7", "::ffff:192.0.2.7"}, allowed: []string{"192.0.2.8", "198.51.100.7", "2001:db8::7"}},
		}},
		{"per address, custom limit", Options{PerAddress: 3}, []step{
			{attempts: repeat("192.0.2.7", 4), admitted: 3, refused: []string{"192.0.2.7"}, allowed: []string{"192.0.2.8"}},
		}},
		{"IPv4-mapped is the same address", Options{}, []step{
			{attempts: append(repeat("192.0.2.7", 5), repeat("::ffff:192.0.2.7", 5)...), admitted: 10, refused: []string{"192.0.2.7"}},
		}},
		{"per /24: 250 addresses failing once each", Options{}, []step{
			{attempts: ipv4s("10.1.2", 250), admitted: 50,
				refused: []string{"10.1.2.251", "10.1.2.1"}, allowed: []string{"10.1.3.1", "10.1.1.255", "192.0.2.1"}},
		}},
		{"per /64 for IPv6", Options{PerNetwork: 20}, []step{
			{attempts: ipv6s("2001:db8:1:2", 100), admitted: 20,
				refused: []string{"2001:db8:1:2:ffff::1"}, allowed: []string{"2001:db8:1:3::1", "2001:db8:1:1:ffff:ffff:ffff:ffff", "10.0.0.1"}},
		}},
		{"an IPv6 zone is the same address", Options{PerAddress: 2}, []step{
			{attempts: []string{"fe80::1%eth0", "fe80::1%eth1"}, admitted: 2, refused: []string{"fe80::1"}},
		}},
		{"window roll-over", Options{Window: time.Minute}, []step{
			{attempts: repeat("192.0.2.7", 10), admitted: 10, refused: []string{"192.0.2.7"}},
			{at: 59 * time.Second, refused: []string{"192.0.2.7"}},
			{at: time.Second, allowed: []string{"192.0.2.7"}},
			{attempts: repeat("192.0.2.7", 12), admitted: 10, refused: []string{"192.0.2.7"}},
			{at: 2 * time.Hour, allowed: []string{"192.0.2.7"}},
		}},
		{"network roll-over", Options{Window: 10 * time.Second}, []step{
			{attempts: ipv4s("10.1.2", 60), admitted: 50, refused: []string{"10.1.2.99"}},
			{at: 10 * time.Second, attempts: ipv4s("10.1.2", 60), admitted: 50},
		}},
		{"unparsable source addresses share one counter", Options{}, []step{
			{attempts: repeat("", 11), admitted: 10, refused: []string{""}, allowed: []string{"192.0.2.1"}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			logger, _ := logBuffer()
			c.opt.Now, c.opt.Logger = clk.Now, logger
			l := New(c.opt)
			for i, s := range c.steps {
				clk.Advance(s.at)
				admitted := 0
				for _, a := range s.attempts {
					addr := parse(t, a)
					if l.Allow(addr) {
						admitted++
					}
					l.Fail(addr)
				}
				if admitted != s.admitted {
					t.Errorf("step %d: %d attempts admitted, want %d", i, admitted, s.admitted)
				}
				for _, a := range s.allowed {
					if !l.Allow(parse(t, a)) {
						t.Errorf("step %d: %s refused, want allowed", i, a)
					}
				}
				for _, a := range s.refused {
					if l.Allow(parse(t, a)) {
						t.Errorf("step %d: %s allowed, want refused", i, a)
					}
				}
			}
		})
	}
}

func parse(t *testing.T, s string) netip.Addr {
	t.Helper()
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMemoryBoundedUnderASpray(t *testing.T) {
	const n = 100_000
	cases := []struct {
		name string
		addr func(i int) netip.Addr
	}{
		// 100,000 IPv4 addresses over 391 /24s.
		{"IPv4", func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }},
		// 100,000 IPv6 addresses, each in its own /64.
		{"IPv6 one per /64", func(i int) netip.Addr {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 5: byte(i >> 16), 6: byte(i >> 8), 7: byte(i), 15: 1})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			logger, buf := logBuffer()
			l := New(Options{Name: "spray", Now: clk.Now, Logger: logger})
			for i := range n {
				a := c.addr(i)
				l.Allow(a)
				l.Fail(a)
			}
			l.mu.Lock()
			addrs, nets, failures := len(l.addrs), len(l.nets), l.failures
			l.mu.Unlock()
			if addrs > maxAddresses || nets > maxNetworks {
				t.Fatalf("tables hold %d addresses and %d networks, want at most %d and %d", addrs, nets, maxAddresses, maxNetworks)
			}
			if failures != n {
				t.Fatalf("%d failures counted, want %d", failures, n)
			}
			clk.Advance(time.Minute)
			l.Flush()
			got := lines(buf)
			if len(got) != 1 || !strings.Contains(got[0], fmt.Sprintf("failures=%d ", n)) || !strings.Contains(got[0], "untracked=") {
				t.Fatalf("summary: %q", got)
			}
			l.mu.Lock()
			addrs, nets = len(l.addrs), len(l.nets)
			l.mu.Unlock()
			if addrs != 0 || nets != 0 {
				t.Fatalf("after the window: %d addresses, %d networks kept", addrs, nets)
			}
		})
	}
}

func TestOneSummaryLinePerWindow(t *testing.T) {
	clk := newClock()
	logger, buf := logBuffer()
	l := New(Options{Name: "viewer sign-ins", Now: clk.Now, Logger: logger})

	// Window 1: 250 addresses of one /24, ten tries each minus ten.
	addrs := ipv4s("10.1.2", 250)
	for i := range 2490 {
		a := parse(t, addrs[i%250])
		l.Allow(a)
		l.Fail(a)
	}
	clk.Advance(59 * time.Second)
	l.Flush()
	if got := lines(buf); len(got) != 0 {
		t.Fatalf("logged before the window ended: %q", got)
	}
	clk.Advance(time.Second)
	l.Allow(parse(t, "192.0.2.1")) // rolls the window over lazily
	l.Flush()                      // nothing more to say
	got := lines(buf)
	if len(got) != 1 {
		t.Fatalf("%d lines for one window, want 1: %q", len(got), got)
	}
	for _, want := range []string{
		"level=WARN", `msg="refused attempts in the last window"`, `what="viewer sign-ins"`,
		"failures=2490 ", "addresses=250 ", "networks=1 ", "window=1m0s ", "top_network=10.1.2.0/24 ",
		"top_network_failures=2490 ",
	} {
		if !strings.Contains(got[0], want) {
			t.Errorf("summary lacks %s: %s", want, got[0])
		}
	}
	if strings.Contains(got[0], "untracked") {
		t.Errorf("nothing was untracked: %s", got[0])
	}

	// A quiet window says nothing.
	clk.Advance(5 * time.Minute)
	l.Flush()
	if got := lines(buf); len(got) != 1 {
		t.Fatalf("a window without failures was logged: %q", got)
	}

	// Window 2, ended by Flush alone.
	for range 3 {
		l.Fail(parse(t, "2001:db8::1"))
	}
	l.Fail(parse(t, "198.51.100.9"))
	clk.Advance(time.Minute)
	l.Flush()
	l.Flush()
	got = lines(buf)
	if len(got) != 2 {
		t.Fatalf("%d lines after two windows, want 2: %q", len(got), got)
	}
	for _, want := range []string{"failures=4 ", "addresses=2 ", "networks=2 ", "top_network=2001:db8::/64 ", "top_address=2001:db8::1 "} {
		if !strings.Contains(got[1], want) {
			t.Errorf("second summary lacks %s: %s", want, got[1])
		}
	}
}

func TestRetryAfter(t *testing.T) {
	clk := newClock()
	logger, _ := logBuffer()
	l := New(Options{Now: clk.Now, Logger: logger})
	cases := []struct {
		advance time.Duration
		fail    bool
		want    time.Duration
	}{
		{0, false, time.Minute}, // no window yet: a whole one
		{0, true, time.Minute},
		{20*time.Second + 300*time.Millisecond, false, 40 * time.Second}, // rounded up
		{39 * time.Second, false, time.Second},
		{999 * time.Millisecond, false, time.Second}, // never zero
		{time.Hour, false, time.Second},              // window over, not yet rolled
	}
	for i, c := range cases {
		clk.Advance(c.advance)
		if c.fail {
			l.Fail(parse(t, "192.0.2.1"))
		}
		if got := l.RetryAfter(); got != c.want {
			t.Errorf("case %d: RetryAfter %v, want %v", i, got, c.want)
		}
	}
}

func TestAddrOf(t *testing.T) {
	cases := []struct{ remote, want string }{
		{"192.0.2.7:1234", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:1234", "192.0.2.7"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[fe80::1%eth0]:443", "fe80::1%eth0"},
		{"192.0.2.7", "192.0.2.7"},
		{"@", ""},
		{"", ""},
		{"evil.example:80", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		got := AddrOf(r)
		if (c.want == "" && got.IsValid()) || (c.want != "" && got.String() != c.want) {
			t.Errorf("AddrOf(%q) = %v, want %q", c.remote, got, c.want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	clk := newClock()
	logger, buf := logBuffer()
	l := New(Options{Now: clk.Now, Logger: logger, Window: time.Second})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				a := netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i)})
				l.Allow(a)
				l.Fail(a)
				_ = l.RetryAfter()
				if i%500 == 0 {
					clk.Advance(time.Second)
					l.Flush()
				}
			}
		})
	}
	wg.Wait()
	clk.Advance(time.Second)
	l.Flush()
	total := 0
	for _, line := range lines(buf) {
		var n int
		i := strings.Index(line, "failures=")
		if _, err := fmt.Sscanf(line[i:], "failures=%d", &n); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		total += n
	}
	if total != 8*2000 {
		t.Fatalf("summaries add up to %d failures, want %d", total, 8*2000)
	}
}
