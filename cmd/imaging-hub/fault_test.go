package main_test

// Fault tests: the real imaging-hub and imaging-agent binaries on loopback,
// hit by the faults of issue 5 ("Faults, and nothing lost"): a hub SIGKILL
// and restart, a blackholed connection with no FIN, a viewer that stops
// reading, and 1,000 agents reconnecting at once after a hub restart.
//
// Every loop is bounded in count and time; every process, socket and
// goroutine started here is stopped in t.Cleanup, pass or fail. The figures
// each test measures are logged with t.Logf ("measured: ...") so they can be
// quoted.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/bench"
	"imagingstatus/server/hubtest"
	"imagingstatus/server/store"
	"imagingstatus/wire"
)

// ---------------------------------------------------------------------------
// Helpers of the fault tests (the rest is in server/hubtest and bench).

func entitiesByID(t *testing.T, hubURL string) map[string]wire.Entity {
	t.Helper()
	var es []wire.Entity
	if _, err := hubtest.GetJSON(hubURL+"/api/v1/entities", &es); err != nil {
		t.Fatal(err)
	}
	return hubtest.ByID(es)
}

func historyOf(t *testing.T, hubURL, id string) []store.Change {
	t.Helper()
	var h []store.Change
	if _, err := hubtest.GetJSON(hubURL+"/api/v1/entities/"+id+"/history", &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func sameChange(a, b store.Change) bool {
	return a.Entity == b.Entity && a.At.Equal(b.At) && a.From == b.From && a.To == b.To && a.Reason == b.Reason
}

// hasTransitions says whether hist (newest first) holds the given statuses
// as "to" values in this order, oldest first (other changes may sit between).
func hasTransitions(hist []store.Change, to ...wire.Status) bool {
	i := 0
	for k := len(hist) - 1; k >= 0 && i < len(to); k-- {
		if hist[k].To == to[i] {
			i++
		}
	}
	return i == len(to)
}

// latencies is a bounded, goroutine-safe sample of durations.
type latencies struct {
	mu  sync.Mutex
	max int
	ds  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ds) < l.max {
		l.ds = append(l.ds, d)
	}
}

func (l *latencies) get() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.ds...)
}

func (l *latencies) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ds)
}

// stopAll registers a cleanup that cancels ctx and waits (bounded) for wg.
func stopAll(t *testing.T, cancel context.CancelFunc, wg *sync.WaitGroup, what string) {
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(hubtest.Long):
			t.Errorf("%s did not stop within %v", what, hubtest.Long)
		}
	})
}

// simReport is a small valid report; probeOK chooses the probe's result and
// partitions pads the report (and the hub's views) to a chosen size.
func simReport(seq int, probeOK bool, partitions int) wire.Report {
	now := time.Now()
	r := wire.Report{
		Type: wire.TypeReport, Figures: wire.Figures{CollectedAt: now, Hostname: "h", UptimeSeconds: uint64(1000 + seq),
			BootTime: now.Add(-time.Hour).Truncate(time.Second),
			Memory:   &wire.Memory{Total: 8 << 30, Used: 2 << 30, Available: 6 << 30},
			Load:     &wire.Load{Load1: 0.1, Load5: 0.2, Load15: 0.3, CPUs: 2},
			Repository: &wire.Repository{Root: "/var/lib/pulse2/imaging", ImagesTotal: 2, ImagesComplete: 2,
				BytesComplete: 1 << 30, Clients: 1, ClientsWithImages: 1, Generation: 1, ImagesOmitted: seq > 0},
			Probes: []wire.Probe{{Name: "imaging-api", Target: "tcp://127.0.0.1:9990", OK: probeOK, LatencyMS: 0.2}}},
	}
	if !probeOK {
		r.Probes[0].Error = "connection refused"
	}
	for i := 0; i < max(partitions, 1); i++ {
		r.Partitions = append(r.Partitions, wire.Partition{Device: fmt.Sprintf("/dev/mapper/vg0-lv%03d", i),
			Mountpoint: fmt.Sprintf("/srv/imaging/volume-%03d", i), FSType: "ext4", Total: 1 << 40, Used: uint64(seq+i) << 20, Free: 1<<40 - uint64(seq+i)<<20, Main: i == 0})
	}
	return r
}

