// Package push keeps an agent connected to its hub: hello, a report every
// interval and at once after each (re)connection, pings answered, and
// reconnection with capped exponential backoff and jitter.
package push

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"imagingstatus/wire"
)

// Config of the push loop.
type Config struct {
	// Hub is the hub's base URL (https://hub:8443 or http://127.0.0.1:8080);
	// ws:// and wss:// are accepted too.
	Hub          string
	Token        string
	Entity       string
	Hostname     string
	AgentVersion string
	Interval     time.Duration
	TLS          *tls.Config
	Logger       *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between connection attempts.
	MinBackoff, MaxBackoff time.Duration
}

// Collect makes one report; it is called from the push loop's goroutine
// only, and what it returns is used before the next call.
type Collect func(ctx context.Context) Collected

// EndpointURL turns the hub base URL into the agent WebSocket URL.
func EndpointURL(hub string) (string, error) {
	u, err := url.Parse(hub)
	if err != nil {
		return "", fmt.Errorf("hub URL %q: %w", hub, err)
	}
	switch u.Scheme {
	case "https", "wss":
		u.Scheme = "wss"
	case "http", "ws":
		u.Scheme = "ws"
	default:
		return "", fmt.Errorf("hub URL %q: scheme must be https:// (or http:// for a local test hub)", hub)
	}
	if u.Host == "" {
		return "", fmt.Errorf("hub URL %q has no host", hub)
	}
	if !strings.HasSuffix(u.Path, wire.AgentPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + wire.AgentPath
	}
	return u.String(), nil
}

// TokenEnv names the environment variable that may hold the agent token.
const TokenEnv = "IMAGING_AGENT_TOKEN"

// ReadToken returns the agent token: from file when one is given, else from
// $IMAGING_AGENT_TOKEN. Like ssh with a private key, it refuses a file that
// group or others may read or write: whoever reads the token can speak for
// the entity.
func ReadToken(file string) (string, error) {
	if file == "" {
		if t := strings.TrimSpace(os.Getenv(TokenEnv)); t != "" {
			return t, nil
		}
		return "", errors.New("no agent token: give --token-file FILE or set " + TokenEnv)
	}
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("read agent token: %w", err)
	}
	defer f.Close()
	// The mode of the file opened, not of the path (no race with a chmod or
	// a rename); a symbolic link is judged by its target.
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read agent token: %w", err)
	}
	// Windows has ACLs, not these bits: Go reports 0666 for every writable file.
	if perm := fi.Mode().Perm(); perm&0o066 != 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("agent token file %s has mode %04o: it is readable or writable by group or others, so anyone on this machine could take the token; make it private with: chmod 600 %s", file, perm, file)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "", fmt.Errorf("read agent token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("agent token file %s is empty", file)
	}
	return t, nil
}

// cleartext says whether the agent endpoint is plain ws:// to a host that is
// not this machine: the token in the upgrade request then crosses the
// network unencrypted.
func cleartext(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "ws" {
		return false
	}
	return !loopback(u.Hostname())
}

