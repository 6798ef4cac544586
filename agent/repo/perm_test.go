//go:build linux

package repo

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const permEnv = "REPO_TEST_PERMISSION_TREE"

// TestPermissionDenied checks unreadable directories with real permission
// errors. Root ignores mode bits, so as root the tree is built here and the
// checks run in a copy of this test binary started as nobody.
func TestPermissionDenied(t *testing.T) {
	if dir := os.Getenv(permEnv); dir != "" {
		checkPermissionTree(t, dir)
		return
	}
	base, err := os.MkdirTemp("", "repoperm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error { os.Chmod(p, 0o755); return nil })
		os.RemoveAll(base)
	})
	os.Chmod(base, 0o755)
	buildPermissionTree(t, base)
	if os.Geteuid() != 0 {
		checkPermissionTree(t, base)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "repo.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestPermissionDenied$", "-test.v")
	cmd.Env = append(os.Environ(), permEnv+"="+base)
	cmd.Dir = base
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPermissionDenied") {
		t.Fatalf("unprivileged run: %v\n%s", err, out)
	}
}

func buildPermissionTree(t *testing.T, base string) {
	// a: masters/ unreadable.
	a := filepath.Join(base, "a")
	os.MkdirAll(filepath.Join(a, "masters"), 0o755)
	os.Chmod(filepath.Join(a, "masters"), 0)
	// b: one image, computers/ and uuid-cache.txt unreadable.
	b := filepath.Join(base, "b")
	mkImage(t, b, v1, czFiles(nil), time.Hour)
	os.Chmod(filepath.Join(b, "masters", v1), 0)
	mkImage(t, b, v4, czFiles(map[string]string{"davosInfo.json": `{"size": 1}`}), time.Hour)
	os.Chmod(filepath.Join(b, "masters", v4, "davosInfo.json"), 0)
	os.MkdirAll(filepath.Join(b, "computers", "UUID1"), 0o755)
	os.Chmod(filepath.Join(b, "computers"), 0)
	os.WriteFile(filepath.Join(b, "uuid-cache.txt"), []byte("[UUID1]\nmac=52:54:00:a1:b2:c3\n"), 0)
}

func checkPermissionTree(t *testing.T, base string) {
	a := filepath.Join(base, "a")
	_, err := New(a).Scan()
	want := "imaging repository " + a + ": masters/ not readable: permission denied"
	if err == nil || err.Error() != want || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("unreadable masters/: %v, want %q wrapping fs.ErrPermission", err, want)
	}

	s := New(filepath.Join(base, "b"))
	r := scan(t, s)
	if r.ImagesTotal != 2 || r.ImagesInvalid != 2 {
		t.Fatalf("total %d invalid %d, want 2 2: %+v", r.ImagesTotal, r.ImagesInvalid, r.Images)
	}
	for _, im := range r.Images {
		want := map[string]string{v1: "directory not readable: permission denied", v4: "davosInfo.json: permission denied"}[im.UUID]
		if im.Problem != want {
			t.Errorf("%s: problem %q, want %q", im.UUID, im.Problem, want)
		}
	}
	p := strings.Join(s.Problems(), "; ")
	if !strings.Contains(p, "computers/ not readable: permission denied") || !strings.Contains(p, "uuid-cache.txt not readable: permission denied") {
		t.Errorf("problems %q", p)
	}
}