// ---------------------------------------------------------------------------
// 1. Hub SIGKILL and restart: last known states shown stale, agents back,
// no recorded change lost.

func TestFaultHubKillRestartKeepsStateAndHistory(t *testing.T) {
	e := setup(t)
	addr := e.Hub.Addr
	if _, err := os.Stat(filepath.Join(e.Dir, "imaging-hub.state")); err != nil {
		t.Fatalf("the state file should sit beside the configuration: %v", err)
	}

	// A probe target that refuses at first, then is fixed by listening on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	probeAddr := ln.Addr().String()
	ln.Close()

	a0 := e.Agent(t, "UUID0")
	a2 := e.Agent(t, "UUID2", "--probe", "imaging-api=tcp://"+probeAddr)
	a3 := e.Agent(t, "UUID3")
	e.WaitStatus(t, "UUID0", wire.StatusAvailable, "")
	e.WaitStatus(t, "UUID3", wire.StatusAvailable, "")
	e.WaitStatus(t, "UUID2", wire.StatusConnectionError, "probe imaging-api")

	fixed, err := net.Listen("tcp", probeAddr)
	if err != nil {
		t.Fatalf("re-listen on the probe port: %v", err)
	}
	t.Cleanup(func() { fixed.Close() })
	go func() {
		for {
			c, err := fixed.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	e.WaitStatus(t, "UUID2", wire.StatusAvailable, "")

	a3.Kill(syscall.SIGKILL)
	e.WaitStatus(t, "UUID3", wire.StatusOffline, "")

	// The history as the hub recorded it, read just before the kill.
	expect := map[string][]wire.Status{
		"UUID0": {wire.StatusAvailable},
		"UUID1": {wire.StatusAvailable},
		"UUID2": {wire.StatusConnectionError, wire.StatusAvailable},
		"UUID3": {wire.StatusAvailable, wire.StatusOffline},
	}
	before := map[string][]store.Change{}
	for id, to := range expect {
		hubtest.WaitFor(t, "history of "+id+" to hold every observed change", func() bool {
			before[id] = historyOf(t, e.Hub.URL, id)
			return hasTransitions(before[id], to...)
		})
	}
	before["UUID9"] = historyOf(t, e.Hub.URL, "UUID9")
	viewsBefore := entitiesByID(t, e.Hub.URL)
	total := 0
	for _, h := range before {
		total += len(h)
	}

	disconnects := func(p *hubtest.Proc) int { return strings.Count(p.Output(), "disconnected from hub") }
	d0, d2 := disconnects(a0), disconnects(a2)
	killedAt := time.Now()
	e.Hub.Kill(syscall.SIGKILL)
	// An outage long enough for the agents' backoff to grow past its first
	// step (each refused attempt doubles the wait): each agent has noticed
	// the loss and then failed to reconnect at least once.
	hubtest.WaitFor(t, "each agent to notice the hub is gone and fail to reconnect", func() bool {
		return disconnects(a0) >= d0+2 && disconnects(a2) >= d2+2
	})
	retries := disconnects(a0) + disconnects(a2) - d0 - d2

	// Hold the agents still while the hub restarts, so the first read of the
	// restarted hub deterministically precedes any reconnection; they resume
	// with their backoff timers running (CLOCK_MONOTONIC does not stop).
	for _, a := range []*hubtest.Proc{a0, a2} {
		if err := a.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	resumed := false
	resume := func() {
		if resumed {
			return
		}
		resumed = true
		for _, a := range []*hubtest.Proc{a0, a2} {
			_ = a.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)

	restartAt := time.Now()
	if got := e.RestartHub(t).Addr; got != addr {
		t.Fatalf("restarted hub listens on %s, want %s", got, addr)
	}
	listeningAt := time.Now()
	after := entitiesByID(t, e.Hub.URL)
	resume()
	resumedAt := time.Now()

	// Immediately after the restart: every last known state, marked stale.
	for _, id := range []string{"UUID0", "UUID1", "UUID2", "UUID3"} {
		was, now := viewsBefore[id], after[id]
		if now.Status != was.Status || !now.Stale {
			t.Errorf("%s right after restart: %s stale=%v (%s), want %s stale=true", id, now.Status, now.Stale, now.Reason, was.Status)
		}
		if !now.Since.Equal(was.Since) {
			t.Errorf("%s: since %v after restart, was %v", id, now.Since, was.Since)
		}
		if was.Status != wire.StatusAvailable {
			continue
		}
		if len(now.Partitions) != len(was.Partitions) || now.Memory == nil || now.Memory.Total != was.Memory.Total ||
			now.Repository == nil || now.Repository.ImagesTotal != 5 || now.LastReportAt == nil || now.UptimeSeconds == 0 {
			t.Errorf("%s: figures not restored: partitions %d (was %d) memory %+v repository %+v", id, len(now.Partitions), len(was.Partitions), now.Memory, now.Repository)
		}
		for _, p := range now.Probes {
			if !p.OK {
				t.Errorf("%s: restored probe %s not OK", id, p.Name)
			}
		}
	}
	if v := after["UUID9"]; v.Status != wire.StatusNotLinked {
		t.Errorf("UUID9 after restart: %s", v.Status)
	}

	// The agents reconnect with their backoff and the stale mark clears.
	hubtest.WaitFor(t, "UUID0, UUID1 and UUID2 confirmed by their agents", func() bool {
		es := entitiesByID(t, e.Hub.URL)
		for _, id := range []string{"UUID0", "UUID1", "UUID2"} {
			if es[id].Status != wire.StatusAvailable || es[id].Stale {
				return false
			}
		}
		return true
	})
	back := time.Now()
	// The killed agent's entity stays its last known state, stale.
	if v := e.Entity(t, "UUID3"); v.Status != wire.StatusOffline || !v.Stale {
		t.Errorf("UUID3 (agent killed) after restart: %s stale=%v", v.Status, v.Stale)
	}

	// Nothing lost: every change read before the kill is still listed.
	lost := 0
	for id, hb := range before {
		ha := historyOf(t, e.Hub.URL, id)
		for _, c := range hb {
			found := false
			for _, d := range ha {
				if sameChange(c, d) {
					found = true
					break
				}
			}
			if !found {
				lost++
				t.Errorf("%s: change lost across the restart: %+v", id, c)
			}
		}
	}
	t.Logf("measured: hub SIGKILL, %v outage (%d failed agent attempts), restart: %d recorded changes before the kill, %d lost; restart→listening %v; restart→all agents back %v (listening→back %v, agents held %v while reading the stale states)",
		restartAt.Sub(killedAt).Round(time.Millisecond), retries, total, lost, listeningAt.Sub(restartAt).Round(time.Millisecond),
		back.Sub(restartAt).Round(time.Millisecond), back.Sub(listeningAt).Round(time.Millisecond), resumedAt.Sub(listeningAt).Round(time.Millisecond))
}

// ---------------------------------------------------------------------------
// 2. A blackholed connection: no FIN, no RST, detected by missed pings.

// relay forwards TCP between clients and a target. blackhole makes every
// pair open at that moment stop forwarding in both directions while both
// sockets stay open (no FIN, no RST: nothing is read or written any more);
// connections accepted later forward normally.
type relay struct {
	ln     net.Listener
	target string
	stop   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	pairs []*relayPair // every pair, to close at the end
}

type relayPair struct {
	a, b net.Conn
	hole chan struct{}
	once sync.Once
}

func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target, stop: make(chan struct{})}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.close)
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		a, err := r.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.DialTimeout("tcp", r.target, 5*time.Second)
		if err != nil {
			a.Close()
			continue
		}
		p := &relayPair{a: a, b: b, hole: make(chan struct{})}
		r.mu.Lock()
		select {
		case <-r.stop: // closing: close() has already closed the others
			r.mu.Unlock()
			a.Close()
			b.Close()
			return
		default:
		}
		r.pairs = append(r.pairs, p)
		r.mu.Unlock()
		r.wg.Add(2)
		go r.pipe(p, a, b)
		go r.pipe(p, b, a)
	}
}

