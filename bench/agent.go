package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/agent/push"
	"imagingstatus/wire"
)

// sentinel is the collected_at written into report templates; each send
// replaces it with the send time, so a report is encoded once per agent.
var sentinel = time.Date(2001, 2, 3, 4, 5, 6, 789_000_000, time.UTC)

// template is a report encoded around its collected_at.
type template struct{ prefix, suffix []byte }

func newTemplate(r wire.Report) (template, error) {
	r.CollectedAt = sentinel
	b, err := json.Marshal(r)
	if err != nil {
		return template{}, err
	}
	ts, _ := json.Marshal(sentinel)
	i := bytes.Index(b, ts)
	if i < 0 || bytes.Count(b, ts) != 1 {
		return template{}, fmt.Errorf("report template: collected_at not found once")
	}
	return template{prefix: b[:i], suffix: b[i+len(ts):]}, nil
}

// encode appends the report sent at t to dst.
func (t template) encode(dst []byte, at time.Time) []byte {
	dst = append(dst, t.prefix...)
	dst = append(dst, '"')
	dst = at.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	return append(dst, t.suffix...)
}

// SimReport builds a realistic report of agent i: three partitions, memory,
// load, a repository with counts and, when withImages, 20 images (else
// images_omitted), and two probes (the second failing when failProbe).
func SimReport(i int, withImages, failProbe bool) wire.Report {
	boot := time.Date(2026, 1, 5, 7, 30, 0, 0, time.UTC)
	const gib = 1 << 30
	used := uint64(120+i%300) * gib
	r := wire.Report{
		Type: wire.TypeReport,
		Figures: wire.Figures{
			Hostname:      fmt.Sprintf("imaging-%05d.example.lan", i+1),
			UptimeSeconds: 86400*12 + uint64(i),
			BootTime:      boot,
			Partitions: []wire.Partition{
				{Device: "/dev/sda2", Mountpoint: "/", FSType: "ext4", Total: 50 * gib, Used: 14 * gib, Free: 36 * gib},
				{Device: "/dev/sda1", Mountpoint: "/boot", FSType: "ext4", Total: gib, Used: gib / 5, Free: gib * 4 / 5},
				{Device: "/dev/sdb1", Mountpoint: "/var/lib/pulse2", FSType: "xfs", Total: 2000 * gib, Used: used, Free: 2000*gib - used, Main: true},
			},
			Memory: &wire.Memory{Total: 16 * gib, Used: 5*gib + uint64(i%97)<<20, Available: 10 * gib, SwapTotal: 2 * gib, SwapUsed: 0},
			Load:   &wire.Load{Load1: 0.31, Load5: 0.27, Load15: 0.22, CPUs: 4},
			Repository: &wire.Repository{
				Root: "/var/lib/pulse2/imaging", ImagesTotal: 20, ImagesComplete: 17, ImagesInProgress: 1, ImagesFailed: 1, ImagesInvalid: 1,
				BytesComplete: 17 * 32 * gib, Clients: 140, ClientsWithImages: 12, Generation: 7,
			},
			Probes: []wire.Probe{
				{Name: "imaging-api", Target: "https://127.0.0.1:9990/imaging_api", OK: true, LatencyMS: 1.8},
				{Name: "repository", Target: "/var/lib/pulse2/imaging", OK: true, LatencyMS: 0.2},
			},
		},
	}
	if failProbe {
		r.Probes[1] = wire.Probe{Name: "repository", Target: "/var/lib/pulse2/imaging", OK: false, LatencyMS: 0.1,
			Error: "open /var/lib/pulse2/imaging/masters: permission denied"}
	}
	if withImages {
		created := time.Date(2025, 11, 3, 9, 0, 0, 0, time.UTC)
		for k := 0; k < 20; k++ {
			st := wire.ImageComplete
			switch k {
			case 17:
				st = wire.ImageInProgress
			case 18:
				st = wire.ImageFailed
			case 19:
				st = wire.ImageInvalid
			}
			mac := fmt.Sprintf("52:54:00:%02x:%02x:%02x", byte(i>>8), byte(i), byte(k))
			r.Repository.Images = append(r.Repository.Images, wire.Image{
				UUID:  fmt.Sprintf("%08x-%04x-11f0-%04x-525400%02x%02x%02x", i*64+k, k, 0x8000+k, byte(i>>8), byte(i), byte(k)),
				Title: fmt.Sprintf("Image of pc-%04d", k), Format: wire.FormatDavos, State: st,
				Size: 32 * gib, Created: created.Add(time.Duration(k) * 37 * time.Hour), SourceMAC: mac,
			})
		}
	} else {
		r.Repository.ImagesOmitted = true
	}
	return r
}

