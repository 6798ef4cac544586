package link

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagingstatus/server/config"
)

// TestRunnerIsTheReloadTarget: with the link on, a SIGHUP's reload reaches
// the hub through the runner, merged with Medulla's tree.
func TestRunnerIsTheReloadTarget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"medulla":{},"entities":[{"id":"UUID0","name":"Root"}]}`)
	start, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	hub := &fakeHub{}
	r := New(start.Source, &fakeLoader{snap: snapshot()}, hub, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	wait(t, "first load", func() bool { n, _ := hub.last(); return n == 1 })

	reloader := config.NewReloader(path, start, r, nil)
	write(`{"medulla":{},"entities":[{"id":"UUID4","name":"Sales","server":{"name":"srv-sales","token_sha256":"` + hash + `"}}]}`)
	if err := reloader.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	wait(t, "the hub reloaded", func() bool { n, _ := hub.last(); return n == 2 })
	hub.mu.Lock()
	c := hub.reloads[1]
	hub.mu.Unlock()
	if !c.CheckToken("UUID4", "123") {
		t.Fatal("the reloaded file's token is not in force")
	}
	if e, ok := c.Lookup("UUID1"); !ok || e.Name != "General" {
		t.Fatal("the reload lost Medulla's tree")
	}
}

func TestRefreshFromTheFile(t *testing.T) {
	cases := []struct {
		name string
		file *config.MedullaLink
		arg  time.Duration
		want time.Duration
	}{
		{"default", nil, 0, DefaultRefresh},
		{"file", &config.MedullaLink{Refresh: config.Duration(30 * time.Second)}, 0, 30 * time.Second},
		{"argument over file", &config.MedullaLink{Refresh: config.Duration(30 * time.Second)}, time.Second, time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New(config.File{Medulla: c.file}, &fakeLoader{}, &fakeHub{}, c.arg, slog.New(slog.DiscardHandler))
			if r.refresh != c.want {
				t.Fatalf("refresh %v, want %v", r.refresh, c.want)
			}
		})
	}
}

func TestMedullaConfig(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "db.pass")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	cases := []struct {
		name    string
		flags   config.MedullaLink
		file    *config.MedullaLink
		ok      bool
		imaging string // want, "" when no link
		errHas  string
	}{
		{name: "no link"},
		{name: "DSNs from the file", file: &config.MedullaLink{ImagingDSN: "ro@tcp(db:3306)/imaging", GLPIDSN: "ro@tcp(db:3306)/glpi"},
			ok: true, imaging: "ro@tcp(db:3306)/imaging"},
		{name: "password file read into the DSNs", flags: config.MedullaLink{PasswordFile: pw},
			file: &config.MedullaLink{ImagingDSN: "ro@tcp(db:3306)/imaging", GLPIDSN: "ro@tcp(db:3306)/glpi"},
			ok:   true, imaging: "ro:s3cret@tcp(db:3306)/imaging"},
		{name: "missing password file", file: &config.MedullaLink{ImagingDSN: "ro@tcp(db:3306)/imaging", GLPIDSN: "ro@tcp(db:3306)/glpi", PasswordFile: filepath.Join(dir, "none")},
			errHas: "password file"},
		{name: "one DSN", flags: config.MedullaLink{ImagingDSN: "ro@tcp(db:3306)/imaging"}, errHas: "needs both DSNs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mc, ok, err := MedullaConfig(c.flags, noEnv, c.file)
			if c.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) || ok {
					t.Fatalf("got %v, %v, want an error mentioning %q", ok, err, c.errHas)
				}
				return
			}
			if err != nil || ok != c.ok || mc.ImagingDSN != c.imaging {
				t.Fatalf("got %v, %v, %v; want imaging DSN %q", mc, ok, err, c.imaging)
			}
		})
	}
}
