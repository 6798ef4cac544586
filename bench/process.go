package bench

import (
	"bufio"
	"context"
	"encoding/json"
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

// Process is a started binary (a hub, an agent) whose standard output and
// error go, interleaved, to a log file.
type Process struct {
	Cmd     *exec.Cmd
	LogPath string
	done    chan struct{} // closed once the process exited and its output is in the log
	waitErr error
}

// StartProcess starts bin with args, env added to this process's
// environment, and its output appended to logPath. On Linux the process
// gets SIGKILL if this one dies, so an interrupted run leaves nothing
// behind.
func StartProcess(bin string, args, env []string, logPath string) (*Process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	p := &Process{Cmd: exec.Command(bin, args...), LogPath: logPath, done: make(chan struct{})}
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout, p.Cmd.Stderr = pw, pw
	p.Cmd.SysProcAttr = childAttr()
	if err := p.Cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	pw.Close()
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		defer logf.Close()
		defer pr.Close()
		// Line by line, so a reader of the log never sees half a line
		// that the process wrote whole.
		br := bufio.NewReaderSize(pr, 64<<10)
		for {
			line, err := br.ReadString('\n')
			_, _ = io.WriteString(logf, line)
			if err != nil {
				return
			}
		}
	}()
	go func() {
		p.waitErr = p.Cmd.Wait()
		<-copied
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Output is the log so far.
func (p *Process) Output() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return string(b)
}

// Tail is the end of the log (at most n bytes), for error messages.
func (p *Process) Tail(n int) string { return tail(p.LogPath, n) }

// Done is closed once the process has exited and all its output is in
// the log.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit status once the process has ended (-1 when a
// signal ended it, or while it runs).
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Signal sends sig unless the process has ended.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	return p.Cmd.Process.Signal(sig)
}

// StopWith sends sig and waits up to grace for the process to end, then
// kills it; it returns once the process has ended.
func (p *Process) StopWith(sig syscall.Signal, grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// Stop sends SIGTERM, waits up to grace, then kills.
func (p *Process) Stop(grace time.Duration) { p.StopWith(syscall.SIGTERM, grace) }

// WaitLog waits until the log holds a match of re (the ceiling is within)
// and returns the submatches of the first one. It fails early when the
// process ends without writing it.
func (p *Process) WaitLog(ctx context.Context, re *regexp.Regexp, within time.Duration) ([]string, error) {
	var m []string
	exited := false
	_, err := Poll(ctx, within, func() bool {
		exited = p.Exited() // read before the log: an exit's last lines are in it
		m = re.FindStringSubmatch(p.Output())
		return m != nil || exited
	})
	switch {
	case m != nil:
		return m, nil
	case exited:
		return nil, fmt.Errorf("%s exited (%v) before logging %q; log: %s", p.Cmd.Path, p.waitErr, re, p.Tail(2000))
	default:
		return nil, fmt.Errorf("%s logged no %q: %w; log: %s", p.Cmd.Path, re, err, p.Tail(2000))
	}
}

// HubProc is a running imaging-hub process.
type HubProc struct {
	*Process
	Addr string // host:port it listens on
	URL  string // http://Addr or https://Addr
}

// ListeningRE matches the hub's "hub listening" log line: the address and
// the scheme.
var ListeningRE = regexp.MustCompile(`msg="hub listening" addr=(\S+)(?: scheme=(\w+))?`)

// StartHubProcess starts `bin serve` with args (--config …, --listen …),
// its log at logPath, and returns once the hub listens (within is the
// ceiling).
func StartHubProcess(ctx context.Context, bin, logPath string, env []string, within time.Duration, args ...string) (*HubProc, error) {
	p, err := StartProcess(bin, append([]string{"serve"}, args...), env, logPath)
	if err != nil {
		return nil, err
	}
	m, err := p.WaitLog(ctx, ListeningRE, within)
	if err != nil {
		p.Stop(5 * time.Second)
		return nil, err
	}
	scheme := m[2]
	if scheme == "" {
		scheme = "http"
	}
	return &HubProc{Process: p, Addr: m[1], URL: scheme + "://" + m[1]}, nil
}

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
	h, err := StartHubProcess(ctx, bin, filepath.Join(dir, "hub.log"), nil, time.Minute, "--config", cfgPath)
	if err != nil {
		return nil, fmt.Errorf("imaging-hub: %w", err)
	}
	return h, nil
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