func (r *relay) pipe(p *relayPair, src, dst net.Conn) {
	defer r.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.hole:
			<-r.stop // stop forwarding and reading; keep the sockets open
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			select {
			case <-p.hole:
				<-r.stop
			default:
				src.Close()
				dst.Close()
			}
			return
		}
	}
}

// blackhole stops every pair open now; it returns how many it stopped.
func (r *relay) blackhole() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.pairs {
		p.once.Do(func() { close(p.hole); n++ })
	}
	return n
}

// close stops the relay: the listener, then every socket (blackholed pairs
// wait on stop, forwarding ones end when their sockets close).
func (r *relay) close() {
	select {
	case <-r.stop:
		return
	default:
	}
	r.ln.Close()
	r.mu.Lock()
	close(r.stop)
	for _, p := range r.pairs {
		p.a.Close()
		p.b.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func TestFaultBlackholedConnectionGoesOffline(t *testing.T) {
	e := setup(t)
	r := newRelay(t, e.Hub.Addr)
	e.Agent(t, "UUID0", "--hub", "http://"+r.addr())
	v, _ := e.WaitStatus(t, "UUID0", wire.StatusAvailable, "")
	// A few reports (and the pings between them) through the relay.
	last, reports := *v.LastReportAt, 0
	hubtest.WaitFor(t, "two more reports through the relay", func() bool {
		if v := e.Entity(t, "UUID0"); v.LastReportAt != nil && v.LastReportAt.After(last) {
			last, reports = *v.LastReportAt, reports+1
		}
		return reports >= 2
	})

	holedAt := time.Now()
	if n := r.blackhole(); n != 1 {
		t.Fatalf("%d connections through the relay, want 1", n)
	}
	// Offline within deadline + 1 s, by the hub's clock (when it recorded
	// the change).
	v, _ = e.WaitStatus(t, "UUID0", wire.StatusOffline, "")
	delay := v.Since.Sub(holedAt)
	t.Logf("measured: blackholed connection (no FIN/RST) → Offline reason %q", v.Reason)
	checkWithin(t, "Offline after the blackhole", delay, deadline+time.Second)
	if !strings.Contains(v.Reason, "missed pings") {
		t.Errorf("offline reason %q should name missed pings", v.Reason)
	}

	// The agent's side of the blackholed socket is still open: the agent
	// gives up a silent hub after push.HubSilence (3 s at this interval)
	// and comes back through a fresh connection.
	e.WaitStatus(t, "UUID0", wire.StatusAvailable, "")
	t.Logf("measured: the agent reconnected through a fresh connection %v after the blackhole", time.Since(holedAt).Round(time.Millisecond))
}

// ---------------------------------------------------------------------------
// 3. A viewer that stops reading is dropped; the others go on.

func dialViewer(t *testing.T, hubURL string, rcvbuf int) *websocket.Conn {
	t.Helper()
	nd := &net.Dialer{Timeout: 30 * time.Second}
	if rcvbuf > 0 {
		nd.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, NetDialContext: nd.DialContext, ReadBufferSize: 1024}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(hubURL, "http")+"/api/v1/ws", http.Header{"Origin": {hubURL}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("viewer dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// stuckViewer is a viewer socket that never reads. A "silent" one sends
// nothing either (a frozen machine: it misses the hub's pings); an "alive"
// one sends an unsolicited pong every interval (RFC 6455 allows it), so
// only the hub's write timeout can drop it.
type stuckViewer struct {
	name string
	conn *websocket.Conn
	at   time.Time
}

// dropLine finds the hub's "viewer dropped" line naming this socket.
func (v *stuckViewer) dropLine(hubLog string) string {
	local := v.conn.LocalAddr().String()
	for _, l := range strings.Split(hubLog, "\n") {
		if strings.Contains(l, "viewer dropped") && strings.Contains(l, "->"+local) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func TestFaultStuckViewerIsDropped(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stopAll(t, cancel, &wg, "simulated agents, viewers and the REST sampler")

	// Two stuck viewers with a small receive buffer, so the hub's writes to
	// them really block.
	silent := &stuckViewer{name: "silent", conn: dialViewer(t, e.Hub.URL, 4096), at: time.Now()}
	alive := &stuckViewer{name: "alive (sends pongs)", conn: dialViewer(t, e.Hub.URL, 4096), at: time.Now()}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if alive.conn.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second)) != nil {
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}()

	// The reading viewer measures change latency (agent send → viewer receipt).
	reader := dialViewer(t, e.Hub.URL, 0)
	lat := &latencies{max: 200_000}
	var changes atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		stop := context.AfterFunc(ctx, func() { reader.Close() })
		defer stop()
		for {
			_, b, err := reader.ReadMessage()
			if err != nil {
				return
			}
			var m wire.ViewerMessage
			if json.Unmarshal(b, &m) != nil || (m.Type != wire.TypeChange && m.Type != wire.TypeChanges) {
				continue
			}
			if m.Entity != nil {
				m.Entities = append(m.Entities, *m.Entity)
			}
			for _, e := range m.Entities {
				if !e.CollectedAt.IsZero() {
					changes.Add(1)
					lat.add(time.Since(e.CollectedAt))
				}
			}
		}
	}()

	// Three agents report every 25 ms (8 per hub interval, under the limit of
	// 20), flipping their probe each report: every report is a status change,
	// and 60 partitions make each viewer frame ~10 KB.
	const every = 25 * time.Millisecond
	if interval/every > 10 {
		t.Fatal("simulated report rate too close to the hub's message limit")
	}
	if _, err := wire.DecodeReport(mustJSON(t, simReport(1, false, 60))); err != nil {
		t.Fatalf("the simulated report is not valid: %v", err)
	}
	for _, id := range []string{"UUID0", "UUID2", "UUID3"} {
		a := &bench.Reconnecting{AgentSpec: bench.AgentSpec{HubURL: e.Hub.URL, Entity: id, Token: e.Tokens[id]},
			Interval: every, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
			Report: func(seq int) wire.Report { return simReport(seq, seq%2 == 0, 60) }}
		wg.Go(func() { a.Run(ctx) })
	}

	// REST stays responsive: one request at a time, every 50 ms.
	rest := &latencies{max: 10_000}
	var restErrs atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			d, err := hubtest.GetJSON(e.Hub.URL+"/api/v1/entities", nil)
			if err != nil {
				restErrs.Add(1)
			} else {
				rest.add(d)
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	// The hub drops both stuck viewers ("viewer dropped" naming each socket).
	droppedAfter := map[*stuckViewer]time.Duration{}
	hubtest.WaitFor(t, "the hub to drop both stuck viewers", func() bool {
		out := e.Hub.Output()
		for _, v := range []*stuckViewer{silent, alive} {
			if _, ok := droppedAfter[v]; !ok && v.dropLine(out) != "" {
				droppedAfter[v] = time.Since(v.at)
			}
		}
		return len(droppedAfter) == 2
	})
	// The reading viewer keeps receiving after the drops.
	n := changes.Load()
	hubtest.WaitFor(t, "more changes on the reading viewer after the drops", func() bool { return changes.Load() > n+50 })

	// Their sockets were closed by the hub: reading them now drains what the
	// kernels held, then ends (EOF, reset or close), well before the bound.
	out := e.Hub.Output()
	for _, v := range []*stuckViewer{silent, alive} {
		_ = v.conn.SetReadDeadline(time.Now().Add(hubtest.Bound(15 * time.Second)))
		frames := 0
		var err error
		for k := 0; k < 1_000_000; k++ {
			if _, _, err = v.conn.ReadMessage(); err != nil {
				break
			}
			frames++
		}
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Errorf("%s stuck viewer: socket still open after its drop: %v", v.name, err)
		}
		t.Logf("measured: %s stuck viewer dropped %v after it connected (%s); %d frames were left in its socket, then %v",
			v.name, droppedAfter[v].Round(time.Millisecond), v.dropLine(out), frames, err)
	}
	if l := alive.dropLine(out); !strings.Contains(l, "i/o timeout") {
		t.Errorf("the stuck viewer that answers pings should be dropped by the write timeout, got: %s", l)
	}
	cancel()

	ls, rs := lat.get(), rest.get()
	t.Logf("measured: reading viewer change latency %s over %d changes; REST GET /api/v1/entities %s, %d errors",
		hubtest.Summary(ls), changes.Load(), hubtest.Summary(rs), restErrs.Load())
	if len(ls) < 100 {
		t.Errorf("the reading viewer got only %d changes", len(ls))
	}
	checkWithin(t, "reading viewer p99 change latency while other viewers are stuck", bench.Quantile(ls, 0.99), 2*time.Second)
	checkWithin(t, "REST p99 while viewers are stuck", bench.Quantile(rs, 0.99), time.Second)
	if restErrs.Load() > 0 {
		t.Errorf("%d REST errors while viewers are stuck, want none", restErrs.Load())
	}
	if c := strings.Count(out, "viewer dropped"); c != 2 {
		t.Errorf("%d viewers dropped, want only the 2 stuck ones", c)
	}
}

// procCPU is the user+system CPU time a started process has used so far
// (0 when unreadable).
func procCPU(p *hubtest.Proc) time.Duration {
	u, err := bench.ReadProc(p.Pid())
	if err != nil {
		return 0
	}
	return u.CPU
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---------------------------------------------------------------------------
// 4. 1,000 agents reconnecting at once after a hub restart.

func TestFaultThousandAgentsReconnectAfterRestart(t *testing.T) {
	const (
		agents     = 1000
		hubEvery   = 2 * time.Second
		restBound  = time.Second
		backBound  = 60 * time.Second
		restSample = 10 * time.Millisecond
	)
	if testing.Short() {
		t.Skip("1,000 agents: skipped in -short")
	}
	// Each agent holds one socket here and one in the hub (which inherits
	// this limit): make room.
	if nofile, err := bench.RaiseFileLimit(); err != nil || nofile < 4*agents {
		t.Fatalf("open-file limit %d (%v): %d agents need about %d", nofile, err, agents, 4*agents)
	}

	e := hubtest.NewEnv(t, "", hubEvery)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `{"listen":"127.0.0.1:0","plain_http":true,"interval":"%s","missed_pings":3,"limits":{"connections_per_address":100000},"entities":[`, hubEvery)
	for i := range agents {
		if i > 0 {
			cfg.WriteString(",")
		}
		id := fmt.Sprintf("A%04d", i)
		fmt.Fprintf(&cfg, `{"id":"%s","name":"Site %d","server":{"name":"imaging-%04d","token_sha256":"%s"}}`, id, i, i, e.NewToken(t, id))
	}
	cfg.WriteString("]}")
	e.WriteConfig(t, cfg.String())
	hubURL := e.StartHub(t).URL

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stopAll(t, cancel, &wg, "1,000 simulated agents")

	var epoch atomic.Int64 // sessions established after this (unix ns) count as reconnections
	connectedAt := make([]atomic.Int64, agents)
	var dials atomic.Int64
	start := time.Now()
	for i := range agents {
		id := fmt.Sprintf("A%04d", i)
		a := &bench.Reconnecting{
			AgentSpec: bench.AgentSpec{HubURL: hubURL, Entity: id, Token: e.Tokens[id],
				// One source address per simulated server, as in a real fleet.
				Local: &net.TCPAddr{IP: net.IPv4(127, 1, byte(i/250), byte(i%250+1))}},
			Interval: hubEvery, MinBackoff: 500 * time.Millisecond, MaxBackoff: time.Minute, Dials: &dials,
			Report:    func(seq int) wire.Report { return simReport(seq, true, 1) },
			OnSession: func(at time.Time) { connectedAt[i].Store(at.UnixNano()) }}
		wg.Go(func() { a.Run(ctx) })
	}

	// allAvailable counts the entities available and not stale.
	allAvailable := func(rest *latencies) int {
		var es []wire.Entity
		d, err := hubtest.GetJSON(hubURL+"/api/v1/entities", &es)
		if err != nil {
			return 0
		}
		if rest != nil {
			rest.add(d)
		}
		n := 0
		for _, e := range es {
			if e.Status == wire.StatusAvailable && !e.Stale {
				n++
			}
		}
		return n
	}
	hubtest.WaitFor(t, fmt.Sprintf("the %d agents available after a cold start", agents), func() bool { return allAvailable(nil) == agents })
	t.Logf("measured: cold start, %d agents all available in %v (%d dials)", agents, time.Since(start).Round(time.Millisecond), dials.Load())

	// SIGKILL the hub and restart it at once on the same address and state.
	e.Hub.Kill(syscall.SIGKILL)
	dials.Store(0)
	restartAt := time.Now()
	epoch.Store(restartAt.UnixNano())
	hub2 := e.RestartHub(t)
	listeningAt := time.Now()

	cpu0 := procCPU(hub2.Proc)

	// Bounded REST sampling during the storm: two samplers, one request at a
	// time each, from listening until a few more samples after all are back.
	rest := &latencies{max: 20_000}
	list := &latencies{max: 1000}
	var restErrs atomic.Int64
	sctx, scancel := context.WithCancel(ctx)
	var swg sync.WaitGroup
	for range 2 {
		swg.Go(func() {
			for k := 0; sctx.Err() == nil && k < 10_000; k++ {
				d, err := hubtest.GetJSON(fmt.Sprintf("%s/api/v1/entities/A%04d", hubURL, rand.IntN(agents)), nil)
				if err != nil {
					restErrs.Add(1)
				} else {
					rest.add(d)
				}
				select {
				case <-sctx.Done():
				case <-time.After(restSample):
				}
			}
		})
	}
	n := 0
	took := hubtest.WaitFor(t, fmt.Sprintf("the %d agents back after the restart", agents), func() bool {
		n = allAvailable(list)
		return n == agents
	})
	backAt := time.Now()
	cpu1 := procCPU(hub2.Proc)
	after := rest.len()
	hubtest.WaitFor(t, "a few REST samples after the storm", func() bool { return rest.len() >= after+20 })
	scancel()
	swg.Wait()

	var recon []time.Duration
	for i := range connectedAt {
		if at := connectedAt[i].Load(); at > epoch.Load() {
			recon = append(recon, time.Duration(at-epoch.Load()))
		}
	}
	rs, ls := rest.get(), list.get()
	t.Logf("measured: %d agents, hub SIGKILL+restart: restart→listening %v, restart→all %d available (not stale) %v (listening→all %v); %d/%d reached; %d dials",
		agents, listeningAt.Sub(restartAt).Round(time.Millisecond), agents, backAt.Sub(restartAt).Round(time.Millisecond),
		took.Round(time.Millisecond), n, agents, dials.Load())
	peak := map[int64]int{}
	most := 0
	for _, d := range recon {
		b := int64(d / (100 * time.Millisecond))
		peak[b]++
		most = max(most, peak[b])
	}
	t.Logf("measured: agent-side reconnection after restart %s; peak %d sessions established in one 100 ms window; hub CPU listening→all back %v",
		hubtest.Summary(recon), most, (cpu1 - cpu0).Round(time.Millisecond))
	t.Logf("measured: REST during the storm: GET /api/v1/entities/{id} %s, %d errors; GET /api/v1/entities (1,000 entities) %s",
		hubtest.Summary(rs), restErrs.Load(), hubtest.Summary(ls))
	checkWithin(t, "all agents back after the restart", backAt.Sub(restartAt), backBound)
	checkWithin(t, "REST p99 during the reconnection storm", bench.Quantile(rs, 0.99), restBound)
	if restErrs.Load() > 0 {
		t.Errorf("%d REST errors during the storm", restErrs.Load())
	}
}
