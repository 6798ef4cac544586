package app

import (
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

func loadPanel(t *testing.T, p *EntityPanel) string {
	t.Helper()
	e := app.NewTestEngine()
	if err := e.Load(p); err != nil {
		t.Fatal(err)
	}
	e.ConsumeAll()
	return visibleText(p)
}

func wantAll(t *testing.T, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in:\n%s", w, text)
		}
	}
}

func wantNone(t *testing.T, text string, nots ...string) {
	t.Helper()
	for _, w := range nots {
		if strings.Contains(text, w) {
			t.Errorf("unexpected %q in:\n%s", w, text)
		}
	}
}

func TestPanelAvailableWithAllFigures(t *testing.T) {
	p := &EntityPanel{Entity: availableEntity(), Now: hubNow}
	text := loadPanel(t, p)
	wantAll(t, text,
		"General",
		"Available", "For 3 d 4 h 5 min",
		"What to do: You can create or deploy an image.",
		"Imaging server: imaging-paris", "host srv-imaging-01", "agent 1.0.0",
		"Updated 3 s ago",
		// disk: main first and marked
		"/var/lib/pulse2 main · holds the repository", "Used 1 TiB (50 %) · Free 1 TiB · Total 2 TiB",
		"Used 5 GiB (25 %) · Free 15 GiB · Total 20 GiB",
		// load
		"Up for 2 d 5 h 7 min",
		"Used 4 GiB (25 %) · Available 12 GiB · Total 16 GiB",
		"Swap: 256 MiB used of 2 GiB",
		"Load average: 0.52 · 0.40 · 0.31 (1, 5, 15 min) on 4 CPUs",
		// statistics, labelled with their source
		"From the disk scan of /var/lib/pulse2/imaging",
		"Registered clients 40", "Clients with a restorable image 7",
		"Images 12 (9 complete, 1 in progress, 1 failed, 1 invalid)",
		"Size of complete images 300 GiB",
		"masters", "Medulla's database",
		// probes
		"OK imaging API · 4.2 ms https://127.0.0.1:9990/imaging_api",
		"OK repository · 0.3 ms /var/lib/pulse2/imaging",
	)
	wantNone(t, text, "served by the server of", "not reported", "Failed", "out of date")
	if i, j := strings.Index(text, "/var/lib/pulse2 main"), strings.Index(text, "/dev/sda1"); i < 0 || j < i {
		t.Error("the main partition is not listed first")
	}

	// The status block: its words and class, found where a person sees it.
	err := app.TestMatch(p, app.TestUIDescriptor{
		Path:     app.TestPath(0, 1),
		Expected: app.Section().ID("status").Class("status status--available").Role("status").Aria("live", "polite"),
	})
	if err != nil {
		t.Error(err)
	}
	if err := app.TestMatch(p, app.TestUIDescriptor{
		Path:     app.TestPath(0, 1, 1, 0, 0),
		Expected: app.Text("Available"),
	}); err != nil {
		t.Error(err)
	}
}

func TestPanelOffline(t *testing.T) {
	text := loadPanel(t, &EntityPanel{Entity: offlineEntity(), Now: hubNow})
	wantAll(t, text,
		"General › Public", "Offline",
		"no report for 15 s (3 missed intervals)",
		"For 1 min",
		"What to do: Contact the administrator.",
		"Imaging server: imaging-lyon",
		"No report received from this server yet.",
	)
	wantNone(t, text, "Available", "Disk space")
}

func TestPanelOfflineKeepsLastFigures(t *testing.T) {
	e := availableEntity()
	e.Status, e.Reason = wire.StatusOffline, "no report for 15 s"
	e.LastReportAt = ptr(hubNow.Add(-20 * time.Second))
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text, "Offline", "Updated 20 s ago", "from the last report, before the server went offline", "Disk space")
}

func TestPanelConnectionError(t *testing.T) {
	text := loadPanel(t, &EntityPanel{Entity: connErrorEntity(), Now: hubNow})
	wantAll(t, text,
		"General › Private", "Connection error",
		"probe imaging API failed: connection refused",
		"For 5 min",
		"What to do: Report it to the technical team.",
		"Updated 2 s ago",
		"Failed imaging API https://10.0.0.3:9990/imaging_api connection refused",
		// the figures it did not send are said to be missing
		"No partition reported.", "Memory not reported.", "Load average not reported.",
		"The imaging repository was not reported.",
	)
}

func TestPanelNotLinked(t *testing.T) {
	text := loadPanel(t, &EntityPanel{Entity: notLinkedEntity(), Now: hubNow})
	wantAll(t, text,
		"General › Archive", "No imaging server",
		"What to do: Link an imaging server to this entity.",
		"no imaging server serves this entity or its parents",
		"For 1 h 0 min",
	)
	// The reason says it: the server line does not repeat it.
	wantNone(t, text, "Disk space", "Server load", "Updated", "No imaging server serves this entity or any of its parents.")
	// Without a reason, the server line says it.
	e := notLinkedEntity()
	e.Reason = ""
	wantAll(t, loadPanel(t, &EntityPanel{Entity: e, Now: hubNow}), "No imaging server serves this entity or any of its parents.")
}

func TestPanelMissingFigures(t *testing.T) {
	e := availableEntity()
	e.Partitions, e.Repository, e.Memory, e.Load = nil, nil, nil, nil
	e.UptimeSeconds = 0
	e.Errors = []string{"memory: permission denied"}
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text,
		"Available",
		"No partition reported.",
		"Uptime not reported.", "Memory not reported.", "Load average not reported.",
		"The imaging repository was not reported.",
		"Some figures could not be collected: memory: permission denied",
		"OK imaging API",
	)
	wantNone(t, text, "Registered clients", "Swap")
}

func TestPanelNoFiguresYet(t *testing.T) {
	e := availableEntity()
	e.Partitions, e.Repository, e.Memory, e.Load, e.Probes, e.UptimeSeconds = nil, nil, nil, nil, nil, 0
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text, "The server has not reported any figures yet.")
}

func TestPanelInherited(t *testing.T) {
	text := loadPanel(t, &EntityPanel{Entity: inheritingEntity(), Now: hubNow, ServedByName: "General"})
	wantAll(t, text,
		"General › Public › Lab",
		"Imaging server: imaging-paris (served by the server of General)",
		"From the disk scan of /var/lib/pulse2/imaging on the server of General",
	)
}

func TestPanelStale(t *testing.T) {
	text := loadPanel(t, &EntityPanel{Entity: availableEntity(), Now: hubNow, Stale: true})
	wantAll(t, text, "lost its connection to the hub", "out of date")
}

func TestPanelNoSwap(t *testing.T) {
	e := availableEntity()
	e.Memory.SwapTotal, e.Memory.SwapUsed = 0, 0
	e.Load.CPUs = 1
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text, "Swap: none", "on 1 CPU")
}

func TestPanelUpdatesLive(t *testing.T) {
	eng := app.NewTestEngine()
	p := &EntityPanel{Entity: availableEntity(), Now: hubNow}
	if err := eng.Load(p); err != nil {
		t.Fatal(err)
	}
	// A parent handing a new entity value re-renders the panel.
	if err := eng.Load(&EntityPanel{Entity: offlineEntity(), Now: hubNow.Add(10 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	eng.ConsumeAll()
	wantAll(t, visibleText(p), "Offline", "For 1 min")
}
