package store

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"imagingstatus/wire"
)

// simFleet generates realistic figures for a fleet: steady ones (disk total,
// image counts and bytes, which change a few times a day) and noisy ones
// (disk used growing with noise and monthly cleanups, memory, load), because
// the chunk encoding costs ~1 byte for a repeated mean and up to 9 for a
// noisy one: a constant-only simulation would flatter the size.
type simFleet struct {
	entities []string
	figures  []string
	rng      *rand.Rand
	state    []simServer
}

type simServer struct {
	total, used, rate float64
	images            float64
	imageBytes        float64
}

func newSimFleet(n int) *simFleet {
	f := &simFleet{
		figures: []string{wire.FigureRepoDiskUsed, wire.FigureRepoDiskTotal, wire.FigureMemoryUsed,
			wire.FigureLoad1, wire.FigureImagesComplete, wire.FigureImagesTotal, wire.FigureCompleteBytes},
		rng: rand.New(rand.NewPCG(1, 2)),
	}
	for i := range n {
		f.entities = append(f.entities, "UUID"+strconv.Itoa(i+1))
		tb := float64(1+i%8) * (1 << 40)
		f.state = append(f.state, simServer{total: tb, used: tb * 0.3, rate: tb * 0.002 / 288,
			images: float64(20 + i%200), imageBytes: float64(20+i%200) * 30e9})
	}
	return f
}

// batch appends one sample per entity and figure at each of n steps of
// 5 minutes from start, series by series (AppendSamples takes any order;
// runs of one series spare it a map lookup per sample).
func (f *simFleet) batch(out []Sample, start time.Time, n int) []Sample {
	vals := make([][]float64, len(f.figures))
	for j := range vals {
		vals[j] = make([]float64, n)
	}
	for i, e := range f.entities {
		s := &f.state[i]
		for k := range n {
			// Disk used: steady growth, a few MB of noise, a cleanup of
			// a quarter of it about once a month.
			s.used += s.rate + (f.rng.Float64()-0.5)*8e6
			if f.rng.IntN(30*288) == 0 {
				s.used *= 0.75
			}
			// Images: a new one about every day per server.
			if f.rng.IntN(288) == 0 {
				s.images++
				s.imageBytes += 20e9 + float64(f.rng.IntN(20e9))
			}
			vals[0][k] = math.Round(s.used)
			vals[1][k] = s.total
			vals[2][k] = float64(2<<30 + f.rng.IntN(6<<30))
			vals[3][k] = float64(f.rng.IntN(400)) / 100
			vals[4][k] = s.images
			vals[5][k] = s.images + float64(i%3)
			vals[6][k] = s.imageBytes
		}
		for j, fig := range f.figures {
			for k, v := range vals[j] {
				out = append(out, Sample{e, fig, start.Add(time.Duration(k) * 5 * time.Minute), v})
			}
		}
	}
	return out
}

// BenchmarkSeriesYear simulates 1,000 entities × 7 figures over 365 days and
// reports the state file's size (MB_file). Run with
//
//	go test -run '^$' -bench SeriesYear -benchtime 1x ./server/store/
//
// It appends one sample per 5-minute step (the finest) instead of one a
// minute: a step's point is the mean of its samples either way, so the
// stored points are the same in number and of the same kind (noisy means
// stay noisy); only the sample counts differ, and they cost nothing while
// constant. Each AppendSamples call carries 12 h of samples (1 M), and
// PruneSeries runs once a simulated day. SERIES_ENTITIES and SERIES_DAYS
// override the fleet and the span.
func BenchmarkSeriesYear(b *testing.B) {
	if testing.Short() {
		b.Skip("long: simulates a year of a 1,000-entity fleet")
	}
	entities, days := 1000, 365
	if v, err := strconv.Atoi(os.Getenv("SERIES_ENTITIES")); err == nil && v > 0 {
		entities = v
	}
	if v, err := strconv.Atoi(os.Getenv("SERIES_DAYS")); err == nil && v > 0 {
		days = v
	}
	for range b.N {
		path := filepath.Join(b.TempDir(), "state.db")
		s := openT(b, path)
		fleet := newSimFleet(entities)
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		const perCall = 144 // 12 h of 5-minute steps
		buf := make([]Sample, 0, perCall*entities*len(fleet.figures))
		began := time.Now()
		steps := days * 288
		for k := 0; k < steps; k += perCall {
			n := min(perCall, steps-k)
			at := start.Add(time.Duration(k) * 5 * time.Minute)
			if err := s.AppendSamples(fleet.batch(buf[:0], at, n)); err != nil {
				b.Fatal(err)
			}
			if (k+n)%288 == 0 {
				if _, err := s.PruneSeries(at.Add(time.Duration(n-1) * 5 * time.Minute)); err != nil {
					b.Fatal(err)
				}
			}
		}
		elapsed := time.Since(began)
		end := start.Add(time.Duration(steps) * 5 * time.Minute)
		if _, err := s.PruneSeries(end); err != nil {
			b.Fatal(err)
		}
		var free, pages, chunks int
		if err := s.db.View(func(tx *bolt.Tx) error {
			st := s.db.Stats()
			free = st.FreePageN + st.PendingPageN
			pages = int(tx.Size()) / s.db.Info().PageSize
			sb := tx.Bucket(bucketSeries)
			for _, t := range seriesTiers {
				chunks += sb.Bucket(t.name).Stats().KeyN
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		pts, err := s.Series(fleet.entities[0], wire.FigureRepoDiskUsed, end.Add(-365*24*time.Hour), end)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		reopen := time.Now()
		s2, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		openTook := time.Since(reopen)
		_ = s2.Close()
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		mb := float64(fi.Size()) / 1e6
		b.ReportMetric(mb, "MB_file")
		b.ReportMetric(float64(pages-free)*float64(os.Getpagesize())/1e6, "MB_live")
		b.ReportMetric(elapsed.Seconds(), "s_simulated")
		b.Logf("%d entities × %d figures × %d days: file %.1f MB (%d pages, %d free), %d chunks, 365-day series of one figure: %d points; simulated in %s; reopen (with its consistency check) %s",
			entities, len(fleet.figures), days, mb, pages, free, chunks, len(pts), elapsed.Round(time.Second), openTook.Round(time.Millisecond))
	}
}

// BenchmarkAppendSamplesMinute is the hub's steady state: one AppendSamples
// a minute with one sample of each of 1,000 entities × 7 figures. It
// reports the pages each call writes (MB_written/op), chunk seals at period
// boundaries included: two fdatasyncs and this much per minute.
func BenchmarkAppendSamplesMinute(b *testing.B) {
	s := openT(b, filepath.Join(b.TempDir(), "state.db"))
	fleet := newSimFleet(1000)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf []Sample
	minute := func() []Sample {
		buf = buf[:0]
		for _, e := range fleet.entities {
			for j, fig := range fleet.figures {
				buf = append(buf, Sample{e, fig, at, float64(fleet.rng.IntN(1 << 20 << j))})
			}
		}
		at = at.Add(time.Minute)
		return buf
	}
	// Half a day first, so that the open chunks have grown.
	for range 12 * 60 {
		if err := s.AppendSamples(minute()); err != nil {
			b.Fatal(err)
		}
	}
	st0 := s.db.Stats()
	alloc := st0.TxStats.GetPageAlloc()
	b.ResetTimer()
	for range b.N {
		if err := s.AppendSamples(minute()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := s.db.Stats()
	b.ReportMetric(float64(st.TxStats.GetPageAlloc()-alloc)/1e6/float64(b.N), "MB_written/op")
}