// SimAgent is one simulated agent connection.
type SimAgent struct {
	Index      int
	conn       *websocket.Conn
	wmu        sync.Mutex
	buf        []byte
	tmpl       [2][2]template // [withImages][failProbe]
	sentImages bool
	fail       atomic.Bool

	lastFrame atomic.Int64 // unix ns of the last frame written (report or pong)
	silent    atomic.Bool  // killed: neither reports nor pongs
	closed    atomic.Bool

	// Window counts reports whose collected_at falls in [winStart, winEnd].
	win     *window
	inWin   atomic.Int64
	sent    atomic.Int64
	sendErr atomic.Int64
}

// window is the measurement window shared by agents and viewers (unix ns;
// end 0 = open).
type window struct{ start, end atomic.Int64 }

func (w *window) contains(ns int64) bool {
	s := w.start.Load()
	if s == 0 || ns < s {
		return false
	}
	e := w.end.Load()
	return e == 0 || ns <= e
}

var agentDialer = websocket.Dialer{
	HandshakeTimeout: 15 * time.Second,
	ReadBufferSize:   1 << 10,
	WriteBufferSize:  4 << 10,
}

// AgentSpec says who a simulated agent is and where it connects.
type AgentSpec struct {
	HubURL   string // http://host:port (or https)
	Entity   string
	Token    string
	Hostname string       // in the hello; default "imaging-<entity>"
	Local    *net.TCPAddr // source address; nil: any
}

// AgentURL is the agent stream of a hub.
func AgentURL(hubURL string) string {
	return "ws" + strings.TrimPrefix(hubURL, "http") + "/api/v1/agent"
}

// DialAgentConn opens an agent stream as the real agent does (the token in
// Authorization, the entity in X-Imaging-Entity) and sends the hello.
func DialAgentConn(ctx context.Context, s AgentSpec) (*websocket.Conn, error) {
	d := agentDialer
	if s.Local != nil {
		nd := &net.Dialer{Timeout: d.HandshakeTimeout, LocalAddr: s.Local}
		d.NetDialContext = nd.DialContext
	}
	h := http.Header{"Authorization": {"Bearer " + s.Token}, wire.EntityHeader: {s.Entity}}
	conn, resp, err := d.DialContext(ctx, AgentURL(s.HubURL), h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("agent %s: dial: %w", s.Entity, err)
	}
	host := s.Hostname
	if host == "" {
		host = "imaging-" + strings.ToLower(s.Entity)
	}
	hello, _ := json.Marshal(wire.Hello{Type: wire.TypeHello, ProtocolVersion: wire.ProtocolVersion,
		AgentVersion: "bench", Entity: s.Entity, Hostname: host})
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, hello); err != nil {
		conn.Close()
		return nil, fmt.Errorf("agent %s: hello: %w", s.Entity, err)
	}
	return conn, nil
}

// DialAgent connects agent i with its token and sends its hello.
func DialAgent(ctx context.Context, hubURL string, i int, token string, win *window) (*SimAgent, error) {
	a := &SimAgent{Index: i, win: win}
	for wi := 0; wi < 2; wi++ {
		for fp := 0; fp < 2; fp++ {
			t, err := newTemplate(SimReport(i, wi == 1, fp == 1))
			if err != nil {
				return nil, err
			}
			a.tmpl[wi][fp] = t
		}
	}
	conn, err := DialAgentConn(ctx, AgentSpec{HubURL: hubURL, Entity: EntityID(i), Token: token, Hostname: fmt.Sprintf("imaging-%05d", i+1)})
	if err != nil {
		return nil, err
	}
	a.conn = conn
	a.lastFrame.Store(time.Now().UnixNano())
	conn.SetPingHandler(func(data string) error {
		if a.silent.Load() {
			return nil
		}
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
		if err == nil {
			a.lastFrame.Store(time.Now().UnixNano())
		}
		return nil
	})
	return a, nil
}

