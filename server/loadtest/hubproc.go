package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"imagingstatus/server/config"
)

// Fleet is a hub configuration for benchmarks: a root entity UUID0 with no
// server and N linked entities UUID1…UUIDN under it, each with its own token.
type Fleet struct {
	Interval    time.Duration
	MissedPings int
	Tokens      []string // Tokens[i] is the token of entity UUID<i+1>
}

// EntityID names the entity of agent i (0-based).
func EntityID(i int) string { return "UUID" + strconv.Itoa(i+1) }

// NewFleet makes n tokens and returns the fleet.
func NewFleet(n int, interval time.Duration, missed int) (*Fleet, error) {
	f := &Fleet{Interval: interval, MissedPings: missed, Tokens: make([]string, n)}
	for i := range f.Tokens {
		tok, _, err := config.GenerateToken()
		if err != nil {
			return nil, err
		}
		f.Tokens[i] = tok
	}
	return f, nil
}

// Deadline is the hub's offline deadline for this fleet.
func (f *Fleet) Deadline() time.Duration { return time.Duration(f.MissedPings) * f.Interval }

// ConfigJSON is the hub configuration file of the fleet.
func (f *Fleet) ConfigJSON() ([]byte, error) {
	file := config.File{
		Listen:    "127.0.0.1:0",
		PlainHTTP: true, // loopback benchmark
		// Every simulated agent and viewer comes from one address.
		Limits:      &config.Limits{ConnectionsPerAddress: 1 << 20},
		Interval:    config.Duration(f.Interval),
		MissedPings: f.MissedPings,
		Entities:    make([]config.Entity, 0, len(f.Tokens)+1),
	}
	file.Entities = append(file.Entities, config.Entity{ID: "UUID0", Name: "Bench"})
	for i, tok := range f.Tokens {
		file.Entities = append(file.Entities, config.Entity{
			ID: EntityID(i), Name: fmt.Sprintf("Site %05d", i+1), Parent: "UUID0",
			Server: &config.Server{Name: fmt.Sprintf("imaging-%05d", i+1), TokenSHA256: config.HashToken(tok)},
		})
	}
	b, err := json.Marshal(file)
	if err != nil {
		return nil, err
	}
	if _, err := config.Parse(b); err != nil { // fail here rather than in the hub
		return nil, err
	}
	return b, nil
}

// HubProc is a running imaging-hub process.
type HubProc struct {
	Cmd     *exec.Cmd
	URL     string // http://127.0.0.1:port
	LogPath string
	done    chan struct{}
	waitErr error
}

var listeningRE = regexp.MustCompile(`msg="hub listening" addr=(\S+)`)

// StartHub writes the fleet's configuration into dir and starts bin serve
// with its log in dir/hub.log; it returns once the hub listens.
func StartHub(ctx context.Context, bin, dir string, f *Fleet) (*HubProc, error) {
	cfg, err := f.ConfigJSON()
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "hub.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "hub.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	h := &HubProc{LogPath: logPath, done: make(chan struct{})}
	h.Cmd = exec.Command(bin, "serve", "--config", cfgPath)
	h.Cmd.Stdout, h.Cmd.Stderr = pw, pw
	if err := h.Cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	pw.Close()
	addr := make(chan string, 1)
	go func() {
		defer logf.Close()
		defer pr.Close()
		br := bufio.NewReaderSize(pr, 64<<10)
		sent := false
		for {
			line, err := br.ReadString('\n')
			if !sent {
				if m := listeningRE.FindStringSubmatch(line); m != nil {
					addr <- m[1]
					sent = true
				}
			}
			_, _ = io.WriteString(logf, line)
			if err != nil {
				return
			}
		}
	}()
	go func() { h.waitErr = h.Cmd.Wait(); close(h.done) }()
	select {
	case a := <-addr:
		h.URL = "http://" + a
		return h, nil
	case <-h.done:
		return nil, fmt.Errorf("imaging-hub exited before listening (%v); log: %s", h.waitErr, tail(logPath, 2000))
	case <-time.After(20 * time.Second):
		h.Stop(time.Second)
		return nil, errors.New("imaging-hub did not listen within 20 s; log: " + tail(logPath, 2000))
	case <-ctx.Done():
		h.Stop(time.Second)
		return nil, ctx.Err()
	}
}

// Pid is the hub's process id.
func (h *HubProc) Pid() int { return h.Cmd.Process.Pid }

// Stop sends SIGTERM, waits up to grace, then kills.
func (h *HubProc) Stop(grace time.Duration) {
	select {
	case <-h.done:
		return
	default:
	}
	_ = h.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(grace):
		_ = h.Cmd.Process.Kill()
		<-h.done
	}
}

// Exited reports whether the process has ended.
func (h *HubProc) Exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// tail returns the end of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
