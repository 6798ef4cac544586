package app

import (
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"imagingstatus/wire"
)

func renderHTML(ui app.UI) string { return app.HTMLString(ui) }

// reasonCases: every reason code the hub sends, with its parameters and the
// hub's English text for it.
var reasonCases = []struct {
	code string
	args map[string]string
	raw  string
}{
	{wire.ReasonProbeFailed, map[string]string{"probe": "package-server", "target": "tcp://127.0.0.1:1", "cause": wire.CauseRefused, "count": "1"},
		"probe package-server (tcp://127.0.0.1:1) failed: dial tcp 127.0.0.1:1: connect: connection refused"},
	{wire.ReasonMissedPings, map[string]string{"seconds": "15"}, wire.MissedPingsText(15 * time.Second)},
	{wire.ReasonNoReport, map[string]string{"seconds": "20"}, "the agent is connected but has sent no report for 20 s"},
	{wire.ReasonReportStale, map[string]string{"seconds": "90"}, "the agent answers pings but its last report is 90 s old"},
	{wire.ReasonWaitingReport, nil, wire.TextWaitingReport},
	{wire.ReasonTokenRejected, nil, wire.TextTokenRejected},
	{wire.ReasonTokenRevoked, nil, wire.TextTokenRevoked},
	{wire.ReasonMalformedHello, nil, wire.TextMalformedHello},
	{wire.ReasonProtocol, nil, wire.TextProtocol},
	{wire.ReasonEntityMismatch, nil, wire.TextEntityMismatch},
	{wire.ReasonMalformedReport, nil, wire.TextMalformedReport},
	{wire.ReasonTooLarge, nil, wire.TextTooLarge},
	{wire.ReasonFlood, nil, wire.FloodText(100, time.Second)},
	{wire.ReasonAgentClosed, nil, wire.TextAgentClosed},
	{wire.ReasonAgentLost, nil, wire.TextAgentLost},
	{wire.ReasonReplaced, nil, wire.TextReplaced},
	{wire.ReasonUnlinked, nil, wire.TextUnlinked},
	{wire.ReasonNoPong, nil, wire.TextNoPong},
	{wire.ReasonHubShutdown, nil, wire.TextHubShutdown},
	{wire.ReasonNeverConnected, nil, wire.TextNeverConnected},
	{wire.ReasonNotReconnected, nil, wire.TextNotReconnected},
	{wire.ReasonNotLinked, nil, wire.TextNotLinked},
	{wire.ReasonNotRecursive, map[string]string{"server": "srv-general", "server_entity": "General"}, wire.NotRecursiveText("General", "srv-general")},
	{wire.ReasonOther, nil, "something only an older hub said"},
}

// Every code reads as its own sentence in both languages, not the hub's
// English text (except "other", which has nothing else to say), and the
// French one is not the English one.
func TestEveryReasonCodeHasASentence(t *testing.T) {
	for _, c := range reasonCases {
		t.Run(c.code, func(t *testing.T) {
			// The table's raw texts are the hub's own: they classify to
			// the same code, so stored snapshots read the same.
			if got, _ := wire.ClassifyReason(c.raw); got != c.code {
				t.Errorf("the raw text classifies as %q", got)
			}
			var sentences []string
			for _, tr := range languages {
				r := tr.ReasonOf(c.code, c.args, c.raw)
				if strings.TrimSpace(r.Sentence) == "" {
					t.Fatalf("%s: empty sentence", tr.Lang)
				}
				if c.code == wire.ReasonOther {
					if r.Sentence != c.raw || r.Detail != "" {
						t.Errorf("%s: other: %+v, want the raw text alone", tr.Lang, r)
					}
					continue
				}
				if r.Sentence == c.raw || strings.Contains(r.Sentence, "%!") || strings.Contains(r.Sentence, "?") && c.code != wire.ReasonNeverConnected {
					t.Errorf("%s: sentence %q", tr.Lang, r.Sentence)
				}
				if r.Detail != c.raw && !sameWords(r.Sentence, c.raw) {
					t.Errorf("%s: detail %q, want the raw text", tr.Lang, r.Detail)
				}
				sentences = append(sentences, r.Sentence)
			}
			if len(sentences) == 2 && sentences[0] == sentences[1] {
				t.Errorf("French and English say %q", sentences[0])
			}
		})
	}
}

