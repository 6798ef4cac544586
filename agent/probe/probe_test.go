package probe

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"imagingstatus/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		err  string // substring of the error; "" for success
	}{
		{in: "tcp://127.0.0.1:9990", want: Spec{"127.0.0.1:9990", "tcp://127.0.0.1:9990", KindTCP}},
		{in: "tcp://127.0.0.1:9990/", want: Spec{"127.0.0.1:9990", "tcp://127.0.0.1:9990", KindTCP}},
		{in: " imaging-api=https://srv.example:9990/imaging_api ", want: Spec{"imaging-api", "https://srv.example:9990/imaging_api", KindHTTPS}},
		{in: "https://srv.example/health", want: Spec{"srv.example/health", "https://srv.example/health", KindHTTPS}},
		{in: "http://[::1]:8080/", want: Spec{"[::1]:8080", "http://[::1]:8080/", KindHTTP}},
		{in: "api=http://h:1/p?x=y", want: Spec{"api", "http://h:1/p?x=y", KindHTTP}},
		{in: "http://h:1/p?x=y", want: Spec{"h:1/p", "http://h:1/p?x=y", KindHTTP}},
		{in: "tftp=tcp://10.0.0.1:69", want: Spec{"tftp", "tcp://10.0.0.1:69", KindTCP}},

		{in: "", err: "empty target"},
		{in: "127.0.0.1:9990", err: "accepted forms"},
		{in: "tcp://127.0.0.1", err: "needs a port"},
		{in: "tcp://:80", err: "missing host"},
		{in: "tcp://h:0", err: "bad port"},
		{in: "tcp://h:70000", err: "bad port"},
		{in: "tcp://h:80/path", err: "no path"},
		{in: "udp://h:69", err: `unsupported scheme "udp"`},
		{in: "ftp://h/x", err: "unsupported scheme"},
		{in: "https://user:secret@h/x", err: "credentials"},
		{in: "=tcp://h:1", err: "empty name"},
		{in: "name=", err: "empty target"},
		{in: "https:///path", err: "missing //host"},
		{in: "mailto:x@y", err: "accepted forms"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) error = %v, want one containing %q", tt.in, err, tt.err)
			} else if !strings.Contains(err.Error(), "accepted forms") {
				t.Errorf("Parse(%q) error %q does not list the accepted forms", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestNewRejectsBadTarget(t *testing.T) {
	if _, err := New([]Spec{{Name: "x", Target: "udp://h:1"}}, Options{}); err == nil {
		t.Fatal("New accepted udp://")
	}
	if _, err := New(nil, Options{CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Fatal("New accepted a missing CA file")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(nil, Options{CAFile: bad}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("New with a non-PEM CA file: %v", err)
	}
}

func mustParse(t *testing.T, s string) Spec {
	t.Helper()
	sp, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func run(t *testing.T, o Options, targets ...string) []wire.Probe {
	t.Helper()
	specs := make([]Spec, len(targets))
	for i, s := range targets {
		specs[i] = mustParse(t, s)
	}
	p, err := New(specs, o)
	if err != nil {
		t.Fatal(err)
	}
	res := p.Run(context.Background())
	if len(res) != len(specs) {
		t.Fatalf("%d results for %d probes", len(res), len(specs))
	}
	for i, r := range res {
		t.Logf("%+v", r)
		if r.Name != specs[i].Name || r.Target != specs[i].Target {
			t.Errorf("result %d is %q/%q, want %q/%q (spec order)", i, r.Name, r.Target, specs[i].Name, specs[i].Target)
		}
		if r.LatencyMS < 0 {
			t.Errorf("negative latency %v", r.LatencyMS)
		}
		if r.OK != (r.Error == "") {
			t.Errorf("%s: OK %v with error %q", r.Name, r.OK, r.Error)
		}
	}
	return res
}

func quietTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	// Rejected handshakes are the point of some tests; keep the log clean.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	res := run(t, Options{Timeout: time.Second}, "up=tcp://"+ln.Addr().String(), "down=tcp://"+closedAddr)
	if !res[0].OK {
		t.Errorf("open port: %+v", res[0])
	}
	if res[1].OK || !strings.Contains(res[1].Error, "connection refused") || !strings.Contains(res[1].Error, closedAddr) {
		t.Errorf("closed port: %+v", res[1])
	}
}

func TestHTTPS(t *testing.T) {
	ts := quietTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fail":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/auth":
			http.Error(w, "who are you", http.StatusUnauthorized)
		case "/moved":
			http.Redirect(w, r, "https://elsewhere.invalid/", http.StatusFound)
		default:
			io.WriteString(w, "ok")
		}
	}))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("self-signed without option fails with a hint", func(t *testing.T) {
		r := run(t, Options{Timeout: time.Second}, ts.URL+"/")[0]
		if r.OK || !strings.Contains(r.Error, "x509") || !strings.Contains(r.Error, "--probe-insecure") {
			t.Errorf("%+v", r)
		}
		if strings.Contains(r.Error, "Get ") {
			t.Errorf("error repeats the request: %q", r.Error)
		}
	})
	t.Run("insecure passes", func(t *testing.T) {
		if r := run(t, Options{Timeout: time.Second, InsecureSkipVerify: true}, ts.URL+"/")[0]; !r.OK {
			t.Errorf("%+v", r)
		}
	})
	t.Run("CA file passes", func(t *testing.T) {
		if r := run(t, Options{Timeout: time.Second, CAFile: caFile}, ts.URL+"/")[0]; !r.OK {
			t.Errorf("%+v", r)
		}
	})
	t.Run("wrong host name fails with a hint", func(t *testing.T) {
		// The test certificate names 127.0.0.1 and example.com, not localhost.
		u := strings.Replace(ts.URL, "127.0.0.1", "localhost", 1) + "/"
		r := run(t, Options{Timeout: time.Second, CAFile: caFile}, u)[0]
		if r.OK || !strings.Contains(r.Error, "certificate is valid for") || !strings.Contains(r.Error, "host name the certificate was issued for") {
			t.Errorf("%+v", r)
		}
	})
	t.Run("statuses", func(t *testing.T) {
		res := run(t, Options{Timeout: time.Second, CAFile: caFile}, ts.URL+"/fail", ts.URL+"/auth", ts.URL+"/moved")
		if res[0].OK || !strings.Contains(res[0].Error, "500") {
			t.Errorf("500: %+v", res[0])
		}
		if !res[1].OK {
			t.Errorf("401 is an answer: %+v", res[1])
		}
		if !res[2].OK {
			t.Errorf("a redirect is an answer and is not followed: %+v", res[2])
		}
	})
}

