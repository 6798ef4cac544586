package main_test

// Integration tests: the real imaging-hub and imaging-agent binaries on
// loopback. Every process started here is killed in t.Cleanup, pass or fail.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imagingstatus/agent/repo/repotest"
	"imagingstatus/server/config"
	"imagingstatus/server/store"
	"imagingstatus/wire"
)

var binDir string

func TestMain(m *testing.M) {
	binDir = os.Getenv("IMAGING_BIN")
	if binDir == "" {
		dir, err := os.MkdirTemp("", "imaging-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, c := range []string{"imaging-hub", "imaging-agent"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(dir, c), "imagingstatus/cmd/"+c).CombinedOutput()
			if err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", c, err, out)
				os.Exit(1)
			}
		}
		binDir = dir
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// proc is a started binary whose output is kept for failure messages.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(filepath.Join(binDir, name), args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "IMAGING_AGENT_TOKEN=")
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() { _ = p.cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

type env struct {
	dir, hubURL string
	hub         *proc
	tokens      map[string]string
	repo        string
}

const interval = 200 * time.Millisecond
const deadline = 3 * interval

func setup(t *testing.T) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), tokens: map[string]string{}}
	srv := func(entity string) string {
		tok, hash, err := config.GenerateToken()
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[entity] = tok
		if err := os.WriteFile(filepath.Join(e.dir, entity+".token"), []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return `,"server":{"name":"imaging-` + strings.ToLower(entity) + `","token_sha256":"` + hash + `"}`
	}
	cfg := `{"listen":"127.0.0.1:0","plain_http":true,"interval":"` + interval.String() + `","missed_pings":3,"entities":[
		{"id":"UUID0","name":"General"` + srv("UUID0") + `},
		{"id":"UUID1","name":"Public","parent":"UUID0"},
		{"id":"UUID2","name":"Private","parent":"UUID0"` + srv("UUID2") + `},
		{"id":"UUID3","name":"Branch","parent":"UUID0"` + srv("UUID3") + `},
		{"id":"UUID9","name":"Partners"}]}`
	cfgPath := filepath.Join(e.dir, "hub.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e.repo = filepath.Join(e.dir, "imaging")
	if _, err := repotest.Generate(e.repo, repotest.Options{Complete: 3, Legacy: 1, Invalid: 1, Clients: 3, ClientsWithImages: 2, WithUUIDCache: true}); err != nil {
		t.Fatal(err)
	}
	e.hub = startProc(t, "imaging-hub", "serve", "--config", cfgPath)
	addr := regexp.MustCompile(`msg="hub listening" addr=(\S+)`)
	waitUntil(t, 10*time.Second, "the hub to listen", func() bool { return addr.MatchString(e.hub.output()) })
	e.hubURL = "http://" + addr.FindStringSubmatch(e.hub.output())[1]
	return e
}

func (e *env) agent(t *testing.T, entity string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"run", "--hub", e.hubURL, "--entity", entity, "--token-file", filepath.Join(e.dir, entity+".token"),
		"--repo", e.repo, "--interval", interval.String()}, extra...)
	return startProc(t, "imaging-agent", args...)
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func (e *env) entity(t *testing.T, id string) wire.Entity {
	t.Helper()
	resp, err := http.Get(e.hubURL + "/api/v1/entities/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v wire.Entity
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *env) waitStatus(t *testing.T, id string, st wire.Status, reason string) (wire.Entity, time.Duration) {
	t.Helper()
	var v wire.Entity
	d := waitUntil(t, 15*time.Second, fmt.Sprintf("%s to be %s (%s)", id, st, reason), func() bool {
		v = e.entity(t, id)
		return v.Status == st && strings.Contains(v.Reason, reason)
	})
	return v, d
}

func TestEveryStatusWithRealProcesses(t *testing.T) {
	e := setup(t)
	e.waitStatus(t, "UUID9", wire.StatusNotLinked, "")
	e.waitStatus(t, "UUID3", wire.StatusOffline, "no agent has connected")
	// The hub says how many connections it can hold (soft limit raised to the hard one).
	if !regexp.MustCompile(`msg="open-file limit" soft=\d+ hard=\d+`).MatchString(e.hub.output()) {
		t.Errorf("the hub did not log its open-file limits:\n%s", e.hub.output())
	}

	general := e.agent(t, "UUID0")
	v, _ := e.waitStatus(t, "UUID0", wire.StatusAvailable, "")
	if v.Repository == nil || v.Repository.ImagesTotal != 5 || v.Repository.ImagesComplete != 4 || v.Repository.Clients != 3 || v.Repository.ClientsWithImages != 2 {
		t.Fatalf("repository figures: %+v", v.Repository)
	}
	if len(v.Repository.Images) != 5 {
		t.Fatalf("REST entity should list the 5 images, got %d", len(v.Repository.Images))
	}
	if len(v.Partitions) == 0 || !v.Partitions[0].Main || v.Memory == nil || v.Load == nil || v.UptimeSeconds == 0 {
		t.Fatalf("server figures missing: %+v", v)
	}
	// Inheritance: Public shows General's server.
	pub, _ := e.waitStatus(t, "UUID1", wire.StatusAvailable, "")
	if pub.ServedBy != "imaging-uuid0" || pub.ServedByEntity != "UUID0" || !pub.Inherited {
		t.Fatalf("inheritance: served_by %q by %q inherited %v", pub.ServedBy, pub.ServedByEntity, pub.Inherited)
	}

	// A failing probe: Connection error with its reason.
	e.agent(t, "UUID2", "--probe", "imaging-api=tcp://127.0.0.1:1")
	e.waitStatus(t, "UUID2", wire.StatusConnectionError, "probe imaging-api (tcp://127.0.0.1:1) failed")

	// SIGKILL: Offline within deadline + 1 s.
	killedAt := time.Now()
	general.kill(syscall.SIGKILL)
	e.waitStatus(t, "UUID0", wire.StatusOffline, "")
	if d := time.Since(killedAt); d > deadline+time.Second {
		t.Fatalf("offline %v after SIGKILL, want within %v", d, deadline+time.Second)
	}
	if e.entity(t, "UUID1").Status != wire.StatusOffline {
		t.Fatal("the inheriting entity did not follow")
	}

	// Recovery, then a clean stop: Offline at once with the reason.
	general = e.agent(t, "UUID0")
	e.waitStatus(t, "UUID0", wire.StatusAvailable, "")
	stoppedAt := time.Now()
	general.kill(syscall.SIGTERM)
	e.waitStatus(t, "UUID0", wire.StatusOffline, "closed its connection")
	if d := time.Since(stoppedAt); d > deadline {
		t.Fatalf("clean stop took %v to show, want less than the deadline %v", d, deadline)
	}

	// The hub stops cleanly on SIGTERM.
	e.hub.kill(syscall.SIGTERM)
	if code := e.hub.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("hub exit code %d after SIGTERM", code)
	}
}

