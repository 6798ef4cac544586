package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/wire"
)

// Message kinds, as the json format's "kind" says them: the three alert
// kinds of wire (status, disk, forecast), and these.
const (
	KindResolved = "resolved"
	KindTest     = "test"
)

// Message is one alert about one server's entities.
type Message struct {
	Kind string `json:"kind"`
	// Resolves is, for a resolved message, the kind that ended.
	Resolves string `json:"resolves,omitempty"`
	Server   string `json:"server"`
	// Status is the condition's status (status alerts); CurrentStatus the
	// entities' status when the message was made; Previous the status
	// before the condition began.
	Status        wire.Status `json:"status,omitempty"`
	CurrentStatus wire.Status `json:"current_status,omitempty"`
	Previous      wire.Status `json:"previous,omitempty"`
	Since         time.Time   `json:"since"`
	Reason        string      `json:"reason,omitempty"`
	Mount         string      `json:"mount,omitempty"`
	Percent       int         `json:"percent,omitempty"`
	DaysLeft      float64     `json:"days_left,omitempty"`
	Repeat        bool        `json:"repeat,omitempty"`
	At            time.Time   `json:"at"`
	// Ended is, for a resolved message, when the condition stopped holding.
	Ended    time.Time   `json:"ended,omitzero"`
	Entities []EntityRef `json:"entities"`
}

// EntityRef names an entity a message is about.
type EntityRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// statusWords are the statuses as the page says them in English.
var statusWords = map[wire.Status]string{
	wire.StatusAvailable: "Available", wire.StatusOffline: "Offline",
	wire.StatusConnectionError: "in Connection error", wire.StatusNotLinked: "not linked",
}

func statusWord(s wire.Status) string {
	if w, ok := statusWords[s]; ok {
		return w
	}
	return string(s)
}

func (m Message) names() string {
	n := make([]string, len(m.Entities))
	for i, e := range m.Entities {
		n[i] = e.Name
	}
	return strings.Join(n, ", ")
}

// Title is the message's one line: a chat line, an e-mail subject.
func (m Message) Title() string {
	still := ""
	if m.Repeat {
		still = "still "
	}
	switch m.Kind {
	case wire.AlertStatus:
		return fmt.Sprintf("%s is %s%s: %s", m.Server, still, statusWord(m.Status), m.names())
	case wire.AlertDisk:
		return fmt.Sprintf("%s: partition %s is %s%d%% full: %s", m.Server, m.Mount, still, m.Percent, m.names())
	case wire.AlertForecast:
		return fmt.Sprintf("%s: partition %s will %sbe full in about %s: %s", m.Server, m.Mount, still, days(m.DaysLeft), m.names())
	case KindResolved:
		switch m.Resolves {
		case wire.AlertStatus:
			return fmt.Sprintf("Resolved: %s is %s again (was %s for %s): %s", m.Server, statusWord(m.CurrentStatus), statusWord(m.Status), ago(m.Ended.Sub(m.Since)), m.names())
		case wire.AlertDisk:
			return fmt.Sprintf("Resolved: %s: partition %s is no longer nearly full: %s", m.Server, m.Mount, m.names())
		default:
			return fmt.Sprintf("Resolved: %s: partition %s is no longer forecast to fill soon: %s", m.Server, m.Mount, m.names())
		}
	case KindTest:
		return "Test message from the imaging status hub: alerts reach this target"
	}
	return m.Kind
}

// Text is the message in full: the title, then the facts.
func (m Message) Text(base string) string {
	var b strings.Builder
	b.WriteString(m.Title())
	b.WriteString("\n")
	if m.Kind != KindTest {
		fmt.Fprintf(&b, "Since: %s (%s ago)\n", m.Since.UTC().Format(time.RFC3339), ago(m.At.Sub(m.Since)))
	}
	if m.Reason != "" && m.Kind == wire.AlertStatus {
		fmt.Fprintf(&b, "Reason: %s\n", m.Reason)
	}
	for _, e := range m.Entities {
		fmt.Fprintf(&b, "%s: %s\n", e.Name, entityURL(base, e.ID))
	}
	if m.Kind == KindTest {
		fmt.Fprintf(&b, "Hub: %s\n", base)
	}
	return b.String()
}

