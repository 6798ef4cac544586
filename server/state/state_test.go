package state

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/wire"
)

const hashA = "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3" // sha256("123")

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(`{
		"interval": "5s", "missed_pings": 3,
		"entities": [
			{"id": "UUID0", "name": "General", "server": {"name": "srv-general", "token_sha256": "` + hashA + `"}},
			{"id": "UUID1", "name": "Public", "parent": "UUID0"},
			{"id": "UUID2", "name": "Lab", "parent": "UUID1", "server": {"name": "srv-lab", "token_sha256": "` + hashA + `"}},
			{"id": "UUID9", "name": "Elsewhere"}
		]}`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func goodReport() wire.Report {
	return wire.Report{Type: wire.TypeReport, Figures: wire.Figures{Hostname: "imaging1", UptimeSeconds: 100,
		Probes: []wire.Probe{{Name: "repository", Target: "/var/lib/pulse2/imaging", OK: true}}}}
}

func failingReport() wire.Report {
	r := goodReport()
	r.Probes = append(r.Probes, wire.Probe{Name: "imaging-api", Target: "tcp://127.0.0.1:9990", Error: "connection refused"})
	return r
}

func view(t *testing.T, m *Machine, id string) wire.Entity {
	t.Helper()
	v, ok := m.Entity(id, false)
	if !ok {
		t.Fatalf("entity %s missing", id)
	}
	return v
}

func expect(t *testing.T, m *Machine, id string, st wire.Status, reasonPart string, since time.Time) {
	t.Helper()
	v := view(t, m, id)
	if v.Status != st {
		t.Fatalf("%s: status %s (%s), want %s", id, v.Status, v.Reason, st)
	}
	if !strings.Contains(v.Reason, reasonPart) {
		t.Fatalf("%s: reason %q does not contain %q", id, v.Reason, reasonPart)
	}
	if !since.IsZero() && !v.Since.Equal(since) {
		t.Fatalf("%s: since %v, want %v", id, v.Since, since)
	}
}

func TestInitialStatuses(t *testing.T) {
	m := New(testConfig(t), t0)
	expect(t, m, "UUID0", wire.StatusOffline, "no agent has connected", t0)
	expect(t, m, "UUID1", wire.StatusOffline, "no agent has connected", t0)
	expect(t, m, "UUID9", wire.StatusNotLinked, "no imaging server", t0)
	v := view(t, m, "UUID1")
	if v.ServedBy != "srv-general" || v.ServedByEntity != "UUID0" || !v.Inherited {
		t.Fatalf("inheritance: %+v", v)
	}
	if v := view(t, m, "UUID2"); v.ServedBy != "srv-lab" || v.Inherited {
		t.Fatalf("own server: %+v", v)
	}
	if got := strings.Join(view(t, m, "UUID2").Path, " › "); got != "General › Public › Lab" {
		t.Fatalf("path %q", got)
	}
}

// TestLifecycle walks one server through every status with an injected clock.
func TestLifecycle(t *testing.T) {
	m := New(testConfig(t), t0)
	hello := wire.Hello{Type: wire.TypeHello, ProtocolVersion: 1, Entity: "UUID0", Hostname: "imaging1"}

	steps := []struct {
		name   string
		do     func() []wire.Entity
		status wire.Status
		reason string
		since  time.Time
		nChg   int // entities reported changed
	}{
		{"connect waits for a report", func() []wire.Entity { _, c := m.Connect("UUID0", 1, hello, at(1)); return c },
			wire.StatusOffline, "waiting for its first report", t0, 2},
		{"report makes it available", func() []wire.Entity { return m.Report("UUID0", 1, goodReport(), at(1.1)) },
			wire.StatusAvailable, "", at(1.1), 2},
		{"pong inside the deadline changes nothing", func() []wire.Entity { return m.Frame("UUID0", 1, at(5)) },
			wire.StatusAvailable, "", at(1.1), 0},
		{"failed probe is a connection error", func() []wire.Entity { return m.Report("UUID0", 1, failingReport(), at(6)) },
			wire.StatusConnectionError, "probe imaging-api (tcp://127.0.0.1:9990) failed: connection refused", at(6), 2},
		{"recovery", func() []wire.Entity { return m.Report("UUID0", 1, goodReport(), at(11)) },
			wire.StatusAvailable, "", at(11), 2},
		{"still available just inside the deadline", func() []wire.Entity { return m.Tick(at(26)) },
			wire.StatusAvailable, "", at(11), 0},
		{"missed pings make it offline", func() []wire.Entity { return m.Tick(at(26.2)) },
			wire.StatusOffline, "missed pings", at(26.2), 2},
		{"the lost session keeps the offline status", func() []wire.Entity { return m.Disconnect("UUID0", 1, "connection lost: EOF", at(27)) },
			wire.StatusOffline, "connection lost", at(26.2), 2},
	}
	for _, s := range steps {
		changed := s.do()
		if len(changed) != s.nChg {
			t.Fatalf("%s: %d changes, want %d", s.name, len(changed), s.nChg)
		}
		for _, id := range []string{"UUID0", "UUID1"} {
			expect(t, m, id, s.status, s.reason, s.since)
		}
		if v := view(t, m, "UUID2"); v.Status != wire.StatusOffline || !v.Since.Equal(t0) {
			t.Fatalf("%s: another server's entity moved: %+v", s.name, v)
		}
	}
	if v := view(t, m, "UUID1"); v.LastReportAt == nil || v.Hostname != "imaging1" {
		t.Fatalf("last known figures dropped while offline: %+v", v)
	}
}

func TestCleanCloseIsOfflineAtOnce(t *testing.T) {
	m := New(testConfig(t), t0)
	m.Connect("UUID0", 1, wire.Hello{}, at(1))
	m.Report("UUID0", 1, goodReport(), at(1))
	m.Disconnect("UUID0", 1, "the agent closed its connection (shutdown)", at(2))
	expect(t, m, "UUID0", wire.StatusOffline, "closed its connection", at(2))
}

func TestRefusalNeverOverridesALiveSession(t *testing.T) {
	m := New(testConfig(t), t0)
	m.Connect("UUID0", 1, wire.Hello{}, at(1))
	m.Report("UUID0", 1, goodReport(), at(1))
	if c := m.Refused("UUID0", "agent token rejected for entity UUID0", at(2)); len(c) != 0 {
		t.Fatalf("refusal changed a live entity: %+v", c)
	}
	expect(t, m, "UUID0", wire.StatusAvailable, "", at(1))
}

func TestRefusalShowsThenExpires(t *testing.T) {
	m := New(testConfig(t), t0)
	m.Refused("UUID2", "agent token rejected for entity UUID2", at(1))
	expect(t, m, "UUID2", wire.StatusConnectionError, "token rejected", at(1))
	if c := m.Tick(at(16)); len(c) != 0 {
		t.Fatalf("refusal expired early: %+v", c)
	}
	if c := m.Tick(at(16.1)); len(c) != 1 {
		t.Fatalf("refusal did not expire: %d changes", len(c))
	}
	expect(t, m, "UUID2", wire.StatusOffline, "no agent has connected", at(16.1))
}

func TestMalformedReportAfterSessionIsConnectionError(t *testing.T) {
	m := New(testConfig(t), t0)
	m.Connect("UUID2", 7, wire.Hello{}, at(1))
	m.Report("UUID2", 7, goodReport(), at(1))
	m.Disconnect("UUID2", 7, "malformed report: x", at(2))
	m.Refused("UUID2", "malformed report: x", at(2))
	expect(t, m, "UUID2", wire.StatusConnectionError, "malformed report", at(2))
}

func TestSecondSessionReplacesFirst(t *testing.T) {
	m := New(testConfig(t), t0)
	m.Connect("UUID0", 1, wire.Hello{Hostname: "old"}, at(1))
	replaced, _ := m.Connect("UUID0", 2, wire.Hello{Hostname: "new"}, at(2))
	if replaced != 1 {
		t.Fatalf("replaced %d, want 1", replaced)
	}
	// The old session's late frames and disconnect are ignored.
	if c := m.Report("UUID0", 1, failingReport(), at(3)); c != nil {
		t.Fatal("report from a replaced session was applied")
	}
	if c := m.Disconnect("UUID0", 1, "gone", at(3)); c != nil {
		t.Fatal("disconnect of a replaced session was applied")
	}
	m.Report("UUID0", 2, goodReport(), at(3))
	expect(t, m, "UUID0", wire.StatusAvailable, "", at(3))
	if !m.Live("UUID0") {
		t.Fatal("session 2 should be live")
	}
}

func TestStaleReportWithLivePings(t *testing.T) {
	m := New(testConfig(t), t0)
	m.Connect("UUID0", 1, wire.Hello{}, at(0))
	m.Report("UUID0", 1, goodReport(), at(0))
	for s := 5.0; s <= 20; s += 5 {
		m.Frame("UUID0", 1, at(s))
	}
	m.Tick(at(20))
	expect(t, m, "UUID0", wire.StatusConnectionError, "last report is 20 s old", at(20))
}

func TestImagesKeptWhenOmitted(t *testing.T) {
	m := New(testConfig(t), t0)
	m.Connect("UUID0", 1, wire.Hello{}, at(0))
	r := goodReport()
	r.Repository = &wire.Repository{Root: "/r", ImagesTotal: 1, ImagesComplete: 1, Generation: 1,
		Images: []wire.Image{{UUID: "u1", State: wire.ImageComplete}}}
	m.Report("UUID0", 1, r, at(0))
	r2 := goodReport()
	r2.Repository = &wire.Repository{Root: "/r", ImagesTotal: 1, ImagesComplete: 1, Generation: 1, ImagesOmitted: true}
	m.Report("UUID0", 1, r2, at(5))
	v, _ := m.Entity("UUID1", true)
	if v.Repository == nil || len(v.Repository.Images) != 1 || v.Repository.ImagesOmitted {
		t.Fatalf("image list lost: %+v", v.Repository)
	}
	if v, _ := m.Entity("UUID1", false); len(v.Repository.Images) != 0 {
		t.Fatal("view without images carries the list")
	}
	if es := m.Entities(); len(es) != 4 || es[0].ID != "UUID0" || es[3].ID != "UUID9" {
		t.Fatalf("tree order: %+v", es)
	}
}

func TestExpired(t *testing.T) {
	m := New(testConfig(t), t0)
	m.Connect("UUID0", 1, wire.Hello{}, at(0))
	if len(m.Expired(at(15))) != 0 {
		t.Fatal("expired inside the deadline")
	}
	if got := m.Expired(at(15.5)); got["UUID0"] != 1 {
		t.Fatalf("expired: %v", got)
	}
}

func TestSetConfigKeepsLiveServersAndDropsUnlinked(t *testing.T) {
	m := New(testConfig(t), t0)
	m.Connect("UUID0", 1, wire.Hello{}, at(0))
	m.Report("UUID0", 1, goodReport(), at(0))
	m.Connect("UUID2", 2, wire.Hello{}, at(0))
	m.Report("UUID2", 2, goodReport(), at(0))

	// UUID2 loses its server and gains a child; UUID0 keeps its own.
	next, err := config.Parse([]byte(`{"interval":"5s","entities":[
		{"id":"UUID0","name":"General","server":{"name":"srv-general","token_sha256":"` + hashA + `"}},
		{"id":"UUID1","name":"Public","parent":"UUID0"},
		{"id":"UUID2","name":"Lab","parent":"UUID1"},
		{"id":"UUID3","name":"New","parent":"UUID2"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	dropped := m.SetConfig(next, at(1))
	if len(dropped) != 1 || dropped[0] != 2 {
		t.Fatalf("dropped %v, want [2]", dropped)
	}
	expect(t, m, "UUID0", wire.StatusAvailable, "", at(0)) // since kept
	expect(t, m, "UUID2", wire.StatusAvailable, "", at(0)) // now inherits General, still available since 0
	expect(t, m, "UUID3", wire.StatusAvailable, "", at(1)) // new entity
	if _, ok := m.Entity("UUID9", false); ok {
		t.Fatal("removed entity still listed")
	}
	if v := view(t, m, "UUID3"); v.ServedBy != "srv-general" || !v.Inherited {
		t.Fatalf("new entity's server: %+v", v)
	}
}

func TestSetMedullaPushesOnlyChanges(t *testing.T) {
	m := New(testConfig(t), t0)
	n := 3
	figs := map[string]*wire.Medulla{"UUID2": {Source: wire.SourceMedulla, Clients: &n}}
	if c := m.SetMedulla(figs, at(1)); len(c) != 1 || c[0].ID != "UUID2" || *c[0].Medulla.Clients != 3 {
		t.Fatalf("first figures: %+v", c)
	}
	same := map[string]*wire.Medulla{"UUID2": {Source: wire.SourceMedulla, Clients: &n, LoadedAt: at(2)}}
	if c := m.SetMedulla(same, at(2)); len(c) != 0 {
		t.Fatalf("figures that only moved loaded_at were pushed: %d", len(c))
	}
	if v := view(t, m, "UUID2"); !v.Medulla.LoadedAt.Equal(at(2)) {
		t.Fatalf("REST keeps the old loaded_at: %v", v.Medulla.LoadedAt)
	}
	stale := map[string]*wire.Medulla{"UUID2": {Source: wire.SourceMedulla, Clients: &n, Stale: true, Error: "down"}}
	if c := m.SetMedulla(stale, at(3)); len(c) != 1 || !c[0].Medulla.Stale {
		t.Fatalf("stale figures: %+v", c)
	}
	if v := view(t, m, "UUID2"); v.Status != wire.StatusOffline || !v.Since.Equal(t0) {
		t.Fatalf("figures moved the status: %+v", v)
	}
}

func TestTransitionsAreRecorded(t *testing.T) {
	m := New(testConfig(t), t0)
	m.Connect("UUID0", 1, wire.Hello{}, at(1))
	m.Report("UUID0", 1, goodReport(), at(1))
	m.Report("UUID0", 1, failingReport(), at(2))
	got := m.TakeTransitions()
	var s []string
	for _, tr := range got {
		s = append(s, tr.Entity+":"+string(tr.From)+">"+string(tr.To))
	}
	want := "UUID0:offline>available UUID1:offline>available UUID0:available>connection_error UUID1:available>connection_error"
	if strings.Join(s, " ") != want {
		t.Fatalf("transitions %q, want %q", strings.Join(s, " "), want)
	}
	if len(m.TakeTransitions()) != 0 {
		t.Fatal("transitions not cleared")
	}
}

func TestRestoreAfterHubRestart(t *testing.T) {
	// The first hub's last known views.
	before := New(testConfig(t), t0)
	before.Connect("UUID0", 1, wire.Hello{}, at(0))
	before.Report("UUID0", 1, goodReport(), at(0))
	stored := map[string]wire.Entity{}
	for _, v := range before.Entities() {
		stored[v.ID] = v
	}

	delete(stored, "UUID2") // as if it were added to the configuration since
	// A new hub at t=100 restores them, stale, for a grace of 30 s.
	m := New(testConfig(t), at(100))
	m.Restore(stored, at(100), at(130))
	v := view(t, m, "UUID1")
	if v.Status != wire.StatusAvailable || !v.Stale || !v.Since.Equal(at(0)) || v.Hostname != "imaging1" {
		t.Fatalf("restored view: %+v", v)
	}
	if v := view(t, m, "UUID2"); v.Stale {
		t.Fatal("a server with no stored state is not stale")
	}
	if len(m.TakeTransitions()) != 0 {
		t.Fatal("restoring recorded transitions")
	}
	// The agent comes back: fresh, no flicker, since kept.
	m.Connect("UUID0", 9, wire.Hello{}, at(101))
	if v := view(t, m, "UUID0"); v.Status != wire.StatusAvailable || !v.Stale {
		t.Fatalf("between hello and first report: %+v", v)
	}
	m.Report("UUID0", 9, goodReport(), at(101))
	if v := view(t, m, "UUID0"); v.Stale || !v.Since.Equal(at(0)) {
		t.Fatalf("after the first report: %+v", v)
	}
	if tr := m.TakeTransitions(); len(tr) != 0 {
		t.Fatalf("a confirmed state made transitions: %+v", tr)
	}

	// Another restored server whose agent never returns goes Offline when the grace ends.
	m2 := New(testConfig(t), at(100))
	m2.Restore(stored, at(100), at(130))
	m2.Tick(at(129))
	expect(t, m2, "UUID0", wire.StatusAvailable, "", at(0))
	m2.Tick(at(130.1))
	expect(t, m2, "UUID0", wire.StatusOffline, "no agent has reconnected since the hub restarted", at(130.1))
	if v := view(t, m2, "UUID0"); v.Stale || v.Partitions == nil && v.LastReportAt == nil {
		t.Fatalf("offline after grace: %+v", v)
	}
}

// TestViewCarriesReportFigures: a view holds the report's figures whole
// (wire.Figures), for every entity the server serves; a report without a
// hostname keeps the hello's.
func TestViewCarriesReportFigures(t *testing.T) {
	boot := at(-3600)
	r := goodReport()
	r.CollectedAt, r.BootTime = at(0.5), boot
	r.Partitions = []wire.Partition{{Device: "/dev/sda1", Mountpoint: "/", FSType: "ext4", Total: 100, Used: 40, Free: 60, Main: true}}
	r.Memory = &wire.Memory{Total: 8, Used: 3, Available: 5}
	r.Load = &wire.Load{Load1: 0.5, CPUs: 2}
	r.Repository = &wire.Repository{Root: "/r", ImagesTotal: 1, ImagesComplete: 1, Images: []wire.Image{{UUID: "u", State: wire.ImageComplete}}}
	r.Errors = []string{"memory: slow"}

	cases := []struct {
		name      string
		hostname  string // in the report
		wantHost  string
		helloHost string
	}{
		{"report names the host", "imaging1", "imaging1", "hello-host"},
		{"report without hostname keeps the hello's", "", "hello-host", "hello-host"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := New(testConfig(t), t0)
			m.Connect("UUID0", 1, wire.Hello{Hostname: c.helloHost, AgentVersion: "2.0"}, at(0))
			rr := r
			rr.Hostname = c.hostname
			m.Report("UUID0", 1, rr, at(1))
			want := rr.Figures
			want.Hostname = c.wantHost
			want.Repository = &wire.Repository{Root: "/r", ImagesTotal: 1, ImagesComplete: 1} // the list is kept aside
			for _, id := range []string{"UUID0", "UUID1"} {
				v := view(t, m, id)
				if !reflect.DeepEqual(v.Figures, want) {
					t.Fatalf("%s figures:\n got %+v\nwant %+v", id, v.Figures, want)
				}
				if v.AgentVersion != "2.0" || v.LastReportAt == nil || !v.LastReportAt.Equal(at(1)) {
					t.Fatalf("%s: agent %q, last report %v", id, v.AgentVersion, v.LastReportAt)
				}
			}
			if v := view(t, m, "UUID9"); !reflect.DeepEqual(v.Figures, wire.Figures{}) {
				t.Fatalf("an entity not served has figures: %+v", v.Figures)
			}
		})
	}
}

func TestSetForecastsPushesOnlyChanges(t *testing.T) {
	cfg, err := config.Parse([]byte(`{"entities":[
		{"id":"UUID0","name":"General","server":{"name":"srv","token_sha256":"` + strings.Repeat("a", 64) + `"}},
		{"id":"UUID1","name":"Public","parent":"UUID0"},
		{"id":"UUID9","name":"Alone"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	m := New(cfg, now)
	days := 12.0
	f := &wire.DiskForecast{Mountpoint: "/var/lib/pulse2", DaysLeft: &days, Confidence: wire.ConfidenceHigh}
	changed := m.SetForecasts(map[string]*wire.DiskForecast{"UUID0": f}, now)
	if len(changed) != 2 {
		t.Fatalf("first forecast: %d entities changed, want the server's and the one it serves", len(changed))
	}
	if v, _ := m.Entity("UUID1", false); v.DiskForecast == nil || *v.DiskForecast.DaysLeft != 12 {
		t.Fatalf("inherited entity: %+v", v.DiskForecast)
	}
	if v, _ := m.Entity("UUID9", false); v.DiskForecast != nil {
		t.Fatal("an entity without a server got a forecast")
	}
	// A recomputation that moves by an hour is not pushed.
	later := 12.0 + 1.0/24
	if changed := m.SetForecasts(map[string]*wire.DiskForecast{"UUID0": {Mountpoint: f.Mountpoint, DaysLeft: &later, Confidence: wire.ConfidenceHigh}}, now); len(changed) != 0 {
		t.Fatalf("a one-hour move pushed %d entities", len(changed))
	}
	if changed := m.SetForecasts(nil, now); len(changed) != 2 {
		t.Fatalf("forecast gone: %d changed", len(changed))
	}
}

// Every view says why in a code the page translates; an entity Medulla's
// rule leaves without its parent's server says so, not "no server above".
func TestReasonCodes(t *testing.T) {
	m := New(testConfig(t), t0)
	if v := view(t, m, "UUID1"); v.ReasonCode != wire.ReasonNeverConnected {
		t.Fatalf("never connected: %s %v", v.ReasonCode, v.ReasonArgs)
	}
	if v := view(t, m, "UUID9"); v.ReasonCode != wire.ReasonNotLinked {
		t.Fatalf("not linked: %s", v.ReasonCode)
	}
	m.Connect("UUID0", 1, wire.Hello{}, at(1))
	m.Report("UUID0", 1, failingReport(), at(2))
	v := view(t, m, "UUID1")
	if v.ReasonCode != wire.ReasonProbeFailed || v.ReasonArgs["probe"] != "imaging-api" || v.ReasonArgs["target"] != "tcp://127.0.0.1:9990" ||
		v.ReasonArgs["cause"] != wire.CauseRefused {
		t.Fatalf("probe failed: %s %v", v.ReasonCode, v.ReasonArgs)
	}
	if s := wire.Summarize(v); s.ReasonCode != v.ReasonCode || s.ReasonArgs["probe"] != "imaging-api" {
		t.Fatalf("summary lost the code: %+v", s)
	}

	f := testConfig(t).Source
	f.Entities[1].NotServed = true // Public: Medulla's rule passes over General's server
	cfg, err := f.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	m = New(cfg, t0)
	v = view(t, m, "UUID1")
	if v.Status != wire.StatusNotLinked || v.ReasonCode != wire.ReasonNotRecursive || v.ReasonArgs["server"] != "srv-general" ||
		v.ReasonArgs["server_entity"] != "General" || !strings.Contains(v.Reason, "does not serve sub-entities") {
		t.Fatalf("not recursive: %s %q %v", v.Status, v.Reason, v.ReasonArgs)
	}
}
