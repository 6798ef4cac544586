package connlimit

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dialFrom connects to addr from a chosen loopback source address.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	return c
}

// closedByServer reports whether the server closed c (read gives EOF).
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err == io.EOF
}

func TestCapPerAddressLeavesOthersIn(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := New(raw, 3, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	addr := raw.Addr().String()
	flooder := netip.MustParseAddr("127.0.0.2")

	var mine []net.Conn
	var served []net.Conn
	for i := 0; i < 3; i++ {
		mine = append(mine, dialFrom(t, "127.0.0.2", addr))
		served = append(served, <-accepted)
	}
	if got := ln.Open(flooder); got != 3 {
		t.Fatalf("open from the flooder: %d, want 3", got)
	}
	// The fourth from the same address is closed at once.
	extra := dialFrom(t, "127.0.0.2", addr)
	if !closedByServer(extra) {
		t.Fatal("a connection past the cap was not closed")
	}
	extra.Close()
	// Another address still gets in.
	other := dialFrom(t, "127.0.0.1", addr)
	select {
	case c := <-accepted:
		if got := c.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.1" {
			t.Fatalf("accepted %s, want 127.0.0.1", got)
		}
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("another address was not accepted while one was at its cap")
	}
	other.Close()
	// Closing one frees a slot for the flooder's address.
	served[0].Close()
	if got := ln.Open(flooder); got != 2 {
		t.Fatalf("after a close: %d open, want 2", got)
	}
	again := dialFrom(t, "127.0.0.2", addr)
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("a freed slot was not reused")
	}
	again.Close()
	for _, c := range append(mine, served[1:]...) {
		c.Close()
	}
	ln.Close()
	for range accepted {
	}
}
