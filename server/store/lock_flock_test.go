//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package store

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestEmptyFileLockedIsInUse: a new file is empty for an instant, while the
// hub that created it holds its lock; another hub must say "in use", not
// "damaged".
func TestEmptyFileLockedIsInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a locked file succeeded")
	}
	if !errors.Is(err, ErrInUse) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open(locked, empty) = %v, want ErrInUse", err)
	}
	t.Logf("%v", err)
}
