package main_test

import (
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"imagingstatus/server/hubtest"
)

// TestHistoryInChromium: what a newcomer sees in `make demo` within two
// minutes, in a real browser, in English and in French: the uptime, the
// 24-hour timeline (as text too) and the disk-full forecast of the
// synthetic archive server, labelled as such; and the wall's warning.
func TestHistoryInChromium(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	demo := hubtest.Start(t, "imaging-demo", "--addr", addr, "--agent", hubtest.Bin("imaging-agent"))
	demo.WaitOutput(t, "Imaging status demo is running")
	base := "http://" + addr

	ctx := browserAt(t, 1366, 900).Ctx
	hubtest.Navigate(t, ctx, base+"/entities/UUID6")
	hubtest.TextOf(t, ctx, ".status-word", "Available")
	forecast := hubtest.TextMatching(t, ctx, "#disk-forecast", regexp.MustCompile(`Repository disk full in about (9|10) days`))
	if !strings.Contains(forecast, "synthetic series (demo)") || !strings.Contains(forecast, "last 7 days") {
		t.Errorf("forecast text %q: the trend and the synthetic label must be said", forecast)
	}
	history := hubtest.TextMatching(t, ctx, "#history", regexp.MustCompile(`Last 24 hours[\s\S]*\d+(\.\d)? ?%`))
	for _, want := range []string{"Availability", "Status over the last 24 hours", "Last 7 days", "Last 30 days"} {
		if !strings.Contains(history, want) {
			t.Errorf("history section lacks %q:\n%s", want, history)
		}
	}
	// The timeline: coloured segments with their times, readable as text.
	hubtest.WaitJS(t, ctx, "timeline segments", `document.querySelectorAll("[id^='tl-seg-']").length > 0`)
	label := hubtest.Eval[string](t, ctx, `document.querySelector("[id^='tl-seg-']").getAttribute("aria-label") || ""`)
	if !regexp.MustCompile(`(Available|No record).*\d\d:\d\d`).MatchString(label) {
		t.Errorf("timeline segment label %q: a status and its times", label)
	}
	hubtest.Screenshot(t, ctx, "history-archive-1366")

	// The wall warns on the archive's tile.
	hubtest.Navigate(t, ctx, base+"/wall")
	hubtest.TextMatching(t, ctx, "#wall-grid", regexp.MustCompile(`Disk full in (9|10) d`))

	// French, switched on the page.
	hubtest.Navigate(t, ctx, base+"/entities/UUID6")
	hubtest.TextOf(t, ctx, ".status-word", "Available")
	hubtest.WaitApp(t, ctx)
	hubtest.Do(t, ctx, chromedp.Click(`button.btn--lang[lang="fr"]`))
	hubtest.TextOf(t, ctx, ".status-word", "Disponible")
	hubtest.TextMatching(t, ctx, "#disk-forecast", regexp.MustCompile(`Disque du dépôt plein dans environ (9|10) jours`))
	fr := hubtest.TextOf(t, ctx, "#history", "Disponibilité")
	for _, want := range []string{"Dernières 24 heures", "État sur les dernières 24 heures"} {
		if !strings.Contains(fr, want) {
			t.Errorf("French history lacks %q:\n%s", want, fr)
		}
	}
	hubtest.Screenshot(t, ctx, "history-archive-french-1366")
}
