package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"

	"imagingstatus/agent/repo/sample"
	"imagingstatus/server/alert"
	"imagingstatus/server/hubtest"
	"imagingstatus/wire"
)

// hookReceiver is a real HTTP server taking the hub's webhooks.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	docs []map[string]any
	sigs []string
	raw  [][]byte
}

func newHookReceiver(t *testing.T, code int) *hookReceiver {
	h := &hookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var doc map[string]any
		_ = json.Unmarshal(b, &doc)
		h.mu.Lock()
		h.docs, h.sigs, h.raw = append(h.docs, doc), append(h.sigs, r.Header.Get(alert.SignatureHeader)), append(h.raw, b)
		h.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

// find returns the first document with these fields.
func (h *hookReceiver) find(want map[string]any) (map[string]any, string, []byte) {
	return h.findFrom(0, want)
}

// count is how many documents came so far.
func (h *hookReceiver) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.docs)
}

// findFrom is find among the documents from the from-th on.
func (h *hookReceiver) findFrom(from int, want map[string]any) (map[string]any, string, []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
next:
	for i, d := range h.docs {
		if i < from {
			continue
		}
		for k, v := range want {
			if d[k] != v {
				continue next
			}
		}
		return d, h.sigs[i], h.raw[i]
	}
	return nil, "", nil
}

// TestAlertsEndToEnd: a real hub and agent; the agent is killed, the
// webhook receives one signed message for the server's two entities, the
// page's entity shows the alert, /api/v1/alerts the delivery; the agent
// comes back and a resolved message follows.
func TestAlertsEndToEnd(t *testing.T) {
	hook := newHookReceiver(t, http.StatusOK)
	e := hubtest.NewEnv(t, "", interval)
	secret := e.WriteFile(t, "hook.secret", "s3cret\n")
	e.WriteConfig(t, `{"listen":"127.0.0.1:0","plain_http":true,"interval":"`+interval.String()+`","missed_pings":3,
		"public_urls":["https://imaging.example"],
		"alerts":{"webhooks":[{"name":"ops","url":"`+hook.URL+`/hook","format":"json","secret_file":"`+secret+`"}],
			"rules":{"offline_after":"0s","connection_error_after":"0s"}},
		"entities":[
		{"id":"UUID0","name":"General","server":{"name":"imaging-general","token_sha256":"`+e.NewToken(t, "UUID0")+`"}},
		{"id":"UUID1","name":"Public","parent":"UUID0"}]}`)
	e.GenerateRepo(t, sample.Options{Complete: 2, Clients: 2, ClientsWithImages: 1})
	e.StartHub(t)
	agent := e.Agent(t, "UUID0")
	e.WaitStatus(t, "UUID1", wire.StatusAvailable, "")
	// The alert of the hub's start (never connected) must have ended
	// before the kill: the rules are judged once a second, and an Offline
	// that follows a short Available unseen would be the same alert going
	// on, rightly not sent again.
	hubtest.WaitFor(t, "the start's alert resolved", func() bool {
		var st alert.Status
		_, err := hubtest.GetJSON(e.Hub.URL+"/api/v1/alerts", &st)
		return err == nil && len(st.Firing) == 0
	})

	agent.Kill(syscall.SIGKILL)
	e.WaitStatus(t, "UUID1", wire.StatusOffline, "")
	var doc map[string]any
	var sig string
	var raw []byte
	hubtest.WaitFor(t, "the Offline webhook", func() bool {
		// (The hub alerted at its start too, before the agent came: Offline,
		// never connected, with no previous status.)
		doc, sig, raw = hook.find(map[string]any{"kind": "status", "status": "offline", "previous_status": "available"})
		return doc != nil
	})
	if want := alert.Sign([]byte("s3cret"), raw); sig != want {
		t.Fatalf("signature %q, want %q", sig, want)
	}
	ents, _ := doc["entities"].([]any)
	if doc["entity"] != "UUID0" || doc["entity_name"] != "General" || doc["server"] != "imaging-general" || doc["previous_status"] != "available" ||
		doc["url"] != "https://imaging.example/entities/UUID0" || len(ents) != 2 || !strings.Contains(doc["text"].(string), "imaging-general is Offline: General, Public") {
		t.Fatalf("webhook document: %s", raw)
	}
	var ent wire.Entity
	hubtest.WaitFor(t, "the alert on the entity", func() bool {
		ent = e.Entity(t, "UUID1")
		return len(ent.Alerts) == 1
	})
	if a := ent.Alerts[0]; a.Kind != wire.AlertStatus || a.Since.IsZero() || a.FiredAt.Before(a.Since) {
		t.Fatalf("entity alert %+v", a)
	}
	var st alert.Status
	hubtest.WaitFor(t, "the delivery in /api/v1/alerts", func() bool {
		_, err := hubtest.GetJSON(e.Hub.URL+"/api/v1/alerts", &st)
		return err == nil && len(st.Targets) == 1 && st.Targets[0].Delivered >= 1
	})
	if tg := st.Targets[0]; !st.Configured || tg.Name != "ops" || tg.Kind != alert.TargetWebhook || tg.LastResult != alert.ResultOK || len(st.Firing) != 2 {
		t.Fatalf("/api/v1/alerts: %+v", st)
	}
	if b, _ := json.Marshal(st); strings.Contains(string(b), hook.URL) {
		t.Fatalf("/api/v1/alerts shows the webhook URL: %s", b)
	}

	sent := hook.count()
	e.Agent(t, "UUID0")
	e.WaitStatus(t, "UUID1", wire.StatusAvailable, "")
	hubtest.WaitFor(t, "the resolved webhook", func() bool {
		doc, _, raw = hook.findFrom(sent, map[string]any{"kind": "resolved"})
		return doc != nil
	})
	if doc["status"] != "available" || doc["previous_status"] != "offline" || doc["resolves"] != "status" {
		t.Fatalf("resolved document: %s", raw)
	}
	hubtest.WaitFor(t, "the alert gone from the entity", func() bool { return len(e.Entity(t, "UUID1").Alerts) == 0 })
}

