// Package hubtest is the harness of the system tests (cmd/imaging-hub):
// real imaging-hub and imaging-agent processes with their logs, simulated
// agents (from bench), one headless Chromium launcher, one wait for a
// condition and one quantile.
//
// Everything started through it is stopped in t.Cleanup, pass or fail,
// and the logs of what was started are printed when the test failed.
// Waits poll a condition with backoff up to a generous ceiling (Long):
// nothing sleeps a fixed time hoping that something has happened, so a
// busy machine makes the suite slower, not red. The few checks of how
// fast something happens (a figure the documentation promises) compare
// with Bound(d), which stretches d on a saturated machine.
//
// What the tests need beyond Go (Chromium, MariaDB, axe-core) is never
// skipped silently: when it is missing the test fails with the command
// that installs it, unless `go test -short` was asked for.
//
// It is test code: no product package may import it (a test checks).
package hubtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v3/load"

	"imagingstatus/bench"
)

// Long is the ceiling of every wait: how long a stuck run may take to
// fail, not how long anything is expected to take.
const Long = 2 * time.Minute

var binDir string

// Main runs a test binary's tests (call it from TestMain). The binaries
// come from $IMAGING_BIN (make test sets it to bin/); without it they are
// built into a temporary directory first. Unless -short is given, a
// missing MariaDB fails the tests instead of skipping them.
func Main(m *testing.M) {
	flag.Parse()
	if !testing.Short() && os.Getenv("REQUIRE_MARIADB") == "" {
		// mariadbtest skips without a server unless this is set.
		os.Setenv("REQUIRE_MARIADB", "1")
	}
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubtest:", err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	binDir = os.Getenv("IMAGING_BIN")
	if binDir == "" {
		dir, err := os.MkdirTemp("", "imaging-bin-")
		if err != nil {
			return 1, err
		}
		defer os.RemoveAll(dir)
		for _, c := range []string{"imaging-hub", "imaging-agent", "imaging-demo"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(dir, c), "imagingstatus/cmd/"+c).CombinedOutput()
			if err != nil {
				return 1, fmt.Errorf("build %s: %v\n%s", c, err, out)
			}
		}
		binDir = dir
	} else {
		abs, err := filepath.Abs(binDir)
		if err != nil {
			return 1, err
		}
		binDir = abs
		for _, c := range []string{"imaging-hub", "imaging-agent", "imaging-demo"} {
			if _, err := os.Stat(filepath.Join(binDir, c)); err != nil {
				return 1, fmt.Errorf("IMAGING_BIN=%s: %v (run make build)", binDir, err)
			}
		}
	}
	return m.Run(), nil
}

// Bin is the path of one of the binaries (imaging-hub, imaging-agent).
func Bin(name string) string {
	if binDir == "" {
		panic("hubtest: call hubtest.Main(m) from TestMain")
	}
	return filepath.Join(binDir, name)
}

// WaitFor waits until cond holds, polling with backoff (bench.Poll), and
// fails the test when Long passes; it returns how long it waited. cond
// may call t.Fatal with its own message.
func WaitFor(t testing.TB, what string, cond func() bool) time.Duration {
	t.Helper()
	d, err := bench.Poll(context.Background(), Long, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return d
}

// Holds checks that cond stays true for the whole of d (checking with the
// same backoff as WaitFor, and once more at the end) and fails the test
// the first time it is not: for claims such as "a wrong token never
// disturbs a live entity". cond may call t.Fatal with its own message.
func Holds(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	var broke bool
	_, _ = bench.Poll(context.Background(), d, func() bool {
		broke = !cond()
		return broke
	})
	if !broke && time.Now().After(end) {
		broke = !cond()
	}
	if broke {
		t.Fatalf("%s stopped holding", what)
	}
}

// Summary describes a sample of durations: count, min, p50, p99, max
// (bench.Quantile, the one quantile of the tests and the benchmarks).
func Summary(ds []time.Duration) string {
	r := func(q float64) time.Duration { return bench.Quantile(ds, q).Round(time.Microsecond) }
	return fmt.Sprintf("n=%d min=%v p50=%v p99=%v max=%v", len(ds), r(0), r(0.5), r(0.99), r(1))
}

var (
	slackMu  sync.Mutex
	slackMax = 1.0
)

// Slack is how much slower than an idle machine this one is now, for the
// checks of how fast something happens: the load average per CPU (the
// larger of the 1- and 5-minute ones), at least 1, at most 10, and never
// less than it was earlier in the run (the averages lag).
// IMAGING_TEST_SLACK sets it.
func Slack() float64 {
	if v, err := strconv.ParseFloat(os.Getenv("IMAGING_TEST_SLACK"), 64); err == nil && v >= 1 {
		return v
	}
	s := 1.0
	if l, err := load.Avg(); err == nil {
		s = max(l.Load1, l.Load5) / float64(runtime.NumCPU())
	}
	slackMu.Lock()
	defer slackMu.Unlock()
	slackMax = min(max(slackMax, s), 10)
	return slackMax
}

// Bound is d stretched by Slack: the limit a timing check uses. Tests log
// the figure they measured next to it.
func Bound(d time.Duration) time.Duration { return time.Duration(float64(d) * Slack()) }

// Missing handles something the tests need that is not installed: under
// -short the test is skipped, otherwise it fails, naming the command that
// installs it.
func Missing(t testing.TB, what, install string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s is missing (%v): install it with: %s", what, err, install)
	if testing.Short() {
		t.Skip(msg + " (skipped: -short)")
	}
	t.Fatal(msg + " (`make test` does it when run as root; `go test -short` skips these tests)")
}

// RepoRoot is the module's root directory (the one holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal(errors.New("no go.mod above the working directory"))
		}
		dir = parent
	}
}
