package store

import (
	"path/filepath"
	"testing"
)

func TestAlertStateSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openT(t, path)
	if b, err := s.AlertState(); err != nil || b != nil {
		t.Fatalf("new file: %q, %v; want nothing", b, err)
	}
	for _, v := range []string{`{"pending":[1]}`, `{"pending":[]}`} {
		if err := s.PutAlertState([]byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path)
	if b, err := s.AlertState(); err != nil || string(b) != `{"pending":[]}` {
		t.Fatalf("after reopening: %q, %v; want the last state saved", b, err)
	}
}