// TestAlertTestCommand: `imaging-hub alert test` reaches every target and
// exits non-zero naming the one that fails.
func TestAlertTestCommand(t *testing.T) {
	good, bad := newHookReceiver(t, http.StatusNoContent), newHookReceiver(t, http.StatusForbidden)
	e := hubtest.NewEnv(t, "", interval)
	cfg := func(hooks string) string {
		e.WriteConfig(t, `{"plain_http":true,"alerts":{"webhooks":[`+hooks+`]},"entities":[{"id":"UUID0","name":"General"}]}`)
		return e.Config
	}
	res := hubtest.Run(t, nil, "imaging-hub", "alert", "test", "--config", cfg(`{"name":"chat","url":"`+good.URL+`","format":"slack"}`))
	if res.Code != 0 || !strings.Contains(res.Stdout, "ok   chat (webhook)") {
		t.Fatalf("all good: exit %d\n%s", res.Code, res.Output())
	}
	if d, _, _ := good.find(map[string]any{}); d == nil || !strings.Contains(d["text"].(string), "Test message") {
		t.Fatalf("the chat got %v", d)
	}
	res = hubtest.Run(t, nil, "imaging-hub", "alert", "test", "--config",
		cfg(`{"name":"chat","url":"`+good.URL+`"},{"name":"pager","url":"`+bad.URL+`/secret-path"}`))
	if res.Code == 0 || !strings.Contains(res.Stdout, "FAIL pager (webhook): the endpoint answered 403 Forbidden") ||
		!strings.Contains(res.Stderr, "alert targets failing: pager") || strings.Contains(res.Output(), "secret-path") {
		t.Fatalf("one failing: exit %d\n%s", res.Code, res.Output())
	}
}
