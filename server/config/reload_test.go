package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeTarget records the configurations handed to it.
type fakeTarget struct {
	got chan *Config
	err error
}

func (f *fakeTarget) Reload(_ context.Context, cfg *Config) error {
	f.got <- cfg
	return f.err
}

const (
	fileA = `{"entities":[{"id":"a","name":"A"}]}`
	fileB = `{"entities":[{"id":"a","name":"A"},{"id":"b","name":"B","parent":"a"}]}`
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReloaderReload(t *testing.T) {
	cases := []struct {
		name       string
		file       string // "" removes it
		targetErr  error
		wantTarget bool   // the target was handed the file's configuration
		errHas     string // "" for success
	}{
		{"new file in force", fileB, nil, true, ""},
		{"unreadable file kept out", "", nil, false, "read hub configuration"},
		{"invalid file kept out", `{"entities":[]}`, nil, false, "no entities"},
		{"not JSON kept out", `{`, nil, false, "not valid JSON"},
		{"target refuses", fileB, errors.New("hub stopped"), true, "hub stopped"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hub.json")
			writeFile(t, path, fileA)
			start, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if c.file == "" {
				os.Remove(path)
			} else {
				writeFile(t, path, c.file)
			}
			target := &fakeTarget{got: make(chan *Config, 1), err: c.targetErr}
			r := NewReloader(path, start, target, nil)
			err = r.Reload(context.Background())
			if c.errHas == "" && err != nil || c.errHas != "" && (err == nil || !strings.Contains(err.Error(), c.errHas)) {
				t.Fatalf("Reload: %v, want error %q", err, c.errHas)
			}
			select {
			case cfg := <-target.got:
				if !c.wantTarget {
					t.Fatalf("target handed %+v", cfg.Source)
				}
				if _, ok := cfg.Lookup("b"); !ok {
					t.Fatalf("target handed the old file: %+v", cfg.Source)
				}
			default:
				if c.wantTarget {
					t.Fatal("target not called")
				}
			}
			_, hasB := r.Current().Lookup("b")
			if inForce := c.errHas == ""; hasB != inForce {
				t.Fatalf("Current has the new file: %v, want %v", hasB, inForce)
			}
		})
	}
}

// TestReloaderRunsOnSignals: each signal reloads, in order, until ctx ends.
func TestReloaderRunsOnSignals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.json")
	writeFile(t, path, fileA)
	start, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	target := &fakeTarget{got: make(chan *Config)}
	r := NewReloader(path, start, target, nil)
	sig := make(chan os.Signal)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, sig); close(done) }()

	next := func() *Config {
		t.Helper()
		select {
		case cfg := <-target.got:
			return cfg
		case <-time.After(time.Minute): // a bound for a hang, not a speed
			t.Fatal("no reload")
			return nil
		}
	}
	for _, f := range []string{fileB, fileA} {
		writeFile(t, path, f)
		sig <- os.Interrupt // any signal: main passes SIGHUP only
		_, hasB := next().Lookup("b")
		if hasB != (f == fileB) {
			t.Fatalf("reloaded the wrong file (has b: %v)", hasB)
		}
	}
	cancel()
	<-done
	if _, hasB := r.Current().Lookup("b"); hasB {
		t.Fatal("Current is not the last file")
	}
}
