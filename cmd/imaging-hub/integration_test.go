package main_test

// Integration tests: the real imaging-hub and imaging-agent binaries on
// loopback, through the harness in server/hubtest (every process it starts
// is killed in t.Cleanup, pass or fail).

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"imagingstatus/agent/repo/sample"
	"imagingstatus/server/config"
	"imagingstatus/server/hubtest"
	"imagingstatus/server/store"
	"imagingstatus/wire"
)

func TestMain(m *testing.M) { hubtest.Main(m) }

// interval is the hub's and the agents' interval in these tests; deadline
// is the offline deadline it makes (missed_pings 3).
const interval = 200 * time.Millisecond
const deadline = 3 * interval

// setup is the hub most tests share: General (linked) with Public under
// it inheriting its server, Private and Branch (linked), and Partners (a
// root with no server). Token files are in e.Dir; a sample repository of
// five images for the agents.
func setup(t *testing.T) *hubtest.Env {
	t.Helper()
	e := hubtest.NewEnv(t, "", interval)
	srv := func(entity string) string {
		return `,"server":{"name":"imaging-` + strings.ToLower(entity) + `","token_sha256":"` + e.NewToken(t, entity) + `"}`
	}
	e.WriteConfig(t, `{"listen":"127.0.0.1:0","plain_http":true,"interval":"`+interval.String()+`","missed_pings":3,"entities":[
		{"id":"UUID0","name":"General"`+srv("UUID0")+`},
		{"id":"UUID1","name":"Public","parent":"UUID0"},
		{"id":"UUID2","name":"Private","parent":"UUID0"`+srv("UUID2")+`},
		{"id":"UUID3","name":"Branch","parent":"UUID0"`+srv("UUID3")+`},
		{"id":"UUID9","name":"Partners"}]}`)
	e.GenerateRepo(t, sample.Options{Complete: 3, Legacy: 1, Invalid: 1, Clients: 3, ClientsWithImages: 2, WithUUIDCache: true})
	e.StartHub(t)
	return e
}

// checkWithin fails when a measured time exceeds its bound (stretched on
// a loaded machine, see hubtest.Bound), and logs both.
func checkWithin(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	bound := hubtest.Bound(want)
	t.Logf("measured: %s in %v (want within %v; bound used %v, slack %.1f)", what, got.Round(time.Millisecond), want, bound.Round(time.Millisecond), hubtest.Slack())
	if got > bound {
		t.Errorf("%s took %v, want within %v (%v with the machine's slack)", what, got.Round(time.Millisecond), want, bound.Round(time.Millisecond))
	}
}

func TestEveryStatusWithRealProcesses(t *testing.T) {
	e := setup(t)
	e.WaitStatus(t, "UUID9", wire.StatusNotLinked, "")
	e.WaitStatus(t, "UUID3", wire.StatusOffline, "no agent has connected")
	// The hub says how many connections it can hold (soft limit raised to the hard one).
	if !regexp.MustCompile(`msg="open-file limit" soft=\d+ hard=\d+`).MatchString(e.Hub.Output()) {
		t.Errorf("the hub did not log its open-file limits:\n%s", e.Hub.Output())
	}

	general := e.Agent(t, "UUID0")
	v, _ := e.WaitStatus(t, "UUID0", wire.StatusAvailable, "")
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
	pub, _ := e.WaitStatus(t, "UUID1", wire.StatusAvailable, "")
	if pub.ServedBy != "imaging-uuid0" || pub.ServedByEntity != "UUID0" || !pub.Inherited {
		t.Fatalf("inheritance: served_by %q by %q inherited %v", pub.ServedBy, pub.ServedByEntity, pub.Inherited)
	}

	// A failing probe: Connection error with its reason.
	e.Agent(t, "UUID2", "--probe", "imaging-api=tcp://127.0.0.1:1")
	e.WaitStatus(t, "UUID2", wire.StatusConnectionError, "probe imaging-api (tcp://127.0.0.1:1) failed")

	// SIGKILL: Offline within deadline + 1 s, by the hub's own clock (the
	// time it recorded the change), so this test's polling does not count.
	killedAt := time.Now()
	general.Kill(syscall.SIGKILL)
	v, _ = e.WaitStatus(t, "UUID0", wire.StatusOffline, "")
	checkWithin(t, "Offline after the agent's SIGKILL", v.Since.Sub(killedAt), deadline+time.Second)
	if e.Entity(t, "UUID1").Status != wire.StatusOffline {
		t.Fatal("the inheriting entity did not follow")
	}

	// Recovery, then a clean stop: Offline at once with the reason.
	general = e.Agent(t, "UUID0")
	e.WaitStatus(t, "UUID0", wire.StatusAvailable, "")
	stoppedAt := time.Now()
	general.Kill(syscall.SIGTERM)
	v, _ = e.WaitStatus(t, "UUID0", wire.StatusOffline, "closed its connection")
	checkWithin(t, "Offline after the agent's clean stop", v.Since.Sub(stoppedAt), deadline)

	// The hub stops cleanly on SIGTERM.
	e.Hub.Kill(syscall.SIGTERM)
	if code := e.Hub.ExitCode(); code != 0 {
		t.Fatalf("hub exit code %d after SIGTERM", code)
	}
}

