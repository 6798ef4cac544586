package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"imagingstatus/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// view is a realistic last-known view: partitions and probes, no image list.
func view(id string, st wire.Status, since time.Time) wire.Entity {
	at := since.Add(time.Second)
	return wire.Entity{
		ID: id, Name: "Entity " + id, Parent: "root", Path: []string{"Root", "Entity " + id},
		Status: st, Reason: "because " + string(st), Since: since,
		ServedBy: "srv-" + id, ServedByEntity: id,
		AgentVersion: "1.0.0", LastReportAt: &at,
		Figures: wire.Figures{
			Hostname: "host-" + id, CollectedAt: at, UptimeSeconds: 3600,
			Partitions: []wire.Partition{
				{Device: "/dev/sda1", Mountpoint: "/", FSType: "ext4", Total: 100 << 30, Used: 40 << 30, Free: 60 << 30},
				{Device: "/dev/sdb1", Mountpoint: "/var/lib/pulse2", FSType: "xfs", Total: 2 << 40, Used: 1 << 40, Free: 1 << 40, Main: true},
			},
			Memory: &wire.Memory{Total: 8 << 30, Used: 3 << 30, Available: 5 << 30},
			Load:   &wire.Load{Load1: 0.5, Load5: 0.4, Load15: 0.3, CPUs: 4},
			Repository: &wire.Repository{Root: "/var/lib/pulse2/imaging", ImagesTotal: 10000,
				ImagesComplete: 9990, Generation: 7, ImagesOmitted: true},
			Probes: []wire.Probe{
				{Name: "tftp", Target: "127.0.0.1:69", OK: true, LatencyMS: 0.4},
				{Name: "http", Target: "http://127.0.0.1/imaging", OK: false, Error: "connection refused"},
			},
		},
	}
}

func openT(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openT(t, path)

	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v %v", st.Mode(), err)
	}
	if got, err := s.LastKnown(); err != nil || len(got) != 0 {
		t.Fatalf("new store LastKnown = %v, %v", got, err)
	}
	if h, err := s.History("nobody", 10); err != nil || len(h) != 0 {
		t.Fatalf("History of unknown entity = %v, %v", h, err)
	}

	a := view("a", wire.StatusAvailable, t0)
	b := view("b", wire.StatusOffline, t0)
	changes := []Change{
		{Entity: "a", At: t0, From: wire.StatusOffline, To: wire.StatusAvailable, Reason: "agent connected"},
		{Entity: "b", At: t0, To: wire.StatusOffline, Reason: "never seen"},
	}
	if err := s.Record(changes, []wire.Entity{a, b}); err != nil {
		t.Fatal(err)
	}
	b2 := view("b", wire.StatusConnectionError, t0.Add(time.Minute))
	b2.Errors = []string{"memory: permission denied"}
	if err := s.SaveViews([]wire.Entity{b2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openT(t, path) // reopen: all of it came from the file
	got, err := s.LastKnown()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]wire.Entity{"a": a, "b": b2}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("LastKnown:\n got %+v\nwant %+v", got, want)
	}
	for i, c := range changes {
		h, err := s.History(c.Entity, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || !reflect.DeepEqual(h[0], changes[i]) {
			t.Fatalf("History(%s) = %+v, want [%+v]", c.Entity, h, c)
		}
	}
}

func TestRejectsMissingEntityID(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "state.db"))
	if err := s.Record([]Change{{To: wire.StatusOffline}}, nil); err == nil {
		t.Fatal("Record accepted a change without entity")
	}
	if err := s.Record([]Change{{Entity: "a", To: wire.StatusOffline}}, []wire.Entity{{}}); err == nil {
		t.Fatal("Record accepted a view without id")
	}
	// All or nothing: the valid change of the refused call is not there.
	if h, _ := s.History("a", 0); len(h) != 0 {
		t.Fatalf("refused Record wrote %v", h)
	}
	if err := s.SaveViews([]wire.Entity{{Name: "x"}}); err == nil {
		t.Fatal("SaveViews accepted a view without id")
	}
}

