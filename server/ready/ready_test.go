package ready_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"imagingstatus/server/api"
	"imagingstatus/server/ready"
	"imagingstatus/wire"
)

// hub answers the readiness endpoint with a fixed status and body, and
// notes the path it was asked.
func hub(t *testing.T, code int, body string) (*httptest.Server, *string) {
	t.Helper()
	var asked string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = r.URL.EscapedPath()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	return ts, &asked
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		code  int
		body  string
		want  api.Readiness
		error string // fragment of the error; "" for none
	}{
		{"ready", 200, `{"id":"UUID1","ready":true,"status":"available"}`,
			api.Readiness{ID: "UUID1", Ready: true, Status: wire.StatusAvailable}, ""},
		{"not ready is an answer, not an error", 503, `{"id":"UUID1","ready":false,"status":"offline","reason":"no agent has connected"}`,
			api.Readiness{ID: "UUID1", Ready: false, Status: wire.StatusOffline, Reason: "no agent has connected"}, ""},
		{"unknown entity", 404, `{"error":"unknown entity \"UUID1\""}`, api.Readiness{}, "the hub does not know entity UUID1"},
		{"503 without a readiness body (a proxy's page)", 503, `<html>Service Unavailable</html>`, api.Readiness{}, "unexpected body"},
		{"200 without an id", 200, `{"ready":true}`, api.Readiness{}, "unexpected body"},
		{"other status", 500, `oops`, api.Readiness{}, "the hub answered 500 Internal Server Error"},
		{"viewer authentication", 401, `{"error":"sign in"}`, api.Readiness{}, "pass --token-file FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, asked := hub(t, tc.code, tc.body)
			got, err := ready.Check(context.Background(), ts.URL+"/", "UUID1", "")
			if *asked != "/api/v1/entities/UUID1/ready" {
				t.Errorf("asked %q", *asked)
			}
			if tc.error == "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Fatalf("error %v, want one with %q", err, tc.error)
			}
		})
	}
}

// A viewer token goes as a Bearer header; a refused one is said so.
func TestCheckSendsTheViewerToken(t *testing.T) {
	var got string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		if got != "Bearer good-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"id":"UUID1","ready":true,"status":"available"}`))
	}))
	defer ts.Close()
	if r, err := ready.Check(context.Background(), ts.URL, "UUID1", "good-token"); err != nil || !r.Ready {
		t.Fatalf("with the token: %+v, %v (sent %q)", r, err, got)
	}
	if _, err := ready.Check(context.Background(), ts.URL, "UUID1", "bad-token"); err == nil || !strings.Contains(err.Error(), "refused the viewer token") {
		t.Fatalf("with a bad token: %v", err)
	}
}

func TestCheckRefusesBadArguments(t *testing.T) {
	tests := []struct {
		name, hub, entity, error string
	}{
		{"entity with a slash", "http://127.0.0.1:1", "../healthz", "--entity"},
		{"empty entity", "http://127.0.0.1:1", "", "--entity"},
		{"not a URL scheme the hub serves", "ftp://127.0.0.1:1", "UUID1", "--hub"},
		{"no scheme", "127.0.0.1:8080", "UUID1", "--hub"},
		{"unreachable hub", "http://127.0.0.1:1", "UUID1", "ask the hub"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ready.Check(context.Background(), tc.hub, tc.entity, "")
			if err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Fatalf("Check(%q, %q): %v, want an error with %q", tc.hub, tc.entity, err, tc.error)
			}
		})
	}
}

func TestCheckHonoursTheContext(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	}))
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ready.Check(ctx, ts.URL, "UUID1", ""); err == nil {
		t.Fatal("a cancelled check succeeded")
	}
}