func days(d float64) string {
	if d < 1 {
		return "less than a day"
	}
	if d < 2 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", int(d))
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// BaseURL is where people reach the hub: the first public URL, else the
// listen address.
func BaseURL(cfg *config.Config) string {
	if u := cfg.Source.PublicURLs; len(u) > 0 {
		return strings.TrimRight(u[0], "/")
	}
	scheme := "http"
	if cfg.Source.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + cfg.Listen
}

func entityURL(base, id string) string { return base + "/entities/" + id }

// jsonBody is the hub's own document: the first entity's fields at the
// top (the shape), every entity in "entities".
type jsonBody struct {
	Entity         string      `json:"entity"`
	EntityName     string      `json:"entity_name"`
	Status         wire.Status `json:"status"`
	PreviousStatus wire.Status `json:"previous_status,omitempty"`
	Since          time.Time   `json:"since"`
	Reason         string      `json:"reason,omitempty"`
	Server         string      `json:"server"`
	URL            string      `json:"url"`
	Kind           string      `json:"kind"`
	Resolves       string      `json:"resolves,omitempty"`
	Repeat         bool        `json:"repeat,omitempty"`
	Mountpoint     string      `json:"mountpoint,omitempty"`
	UsedPercent    int         `json:"used_percent,omitempty"`
	DaysLeft       *float64    `json:"days_left,omitempty"`
	Text           string      `json:"text"`
	Entities       []jsonRef   `json:"entities"`
}

type jsonRef struct {
	Entity     string `json:"entity"`
	EntityName string `json:"entity_name"`
	URL        string `json:"url"`
}

// Body encodes m in a webhook format.
func Body(format string, m Message, base string) ([]byte, error) {
	switch format {
	case config.FormatSlack:
		return json.Marshal(map[string]string{"text": m.Text(base)})
	case config.FormatMattermost:
		return json.Marshal(map[string]string{"text": m.Text(base), "username": "imaging status"})
	case config.FormatTeams:
		// An Adaptive Card in a message, as Teams' incoming webhooks
		// (Workflows) take it.
		body := []map[string]any{{"type": "TextBlock", "text": m.Title(), "weight": "Bolder", "wrap": true}}
		for _, line := range strings.Split(strings.TrimSpace(m.Text(base)), "\n")[1:] {
			body = append(body, map[string]any{"type": "TextBlock", "text": line, "wrap": true})
		}
		return json.Marshal(map[string]any{"type": "message", "attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content": map[string]any{"type": "AdaptiveCard", "version": "1.4",
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "body": body},
		}}})
	}
	jb := jsonBody{Status: m.Status, PreviousStatus: m.Previous, Since: m.Since.UTC(), Reason: m.Reason, Server: m.Server,
		Kind: m.Kind, Resolves: m.Resolves, Repeat: m.Repeat, Mountpoint: m.Mount, UsedPercent: m.Percent, Text: m.Title(),
		Entities: make([]jsonRef, len(m.Entities))}
	if m.Kind == KindResolved {
		jb.Status, jb.PreviousStatus = m.CurrentStatus, m.Status
	}
	if m.Kind == wire.AlertForecast {
		d := m.DaysLeft
		jb.DaysLeft = &d
	}
	for i, e := range m.Entities {
		jb.Entities[i] = jsonRef{Entity: e.ID, EntityName: e.Name, URL: entityURL(base, e.ID)}
	}
	if len(m.Entities) > 0 {
		jb.Entity, jb.EntityName, jb.URL = m.Entities[0].ID, m.Entities[0].Name, jb.Entities[0].URL
	} else {
		jb.URL = base
	}
	return json.Marshal(jb)
}

// SignatureHeader carries the body's HMAC-SHA256 under the target's
// secret, as "sha256=<hex>".
const SignatureHeader = "X-Imaging-Signature"

// Sign returns the SignatureHeader value of body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
