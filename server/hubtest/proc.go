package hubtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"imagingstatus/bench"
)

// Proc is a binary started for one test (bench.Process: its output is in
// a log file under the test's temporary directory).
type Proc struct {
	*bench.Process
	Name string
}

var procSeq atomic.Int64

// Start starts one of the binaries (see Bin) with args. The agent token
// variable is cleared, so only --token-file speaks. The process is killed
// when the test ends; its log is printed if the test failed.
func Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+"-"+strconv.FormatInt(procSeq.Add(1), 10)+".log")
	p, err := bench.StartProcess(Bin(name), args, []string{"IMAGING_AGENT_TOKEN="}, logPath)
	if err != nil {
		t.Fatal(err)
	}
	pr := &Proc{Process: p, Name: name}
	t.Cleanup(func() {
		p.StopWith(syscall.SIGKILL, Long)
		if t.Failed() {
			t.Logf("%s %s output:\n%s", name, strings.Join(args, " "), p.Output())
		}
	})
	return pr
}

// Kill sends sig and returns once the process has ended (SIGKILL after 30
// s if sig did not end it).
func (p *Proc) Kill(sig syscall.Signal) { p.StopWith(sig, 30*time.Second) }

// WaitLog waits until the log matches re and returns the submatches.
func (p *Proc) WaitLog(t testing.TB, re *regexp.Regexp) []string {
	t.Helper()
	m, err := p.Process.WaitLog(context.Background(), re, Long)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// WaitOutput waits until the log holds s.
func (p *Proc) WaitOutput(t testing.TB, s string) {
	t.Helper()
	p.WaitLog(t, regexp.MustCompile(regexp.QuoteMeta(s)))
}

// Hub is a running imaging-hub process.
type Hub struct {
	*Proc
	Addr string // host:port it listens on
	URL  string // http://Addr or https://Addr
	args []string
}

// StartHub starts `imaging-hub serve args…` and returns once it listens.
func StartHub(t testing.TB, args ...string) *Hub {
	t.Helper()
	p := Start(t, "imaging-hub", append([]string{"serve"}, args...)...)
	m := p.WaitLog(t, bench.ListeningRE)
	scheme := m[2]
	if scheme == "" {
		scheme = "http"
	}
	return &Hub{Proc: p, Addr: m[1], URL: scheme + "://" + m[1], args: args}
}

// Restart starts a new hub with the same arguments on the same address
// (this one should have ended) and returns it once it listens.
func (h *Hub) Restart(t testing.TB) *Hub {
	t.Helper()
	return StartHub(t, append(h.args, "--listen", h.Addr)...)
}

// AgentURL is the agent stream of the hub.
func (h *Hub) AgentURL() string { return bench.AgentURL(h.URL) }

// ViewerURL is the viewer stream of the hub.
func (h *Hub) ViewerURL() string { return "ws" + strings.TrimPrefix(h.URL, "http") + "/api/v1/ws" }

// Result is how a command ended.
type Result struct {
	Stdout, Stderr string
	Code           int // exit status
}

// Output is stdout and stderr together.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// Run runs one of the binaries (see Bin) to its end, with env added to
// this process's environment, and returns what it printed and its exit
// status; it fails the test when the command cannot run or outlives Long.
func Run(t testing.TB, env []string, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Long)
	defer cancel()
	cmd := exec.CommandContext(ctx, Bin(name), args...)
	cmd.Env = append(os.Environ(), "IMAGING_AGENT_TOKEN=")
	cmd.Env = append(cmd.Env, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v: still running after %v", name, args, Long)
	}
	return Result{Stdout: o.String(), Stderr: e.String(), Code: cmd.ProcessState.ExitCode()}
}
