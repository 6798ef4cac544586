package wire

import (
	"maps"
	"testing"
	"time"
)

func TestClassifyReason(t *testing.T) {
	cases := []struct {
		text, code string
		args       map[string]string
	}{
		{"", "", nil},
		{TextAgentLost, ReasonAgentLost, nil},
		{TextTokenRejected, ReasonTokenRejected, nil},
		{TextNotLinked, ReasonNotLinked, nil},
		{"no answer from the agent for 17 s (missed pings)", ReasonMissedPings, map[string]string{"seconds": "17"}},
		{MissedPingsText(15 * time.Second), ReasonMissedPings, map[string]string{"seconds": "15"}},
		{MissedPingsText(600 * time.Millisecond), ReasonMissedPings, map[string]string{"seconds": "1"}},
		{"the agent is connected but has sent no report for 16 s", ReasonNoReport, map[string]string{"seconds": "16"}},
		{"the agent answers pings but its last report is 20 s old", ReasonReportStale, map[string]string{"seconds": "20"}},
		{FloodText(20, 5*time.Second), ReasonFlood, nil},
		{"probe package-server (tcp://127.0.0.1:1) failed: dial tcp 127.0.0.1:1: connect: connection refused", ReasonProbeFailed,
			map[string]string{"probe": "package-server", "target": "tcp://127.0.0.1:1", "cause": CauseRefused, "count": "1"}},
		{"probe repository (/var/lib/pulse2/imaging) failed: imaging repository /var/lib/pulse2/imaging: root not readable: no such directory; " +
			"probe api (https://h:9990/x) failed: Get \"https://h:9990/x\": x509: certificate signed by unknown authority", ReasonProbeFailed,
			map[string]string{"probe": "repository", "target": "/var/lib/pulse2/imaging", "cause": CauseUnreadable, "count": "2"}},
		{"probe api (https://h/x) failed: HTTP 502 Bad Gateway", ReasonProbeFailed, map[string]string{"probe": "api", "target": "https://h/x", "cause": CauseHTTP, "count": "1"}},
		{"probe api (https://h/x) failed: Get \"https://h/x\": context deadline exceeded", ReasonProbeFailed, map[string]string{"probe": "api", "target": "https://h/x", "cause": CauseTimeout, "count": "1"}},
		{"probe api (tcp://nope:1) failed: dial tcp: lookup nope: no such host", ReasonProbeFailed, map[string]string{"probe": "api", "target": "tcp://nope:1", "cause": CauseDNS, "count": "1"}},
		{NotRecursiveText("General", "srv-general"), ReasonNotRecursive, map[string]string{"server_entity": "General", "server": "srv-general"}},
		{"something an older hub wrote", ReasonOther, nil},
	}
	for _, c := range cases {
		code, args := ClassifyReason(c.text)
		if code != c.code || !maps.Equal(args, c.args) {
			t.Errorf("%q: %s %v, want %s %v", c.text, code, args, c.code, c.args)
		}
	}
	// Every fixed text has its own code.
	seen := map[string]string{}
	for text, code := range fixedReasons {
		if other, dup := seen[code]; dup {
			t.Errorf("%q and %q share the code %s", text, other, code)
		}
		seen[code] = text
	}
}

// Probe errors come from an authenticated agent: whatever they hold, the
// classification returns a known code and bounded arguments.
func FuzzClassifyReason(f *testing.F) {
	f.Add("probe a (tcp://h:1) failed: connection refused; probe b () failed: x")
	f.Add(TextAgentLost)
	f.Add("no answer from the agent within 1h (missed pings)")
	f.Fuzz(func(t *testing.T, text string) {
		code, args := ClassifyReason(text)
		if text == "" && code != "" {
			t.Fatalf("empty text: code %q", code)
		}
		if text != "" && code == "" {
			t.Fatalf("%q: no code", text)
		}
		for k, v := range args {
			if len(v) > len(text) {
				t.Fatalf("%q: argument %s=%q longer than the text", text, k, v)
			}
		}
	})
}