func TestHistoryOrderAndLimit(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "state.db"))
	sts := []wire.Status{wire.StatusOffline, wire.StatusAvailable, wire.StatusConnectionError}
	const n = 300 // crosses 255 and 256 so a little-endian or text key would misorder
	for i := 0; i < n; i++ {
		c := Change{Entity: "e", At: t0.Add(time.Duration(i) * time.Second),
			From: sts[i%3], To: sts[(i+1)%3], Reason: strconv.Itoa(i)}
		// Same timestamp for some: order must come from the sequence.
		if i%10 == 5 {
			c.At = t0
		}
		if err := s.Record([]Change{c}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Several changes of one entity in one batch keep their order.
	batch := []Change{{Entity: "e", At: t0, To: wire.StatusAvailable, Reason: "300"},
		{Entity: "e", At: t0, To: wire.StatusOffline, Reason: "301"}}
	if err := s.Record(batch, nil); err != nil {
		t.Fatal(err)
	}
	all, err := s.History("e", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n+2 {
		t.Fatalf("len %d, want %d", len(all), n+2)
	}
	for i, c := range all {
		if want := strconv.Itoa(n + 1 - i); c.Reason != want {
			t.Fatalf("History[%d].Reason = %s, want %s (newest first)", i, c.Reason, want)
		}
	}
	for _, limit := range []int{1, 5, n + 2, n + 100} {
		h, err := s.History("e", limit)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(limit, n+2); len(h) != want || !reflect.DeepEqual(h, all[:want]) {
			t.Fatalf("History(limit %d): %d changes, want the %d newest", limit, len(h), want)
		}
	}
}

func TestManyEntities(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openT(t, path)
	const entities, rounds = 500, 4
	for r := 0; r < rounds; r++ {
		// One batched Record per "loop iteration", touching every entity.
		var changes []Change
		var views []wire.Entity
		for e := 0; e < entities; e++ {
			id := fmt.Sprintf("ent-%04d", e)
			to := []wire.Status{wire.StatusAvailable, wire.StatusOffline}[r%2]
			changes = append(changes, Change{Entity: id, At: t0.Add(time.Duration(r) * time.Minute), To: to, Reason: fmt.Sprint(r)})
			views = append(views, view(id, to, t0.Add(time.Duration(r)*time.Minute)))
		}
		if err := s.Record(changes, views); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path)
	lk, err := s.LastKnown()
	if err != nil {
		t.Fatal(err)
	}
	if len(lk) != entities {
		t.Fatalf("LastKnown has %d entities, want %d", len(lk), entities)
	}
	for e := 0; e < entities; e++ {
		id := fmt.Sprintf("ent-%04d", e)
		if v := lk[id]; v.ID != id || v.Status != wire.StatusOffline || len(v.Partitions) != 2 || len(v.Probes) != 2 {
			t.Fatalf("view %s = %+v", id, v)
		}
		h, err := s.History(id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != rounds || h[0].Reason != fmt.Sprint(rounds-1) || h[rounds-1].Reason != "0" || h[0].Entity != id {
			t.Fatalf("History(%s) = %+v", id, h)
		}
	}
}

func TestPrune(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openT(t, path)
	for i := 0; i < 20; i++ {
		changes := []Change{
			{Entity: "a", At: t0, To: wire.StatusOffline, Reason: strconv.Itoa(i)},
			{Entity: "c", At: t0, To: wire.StatusOffline, Reason: strconv.Itoa(i)},
		}
		if i < 3 {
			changes = append(changes, Change{Entity: "b", At: t0, To: wire.StatusOffline, Reason: strconv.Itoa(i)})
		}
		views := []wire.Entity{view("a", wire.StatusOffline, t0), view("b", wire.StatusOffline, t0), view("c", wire.StatusOffline, t0)}
		if err := s.Record(changes, views); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Prune(-1, nil); err == nil {
		t.Fatal("Prune(-1) accepted")
	}
	// nil keepEntities: views untouched.
	if err := s.Prune(5, nil); err != nil {
		t.Fatal(err)
	}
	if lk, _ := s.LastKnown(); len(lk) != 3 {
		t.Fatalf("Prune(nil) touched views: %d left", len(lk))
	}
	if err := s.Prune(5, map[string]bool{"a": true, "b": true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path)
	lk, err := s.LastKnown()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lk["c"]; ok || len(lk) != 2 {
		t.Fatalf("views after Prune: %v", keys(lk))
	}
	check := func(entity string, want ...string) {
		t.Helper()
		h, err := s.History(entity, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range h {
			got = append(got, c.Reason)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("History(%s) after Prune = %v, want %v", entity, got, want)
		}
	}
	check("a", "19", "18", "17", "16", "15")
	check("b", "2", "1", "0") // fewer than keep: untouched
	check("c", "19", "18", "17", "16", "15")

	// Appending after a prune continues the order.
	if err := s.Record([]Change{{Entity: "a", At: t0, To: wire.StatusAvailable, Reason: "20"}}, nil); err != nil {
		t.Fatal(err)
	}
	check("a", "20", "19", "18", "17", "16", "15")
	if err := s.Prune(1, map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	check("a", "20")
	if lk, _ := s.LastKnown(); len(lk) != 0 {
		t.Fatalf("empty keepEntities left views %v", keys(lk))
	}
	if err := s.Prune(0, nil); err != nil {
		t.Fatal(err)
	}
	check("a")
	check("b")
}

func keys(m map[string]wire.Entity) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestLockedByAnotherOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	openT(t, path) // holds the flock (per open file, so also within a process)

	start := time.Now()
	s, err := Open(path)
	elapsed := time.Since(start)
	if err == nil {
		_ = s.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("error does not wrap ErrInUse: %v", err)
	}
	if want := fmt.Sprintf("state file %s is in use by another hub process", path); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	if elapsed < LockTimeout/2 || elapsed > LockTimeout+2*time.Second {
		t.Fatalf("gave up after %v, want about %v", elapsed, LockTimeout)
	}
	t.Logf("error after %v: %v", elapsed.Round(time.Millisecond), err)
}

func TestGarbageFile(t *testing.T) {
	dir := t.TempDir()
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i*7 + i/251)
	}
	for name, content := range map[string][]byte{
		"short":   []byte("this is not a bbolt file\n"),
		"garbage": garbage,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open of a garbage file succeeded")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			for _, want := range []string{path, "move it aside"} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not mention %q", err, want)
				}
			}
			t.Logf("%v", err)
			// The file is left as it was, for the operator to inspect.
			if got, _ := os.ReadFile(path); string(got) != string(content) {
				t.Fatal("Open modified the garbage file")
			}
		})
	}
}

