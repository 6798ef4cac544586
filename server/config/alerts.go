package config

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Alerts says whom to tell, and when, that an imaging server is down or
// its disk is filling up.
type Alerts struct {
	Webhooks []Webhook  `json:"webhooks,omitempty"`
	Email    *Email     `json:"email,omitempty"`
	Rules    AlertRules `json:"rules"`
}

// Webhook formats: the hub's own document, or a chat tool's incoming
// webhook shape.
const (
	FormatJSON       = "json"
	FormatSlack      = "slack"
	FormatMattermost = "mattermost"
	FormatTeams      = "teams"
)

// Webhook is an HTTP endpoint that receives alerts as POSTed JSON.
type Webhook struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Format string `json:"format,omitempty"` // default json
	// SecretFile holds a shared secret: the body is then signed with
	// HMAC-SHA256 in the X-Imaging-Signature header.
	SecretFile string `json:"secret_file,omitempty"`
}

// Email sends alerts through an SMTP server.
type Email struct {
	SMTP string `json:"smtp"` // host:port
	// StartTLS requires STARTTLS (port 587); TLS speaks TLS from the
	// first byte (port 465). Neither: plain SMTP, for a relay on loopback.
	StartTLS     bool     `json:"starttls,omitempty"`
	TLS          bool     `json:"tls,omitempty"`
	From         string   `json:"from"`
	To           []string `json:"to"`
	Username     string   `json:"username,omitempty"`
	PasswordFile string   `json:"password_file,omitempty"`
}

// AlertRules say when a condition becomes an alert. Absent fields take the
// defaults below.
type AlertRules struct {
	// OfflineAfter and ConnectionErrorAfter: how long the status must hold
	// ("0s": at once).
	OfflineAfter         *Duration `json:"offline_after,omitempty"`
	ConnectionErrorAfter *Duration `json:"connection_error_after,omitempty"`
	// DiskUsedPercent: a partition this full (as df counts) alerts; 0 turns
	// the rule off.
	DiskUsedPercent *int `json:"disk_used_percent,omitempty"`
	// DiskFullWithin: a repository partition forecast to fill within this
	// long alerts ("0s" turns it off; at most 14 days).
	DiskFullWithin *Duration `json:"disk_full_within,omitempty"`
	// Repeat: how often a firing alert is sent again ("0s": never).
	Repeat *Duration `json:"repeat,omitempty"`
	// Scope limits alerts to these entities and their subtrees (empty: all).
	Scope []string `json:"scope,omitempty"`
}

// Alert rule defaults.
const (
	DefaultOfflineAfter         = 2 * time.Minute
	DefaultConnectionErrorAfter = 2 * time.Minute
	DefaultDiskUsedPercent      = 90
	DefaultDiskFullWithin       = 7 * 24 * time.Hour
	DefaultRepeat               = 4 * time.Hour
	// MaxDiskFullWithin: forecasts further out are too uncertain to page
	// anyone (and summaries carry them only below 14 days).
	MaxDiskFullWithin = 14 * 24 * time.Hour
)

// Rules are the alert rules in force, defaults applied.
type Rules struct {
	OfflineAfter, ConnectionErrorAfter time.Duration
	DiskUsedPercent                    int
	DiskFullWithin                     time.Duration
	Repeat                             time.Duration
	Scope                              []string
}

// Resolved applies the defaults.
func (r AlertRules) Resolved() Rules {
	out := Rules{OfflineAfter: DefaultOfflineAfter, ConnectionErrorAfter: DefaultConnectionErrorAfter,
		DiskUsedPercent: DefaultDiskUsedPercent, DiskFullWithin: DefaultDiskFullWithin, Repeat: DefaultRepeat, Scope: r.Scope}
	if r.OfflineAfter != nil {
		out.OfflineAfter = time.Duration(*r.OfflineAfter)
	}
	if r.ConnectionErrorAfter != nil {
		out.ConnectionErrorAfter = time.Duration(*r.ConnectionErrorAfter)
	}
	if r.DiskUsedPercent != nil {
		out.DiskUsedPercent = *r.DiskUsedPercent
	}
	if r.DiskFullWithin != nil {
		out.DiskFullWithin = time.Duration(*r.DiskFullWithin)
	}
	if r.Repeat != nil {
		out.Repeat = time.Duration(*r.Repeat)
	}
	return out
}

