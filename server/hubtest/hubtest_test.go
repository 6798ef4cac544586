package hubtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestShippedBinariesImportNoTestCode: the binaries that ship (the hub,
// the agent, the demo) import none of our test harnesses or fixtures
// (hubtest, repotest, mariadbtest, bench).
func TestShippedBinariesImportNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps",
		"imagingstatus/cmd/imaging-hub", "imagingstatus/cmd/imaging-agent", "imagingstatus/cmd/imaging-demo").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	n := 0
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, "imagingstatus/") {
			continue
		}
		n++
		if strings.HasSuffix(p, "test") || strings.Contains(p, "test/") || p == "imagingstatus/bench" || strings.HasPrefix(p, "imagingstatus/bench/") {
			t.Errorf("a shipped binary imports %s", p)
		}
	}
	if n < 10 {
		t.Fatalf("only %d of our packages in the binaries' dependencies:\n%s", n, out)
	}
}

func TestBoundStretchesWithSlack(t *testing.T) {
	t.Setenv("IMAGING_TEST_SLACK", "3")
	if got := Bound(time.Second); got != 3*time.Second {
		t.Fatalf("Bound(1s) with slack 3 = %v", got)
	}
	os.Unsetenv("IMAGING_TEST_SLACK")
	if s := Slack(); s < 1 || s > 10 {
		t.Fatalf("Slack() = %v, want within [1, 10]", s)
	}
}

func TestHoldsAndWaitFor(t *testing.T) {
	n := 0
	WaitFor(t, "the third check", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("WaitFor returned after %d checks", n)
	}
	n = 0
	Holds(t, "a true condition", 50*time.Millisecond, func() bool { n++; return true })
	if n < 2 {
		t.Fatalf("Holds checked %d times in 50 ms", n)
	}
}

func TestSummary(t *testing.T) {
	got := Summary([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond})
	if want := "n=3 min=1ms p50=2ms p99=3ms max=3ms"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
}