// TestDamagedStateFile overwrites both meta pages of a real state file.
func TestDamagedStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openT(t, path)
	if err := s.Record([]Change{{Entity: "a", At: t0, To: wire.StatusOffline}}, []wire.Entity{view("a", wire.StatusOffline, t0)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := []byte(strings.Repeat("damaged!", 2*4096/8))
	if _, err := f.WriteAt(junk, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("Open(damaged) = %v", err)
	}
	t.Logf("%v", err)
}

// TestForeignBoltFile is a valid bbolt file of some other program.
func TestForeignBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("users"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("Open(foreign bbolt file) = %v", err)
	}
	t.Logf("%v", err)
}

func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		// root reads any file; use a directory in place of the file instead.
		path := t.TempDir()
		_, err := Open(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "move it aside") {
			t.Fatalf("Open(directory) = %v", err)
		}
		t.Logf("%v", err)
		return
	}
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, nil, 0o000); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "permissions") {
		t.Fatalf("Open(unreadable) = %v", err)
	}
	t.Logf("%v", err)
}

const (
	helperEnv      = "STORE_TEST_HELPER_PATH"
	helperStartEnv = "STORE_TEST_HELPER_START"
)

// TestHelperProcess is the child of TestDurableAcrossKill: it records
// changes as fast as it can and prints "recorded k" after each Record
// returns, until it is killed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestDurableAcrossKill")
	}
	s, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	start, _ := strconv.Atoi(os.Getenv(helperStartEnv))
	sts := []wire.Status{wire.StatusAvailable, wire.StatusOffline}
	for k := start; ; k++ {
		id := fmt.Sprintf("e%d", k%5)
		c := Change{Entity: id, At: t0.Add(time.Duration(k) * time.Millisecond), From: sts[(k+1)%2], To: sts[k%2], Reason: fmt.Sprintf("change %d", k)}
		v := view(id, sts[k%2], c.At)
		v.Reason = c.Reason
		if err := s.Record([]Change{c}, []wire.Entity{v, view("other", wire.StatusOffline, c.At)}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		// os.Stdout is unbuffered: the line is in the pipe when this returns.
		fmt.Printf("recorded %d\n", k)
	}
}