func TestHTTP500(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer ts.Close()
	r := run(t, Options{Timeout: time.Second}, ts.URL+"/")[0]
	if r.OK || r.Error != "HTTP 503 Service Unavailable" {
		t.Errorf("%+v", r)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer ts.Close()
	defer close(release)

	// A fast probe beside the hanging one must still pass.
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer ok.Close()

	start := time.Now()
	res := run(t, Options{Timeout: 200 * time.Millisecond}, "hang="+ts.URL+"/", "fast="+ok.URL+"/")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("round took %v with a 200ms timeout", d)
	}
	if res[0].OK || res[0].Error != "no answer within 200ms" {
		t.Errorf("hang: %+v", res[0])
	}
	if res[0].LatencyMS < 150 {
		t.Errorf("hang latency %v ms, want about 200", res[0].LatencyMS)
	}
	if !res[1].OK {
		t.Errorf("fast: %+v", res[1])
	}
}

func TestCanceled(t *testing.T) {
	p, err := New([]Spec{mustParse(t, "tcp://127.0.0.1:9")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := p.Run(ctx)[0]; r.OK || r.Error != "canceled" {
		t.Errorf("%+v", r)
	}
}

func TestRepoReadable(t *testing.T) {
	good := t.TempDir()
	if err := os.Mkdir(filepath.Join(good, "masters"), 0o755); err != nil {
		t.Fatal(err)
	}
	withImage := t.TempDir()
	if err := os.MkdirAll(filepath.Join(withImage, "masters", "0f9b6c4e-1111-11ee-8000-525400123456"), 0o755); err != nil {
		t.Fatal(err)
	}
	noMasters := t.TempDir()
	file := t.TempDir()
	if err := os.WriteFile(filepath.Join(file, "masters"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nope")

	tests := []struct {
		root string
		err  string // substring; "" when OK
	}{
		{good, ""},
		{withImage, ""},
		{missing, "no such file or directory"},
		{noMasters, "masters: no such file or directory"},
		{file, "masters is not a directory"},
	}
	for _, tt := range tests {
		r := RepoReadable(tt.root)
		if r.Name != "repository" || r.Target != tt.root || r.LatencyMS < 0 {
			t.Errorf("RepoReadable(%q) = %+v", tt.root, r)
		}
		if tt.err == "" {
			if !r.OK || r.Error != "" {
				t.Errorf("RepoReadable(%q) = %+v, want OK", tt.root, r)
			}
		} else if r.OK || !strings.Contains(r.Error, tt.err) {
			t.Errorf("RepoReadable(%q) = %+v, want error containing %q", tt.root, r, tt.err)
		}
	}
}
