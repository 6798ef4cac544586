package store

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"imagingstatus/wire"
)

func sample(entity, figure string, t time.Time, v float64) Sample {
	return Sample{Entity: entity, Figure: figure, T: t, V: v}
}

func series(t *testing.T, s *Store, entity, figure string, from, to time.Time) []wire.Point {
	t.Helper()
	pts, err := s.Series(entity, figure, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return pts
}

func TestSeriesEmpty(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "state.db"))
	check := func(entity, figure string, from, to time.Time) {
		t.Helper()
		pts := series(t, s, entity, figure, from, to)
		if pts == nil || len(pts) != 0 {
			t.Errorf("Series(%s, %s) = %#v, want an empty non-nil slice", entity, figure, pts)
		}
	}
	check("a", wire.FigureLoad1, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err := s.AppendSamples([]Sample{sample("a", wire.FigureLoad1, t0, 1)}); err != nil {
		t.Fatal(err)
	}
	check("a", wire.FigureMemoryUsed, t0.Add(-time.Hour), t0.Add(time.Hour)) // another figure
	check("b", wire.FigureLoad1, t0.Add(-time.Hour), t0.Add(time.Hour))      // another entity
	check("a", wire.FigureLoad1, t0.Add(time.Hour), t0.Add(2*time.Hour))     // another time
	check("a", wire.FigureLoad1, t0.Add(time.Hour), t0.Add(-time.Hour))      // to before from
	check("a", wire.FigureLoad1, time.Unix(-100, 0), time.Unix(-10, 0))      // before 1970
}