func TestDurableAcrossKill(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	// Each round's child appends to what the previous one left, numbering
	// its changes from round*1e6 so that every change is unique.
	reportedUpTo := map[int]int{} // round start → highest k reported
	for round := 0; round < 3; round++ {
		start := round * 1_000_000
		reportedUpTo[start] = runAndKill(t, path, start, 100+round*37)

		s, err := Open(path) // opens cleanly: Open runs bbolt's consistency check
		if err != nil {
			t.Fatalf("reopen after SIGKILL: %v", err)
		}
		seen := map[int]bool{}
		for e := 0; e < 5; e++ {
			h, err := s.History(fmt.Sprintf("e%d", e), 0)
			if err != nil {
				t.Fatal(err)
			}
			last := 1 << 62
			for _, c := range h {
				var k int
				if _, err := fmt.Sscanf(c.Reason, "change %d", &k); err != nil {
					t.Fatalf("bad change %+v", c)
				}
				if k >= last {
					t.Fatalf("history of e%d not newest first: %d after %d", e, k, last)
				}
				last, seen[k] = k, true
			}
		}
		lk, err := s.LastKnown()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// Nothing lost: every change any child reported is there. At most
		// one more per child (recorded, killed before it printed) may be.
		reportedTotal := 0
		for st, upTo := range reportedUpTo {
			for k := st; k <= upTo; k++ {
				if !seen[k] {
					t.Fatalf("change %d was reported recorded but is lost", k)
				}
			}
			reportedTotal += upTo - st + 1
		}
		if len(seen) > reportedTotal+len(reportedUpTo) {
			t.Fatalf("%d changes in the file, children reported %d", len(seen), reportedTotal)
		}
		if v, ok := lk["other"]; !ok || v.Status != wire.StatusOffline || len(lk) != 6 {
			t.Fatalf("LastKnown after kill: %v", keys(lk))
		}
		t.Logf("round %d: child reported %d records before SIGKILL; file holds %d changes (reported so far: %d)",
			round, reportedUpTo[start]-start+1, len(seen), reportedTotal)
	}
}

// runAndKill starts the helper child on path, SIGKILLs it once it has
// reported killAfter records, and returns the highest k it reported
// (start-1 if none).
func runAndKill(t *testing.T, path string, start, killAfter int) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path, helperStartEnv+"="+strconv.Itoa(start))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reported, killed := start-1, false
	sc := bufio.NewScanner(out)
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	for sc.Scan() { // read to EOF: lines written before the kill still count
		line := sc.Text()
		var k int
		if _, err := fmt.Sscanf(line, "recorded %d", &k); err != nil {
			continue // e.g. testing's own output
		}
		if k != reported+1 {
			t.Errorf("child reported %d after %d", k, reported)
		}
		reported = k
		if !killed && k-start+1 >= killAfter {
			// Mid-stream: the child is inside its next Record.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !killed || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by our SIGKILL: %v; stderr: %s", err, stderr.String())
	}
	return reported
}

// BenchmarkRecord is the cost of one status change as the hub records it:
// one Change and two views (the entity and, e.g., one it serves) per call,
// each call a committed (fsynced) transaction.
func BenchmarkRecord(b *testing.B) {
	s := openT(b, filepath.Join(b.TempDir(), "state.db"))
	sts := []wire.Status{wire.StatusAvailable, wire.StatusOffline}
	v1, v2 := view("srv", wire.StatusOffline, t0), view("child", wire.StatusOffline, t0)
	i := 0
	for b.Loop() {
		st := sts[i%2]
		at := t0.Add(time.Duration(i) * time.Second)
		v1.Status, v1.Since, v2.Status, v2.Since = st, at, st, at
		c := Change{Entity: "srv", At: at, From: sts[(i+1)%2], To: st, Reason: "agent connected"}
		if err := s.Record([]Change{c}, []wire.Entity{v1, v2}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