func TestWrongTokenDoesNotDisturbALiveEntity(t *testing.T) {
	e := setup(t)
	e.agent(t, "UUID0")
	e.waitStatus(t, "UUID0", wire.StatusAvailable, "")

	bad := filepath.Join(e.dir, "bad.token")
	if err := os.WriteFile(bad, []byte("not-the-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, entity := range []string{"UUID0", "UUID3"} {
		p := startProc(t, "imaging-agent", "run", "--hub", e.hubURL, "--entity", entity, "--token-file", bad, "--repo", e.repo, "--interval", interval.String())
		waitUntil(t, 10*time.Second, "the refusal in the agent's log", func() bool { return strings.Contains(p.output(), "token rejected") })
		if strings.Contains(p.output(), "not-the-token") {
			t.Fatal("the agent logged its token")
		}
	}
	e.waitStatus(t, "UUID3", wire.StatusConnectionError, "agent token rejected")
	// Over several deadlines the live entity never moves.
	for end := time.Now().Add(3 * deadline); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if v := e.entity(t, "UUID0"); v.Status != wire.StatusAvailable {
			t.Fatalf("live entity disturbed by a wrong token: %s (%s)", v.Status, v.Reason)
		}
	}
	if strings.Contains(e.hub.output(), "not-the-token") {
		t.Fatal("the hub logged a token")
	}
}

