package app

import (
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

func snapshot() []wire.Entity {
	return []wire.Entity{availableEntity(), offlineEntity(), connErrorEntity(), notLinkedEntity(), inheritingEntity()}
}

func loadDashboard(t *testing.T) (app.TestEngine, *Dashboard) {
	t.Helper()
	eng := app.NewTestEngine()
	d := &Dashboard{}
	if err := eng.Load(d); err != nil {
		t.Fatal(err)
	}
	eng.ConsumeAll()
	return eng, d
}

// run changes the dashboard on the UI goroutine, as the feed does.
func run(eng app.TestEngine, d *Dashboard, f func()) {
	d.mctx.Dispatch(func(app.Context) { f() })
	eng.ConsumeAll()
}

func TestDashboardLoadingUntilSnapshot(t *testing.T) {
	eng, d := loadDashboard(t)
	wantAll(t, visibleText(d), "Imaging status", "Loading the status of the imaging servers")
	local := time.Date(2026, 11, 25, 11, 59, 0, 0, time.UTC) // browser clock 1 min slow
	run(eng, d, func() {
		d.apply(Batch{Conn: &ConnState{Phase: PhaseConnected}, Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: local})
	})
	text := visibleText(d)
	wantNone(t, text, "Loading the status") // the page's own loading state (the history has its own)
	// General (the root) by default; durations use the hub's clock.
	wantAll(t, text, "Connected to the hub", "Available", "For 3 d 4 h 5 min", "Updated 3 s ago",
		"General › Public Offline", "General › Private Connection error",
		"General › Archive No imaging server", "General › Public › Lab Available")
	// The tree lists it depth first.
	want := []string{"UUID0", "UUID4", "UUID3", "UUID2", "UUID5"}
	for i, id := range want {
		if d.st.order[i] != id {
			t.Fatalf("order %v, want %v", d.st.order, want)
		}
	}
}

func TestDashboardSelectionAndChanges(t *testing.T) {
	eng, d := loadDashboard(t)
	run(eng, d, func() {
		d.apply(Batch{Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow})
		d.selected = "UUID3"
	})
	wantAll(t, visibleText(d), "General › Private", "Connection error", "Report it to the technical team.")

	// A change arrives: the entity recovers, without a reload.
	e := connErrorEntity()
	e.Status, e.Reason, e.Since = wire.StatusAvailable, "", hubNow
	run(eng, d, func() {
		d.apply(Batch{Changes: map[string]wire.Entity{e.ID: e}, HubTime: hubNow.Add(4 * time.Second), ReceivedAt: hubNow})
	})
	wantAll(t, visibleText(d), "Available", "For 4 s", "You can create or deploy an image.")

	// The inherited entity names its ancestor.
	run(eng, d, func() { d.selected = "UUID5" })
	wantAll(t, visibleText(d), "served by the server of General")

	// An unknown id is said so, with a way back.
	run(eng, d, func() { d.selected = "UUID77" })
	wantAll(t, visibleText(d), `There is no entity "UUID77"`, "Show General")
}

// The phone's list: every entity with its status, problems first (offline,
// connection error, not linked, available), the tree's order within each.
func TestDashboardOverviewProblemsFirst(t *testing.T) {
	eng, d := loadDashboard(t)
	run(eng, d, func() { d.apply(Batch{Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow}) })
	got := listText(t, d, "overview")
	want := "General › Public Offline General › Private Connection error General › Archive No imaging server " +
		"General Available General › Public › Lab Available"
	if got != want {
		t.Errorf("overview:\n got %q\nwant %q", got, want)
	}
}

// The filter box narrows the tree and the list, and says when nothing
// matches.
func TestDashboardFilter(t *testing.T) {
	eng, d := loadDashboard(t)
	run(eng, d, func() {
		d.apply(Batch{Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow})
		d.filter = "publ"
	})
	tree := listText(t, d, "tree")
	wantAll(t, tree, "Public", "Lab")
	wantNone(t, tree, "Private", "Archive")
	wantAll(t, visibleText(d), "2 of 5 entities")
	run(eng, d, func() { d.filter = "zzz" })
	wantAll(t, visibleText(d), "No entity matches “zzz”.")
	if tree := listText(t, d, "tree"); tree != "" {
		t.Errorf("tree with no match: %q", tree)
	}
}

func TestDashboardReconnecting(t *testing.T) {
	eng, d := loadDashboard(t)
	now := time.Now()
	run(eng, d, func() {
		d.apply(Batch{Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow})
		d.apply(Batch{Conn: &ConnState{Phase: PhaseReconnecting, Attempt: 3, RetryAt: now.Add(4 * time.Second), Err: "connection refused"}})
		d.now = now
	})
	wantAll(t, visibleText(d), "Reconnecting… (attempt 3, next try in 4 s)", "lost its connection to the hub")
	// A fresh snapshot after reconnecting replaces every entity.
	run(eng, d, func() {
		d.apply(Batch{Conn: &ConnState{Phase: PhaseConnected}, Snapshot: []wire.Entity{notLinkedEntity()}, HubTime: hubNow, ReceivedAt: hubNow})
	})
	text := visibleText(d)
	wantAll(t, text, "Connected to the hub", "General › Archive", "No imaging server")
	wantNone(t, text, "Reconnecting", "General › Public")
}

func TestEntityFromPath(t *testing.T) {
	for p, want := range map[string]string{
		"/entities/UUID1": "UUID1", "/": "", "/entities/": "", "/entities/a b": "", "/other/UUID1": "",
	} {
		if got := entityFromPath(p); got != want {
			t.Errorf("entityFromPath(%q) = %q, want %q", p, got, want)
		}
	}
}

// TestDashboardSaysWhenTheStateFileFails: a snapshot carrying state_error
// shows a notice, and the next snapshot without it removes it.
func TestDashboardSaysWhenTheStateFileFails(t *testing.T) {
	eng, d := loadDashboard(t)
	run(eng, d, func() {
		d.apply(Batch{Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow, StateError: "the state file cannot be written: no space left on device"})
	})
	wantAll(t, visibleText(d), "The hub cannot write its state file")
	run(eng, d, func() { d.apply(Batch{Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow}) })
	wantNone(t, visibleText(d), "state file")
}

// TestPagesAskForTheirDetail: the dashboard asks for the entity on screen
// in full (none until it knows which), the wall for none.
func TestPagesAskForTheirDetail(t *testing.T) {
	eng, d := loadDashboard(t)
	run(eng, d, d.follow)
	if !d.detailSet || !d.detail.Equal(wire.DetailNone) {
		t.Fatalf("dashboard before any snapshot asks for %+v (set %v)", d.detail, d.detailSet)
	}
	cases := []struct {
		name     string
		selected string
		want     wire.Detail
	}{
		{"the root by default", "", wire.DetailOf("UUID0")},
		{"the entity in the URL", "UUID3", wire.DetailOf("UUID3")},
		{"an entity not in the snapshot yet", "UUID77", wire.DetailOf("UUID77")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run(eng, d, func() {
				d.apply(Batch{Snapshot: snapshot(), HubTime: hubNow, ReceivedAt: hubNow})
				d.selected = c.selected
				d.follow()
			})
			if !d.detail.Equal(c.want) {
				t.Fatalf("asks for %+v, want %+v", d.detail, c.want)
			}
		})
	}
	weng, w := loadWall(t)
	runWall(weng, w, func() { w.OnMount(w.mctx) })
	if !w.detailSet || !w.detail.Equal(wire.DetailNone) {
		t.Fatalf("wall asks for %+v (set %v)", w.detail, w.detailSet)
	}
}