// TestSeriesMeans: a point is the mean of its step's samples, whether they
// came in one AppendSamples call or several, in any order.
func TestSeriesMeans(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name  string
		calls [][]Sample
		from  time.Time
		to    time.Time
		want  []wire.Point
	}{
		{
			name: "two calls aggregate into one step",
			calls: [][]Sample{
				{sample("a", "f", t0.Add(1*m), 1), sample("a", "f", t0.Add(2*m), 2)},
				{sample("a", "f", t0.Add(3*m), 6)},
			},
			from: t0, to: t0.Add(time.Hour),
			want: []wire.Point{{T: t0, V: 3}},
		},
		{
			name: "three calls, one sample each",
			calls: [][]Sample{
				{sample("a", "f", t0.Add(4*m), 10)},
				{sample("a", "f", t0, 20)},
				{sample("a", "f", t0.Add(2*m), 60)},
			},
			from: t0, to: t0.Add(time.Hour),
			want: []wire.Point{{T: t0, V: 30}},
		},
		{
			name: "steps apart, oldest first, other series apart",
			calls: [][]Sample{
				{sample("a", "f", t0.Add(12*m), 5), sample("b", "f", t0.Add(12*m), 99), sample("a", "g", t0, 98)},
				{sample("a", "f", t0.Add(1*m), 1), sample("a", "f", t0.Add(7*m), 2), sample("a", "f", t0.Add(8*m), 4)},
			},
			from: t0, to: t0.Add(time.Hour),
			want: []wire.Point{{T: t0, V: 1}, {T: t0.Add(5 * m), V: 3}, {T: t0.Add(10 * m), V: 5}},
		},
		{
			name: "a step overlapping from or to is in",
			calls: [][]Sample{
				{sample("a", "f", t0.Add(1*m), 1), sample("a", "f", t0.Add(6*m), 2), sample("a", "f", t0.Add(11*m), 3)},
			},
			from: t0.Add(4 * m), to: t0.Add(10 * m),
			want: []wire.Point{{T: t0, V: 1}, {T: t0.Add(5 * m), V: 2}, {T: t0.Add(10 * m), V: 3}},
		},
		{
			name: "a step ending at from is out",
			calls: [][]Sample{
				{sample("a", "f", t0.Add(1*m), 1), sample("a", "f", t0.Add(6*m), 2)},
			},
			from: t0.Add(5 * m), to: t0.Add(time.Hour),
			want: []wire.Point{{T: t0.Add(5 * m), V: 2}},
		},
		{
			name: "across chunks (4 h), in separate calls, and a late sample for a sealed chunk",
			calls: [][]Sample{
				{sample("a", "f", t0.Add(-1*m), 1)},               // chunk before t0
				{sample("a", "f", t0.Add(1*m), 2)},                // t0's chunk: seals the one before
				{sample("a", "f", t0.Add(4*time.Hour+m), 3)},      // the next: seals t0's
				{sample("a", "f", t0.Add(-2*m), 5)},               // late, into a sealed chunk
				{sample("a", "f", t0.Add(4*time.Hour+2*m), 5)},    // into the open one
				{sample("b", "f", t0.Add(-3*m), 7)},               // a new series in a sealed chunk
				{sample("a", "f", t0.Add(3*m), 4)},                // sealed, again
				{sample("a", "f", t0.Add(8*time.Hour+3*m), 9)},    // seals the rest
				{sample("a", "f", t0.Add(8*time.Hour+4*m), 10.5)}, // open
			},
			from: t0.Add(-time.Hour), to: t0.Add(9 * time.Hour),
			want: []wire.Point{
				{T: t0.Add(-5 * m), V: 3}, {T: t0, V: 3}, {T: t0.Add(4 * time.Hour), V: 4}, {T: t0.Add(8 * time.Hour), V: 9.75},
			},
		},
		{
			name: "values kept to 24 significant bits",
			calls: [][]Sample{
				{sample("a", "f", t0, 1e12+1), sample("a", "f", t0.Add(m), 1e12+2)},
			},
			from: t0, to: t0,
			want: []wire.Point{{T: t0, V: round24(1e12 + 1.5)}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openT(t, filepath.Join(t.TempDir(), "state.db"))
			for _, c := range tc.calls {
				if err := s.AppendSamples(c); err != nil {
					t.Fatal(err)
				}
			}
			if got := series(t, s, "a", "f", tc.from, tc.to); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

// yearOfSteps appends one sample of entity "e", figure "f" every 5 minutes
// from t0 for days days, valued by its step number, in one call.
func yearOfSteps(t *testing.T, s *Store, days int) (end time.Time) {
	t.Helper()
	n := days * 288
	batch := make([]Sample, 0, n)
	for k := range n {
		batch = append(batch, sample("e", "f", t0.Add(time.Duration(k)*5*time.Minute), float64(k)))
	}
	if err := s.AppendSamples(batch); err != nil {
		t.Fatal(err)
	}
	return t0.Add(time.Duration(n) * 5 * time.Minute)
}

// checkSteps checks points are every step apart with the mean of the
// step numbers (one a 5 minutes) they cover.
func checkSteps(t *testing.T, pts []wire.Point, step time.Duration, wantN int) {
	t.Helper()
	if len(pts) != wantN {
		t.Fatalf("%d points, want %d", len(pts), wantN)
	}
	per := float64(step / (5 * time.Minute))
	for i, p := range pts {
		if i > 0 && p.T.Sub(pts[i-1].T) != step {
			t.Fatalf("point %d at %s, %s after the previous, want %s", i, p.T, p.T.Sub(pts[i-1].T), step)
		}
		first := float64(p.T.Sub(t0) / (5 * time.Minute))
		if want := first + (per-1)/2; p.V != want {
			t.Fatalf("point at %s = %v, want %v", p.T, p.V, want)
		}
	}
}

// TestSeriesTiers: Series reads the finest tier that still holds [from, to].
func TestSeriesTiers(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "state.db"))
	end := yearOfSteps(t, s, 40)
	// Nothing pruned yet: the 5-minute tier holds all 40 days.
	checkSteps(t, series(t, s, "e", "f", end.Add(-30*24*time.Hour), end), 5*time.Minute, 30*288)

	if _, err := s.PruneSeries(end); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		window time.Duration
		step   time.Duration
		n      int
	}{
		{time.Hour, 5 * time.Minute, 12},
		{48 * time.Hour, 5 * time.Minute, 576},
		{49 * time.Hour, 30 * time.Minute, 98},
		{30 * 24 * time.Hour, 30 * time.Minute, 1440},
		{31 * 24 * time.Hour, 6 * time.Hour, 124},
		{365 * 24 * time.Hour, 6 * time.Hour, 160}, // all 40 days
		{10 * 365 * 24 * time.Hour, 6 * time.Hour, 160},
	} {
		t.Run(tc.window.String(), func(t *testing.T) {
			checkSteps(t, series(t, s, "e", "f", end.Add(-tc.window), end), tc.step, tc.n)
		})
	}
}

