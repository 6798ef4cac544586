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
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/wire"
)

// AgentPath is the hub's agent endpoint.
const AgentPath = "/api/v1/agent"

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

// Collect makes one report; it is called from the push loop's goroutine only.
type Collect func(ctx context.Context) wire.Report

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
	if !strings.HasSuffix(u.Path, AgentPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + AgentPath
	}
	return u.String(), nil
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
	hdr := http.Header{"Authorization": {"Bearer " + cfg.Token}}
	conn, resp, err := dialer.DialContext(ctx, endpoint, hdr)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("hub refused the connection: %s", resp.Status)
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
	send := func() error {
		r := collect(ctx)
		if repo := r.Repository; repo != nil {
			// The image list goes only when it changed on this connection.
			if repo.Generation == sentGen && sentGen != 0 {
				cp := *repo
				cp.Images, cp.ImagesOmitted = nil, true
				r.Repository = &cp
			} else {
				sentGen = repo.Generation
			}
		}
		return writeJSON(conn, r, cfg.Interval)
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

func writeJSON(conn *websocket.Conn, v any, timeout time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	return conn.WriteMessage(websocket.TextMessage, b)
}