func TestReasonSentences(t *testing.T) {
	probe := func(name, target, cause, count string) map[string]string {
		return map[string]string{"probe": name, "target": target, "cause": cause, "count": count}
	}
	for _, c := range []struct {
		lang Lang
		code string
		args map[string]string
		want string
	}{
		{English, wire.ReasonProbeFailed, probe("package-server", "tcp://127.0.0.1:1", wire.CauseRefused, "1"),
			"The package server's imaging API (tcp://127.0.0.1:1) refuses connections."},
		{French, wire.ReasonProbeFailed, probe("package-server", "tcp://127.0.0.1:1", wire.CauseRefused, "1"),
			"L'API d'imagerie du serveur de paquets (tcp://127.0.0.1:1) refuse les connexions."},
		{English, wire.ReasonProbeFailed, probe("repository", "/var/lib/pulse2/imaging", wire.CauseUnreadable, "1"),
			"The imaging repository (/var/lib/pulse2/imaging) is missing or unreadable."},
		{French, wire.ReasonProbeFailed, probe("repository", "/var/lib/pulse2/imaging", wire.CauseOther, "1"),
			"Le dépôt d'imagerie (/var/lib/pulse2/imaging) est absent ou illisible."},
		{English, wire.ReasonProbeFailed, probe("web", "https://10.0.0.3/", wire.CauseTimeout, "3"),
			"The service “web” (https://10.0.0.3/) does not answer in time. 2 more service checks fail too."},
		{French, wire.ReasonProbeFailed, probe("imaging-api", "https://10.0.0.3:9990/imaging_api", wire.CauseTLS, "2"),
			"L'API d'imagerie du serveur de paquets (https://10.0.0.3:9990/imaging_api) présente un certificat non reconnu, ou sa négociation TLS échoue. Une autre vérification de service échoue aussi."},
		{English, wire.ReasonProbeFailed, probe("web", "https://imaging.invalid/", wire.CauseDNS, "1"),
			"The service “web” (https://imaging.invalid/) cannot be found: its host name does not resolve (DNS)."},
		{English, wire.ReasonProbeFailed, probe("web", "https://10.0.0.3/", wire.CauseHTTP, "1"),
			"The service “web” (https://10.0.0.3/) answers with an HTTP error."},
		{English, wire.ReasonNotRecursive, map[string]string{"server": "srv-general", "server_entity": "General"},
			"General's server srv-general does not serve sub-entities: make it recursive in Medulla or link a server here."},
		{French, wire.ReasonNotRecursive, map[string]string{"server": "srv-general", "server_entity": "General"},
			"Le serveur de General, srv-general, ne dessert pas les sous-entités : rendez-le récursif dans Medulla ou liez un serveur ici."},
		{English, wire.ReasonMissedPings, map[string]string{"seconds": "75"}, "The imaging server has not answered for 1 min."},
		{French, wire.ReasonNoReport, map[string]string{"seconds": "20"}, "L'agent est connecté mais n'a envoyé aucun chiffre depuis 20 s."},
	} {
		if got := T(c.lang).ReasonText(c.code, c.args, "raw"); got != c.want {
			t.Errorf("%s %s %v:\n got %q\nwant %q", c.lang, c.code, c.args, got, c.want)
		}
	}
}

// A reason without a code (a snapshot saved by an older page, a history
// record) is read from its text; a code this page does not know shows the
// hub's text.
func TestReasonWithoutCode(t *testing.T) {
	r := T(French).ReasonOf("", nil, "probe package-server (tcp://127.0.0.1:1) failed: dial tcp 127.0.0.1:1: connect: connection refused")
	if r.Sentence != "L'API d'imagerie du serveur de paquets (tcp://127.0.0.1:1) refuse les connexions." || !strings.HasPrefix(r.Detail, "probe package-server") {
		t.Errorf("classified: %+v", r)
	}
	if r := T(French).ReasonOf("from_the_future", map[string]string{"x": "1"}, "a newer hub's reason"); r.Sentence != "a newer hub's reason" || r.Detail != "" {
		t.Errorf("unknown code: %+v", r)
	}
	if r := T(English).ReasonOf("", nil, ""); r.Sentence != "" || r.Detail != "" {
		t.Errorf("no reason: %+v", r)
	}
	// The English sentence of a fixed text is that text: no detail line
	// repeating it.
	if r := T(English).ReasonOf(wire.ReasonNotLinked, nil, wire.TextNotLinked); r.Detail != "" {
		t.Errorf("not linked in English: %+v", r)
	}
}

func TestPanelTranslatedReasonWithDetail(t *testing.T) {
	e := connErrorEntity()
	e.Reason = "probe package-server (tcp://127.0.0.1:1) failed: dial tcp 127.0.0.1:1: connect: connection refused"
	e.ReasonCode = wire.ReasonProbeFailed
	e.ReasonArgs = map[string]string{"probe": "package-server", "target": "tcp://127.0.0.1:1", "cause": wire.CauseRefused, "count": "1"}
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text, "Connection error The package server's imaging API (tcp://127.0.0.1:1) refuses connections. Details: probe package-server (tcp://127.0.0.1:1) failed: dial tcp 127.0.0.1:1: connect: connection refused For 5 min")
	text = loadPanel(t, &EntityPanel{Entity: e, Now: hubNow, Lang: French})
	wantAll(t, text, "Erreur de connexion L'API d'imagerie du serveur de paquets (tcp://127.0.0.1:1) refuse les connexions. Détails : probe package-server")
	// "other": the hub's text is the sentence, with no detail line.
	e.ReasonCode, e.ReasonArgs, e.Reason = wire.ReasonOther, nil, "something new"
	text = loadPanel(t, &EntityPanel{Entity: e, Now: hubNow, Lang: French})
	wantAll(t, text, "Erreur de connexion something new")
	wantNone(t, text, "Détails")
}