// maxWebhooks bounds the targets (each has its own delivery queue).
const maxWebhooks = 32

func (a *Alerts) check() error {
	if len(a.Webhooks) > maxWebhooks {
		return fmt.Errorf("alerts.webhooks: %d targets, at most %d", len(a.Webhooks), maxWebhooks)
	}
	names := map[string]bool{}
	for i, w := range a.Webhooks {
		where := fmt.Sprintf("alerts.webhooks[%d]", i)
		if w.Name == "" || len(w.Name) > 64 || strings.ContainsAny(w.Name, "\r\n") {
			return fmt.Errorf("%s: needs a \"name\" of 1-64 characters (it names the target in logs and /api/v1/alerts)", where)
		}
		if names[w.Name] || w.Name == "email" {
			return fmt.Errorf("%s: name %q is used twice (\"email\" names the e-mail target)", where, w.Name)
		}
		names[w.Name] = true
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%s (%s): \"url\" must be an http(s) URL", where, w.Name)
		}
		switch w.Format {
		case "", FormatJSON, FormatSlack, FormatMattermost, FormatTeams:
		default:
			return fmt.Errorf("%s (%s): format %q: choose json, slack, mattermost or teams", where, w.Name, w.Format)
		}
	}
	if e := a.Email; e != nil {
		if e.SMTP == "" || !strings.Contains(e.SMTP, ":") {
			return errors.New("alerts.email.smtp: write the SMTP server as host:port (e.g. mail.example:587)")
		}
		if _, p, _ := strings.Cut(e.SMTP, ":"); p == "" {
			return errors.New("alerts.email.smtp: the port is missing (587 for STARTTLS, 465 for TLS)")
		}
		if e.StartTLS && e.TLS {
			return errors.New("alerts.email: choose \"starttls\" (port 587) or \"tls\" (port 465), not both")
		}
		if _, err := mail.ParseAddress(e.From); err != nil {
			return fmt.Errorf("alerts.email.from %q is not an e-mail address", e.From)
		}
		if len(e.To) == 0 {
			return errors.New("alerts.email.to: list at least one recipient")
		}
		for _, t := range e.To {
			if _, err := mail.ParseAddress(t); err != nil {
				return fmt.Errorf("alerts.email.to: %q is not an e-mail address", t)
			}
		}
		if (e.Username == "") != (e.PasswordFile == "") {
			return errors.New("alerts.email: give both \"username\" and \"password_file\", or neither")
		}
	}
	r := a.Rules
	for name, d := range map[string]*Duration{"offline_after": r.OfflineAfter, "connection_error_after": r.ConnectionErrorAfter,
		"disk_full_within": r.DiskFullWithin, "repeat": r.Repeat} {
		if d != nil && *d < 0 {
			return fmt.Errorf("alerts.rules.%s must not be negative", name)
		}
	}
	if r.DiskFullWithin != nil && time.Duration(*r.DiskFullWithin) > MaxDiskFullWithin {
		return fmt.Errorf("alerts.rules.disk_full_within: at most %s (14d)", MaxDiskFullWithin)
	}
	if r.Repeat != nil && *r.Repeat > 0 && time.Duration(*r.Repeat) < time.Minute {
		return errors.New("alerts.rules.repeat: at least 1m (or \"0s\" to send once)")
	}
	if p := r.DiskUsedPercent; p != nil && (*p < 0 || *p > 100) {
		return fmt.Errorf("alerts.rules.disk_used_percent %d out of range 0..100 (0 turns it off)", *p)
	}
	return nil
}

// parseDays reads a leading "<n>d" (days), which time.ParseDuration lacks,
// then the rest as a Go duration: "7d", "1d12h", "90m".
func parseDays(s string) (time.Duration, error) {
	i := strings.IndexByte(s, 'd')
	if i <= 0 {
		return time.ParseDuration(s)
	}
	n, err := strconv.Atoi(s[:i])
	if err != nil || n < 0 || n > 3650 {
		return time.ParseDuration(s) // its error names the bad duration
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest := s[i+1:]; rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil {
			return 0, err
		}
		d += r
	}
	return d, nil
}
