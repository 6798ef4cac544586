package config

import (
	"strings"
	"testing"
	"time"
)

func alertsConfig(alerts string) []byte {
	return []byte(`{"entities":[{"id":"a","name":"A"}],"alerts":` + alerts + `}`)
}

func TestAlertsRefused(t *testing.T) {
	cases := []struct{ name, alerts, want string }{
		{"webhook without name", `{"webhooks":[{"url":"https://x.example/h"}]}`, "needs a \"name\""},
		{"webhook twice", `{"webhooks":[{"name":"a","url":"https://x.example/h"},{"name":"a","url":"https://y.example/h"}]}`, "used twice"},
		{"webhook named email", `{"webhooks":[{"name":"email","url":"https://x.example/h"}]}`, "used twice"},
		{"webhook bad url", `{"webhooks":[{"name":"a","url":"ftp://x.example/h"}]}`, "http(s) URL"},
		{"webhook bad format", `{"webhooks":[{"name":"a","url":"https://x.example/h","format":"xml"}]}`, "choose json, slack"},
		{"email no port", `{"email":{"smtp":"mail.example","from":"a@example.org","to":["b@example.org"]}}`, "host:port"},
		{"email both tls", `{"email":{"smtp":"mail.example:587","starttls":true,"tls":true,"from":"a@example.org","to":["b@example.org"]}}`, "not both"},
		{"email bad from", `{"email":{"smtp":"mail.example:587","from":"nobody","to":["b@example.org"]}}`, "not an e-mail address"},
		{"email no to", `{"email":{"smtp":"mail.example:587","from":"a@example.org"}}`, "at least one recipient"},
		{"email user without password", `{"email":{"smtp":"mail.example:587","from":"a@example.org","to":["b@example.org"],"username":"u"}}`, "both \"username\""},
		{"negative delay", `{"rules":{"offline_after":"-1m"}}`, "must not be negative"},
		{"far forecast", `{"rules":{"disk_full_within":"30d"}}`, "at most"},
		{"tiny repeat", `{"rules":{"repeat":"5s"}}`, "at least 1m"},
		{"percent", `{"rules":{"disk_used_percent":120}}`, "out of range"},
		{"bad days", `{"rules":{"disk_full_within":"xd"}}`, "invalid duration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(alertsConfig(c.alerts))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestAlertRulesDefaultsAndDays(t *testing.T) {
	c, err := Parse(alertsConfig(`{"rules":{"offline_after":"0s","disk_full_within":"1d12h","scope":["a"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Source.Alerts.Rules.Resolved()
	want := Rules{OfflineAfter: 0, ConnectionErrorAfter: DefaultConnectionErrorAfter, DiskUsedPercent: DefaultDiskUsedPercent,
		DiskFullWithin: 36 * time.Hour, Repeat: DefaultRepeat, Scope: []string{"a"}}
	if got.OfflineAfter != want.OfflineAfter || got.ConnectionErrorAfter != want.ConnectionErrorAfter || got.DiskUsedPercent != want.DiskUsedPercent ||
		got.DiskFullWithin != want.DiskFullWithin || got.Repeat != want.Repeat || len(got.Scope) != 1 {
		t.Fatalf("rules %+v, want %+v", got, want)
	}
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "90m": 90 * time.Minute, "0d": 0, "2d30m": 48*time.Hour + 30*time.Minute} {
		if d, err := parseDays(in); err != nil || d != want {
			t.Errorf("parseDays(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
}