// loopback says whether host names this machine: localhost, 127.0.0.0/8 or
// ::1 (also as ::ffff:127.x.y.z).
func loopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// Run connects and pushes until ctx ends; then it says goodbye with a close
// frame so the hub marks the server Offline at once.
func Run(ctx context.Context, cfg Config, collect Collect) error {
	endpoint, err := EndpointURL(cfg.Hub)
	if err != nil {
		return err
	}
	if cfg.Token == "" {
		return errors.New("no agent token: give --token-file or IMAGING_AGENT_TOKEN")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("hub", endpoint, "entity", cfg.Entity)
	if cleartext(endpoint) {
		log.Warn("the hub URL is not https: the agent token travels in clear text to another machine; use https:// (or wss://)")
	}
	attempt := 0
	for {
		started := time.Now()
		err := session(ctx, cfg, endpoint, collect, log)
		if ctx.Err() != nil {
			return nil
		}
		// A session that lived a while was healthy: start the backoff over.
		if time.Since(started) > 2*cfg.Interval {
			attempt = 0
		}
		wait := Backoff(attempt, cfg.MinBackoff, cfg.MaxBackoff, rand.Float64())
		attempt++
		log.Warn("disconnected from hub; will retry", "err", err, "retry_in", wait.Round(time.Millisecond), "attempt", attempt)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Backoff is the wait before attempt n (0-based): exponential from min,
// capped at max, with "equal jitter" (half fixed, half random) so a fleet
// that lost its hub at once does not come back at once. r is in [0,1).
func Backoff(n int, min, max time.Duration, r float64) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + time.Duration(r*float64(d/2))
}

// HubSilence is how long the agent waits without a ping or a message from
// the hub before it gives the connection up: six intervals (the hub pings
// every interval, if the agent's interval matches the hub's), at least 3 s.
func HubSilence(interval time.Duration) time.Duration {
	return max(6*interval, 3*time.Second)
}

// session runs one connection to its end.
func session(ctx context.Context, cfg Config, endpoint string, collect Collect, log *slog.Logger) error {
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second, TLSClientConfig: cfg.TLS, Proxy: http.ProxyFromEnvironment}
	// The entity goes in the upgrade request too, so the hub checks the
	// token before it accepts a WebSocket; the hello still names it.
	hdr := http.Header{"Authorization": {"Bearer " + cfg.Token}, wire.EntityHeader: {cfg.Entity}}
	conn, resp, err := dialer.DialContext(ctx, endpoint, hdr)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("hub refused the connection: %s%s", resp.Status, refusal(resp))
		}
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()

	hello := wire.Hello{Type: wire.TypeHello, ProtocolVersion: wire.ProtocolVersion, AgentVersion: cfg.AgentVersion, Entity: cfg.Entity, Hostname: cfg.Hostname}
	if err := writeJSON(conn, hello, cfg.Interval); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}

	// The reader answers pings and surfaces the hub's close frame with its
	// reason. The hub pings every interval: when nothing comes for several,
	// the path is dead (a NAT or firewall dropped it without a FIN) and the
	// agent reconnects instead of writing into the void for minutes.
	silence := HubSilence(cfg.Interval)
	_ = conn.SetReadDeadline(time.Now().Add(silence))
	conn.SetPingHandler(func(data string) error {
		_ = conn.SetReadDeadline(time.Now().Add(silence))
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(cfg.Interval))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				readErr <- err
				return
			}
		}
	}()

	var sentGen uint64
	var enc Encoder
	nextFrame := func() (io.WriteCloser, error) { return conn.NextWriter(websocket.TextMessage) }
	send := func() error {
		c := collect(ctx)
		c.Report = Fit(c.Report)
		// The image list goes only when it changed on this connection.
		omit := false
		if repo := c.Repository; repo != nil {
			omit = repo.Generation == sentGen && sentGen != 0
			sentGen = repo.Generation
		}
		_ = conn.SetWriteDeadline(time.Now().Add(cfg.Interval))
		// Streamed into the frames, the image list in pages: no buffer and
		// no frame holds the whole report.
		return enc.EncodePaged(nextFrame, c, omit)
	}
	// A refused hello shows up as a failed write: the hub's close frame,
	// read by the reader, says why, and that is what the log must tell.
	failed := func(err error) error {
		select {
		case rerr := <-readErr:
			var ce *websocket.CloseError
			if errors.As(rerr, &ce) {
				return fmt.Errorf("hub closed the connection: %s (code %d)", ce.Text, ce.Code)
			}
		case <-time.After(time.Second):
		}
		return fmt.Errorf("send report: %w", err)
	}
	if err := send(); err != nil {
		return failed(err)
	}
	log.Info("connected to hub")
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "agent shutting down"), time.Now().Add(time.Second))
			// Wait briefly for the hub's close reply so the close is clean.
			select {
			case <-readErr:
			case <-time.After(2 * time.Second):
			}
			return nil
		case err := <-readErr:
			var ce *websocket.CloseError
			var ne interface{ Timeout() bool }
			if errors.As(err, &ce) {
				return fmt.Errorf("hub closed the connection: %s (code %d)", ce.Text, ce.Code)
			}
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("no ping from the hub for %v: connection presumed dead", silence)
			}
			return fmt.Errorf("read: %w", err)
		case <-t.C:
			if err := send(); err != nil {
				return failed(err)
			}
		}
	}
}

// refusal returns ": " and the first line of the hub's refusal body (it
// names the reason: "agent token rejected for the entity named in …"),
// shortened and stripped of control characters; "" when there is none.
// The dialer has already buffered at most 1 KiB of it.
func refusal(resp *http.Response) string {
	if resp.Body == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	line, _, _ := strings.Cut(strings.ToValidUTF8(string(b), "?"), "\n")
	line = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, line))
	if line == "" {
		return ""
	}
	if len(line) > 200 {
		n := 200
		for !utf8.RuneStart(line[n]) {
			n--
		}
		line = line[:n] + "…"
	}
	return ": " + line
}

// Fit makes a collected report acceptable to the hub where the machine, not
// the agent, produced an implausible figure, so that one odd file does not
// get every report refused: a boot time or an image date outside the range
// wire accepts (a clock that was unset, a file restored with a 1970 mtime)
// becomes unknown (zero), and a partition larger than wire.MaxBytes (a FUSE
// file system announcing a made-up size) is left out with an error line.
// What it changes it copies: the collector keeps its cached image list.
// collected_at is left alone: out of range, it means this machine's clock is
// wrong, and the hub's refusal says so.
func Fit(r wire.Report) wire.Report {
	if !wire.PlausibleTime(r.BootTime) {
		r.BootTime = time.Time{}
	}
	for i, p := range r.Partitions {
		if p.Total <= wire.MaxBytes {
			continue
		}
		kept := make([]wire.Partition, 0, len(r.Partitions)-1)
		kept = append(kept, r.Partitions[:i]...)
		for _, q := range r.Partitions[i:] {
			if q.Total <= wire.MaxBytes {
				kept = append(kept, q)
			} else if len(r.Errors) < wire.MaxErrors {
				// A full slice: the append copies, the caller's is untouched.
				r.Errors = append(r.Errors[:len(r.Errors):len(r.Errors)],
					fmt.Sprintf("partition %.200q reports %d bytes, more than any real file system: left out", q.Mountpoint, q.Total))
			}
		}
		r.Partitions = kept
		break
	}
	if repo := r.Repository; repo != nil {
		for i, im := range repo.Images {
			if wire.PlausibleTime(im.Created) {
				continue
			}
			cp := *repo
			cp.Images = append([]wire.Image(nil), repo.Images...)
			for j := i; j < len(cp.Images); j++ {
				if !wire.PlausibleTime(cp.Images[j].Created) {
					cp.Images[j].Created = time.Time{}
				}
			}
			r.Repository = &cp
			break
		}
	}
	return r
}

func writeJSON(conn *websocket.Conn, v any, timeout time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	return conn.WriteMessage(websocket.TextMessage, b)
}
