package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagingstatus/agent/repo/repotest"
	"imagingstatus/wire"
)

// `imaging-agent report` prints the report whatever happens and fails when
// a check fails: it is the installation check.
func TestReportExitStatus(t *testing.T) {
	root := filepath.Join(t.TempDir(), "imaging")
	if _, err := repotest.Generate(root, repotest.Options{Complete: 2, Clients: 1, ClientsWithImages: 1, WithUUIDCache: true}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	ln.Close() // now refused (nothing listens)
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()

	tests := []struct {
		name    string
		repo    string
		probes  []string
		fails   string // "" : success
		probeOK []bool
	}{
		{"healthy", root, []string{"tcp://" + up.Addr().String()}, "", []bool{true, true}},
		{"missing repository", filepath.Join(root, "nope"), nil, "repository", []bool{false}},
		{"unreadable masters", filepath.Join(root, "masters", "file"), nil, "repository", []bool{false}},
		{"failing probe", root, []string{"api=tcp://" + open}, "api (", []bool{true, false}},
	}
	if err := os.WriteFile(filepath.Join(root, "masters", "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := report(opts{repo: tt.repo, probes: tt.probes, probeTimeout: 5 * time.Second}, &out)
			r, derr := wire.DecodeReport(out.Bytes())
			if derr != nil {
				t.Fatalf("printed report refused by the hub's decoder: %v\n%s", derr, out.Bytes())
			}
			if len(r.Probes) != len(tt.probeOK) {
				t.Fatalf("probes %+v", r.Probes)
			}
			for i, ok := range tt.probeOK {
				if r.Probes[i].OK != ok {
					t.Errorf("probe %d ok %v, want %v (%s)", i, r.Probes[i].OK, ok, r.Probes[i].Error)
				}
			}
			switch {
			case tt.fails == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.fails != "" && (err == nil || !strings.Contains(err.Error(), "check failed: "+tt.fails)):
				t.Fatalf("error %v, want a failed check naming %q", err, tt.fails)
			}
			if tt.fails == "" && (r.Repository == nil || len(r.Repository.Images) != 2) {
				t.Errorf("the report lacks the image list: %+v", r.Repository)
			}
		})
	}
}
