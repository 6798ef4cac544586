package app

import (
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

var hubNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func availableEntity() wire.Entity {
	return wire.Entity{
		ID: "UUID0", Name: "General", Path: []string{"General"},
		Status:   wire.StatusAvailable,
		Since:    hubNow.Add(-(3*24*time.Hour + 4*time.Hour + 5*time.Minute)),
		ServedBy: "imaging-paris", ServedByEntity: "UUID0",
		AgentVersion: "1.0.0",
		LastReportAt: ptr(hubNow.Add(-3 * time.Second)),
		Figures: wire.Figures{
			Hostname:      "srv-imaging-01",
			UptimeSeconds: uint64((2*24*time.Hour + 5*time.Hour + 7*time.Minute) / time.Second),
			Partitions: []wire.Partition{
				{Device: "/dev/sda1", Mountpoint: "/", FSType: "ext4", Total: 20 << 30, Used: 5 << 30, Free: 15 << 30},
				{Device: "/dev/sdb1", Mountpoint: "/var/lib/pulse2", FSType: "xfs", Total: 2 << 40, Used: 1 << 40, Free: 1 << 40, Main: true},
			},
			Memory: &wire.Memory{Total: 16 << 30, Used: 4 << 30, Available: 12 << 30, SwapTotal: 2 << 30, SwapUsed: 256 << 20},
			Load:   &wire.Load{Load1: 0.52, Load5: 0.4, Load15: 0.31, CPUs: 4},
			Repository: &wire.Repository{
				Root: "/var/lib/pulse2/imaging", ImagesTotal: 12, ImagesComplete: 9, ImagesInProgress: 1,
				ImagesFailed: 1, ImagesInvalid: 1, BytesComplete: 300 << 30, Clients: 40, ClientsWithImages: 7,
			},
			Probes: []wire.Probe{
				{Name: "imaging API", Target: "https://127.0.0.1:9990/imaging_api", OK: true, LatencyMS: 4.2},
				{Name: "repository", Target: "/var/lib/pulse2/imaging", OK: true, LatencyMS: 0.3},
			},
		},
	}
}

func offlineEntity() wire.Entity {
	return wire.Entity{
		ID: "UUID2", Name: "Public", Parent: "UUID0", Path: []string{"General", "Public"},
		Status: wire.StatusOffline, Reason: "no report for 15 s (3 missed intervals)",
		Since:    hubNow.Add(-90 * time.Second),
		ServedBy: "imaging-lyon", ServedByEntity: "UUID2",
	}
}

func connErrorEntity() wire.Entity {
	return wire.Entity{
		ID: "UUID3", Name: "Private", Parent: "UUID0", Path: []string{"General", "Private"},
		Status: wire.StatusConnectionError, Reason: "probe imaging API failed: connection refused",
		Since:    hubNow.Add(-5 * time.Minute),
		ServedBy: "imaging-nice", ServedByEntity: "UUID3",
		LastReportAt: ptr(hubNow.Add(-2 * time.Second)),
		Figures: wire.Figures{Probes: []wire.Probe{
			{Name: "imaging API", Target: "https://10.0.0.3:9990/imaging_api", OK: false, Error: "connection refused"},
		}},
	}
}

func notLinkedEntity() wire.Entity {
	return wire.Entity{
		ID: "UUID4", Name: "Archive", Parent: "UUID0", Path: []string{"General", "Archive"},
		Status: wire.StatusNotLinked, Reason: "no imaging server serves this entity or its parents",
		Since: hubNow.Add(-time.Hour),
	}
}

func inheritingEntity() wire.Entity {
	e := availableEntity()
	e.ID, e.Name, e.Parent, e.Path = "UUID5", "Lab", "UUID2", []string{"General", "Public", "Lab"}
	e.Inherited = true
	e.ServedByEntity = "UUID0"
	return e
}

var (
	tagRE   = regexp.MustCompile(`(?s)<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// visibleText is the text a person reads: markup removed, spaces collapsed.
func visibleText(ui app.UI) string {
	s := tagRE.ReplaceAllString(app.HTMLString(ui), " ")
	return strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(s), " "))
}

// listText is the visible text of the first <ul class="cls"> in ui (lists
// here hold no nested list).
func listText(t *testing.T, ui app.UI, cls string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<ul class="` + regexp.QuoteMeta(cls) + `"[^>]*>(.*?)</ul>`).FindStringSubmatch(app.HTMLString(ui))
	if m == nil {
		t.Fatalf("no list %q", cls)
	}
	s := tagRE.ReplaceAllString(m[1], " ")
	return strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(s), " "))
}
