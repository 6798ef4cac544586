// Package bench is the benchmark harness of the hub, the agent and the
// page: simulated agents and viewers on loopback, latency histograms, CPU
// and memory sampling of real processes (gopsutil), real imaging-hub
// processes and a headless Chromium. cmd/imaging-bench wires it to flags;
// docs/BENCHMARKS.md holds the results. The system tests use the same
// pieces through server/hubtest.
package bench

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"time"
)

// Quantile is the q-quantile (0 ≤ q ≤ 1) of a sample by nearest rank: the
// smallest value with at least q of the sample at or below it (q = 0 is the
// minimum, q = 1 the maximum); the zero value for an empty sample. It is
// the one quantile of the raw samples the benchmarks and the tests report
// (Histogram.Quantile is the same rule over buckets).
func Quantile[T cmp.Ordered](v []T, q float64) T {
	var zero T
	if len(v) == 0 {
		return zero
	}
	s := slices.Clone(v)
	slices.Sort(s)
	k := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

// Median is Quantile(v, 0.5).
func Median[T cmp.Ordered](v []T) T { return Quantile(v, 0.5) }

// Histogram records durations in microseconds in log-linear buckets: exact
// below 128 µs, then 64 buckets per power of two (at most 1.6 % relative
// error), up to 2^40 µs. It is not safe for concurrent use; give each
// goroutine its own and Merge them.
type Histogram struct {
	counts []uint64
	n      uint64
	sumUS  float64
	minUS  uint64
	maxUS  uint64
}

const (
	histExact   = 128 // values below are their own bucket
	histSubBits = 6   // 64 buckets per power of two above
	histMaxUS   = 1<<40 - 1
	histBuckets = histExact + (40-7)<<histSubBits // up to 2^40 - 1
)

func bucketOf(us uint64) int {
	if us < histExact {
		return int(us)
	}
	if us > histMaxUS {
		us = histMaxUS
	}
	e := bits.Len64(us) - (histSubBits + 1) // ≥ 1
	sub := us >> uint(e)                    // in [64, 128)
	return histExact + (e-1)<<histSubBits + int(sub-(1<<histSubBits))
}

// bucketRange returns the smallest and largest value of a bucket.
func bucketRange(i int) (lo, hi uint64) {
	if i < histExact {
		return uint64(i), uint64(i)
	}
	j := i - histExact
	e := j>>histSubBits + 1
	sub := uint64(j&(1<<histSubBits-1)) + 1<<histSubBits
	lo = sub << uint(e)
	return lo, lo + 1<<uint(e) - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	h.counts[bucketOf(us)]++
	if h.n == 0 || us < h.minUS {
		h.minUS = us
	}
	if us > h.maxUS {
		h.maxUS = us
	}
	h.n++
	h.sumUS += float64(us)
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.minUS < h.minUS {
		h.minUS = o.minUS
	}
	h.maxUS = max(h.maxUS, o.maxUS)
	h.n += o.n
	h.sumUS += o.sumUS
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest sample (exact).
func (h *Histogram) Max() time.Duration { return time.Duration(h.maxUS) * time.Microsecond }

// Quantile returns the q-quantile (0 < q ≤ 1): the middle of the bucket
// holding the sample of rank ⌈q·n⌉, clamped to the exact min and max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := lo + (hi-lo)/2
			v = min(max(v, h.minUS), h.maxUS)
			return time.Duration(v) * time.Microsecond
		}
	}
	return h.Max()
}

// Summary is a histogram reduced to the figures the report prints.
type Summary struct {
	Count  uint64  `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summary reduces the histogram.
func (h *Histogram) Summary() Summary {
	if h.n == 0 {
		return Summary{}
	}
	return Summary{
		Count:  h.n,
		MeanMS: h.sumUS / float64(h.n) / 1000,
		P50MS:  ms(h.Quantile(0.50)),
		P90MS:  ms(h.Quantile(0.90)),
		P99MS:  ms(h.Quantile(0.99)),
		MaxMS:  ms(h.Max()),
	}
}