func TestReadyCommandAndReport(t *testing.T) {
	e := setup(t)
	e.agent(t, "UUID0")
	e.waitStatus(t, "UUID0", wire.StatusAvailable, "")
	cases := []struct {
		entity string
		code   int
		out    string
	}{
		{"UUID1", 0, "UUID1: ready"},
		{"UUID3", 1, "not ready: offline"},
		{"UUID9", 1, "not ready: not_linked"},
		{"UUID77", 2, "does not know entity UUID77"},
	}
	for _, c := range cases {
		cmd := exec.Command(filepath.Join(binDir, "imaging-hub"), "ready", "--hub", e.hubURL, "--entity", c.entity)
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != c.code || !strings.Contains(string(out), c.out) {
			t.Errorf("ready %s: exit %d %q, want %d %q", c.entity, cmd.ProcessState.ExitCode(), out, c.code, c.out)
		}
	}

	// `imaging-agent report` prints what the push loop sends.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "imaging-agent"), "report", "--repo", e.repo, "--probe", "tcp://"+strings.TrimPrefix(e.hubURL, "http://")).Output()
	if err != nil {
		t.Fatal(err)
	}
	r, err := wire.DecodeReport(out)
	if err != nil {
		t.Fatalf("report output is not a valid report: %v\n%s", err, out)
	}
	if r.Repository == nil || r.Repository.ImagesTotal != 5 || len(r.Probes) != 2 || !r.Probes[1].OK {
		t.Fatalf("report: %+v", r)
	}
	missing, err := exec.CommandContext(ctx, filepath.Join(binDir, "imaging-agent"), "report", "--repo", filepath.Join(e.dir, "nope")).Output()
	if err != nil {
		t.Fatalf("a missing repository must not crash the report: %v", err)
	}
	if r, _ := wire.DecodeReport(missing); r.Probes[0].OK || !strings.Contains(r.Probes[0].Error, "nope") {
		t.Fatalf("missing repository probe: %+v", r.Probes)
	}
}

func TestHubRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(p, []byte(`{"plain_http":true,"entities":[{"id":"a","name":"A","parent":"ghost"}]}`), 0o600)
	out, err := exec.Command(filepath.Join(binDir, "imaging-hub"), "serve", "--config", p).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "parent ghost is not listed") {
		t.Fatalf("bad config: %v %s", err, out)
	}
	out, _ = exec.Command(filepath.Join(binDir, "imaging-hub"), "token").Output()
	m := regexp.MustCompile(`token:\s+([0-9a-f]{64})\ntoken_sha256: ([0-9a-f]{64})`).FindStringSubmatch(string(out))
	if m == nil || config.HashToken(m[1]) != m[2] {
		t.Fatalf("token output: %s", out)
	}
	// Make sure nothing listens forever on a port: free-port sanity.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
}

// TestHubRefusesDamagedStateFile: a truncated or empty state file stops the
// hub with a clear message, never a crash.
func TestHubRefusesDamagedStateFile(t *testing.T) {
	dir := t.TempDir()
	statePath := filepath.Join(dir, "state")
	st, err := store.Open(statePath)
	if err != nil {
		t.Fatal(err)
	}
	var views []wire.Entity
	for i := 0; i < 400; i++ {
		views = append(views, wire.Entity{ID: fmt.Sprintf("E%d", i), Name: strings.Repeat("n", 200), Status: wire.StatusOffline})
	}
	if err := st.SaveViews(views); err != nil {
		t.Fatal(err)
	}
	st.Close()
	good, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hub.json")
	_ = os.WriteFile(cfg, []byte(`{"listen":"127.0.0.1:0","plain_http":true,"state_file":"`+statePath+`","entities":[{"id":"a","name":"A"}]}`), 0o600)
	for _, size := range []int{0, 16 << 10, 32 << 10, len(good) / 2} {
		if size >= len(good) {
			t.Fatalf("state file of %d bytes is too small for the %d-byte cut", len(good), size)
		}
		if err := os.WriteFile(statePath, good[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(binDir, "imaging-hub"), "serve", "--config", cfg)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("%d-byte state file: %v, want exit status 1\n%s", size, err, out)
		}
		if !strings.Contains(string(out), "move it aside") || strings.Contains(string(out), "SIGSEGV") || strings.Contains(string(out), "SIGBUS") {
			t.Fatalf("%d-byte state file: %s", size, out)
		}
		if size == 0 && !strings.Contains(string(out), "empty") {
			t.Fatalf("a zero-length state file is not reported as such: %s", out)
		}
	}
}