// chunkKeys counts the chunks of each tier (sealed and open together).
func chunkKeys(t *testing.T, s *Store) (n [len(seriesTiers)]int) {
	t.Helper()
	if err := s.db.View(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketSeries)
		for i, tr := range seriesTiers {
			n[i] = sb.Bucket(tr.name).Stats().KeyN + sb.Bucket(tr.open).Stats().KeyN
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPruneSeriesRetention(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch int
	}{
		{"one transaction per tier", 2048},
		{"many small transactions", 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withSmallBatches(t, tc.batch, pruneScan, dropBuckets)
			s := openT(t, filepath.Join(t.TempDir(), "state.db"))
			end := yearOfSteps(t, s, 400)
			var want [len(seriesTiers)]int
			for i, tr := range seriesTiers {
				first, _ := tr.locate(t0.Unix())
				last, _ := tr.locate(end.Unix() - 1)
				want[i] = int(last-first) + 1
			}
			if got := chunkKeys(t, s); got != want || want[0] != 400*6 || want[1] != 401 {
				t.Fatalf("chunks before pruning %v, want %v", got, want)
			}
			removed, err := s.PruneSeries(end)
			if err != nil {
				t.Fatal(err)
			}
			// t0 is 12:00 UTC, so end and end-48h are 4-hour chunk
			// boundaries: 398 days of 5-minute points go; 30-minute points
			// go up to the day holding end-30d (369.5 days); 6-hour points
			// up to the 12-day chunk holding end-365d.
			cut6h := time.Unix(end.Add(-365*24*time.Hour).Unix()/(12*86400)*(12*86400), 0)
			wantRemoved := 398*288 + 739*24 + int(cut6h.Sub(t0)/(6*time.Hour))
			if removed != wantRemoved {
				t.Errorf("removed %d points, want %d", removed, wantRemoved)
			}
			if got := chunkKeys(t, s); got[0] != 12 || got[1] > 31 || got[2] > 32 {
				t.Errorf("chunks after pruning %v, want at most 13, 31, 32", got)
			}
			if again, err := s.PruneSeries(end); err != nil || again != 0 {
				t.Errorf("pruning again removed %d (%v)", again, err)
			}
			// A sample older than a tier's retention is not added to it.
			if err := s.AppendSamples([]Sample{sample("e", "f", end.Add(-100*24*time.Hour), -1)}); err != nil {
				t.Fatal(err)
			}
			if got := chunkKeys(t, s); got[0] != 12 || got[1] > 31 {
				t.Errorf("an old sample re-created pruned chunks: %v", got)
			}
			// Prune's now moving on removes the rest, tier by tier.
			removed, err = s.PruneSeries(end.Add(2 * 365 * 24 * time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if got := chunkKeys(t, s); got != [3]int{} {
				t.Errorf("chunks left %v (removed %d)", got, removed)
			}
			if pts := series(t, s, "e", "f", time.Time{}, end); len(pts) != 0 {
				t.Errorf("%d points left", len(pts))
			}
		})
	}
}

func TestAppendSamplesRejects(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "state.db"))
	good := sample("a", "f", t0, 1)
	for _, bad := range []Sample{
		sample("", "f", t0, 1),
		sample("a", "", t0, 1),
		sample("a\x00b", "f", t0, 1),
		sample("a", "f", time.Time{}, 1),
		sample("a", "f", time.Date(2600, 1, 1, 0, 0, 0, 0, time.UTC), 1),
		sample("a", "f", t0, math.NaN()),
		sample("a", "f", t0, math.Inf(-1)),
	} {
		if err := s.AppendSamples([]Sample{good, bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if pts := series(t, s, "a", "f", t0, t0); len(pts) != 0 {
		t.Errorf("a failed call wrote %v", pts)
	}
	if err := s.AppendSamples(nil); err != nil {
		t.Error(err)
	}
}

func TestSeriesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	end := yearOfSteps(t, s, 3)
	if _, err := s.PruneSeries(end); err != nil {
		t.Fatal(err)
	}
	before := series(t, s, "e", "f", end.Add(-30*24*time.Hour), end)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path)
	if after := series(t, s, "e", "f", end.Add(-30*24*time.Hour), end); !reflect.DeepEqual(before, after) || len(after) != 144 {
		t.Errorf("%d points before, %d after reopening", len(before), len(after))
	}
}

// TestSeriesConcurrent: appends, reads and prunes from several goroutines
// (for the race detector; bbolt serialises the writers).
func TestSeriesConcurrent(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "state.db"))
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for w := range 2 {
		wg.Go(func() {
			for i := range 50 {
				at := t0.Add(time.Duration(i) * time.Hour)
				if err := s.AppendSamples([]Sample{sample("a", "f", at, float64(w)), sample("b", "f", at, 1)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			if _, err := s.Series("a", "f", t0, t0.Add(100*time.Hour)); err != nil {
				errs <- err
				return
			}
			if _, err := s.PruneSeries(t0.Add(time.Duration(i) * time.Hour)); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	pts := series(t, s, "a", "f", t0, t0.Add(100*time.Hour))
	if len(pts) != 50 {
		t.Fatalf("%d points, want 50", len(pts))
	}
	for _, p := range pts {
		if p.V != 0.5 {
			t.Fatalf("%v: want the mean of both writers, 0.5", p)
		}
	}
}

func TestChunkCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	full := func(f func(i int) chunkPoint) *chunkPoints {
		var c chunkPoints
		for i := range c {
			c[i] = f(i)
		}
		return &c
	}
	tests := []struct {
		name    string
		c       *chunkPoints
		maxSize int
	}{
		{"empty", &chunkPoints{}, chunkHead},
		{"constant: a byte a point", full(func(int) chunkPoint { return chunkPoint{2 << 40, 1} }), chunkHead + 1 + 6 + 47},
		{"counts change", full(func(i int) chunkPoint { return chunkPoint{7, uint64(i%3 + 1)} }), chunkHead + 2 + 48*2},
		{"sparse", full(func(i int) chunkPoint {
			if i%5 != 0 {
				return chunkPoint{}
			}
			return chunkPoint{float64(i), 5}
		}), chunkHead + 10*10},
		{"random 24-bit means: at most 6 bytes a point", full(func(int) chunkPoint {
			return chunkPoint{round24(r.Float64() * 1e12), uint64(r.IntN(1000) + 1)}
		}), chunkHead + 48*(1+2+5)},
		{"full float64 means, signs, zeros, extremes", full(func(i int) chunkPoint {
			vs := []float64{r.NormFloat64(), 0, math.Copysign(0, -1), math.MaxFloat64, -math.SmallestNonzeroFloat64, 1e-300}
			return chunkPoint{vs[i%len(vs)], math.MaxUint64 - uint64(i)}
		}), chunkHead + 48*(1+10+8)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := encodeChunk(nil, tc.c)
			if len(b) > tc.maxSize {
				t.Errorf("%d bytes, want at most %d", len(b), tc.maxSize)
			}
			var got chunkPoints
			if err := decodeChunk(b, &got); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Float64bits(got[i].mean) != math.Float64bits(tc.c[i].mean) || got[i].n != tc.c[i].n {
					t.Fatalf("step %d: %v, want %v", i, got[i], tc.c[i])
				}
			}
			want := 0
			for _, p := range tc.c {
				if p.n > 0 {
					want++
				}
			}
			if n := chunkPointCount(b); n != want {
				t.Errorf("count %d, want %d", n, want)
			}
			// Every truncation is refused, never a panic.
			for i := range len(b) {
				if err := decodeChunk(b[:i], &got); err == nil && i > 0 {
					t.Errorf("truncated to %d of %d bytes: accepted", i, len(b))
				}
			}
		})
	}
	for _, bad := range [][]byte{{2, 0, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0, 0, 9}, {1, 1, 0, 0, 0, 0, 0, 0x80, 0}, {1, 1, 0, 0, 0, 0, 0, 0x3f}} {
		var c chunkPoints
		if err := decodeChunk(bad, &c); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
}

func FuzzDecodeChunk(f *testing.F) {
	c := chunkPoints{3: {1.5, 2}, 4: {1.5, 2}, 40: {-7, 1}}
	f.Add(encodeChunk(nil, &c))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c chunkPoints
		if decodeChunk(b, &c) != nil {
			return
		}
		var again chunkPoints
		if err := decodeChunk(encodeChunk(nil, &c), &again); err != nil || !sameChunk(&c, &again) {
			t.Fatalf("%x: decoded %v, re-encoded and decoded %v (%v)", b, c, again, err)
		}
	})
}

func sameChunk(a, b *chunkPoints) bool {
	for i := range a {
		if math.Float64bits(a[i].mean) != math.Float64bits(b[i].mean) || a[i].n != b[i].n {
			return false
		}
	}
	return true
}

func TestRound24(t *testing.T) {
	// MaxFloat64 rounds up past the largest float: truncated instead.
	for _, x := range []float64{0, 1, -1, 3, 16777215, 16777216, 2 << 40, 0.5, 1.0 / 3, 1e12 + 1, -7.123456789, 1e-310, math.MaxFloat64} {
		got := round24(x)
		if math.IsInf(got, 0) || math.IsNaN(got) {
			t.Errorf("round24(%v) = %v", x, got)
			continue
		}
		if math.Float64bits(got)&(1<<29-1) != 0 {
			t.Errorf("round24(%v) = %v keeps more than 24 bits", x, got)
		}
		if x != 0 && x != math.MaxFloat64 && math.Abs(x) > 1e-300 && math.Abs(got-x)/math.Abs(x) > 1.0/(1<<24) {
			t.Errorf("round24(%v) = %v: off by more than half a 24-bit unit", x, got)
		}
	}
	// Integers up to 2^24 are exact: image counts survive.
	for _, x := range []float64{0, 1, 1000, 16777216} {
		if round24(x) != x {
			t.Errorf("round24(%v) = %v", x, round24(x))
		}
	}
}