// Send writes one report now and returns its collected_at.
func (a *SimAgent) Send() (time.Time, error) {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	if a.silent.Load() {
		return time.Time{}, nil
	}
	wi := 0
	if !a.sentImages {
		wi = 1
	}
	fp := 0
	if a.fail.Load() {
		fp = 1
	}
	now := time.Now()
	a.buf = a.tmpl[wi][fp].encode(a.buf[:0], now)
	_ = a.conn.SetWriteDeadline(now.Add(10 * time.Second))
	if err := a.conn.WriteMessage(websocket.TextMessage, a.buf); err != nil {
		a.sendErr.Add(1)
		return now, err
	}
	a.sentImages = true
	a.lastFrame.Store(time.Now().UnixNano())
	a.sent.Add(1)
	if a.win != nil && a.win.contains(now.UnixNano()) {
		a.inWin.Add(1)
	}
	return now, nil
}

// SetProbeFailing makes the next reports carry a failed probe (or not).
func (a *SimAgent) SetProbeFailing(v bool) { a.fail.Store(v) }

// Run reads (answering pings) and reports every interval after a random
// start delay in [0, interval), until ctx ends or the agent is killed.
func (a *SimAgent) Run(ctx context.Context, interval time.Duration) {
	go func() {
		for {
			if _, _, err := a.conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	t := time.NewTimer(rand.N(interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if a.silent.Load() {
			return
		}
		_, err := a.Send()
		if err != nil && a.silent.Load() {
			return
		}
		t.Reset(interval)
	}
}

// KillClosed drops the TCP connection without a close frame; returns the
// kill time.
func (a *SimAgent) KillClosed() time.Time {
	a.silent.Store(true)
	a.wmu.Lock()
	defer a.wmu.Unlock()
	now := time.Now()
	_ = a.conn.NetConn().Close()
	a.closed.Store(true)
	return now
}

// KillSilent stops every frame (reports and pongs) but keeps the socket
// open, like a machine that vanished; returns the time of its last frame.
func (a *SimAgent) KillSilent() time.Time {
	a.silent.Store(true)
	a.wmu.Lock() // wait for a report being written
	defer a.wmu.Unlock()
	return time.Unix(0, a.lastFrame.Load())
}

// Close ends the connection.
func (a *SimAgent) Close() {
	if a.closed.Swap(true) {
		return
	}
	_ = a.conn.Close()
}

// Reconnecting is a simulated agent that keeps a session up as the real
// push loop does: a hello, a report at once and every Interval, pings
// answered (gorilla's default handler), and after a lost or refused
// session a new one after push.Backoff with jitter. The fault tests run
// hundreds of them in one process.
type Reconnecting struct {
	AgentSpec
	Interval               time.Duration
	MinBackoff, MaxBackoff time.Duration
	// Report is the report numbered seq of a session (0 first).
	Report func(seq int) wire.Report
	// OnSession, when set, is called once a session has sent its hello
	// and first report.
	OnSession func(at time.Time)
	// Dials, when set, counts connection attempts.
	Dials *atomic.Int64
}

// Run keeps sessions up until ctx ends.
func (a *Reconnecting) Run(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		started := time.Now()
		a.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 2*a.Interval {
			attempt = 0
		}
		wait := push.Backoff(attempt, a.MinBackoff, a.MaxBackoff, rand.Float64())
		attempt++
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

func (a *Reconnecting) session(ctx context.Context) {
	if a.Dials != nil {
		a.Dials.Add(1)
	}
	conn, err := DialAgentConn(ctx, a.AgentSpec)
	if err != nil {
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	write := func(r wire.Report) error {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_ = conn.SetWriteDeadline(time.Now().Add(a.Interval + 10*time.Second))
		return conn.WriteMessage(websocket.TextMessage, b)
	}
	seq := 0
	if write(a.Report(seq)) != nil {
		return
	}
	if a.OnSession != nil {
		a.OnSession(time.Now())
	}
	readErr := make(chan struct{})
	go func() {
		defer close(readErr)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	defer func() { conn.Close(); <-readErr }()
	tick := time.NewTicker(a.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-readErr:
			return
		case <-tick.C:
			seq++
			if write(a.Report(seq)) != nil {
				return
			}
		}
	}
}
