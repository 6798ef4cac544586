package alert

import (
	"strings"
	"testing"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/wire"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// tree: root R; two entities served by srv-a (A linked, A2 inherits it);
// B served by srv-b; N served by nobody.
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	const h = "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3"
	c, err := config.Parse([]byte(`{"entities":[{"id":"R","name":"Root"},
		{"id":"A","name":"Public","parent":"R","server":{"name":"srv-a","token_sha256":"` + h + `"}},
		{"id":"A2","name":"Workshop","parent":"A"},
		{"id":"B","name":"Branch","parent":"R","server":{"name":"srv-b","token_sha256":"` + h + `"}},
		{"id":"N","name":"Nobody","parent":"R"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func view(id, name, server string, s wire.Status, since time.Time) wire.Entity {
	return wire.Entity{ID: id, Name: name, ServedBy: server, Status: s, Since: since, Summary: true}
}

func pct(p int) *int { return &p }

func rules(mod func(*config.Rules)) config.Rules {
	r := config.AlertRules{}.Resolved()
	if mod != nil {
		mod(&r)
	}
	return r
}

// step is one moment of a scenario: the views that changed, then the
// titles of the messages the evaluation must make (in order).
type step struct {
	at    time.Duration
	views []wire.Entity
	want  []string
}

func run(t *testing.T, r config.Rules, steps []step) *evaluator {
	t.Helper()
	cfg := testConfig(t)
	ev := newEvaluator()
	for i, s := range steps {
		now := t0.Add(s.at)
		ev.observe(i == 0, s.views)
		msgs := ev.evaluate(now, cfg, r)
		var got []string
		for _, m := range msgs {
			got = append(got, m.Title())
		}
		if strings.Join(got, "|") != strings.Join(s.want, "|") {
			t.Fatalf("step %d (+%v): messages\n  %q\nwant\n  %q", i, s.at, got, s.want)
		}
	}
	return ev
}

func TestStatusAlertWaitsGroupsRepeatsAndResolves(t *testing.T) {
	up := func(at time.Duration) []wire.Entity {
		return []wire.Entity{view("A", "Public", "srv-a", wire.StatusAvailable, t0.Add(at)), view("A2", "Workshop", "srv-a", wire.StatusAvailable, t0.Add(at)),
			view("B", "Branch", "srv-b", wire.StatusAvailable, t0), view("N", "Nobody", "", wire.StatusNotLinked, t0)}
	}
	down := func(at time.Duration) []wire.Entity {
		return []wire.Entity{view("A", "Public", "srv-a", wire.StatusOffline, t0.Add(at)), view("A2", "Workshop", "srv-a", wire.StatusOffline, t0.Add(at))}
	}
	ev := run(t, rules(nil), []step{
		{0, up(0), nil},
		{10 * time.Second, down(10 * time.Second), nil},
		{2*time.Minute + 9*time.Second, nil, nil},
		{2*time.Minute + 10*time.Second, nil, []string{"srv-a is Offline: Public, Workshop"}},
		{3 * time.Minute, nil, nil},
		{4*time.Hour + 2*time.Minute + 10*time.Second, nil, []string{"srv-a is still Offline: Public, Workshop"}},
		{4*time.Hour + 3*time.Minute, up(4*time.Hour + 3*time.Minute), nil}, // clear, not yet for its delay
		{4*time.Hour + 5*time.Minute, nil, []string{"Resolved: srv-a is Available again (was Offline for 4h02m): Public, Workshop"}},
	})
	if len(ev.conds) != 0 {
		t.Fatalf("conditions left after the resolution: %v", ev.conds)
	}
}

func TestFlappingServerSendsNothing(t *testing.T) {
	var steps []step
	steps = append(steps, step{0, []wire.Entity{view("B", "Branch", "srv-b", wire.StatusAvailable, t0)}, nil})
	// 40 s up, 20 s down, for ten minutes: never Offline for 2 minutes.
	for at := 40 * time.Second; at < 10*time.Minute; at += time.Minute {
		steps = append(steps,
			step{at, []wire.Entity{view("B", "Branch", "srv-b", wire.StatusOffline, t0.Add(at))}, nil},
			step{at + 10*time.Second, nil, nil},
			step{at + 20*time.Second, []wire.Entity{view("B", "Branch", "srv-b", wire.StatusAvailable, t0.Add(at+20*time.Second))}, nil})
	}
	run(t, rules(nil), steps)
}

func TestFlappingAfterFiringKeepsOneAlert(t *testing.T) {
	st := func(at time.Duration, s wire.Status) []wire.Entity {
		return []wire.Entity{view("B", "Branch", "srv-b", s, t0.Add(at))}
	}
	run(t, rules(nil), []step{
		{0, st(0, wire.StatusOffline), nil},
		{2 * time.Minute, nil, []string{"srv-b is Offline: Branch"}},
		{3 * time.Minute, st(3*time.Minute, wire.StatusAvailable), nil},
		{4 * time.Minute, st(4*time.Minute, wire.StatusConnectionError), nil}, // back down within the delay: the same alert
		{5 * time.Minute, st(5*time.Minute, wire.StatusOffline), nil},
		{6 * time.Minute, st(6*time.Minute, wire.StatusAvailable), nil},
		{8 * time.Minute, nil, []string{"Resolved: srv-b is Available again (was Offline for 6m): Branch"}},
	})
}

func TestZeroDelayAlertsAtOnce(t *testing.T) {
	run(t, rules(func(r *config.Rules) { r.ConnectionErrorAfter = 0 }), []step{
		{0, []wire.Entity{view("B", "Branch", "srv-b", wire.StatusAvailable, t0)}, nil},
		{time.Second, []wire.Entity{view("B", "Branch", "srv-b", wire.StatusConnectionError, t0.Add(time.Second))}, []string{"srv-b is in Connection error: Branch"}},
		{2 * time.Second, []wire.Entity{view("B", "Branch", "srv-b", wire.StatusAvailable, t0.Add(2*time.Second))}, []string{"Resolved: srv-b is Available again (was in Connection error for 1s): Branch"}},
	})
}

func TestDiskAlertHasHysteresis(t *testing.T) {
	disk := func(p int) []wire.Entity {
		v := view("B", "Branch", "srv-b", wire.StatusAvailable, t0)
		v.FullestPct, v.FullestMount = pct(p), "/var/lib/pulse2"
		return []wire.Entity{v}
	}
	run(t, rules(nil), []step{
		{0, disk(89), nil},
		{time.Minute, disk(90), []string{"srv-b: partition /var/lib/pulse2 is 90% full: Branch"}},
		{2 * time.Minute, disk(89), nil},
		{3 * time.Minute, disk(88), nil},
		{4 * time.Minute, disk(87), []string{"Resolved: srv-b: partition /var/lib/pulse2 is no longer nearly full: Branch"}},
		{5 * time.Minute, disk(89), nil},
	})
	run(t, rules(func(r *config.Rules) { r.DiskUsedPercent = 0 }), []step{{0, disk(100), nil}}) // turned off
}

func TestForecastAlert(t *testing.T) {
	fc := func(days float64) []wire.Entity {
		v := view("A", "Public", "srv-a", wire.StatusAvailable, t0)
		v.DiskForecast = &wire.DiskForecast{Mountpoint: "/", DaysLeft: &days}
		return []wire.Entity{v}
	}
	run(t, rules(nil), []step{
		{0, fc(10), nil},
		{time.Minute, fc(6), []string{"srv-a: partition / will be full in about 6 days: Public"}},
		{2 * time.Minute, fc(8), []string{"Resolved: srv-a: partition / is no longer forecast to fill soon: Public"}},
	})
}

func TestScopeAndUnservedEntities(t *testing.T) {
	down := []wire.Entity{view("A", "Public", "srv-a", wire.StatusOffline, t0), view("B", "Branch", "srv-b", wire.StatusOffline, t0),
		view("N", "Nobody", "", wire.StatusOffline, t0)}
	run(t, rules(func(r *config.Rules) { r.OfflineAfter, r.Scope = 0, []string{"B"} }), []step{{0, down, []string{"srv-b is Offline: Branch"}}})
}

func TestRestoredStateNeitherStartsNorEnds(t *testing.T) {
	stale := view("B", "Branch", "srv-b", wire.StatusOffline, t0)
	stale.Stale = true
	ev := run(t, rules(func(r *config.Rules) { r.OfflineAfter = 0 }), []step{{0, []wire.Entity{stale}, nil}})
	if len(ev.conds) != 0 {
		t.Fatalf("a restored state started a condition: %v", ev.conds)
	}
	// A condition kept across the restart stays while the state is stale.
	ev.restore([]condition{{Entity: "B", Kind: wire.AlertStatus, Start: t0, Fired: t0, Sent: t0, Status: wire.StatusOffline}})
	if msgs := ev.evaluate(t0.Add(time.Minute), testConfig(t), rules(nil)); len(msgs) != 0 || len(ev.firing()["B"]) != 1 {
		t.Fatalf("restored alert: messages %v, firing %v", msgs, ev.firing())
	}
}