// Not linked because the parent's server is not recursive: the page says
// what is true, once, in both languages.
func TestPanelNotRecursive(t *testing.T) {
	e := notLinkedEntity()
	e.Reason, e.ReasonCode = wire.NotRecursiveText("General", "srv-general"), wire.ReasonNotRecursive
	e.ReasonArgs = map[string]string{"server": "srv-general", "server_entity": "General"}
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text, "General's server srv-general does not serve sub-entities: make it recursive in Medulla or link a server here.")
	wantNone(t, text, "Details:", "No imaging server serves this entity")
	text = loadPanel(t, &EntityPanel{Entity: e, Now: hubNow, Lang: French})
	wantAll(t, text, "Le serveur de General, srv-general, ne dessert pas les sous-entités",
		"Détails : General's server srv-general does not serve sub-entities")
	wantNone(t, text, "Aucun serveur d'imagerie ne dessert")
}

func alertingEntity() wire.Entity {
	e := offlineEntity()
	e.Since = hubNow.Add(-12 * time.Minute)
	e.Alerts = []wire.EntityAlert{
		{Kind: wire.AlertStatus, Since: e.Since, FiredAt: e.Since.Add(2 * time.Minute)},
		{Kind: wire.AlertForecast, Since: hubNow.Add(-30 * time.Hour), FiredAt: hubNow.Add(-29 * time.Hour)},
	}
	return e
}

func TestPanelShowsFiringAlerts(t *testing.T) {
	e := alertingEntity()
	clock := func(d time.Duration) string { return hubNow.Add(d).Local().Format("15:04") }
	date := func(d time.Duration, layout string) string { return hubNow.Add(d).Local().Format(layout) }
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text,
		"Alert sent to the on-call team: Offline since "+clock(-12*time.Minute)+" (12 min), sent at "+clock(-10*time.Minute),
		"Alert sent to the on-call team: Disk forecast to fill soon since "+date(-30*time.Hour, "2006-01-02 15:04")+" (1 d 6 h 0 min), sent at "+date(-29*time.Hour, "2006-01-02 15:04"))
	text = loadPanel(t, &EntityPanel{Entity: e, Now: hubNow, Lang: French})
	wantAll(t, text,
		"Alerte envoyée à l'équipe d'astreinte : Hors ligne depuis "+clock(-12*time.Minute)+" (12 min), envoyée à "+clock(-10*time.Minute),
		"Disque bientôt plein selon la prévision depuis "+date(-30*time.Hour, "02/01/2006 15:04"))
	// None firing: nothing said.
	wantNone(t, loadPanel(t, &EntityPanel{Entity: offlineEntity(), Now: hubNow}), "Alert sent")
}

func TestTileAndListMarkAlerts(t *testing.T) {
	w := &Wall{}
	w.now = hubNow
	e := alertingEntity()
	for _, tr := range languages {
		tile := renderHTML(w.renderTile(tr, e, hubNow, nil))
		if !strings.Contains(tile, `class="tile-alert"`) || !strings.Contains(tile, `aria-label="`+tr.AlertMarker+`"`) {
			t.Errorf("%s: the tile has no alert marker:\n%s", tr.Lang, tile)
		}
	}
	if tile := renderHTML(w.renderTile(T(English), offlineEntity(), hubNow, nil)); strings.Contains(tile, "tile-alert") {
		t.Errorf("a marker without an alert:\n%s", tile)
	}
	d := &Dashboard{}
	d.st.apply(Batch{Snapshot: []wire.Entity{availableEntity(), e}})
	list := renderHTML(d.renderPicker(T(French), ""))
	if strings.Count(list, `aria-label="Alerte envoyée"`) != 2 { // the tree and the phone's overview
		t.Errorf("the entity list marks the alert %d times:\n%s", strings.Count(list, "Alerte envoyée"), list)
	}
}

// The wall says the translated sentence; the hub's text stays a tooltip.
func TestTileTranslatedReason(t *testing.T) {
	w := &Wall{}
	w.now = hubNow
	e := connErrorEntity()
	e.Reason = "probe repository (/var/lib/pulse2/imaging) failed: open /var/lib/pulse2/imaging: no such file or directory"
	e.ReasonCode, e.ReasonArgs = wire.ClassifyReason(e.Reason)
	tile := visibleText(w.renderTile(T(French), e, hubNow, nil))
	wantAll(t, tile, "Le dépôt d'imagerie (/var/lib/pulse2/imaging) est absent ou illisible.")
	wantNone(t, tile, "no such file")
}

func TestTimelineTranslatesReasons(t *testing.T) {
	s := Segment{From: hubNow.Add(-time.Hour), To: hubNow.Add(-30 * time.Minute), Status: wire.StatusOffline, Reason: wire.TextAgentLost}
	got := T(French).SegmentText(s)
	if !strings.Contains(got, "(La connexion avec l'agent du serveur d'imagerie est coupée (réseau ou serveur en panne))") {
		t.Errorf("segment: %q", got)
	}
}