func TestWrongTokenDoesNotDisturbALiveEntity(t *testing.T) {
	e := setup(t)
	e.Agent(t, "UUID0")
	e.WaitStatus(t, "UUID0", wire.StatusAvailable, "")

	bad := e.WriteFile(t, "bad.token", "not-the-token")
	for _, entity := range []string{"UUID0", "UUID3"} {
		p := e.Agent(t, entity, "--token-file", bad)
		p.WaitOutput(t, "token rejected")
		if strings.Contains(p.Output(), "not-the-token") {
			t.Fatal("the agent logged its token")
		}
	}
	e.WaitStatus(t, "UUID3", wire.StatusConnectionError, "agent token rejected")
	// Over several deadlines the live entity never moves.
	hubtest.Holds(t, "UUID0 available while wrong tokens knock", 3*deadline, func() bool {
		if v := e.Entity(t, "UUID0"); v.Status != wire.StatusAvailable {
			t.Fatalf("live entity disturbed by a wrong token: %s (%s)", v.Status, v.Reason)
		}
		return true
	})
	if strings.Contains(e.Hub.Output(), "not-the-token") {
		t.Fatal("the hub logged a token")
	}
}

func TestReadyCommandAndReport(t *testing.T) {
	e := setup(t)
	e.Agent(t, "UUID0")
	e.WaitStatus(t, "UUID0", wire.StatusAvailable, "")
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
		r := hubtest.Run(t, nil, "imaging-hub", "ready", "--hub", e.Hub.URL, "--entity", c.entity)
		if r.Code != c.code || !strings.Contains(r.Output(), c.out) {
			t.Errorf("ready %s: exit %d %q, want %d %q", c.entity, r.Code, r.Output(), c.code, c.out)
		}
	}

	// `imaging-agent report` prints what the push loop sends.
	out := hubtest.Run(t, nil, "imaging-agent", "report", "--repo", e.Repo, "--probe", "tcp://"+e.Hub.Addr)
	if out.Code != 0 {
		t.Fatalf("imaging-agent report: exit %d: %s", out.Code, out.Stderr)
	}
	r, err := wire.DecodeReport([]byte(out.Stdout))
	if err != nil {
		t.Fatalf("report output is not a valid report: %v\n%s", err, out.Stdout)
	}
	if r.Repository == nil || r.Repository.ImagesTotal != 5 || len(r.Probes) != 2 || !r.Probes[1].OK {
		t.Fatalf("report: %+v", r)
	}
	missing := hubtest.Run(t, nil, "imaging-agent", "report", "--repo", filepath.Join(e.Dir, "nope"))
	// The report is still printed, and the failed check sets the exit
	// status: `imaging-agent report` is the installation check.
	if missing.Code != 1 || !strings.Contains(missing.Stderr, "check failed") {
		t.Fatalf("a missing repository: exit %d (want 1, with the report printed): %s", missing.Code, missing.Stderr)
	}
	if r, _ := wire.DecodeReport([]byte(missing.Stdout)); r.Probes[0].OK || !strings.Contains(r.Probes[0].Error, "nope") {
		t.Fatalf("missing repository probe: %+v", r.Probes)
	}
}

func TestHubRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(p, []byte(`{"plain_http":true,"entities":[{"id":"a","name":"A","parent":"ghost"}]}`), 0o600)
	if r := hubtest.Run(t, nil, "imaging-hub", "serve", "--config", p); r.Code == 0 || !strings.Contains(r.Output(), "parent ghost is not listed") {
		t.Fatalf("bad config: exit %d %s", r.Code, r.Output())
	}
	out := hubtest.Run(t, nil, "imaging-hub", "token").Stdout
	m := regexp.MustCompile(`token:\s+([0-9a-f]{64})\ntoken_sha256: ([0-9a-f]{64})`).FindStringSubmatch(out)
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
		r := hubtest.Run(t, nil, "imaging-hub", "serve", "--config", cfg)
		out := r.Output()
		if r.Code != 1 {
			t.Fatalf("%d-byte state file: exit %d, want exit status 1\n%s", size, r.Code, out)
		}
		if !strings.Contains(out, "move it aside") || strings.Contains(out, "SIGSEGV") || strings.Contains(out, "SIGBUS") {
			t.Fatalf("%d-byte state file: %s", size, out)
		}
		if size == 0 && !strings.Contains(out, "empty") {
			t.Fatalf("a zero-length state file is not reported as such: %s", out)
		}
	}
}
