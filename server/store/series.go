package store

// Figure history ("series"): the figures of every entity over time,
// downsampled into three tiers so that the file stays bounded.
//
// Tiers. A point is the mean of the samples of one step; each tier keeps its
// points for a fixed time (seriesTiers): 5-minute steps for 48 h, 30-minute
// steps for 30 days, 6-hour steps for 365 days. Every sample is added to all
// three tiers when it is appended, so no roll-up job exists whose crash could
// lose or double data; a tier answers alone for any range it still covers.
//
// Chunks. Points are packed 48 steps to a bbolt value (a chunk: 4 h, 1 day
// or 12 days), keyed <4-byte chunk number><4-byte series id>. A series id
// (series/ids) stands for entity+figure so keys stay 8 bytes. Time comes
// first in the key, so the chunks being filled (one per series and tier) sit
// side by side and a batch of appends rewrites few pages, and retention
// deletes from the front.
//
// Open and sealed. A chunk grows as its steps fill, and a B+tree leaf whose
// values grow splits, leaving pages about 60 % full. So chunks are filled in
// the tier's open bucket (<tier>.open) and, once a later chunk of the tier
// receives samples, moved in key order to the sealed bucket (<tier>), where
// appends in key order pack pages full (FillPercent 1). A late sample for a
// sealed chunk still joins it there.
//
// Encoding. A chunk holds each point's mean and sample count, which is what
// lets a later append aggregate into the same step: mean' = (mean·n +
// Σv)/(n+k). A mean keeps 24 significant bits (float32's precision: one part
// in 16 million, 0.1 MB of 2 TB): the dropped bits are noise that costs 3-4
// bytes a point. Means are stored XORed with the previous point's bits,
// leading and trailing zero bytes dropped (Gorilla's idea, byte-aligned), and
// a count only when it differs from the previous point's: a steady figure
// (disk total, image counts) costs about 1 byte a point, a noisy one 3 to 6.
// See encodeChunk.
//
// Series ids are never removed: one small key per entity and figure ever
// appended, which the configuration bounds.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"imagingstatus/wire"
)

// Sample is one figure of one entity at one time.
type Sample struct {
	Entity, Figure string
	T              time.Time
	V              float64
}

// seriesTier is one resolution of the figure history.
type seriesTier struct {
	name, open []byte        // sealed and open buckets under series/
	step       time.Duration // one point per step: the mean of its samples
	keep       time.Duration // retention: PruneSeries deletes chunks that ended before now-keep
}

// seriesTiers, finest first. With 48-step chunks, a series keeps at most
// 13 + 31 + 32 chunks (3,648 steps); BenchmarkSeriesYear measures the file.
var seriesTiers = [...]seriesTier{
	{[]byte("5m"), []byte("5m.open"), 5 * time.Minute, 48 * time.Hour},
	{[]byte("30m"), []byte("30m.open"), 30 * time.Minute, 30 * 24 * time.Hour},
	{[]byte("6h"), []byte("6h.open"), 6 * time.Hour, 365 * 24 * time.Hour},
}

// chunkSlots is the number of steps in one chunk.
const chunkSlots = 48

var (
	bucketSeries        = []byte("series")
	bucketSeriesIDs     = []byte("ids")
	bucketSeriesHorizon = []byte("horizon")
)

// initSeries creates the series buckets (Open, in the schema-1 way: buckets
// are only added).
func initSeries(tx *bolt.Tx) error {
	sb, err := tx.CreateBucketIfNotExists(bucketSeries)
	if err != nil {
		return err
	}
	names := [][]byte{bucketSeriesIDs, bucketSeriesHorizon}
	for _, t := range seriesTiers {
		names = append(names, t.name, t.open)
	}
	for _, name := range names {
		if _, err := sb.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// chunkSeconds is the span of one chunk of the tier.
func (t seriesTier) chunkSeconds() int64 { return int64(t.step/time.Second) * chunkSlots }

// locate returns the chunk number and the step within it of a Unix time
// (0 <= unix < maxUnix, which checkSample guarantees).
func (t seriesTier) locate(unix int64) (chunk uint32, slot int) {
	cs := t.chunkSeconds()
	return uint32(unix / cs), int(unix%cs) / int(t.step/time.Second)
}

func (t seriesTier) chunkStart(chunk uint32) int64 { return int64(chunk) * t.chunkSeconds() }

func chunkKey(chunk, id uint32) uint64 { return uint64(chunk)<<32 | uint64(id) }

func keyBytes(k uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], k)
	return b[:]
}

// keyChunk is the chunk number of a chunk key (0 for a malformed key, which
// retention then deletes first).
func keyChunk(k []byte) uint32 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint32(k)
}

// seriesName is the ids key of entity+figure. An entity id cannot hold a
// NUL (checkSample), so the split is unambiguous.
func seriesName(entity, figure string) string { return entity + "\x00" + figure }

// maxUnix keeps chunk numbers within 32 bits (year 2500).
var maxUnix = time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

func checkSample(s *Sample) error {
	switch {
	case s.Entity == "" || s.Figure == "":
		return fmt.Errorf("store: sample without an entity or figure (%q, %q)", s.Entity, s.Figure)
	case strings.IndexByte(s.Entity, 0) >= 0:
		return fmt.Errorf("store: sample of entity %q: NUL in the entity id", s.Entity)
	case s.T.Unix() < 0 || s.T.Unix() >= maxUnix:
		return fmt.Errorf("store: sample %s of %s at %s: time out of range", s.Figure, s.Entity, s.T)
	case math.IsNaN(s.V) || math.IsInf(s.V, 0):
		// One NaN would poison every mean it joins, in all tiers.
		return fmt.Errorf("store: sample %s of %s at %s: value %v", s.Figure, s.Entity, s.T, s.V)
	}
	return nil
}

// slotAcc adds up one step's new samples of one batch.
type slotAcc struct {
	sum float64
	n   uint64
}

// chunkBatch is what one AppendSamples call adds to one chunk: the steps
// it touches (mask) and their sums in step order (acc).
type chunkBatch struct {
	key  uint64
	mask uint64
	acc  []slotAcc
}

func (g *chunkBatch) add(slot int, v float64) {
	bit := uint64(1) << slot
	i := bits.OnesCount64(g.mask & (bit - 1))
	if g.mask&bit == 0 {
		g.mask |= bit
		g.acc = slices.Insert(g.acc, i, slotAcc{})
	}
	g.acc[i].sum += v
	g.acc[i].n++
}

// AppendSamples adds samples to the figure history, in one transaction that
// is on stable storage when it returns nil: all of them or none. Each sample
// joins the mean of its step in every tier; a step may receive samples over
// several calls, in any order. A sample older than a tier's retention, as of
// the last PruneSeries, is not added to that tier (the next prune would
// delete it). Invalid samples (no entity or figure, a NaN or infinite value,
// a time before 1970) fail the call before anything is written. Each call
// costs two fdatasyncs and rewrites the pages of the chunks being filled, so
// the hub should batch (e.g. a minute of reports per call), off its loop.
func (s *Store) AppendSamples(samples []Sample) error {
	if len(samples) == 0 {
		return nil
	}
	for i := range samples {
		if err := checkSample(&samples[i]); err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketSeries)
		ids := sb.Bucket(bucketSeriesIDs)
		horizons := readHorizons(sb)

		idOf := map[[2]string]uint32{}
		var groups [len(seriesTiers)]map[uint64]*chunkBatch
		for i := range groups {
			groups[i] = map[uint64]*chunkBatch{}
		}
		// The last group per tier: consecutive samples of one series
		// usually fall in the same chunk, sparing the map.
		var last [len(seriesTiers)]*chunkBatch
		var id uint32
		for i := range samples {
			sm := &samples[i]
			if i == 0 || sm.Entity != samples[i-1].Entity || sm.Figure != samples[i-1].Figure {
				var err error
				if id, err = seriesID(ids, idOf, sm.Entity, sm.Figure); err != nil {
					return err
				}
			}
			unix := sm.T.Unix()
			for ti, t := range seriesTiers {
				if unix < horizons[ti] {
					continue
				}
				chunk, slot := t.locate(unix)
				key := chunkKey(chunk, id)
				g := last[ti]
				if g == nil || g.key != key {
					if g = groups[ti][key]; g == nil {
						g = &chunkBatch{key: key}
						groups[ti][key] = g
					}
					last[ti] = g
				}
				g.add(slot, sm.V)
			}
		}

		var arena []byte // Put keeps its value until the commit: no reuse
		for ti, t := range seriesTiers {
			if len(groups[ti]) == 0 {
				continue
			}
			sealed, open := sb.Bucket(t.name), sb.Bucket(t.open)
			sealed.FillPercent = 1
			keys := make([]uint64, 0, len(groups[ti]))
			for k := range groups[ti] {
				keys = append(keys, k)
			}
			slices.Sort(keys) // in key order, Put walks the tree forwards
			// Only the newest chunk this batch fills stays open: seal the
			// older ones first, so that Puts to sealed go in key order
			// (inserting before a node's new inodes shifts them each time).
			newest := uint32(keys[len(keys)-1] >> 32)
			if err := seal(open, sealed, newest); err != nil {
				return fmt.Errorf("store: append samples: seal %s: %w", t.name, err)
			}
			var cur chunkPoints
			for _, k := range keys {
				g := groups[ti][k]
				kb := keyBytes(k)
				dst, v := sealed, sealed.Get(kb)
				if v == nil && uint32(k>>32) == newest {
					dst, v = open, open.Get(kb)
				}
				if err := decodeChunk(v, &cur); err != nil {
					// A damaged chunk loses its 48 steps, not the append.
					cur = chunkPoints{}
				}
				m, j := g.mask, 0
				for m != 0 {
					slot := bits.TrailingZeros64(m)
					m &= m - 1
					cur[slot].merge(g.acc[j])
					j++
				}
				start := len(arena)
				arena = encodeChunk(arena, &cur)
				if err := dst.Put(kb, arena[start:len(arena):len(arena)]); err != nil {
					return fmt.Errorf("store: append samples: %w", err)
				}
			}
		}
		return nil
	})
}

// seal moves the open chunks numbered before newest to sealed, in key order.
func seal(open, sealed *bolt.Bucket, newest uint32) error {
	var moved [][2][]byte
	c := open.Cursor()
	for k, v := c.First(); k != nil && keyChunk(k) < newest; k, v = c.Next() {
		moved = append(moved, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
	}
	for _, kv := range moved {
		if err := sealed.Put(kv[0], kv[1]); err != nil {
			return err
		}
		if err := open.Delete(kv[0]); err != nil {
			return err
		}
	}
	return nil
}

// seriesID returns the id of entity's figure, creating it.
func seriesID(ids *bolt.Bucket, cache map[[2]string]uint32, entity, figure string) (uint32, error) {
	if id, ok := cache[[2]string{entity, figure}]; ok {
		return id, nil
	}
	name := seriesName(entity, figure)
	var id uint32
	if v := ids.Get([]byte(name)); len(v) == 4 {
		id = binary.BigEndian.Uint32(v)
	} else {
		seq, err := ids.NextSequence()
		if err != nil {
			return 0, err
		}
		if seq > math.MaxUint32 {
			return 0, errors.New("store: series ids exhausted")
		}
		id = uint32(seq)
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], id)
		if err := ids.Put([]byte(name), b[:]); err != nil {
			return 0, fmt.Errorf("store: series id of %q: %w", name, err)
		}
	}
	cache[[2]string{entity, figure}] = id
	return id, nil
}

// readHorizons returns, per tier, the Unix time before which its points may
// have been pruned (0: never pruned).
func readHorizons(sb *bolt.Bucket) [len(seriesTiers)]int64 {
	var h [len(seriesTiers)]int64
	hb := sb.Bucket(bucketSeriesHorizon)
	for i, t := range seriesTiers {
		if v := hb.Get(t.name); len(v) == 8 {
			h[i] = int64(binary.BigEndian.Uint64(v))
		}
	}
	return h
}

// Series returns the points of entity's figure whose steps overlap
// [from, to], oldest first, each at the start of its step with the mean of
// its samples. It reads the finest tier that still holds everything since
// from (no prune has removed any of its points at or after from), else the
// coarsest. Steps without samples are absent. Nothing recorded gives an
// empty, non-nil slice.
func (s *Store) Series(entity, figure string, from, to time.Time) ([]wire.Point, error) {
	out := []wire.Point{}
	if to.Before(from) || to.Unix() < 0 {
		return out, nil
	}
	lo, hi := max(from.Unix(), 0), min(to.Unix(), maxUnix-1)
	if lo > hi {
		return out, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketSeries)
		ti := len(seriesTiers) - 1
		for i, h := range readHorizons(sb) {
			if h <= lo {
				ti = i
				break
			}
		}
		v := sb.Bucket(bucketSeriesIDs).Get([]byte(seriesName(entity, figure)))
		if len(v) != 4 {
			return nil
		}
		id := binary.BigEndian.Uint32(v)
		t := seriesTiers[ti]
		sealed, open := sb.Bucket(t.name), sb.Bucket(t.open)
		first, _ := t.locate(lo) // the step holding lo is the first to overlap
		last, _ := t.locate(hi)
		// Walk the chunks that exist, not all of [from, to].
		lowest, highest := uint32(math.MaxUint32), uint32(0)
		for _, b := range []*bolt.Bucket{sealed, open} {
			c := b.Cursor()
			if k, _ := c.First(); k != nil {
				lowest = min(lowest, keyChunk(k))
			}
			if k, _ := c.Last(); k != nil {
				highest = max(highest, keyChunk(k))
			}
		}
		first, last = max(first, lowest), min(last, highest)
		stepS := int64(t.step / time.Second)
		var cur chunkPoints
		for c := first; c <= last; c++ {
			kb := keyBytes(chunkKey(c, id))
			raw := sealed.Get(kb)
			if raw == nil {
				if raw = open.Get(kb); raw == nil {
					continue
				}
			}
			if err := decodeChunk(raw, &cur); err != nil {
				return fmt.Errorf("store: series %s of %s, chunk at %s: %w", figure, entity,
					time.Unix(t.chunkStart(c), 0).UTC().Format(time.RFC3339), err)
			}
			for slot, p := range cur {
				start := t.chunkStart(c) + int64(slot)*stepS
				if p.n == 0 || start+stepS <= lo || start > hi {
					continue
				}
				out = append(out, wire.Point{T: time.Unix(start, 0).UTC(), V: p.mean})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PruneSeries applies the retention of every tier as of now: it deletes the
// chunks that ended before now minus the tier's retention, and returns the
// number of points they held. Each transaction deletes at most pruneBatch
// chunks, so the hub's writes never wait long behind it; a crash midway
// leaves a partly pruned tier that the next call finishes. The tier's
// horizon (what Series and AppendSamples go by) moves first, in the same
// transaction as the first deletions.
func (s *Store) PruneSeries(now time.Time) (removed int, err error) {
	for _, t := range seriesTiers {
		cutoff := now.Add(-t.keep).Unix()
		if cutoff <= 0 {
			continue
		}
		cut, _ := t.locate(min(cutoff, maxUnix-1))
		horizon := keyBytes(uint64(t.chunkStart(cut)))
		for {
			n, more := 0, false
			err := s.db.Update(func(tx *bolt.Tx) error {
				sb := tx.Bucket(bucketSeries)
				hb := sb.Bucket(bucketSeriesHorizon)
				changed := false
				if old := hb.Get(t.name); len(old) != 8 || bytes.Compare(old, horizon) < 0 {
					if err := hb.Put(t.name, horizon); err != nil {
						return err
					}
					changed = true
				}
				deleted := 0
				for _, b := range []*bolt.Bucket{sb.Bucket(t.name), sb.Bucket(t.open)} {
					var doomed [][]byte
					c := b.Cursor()
					for k, v := c.First(); k != nil && keyChunk(k) < cut; k, v = c.Next() {
						if deleted == pruneBatch {
							more = true
							break
						}
						doomed = append(doomed, bytes.Clone(k))
						n += chunkPointCount(v)
						deleted++
					}
					for _, k := range doomed {
						if err := b.Delete(k); err != nil {
							return err
						}
					}
				}
				if !changed && deleted == 0 {
					return errNoChange // spare the commit
				}
				return nil
			})
			if errors.Is(err, errNoChange) {
				err = nil
			}
			if err != nil {
				return removed, fmt.Errorf("store: prune series %s (%d points removed so far; the next prune continues): %w", t.name, removed, err)
			}
			removed += n
			if !more {
				break
			}
		}
	}
	return removed, nil
}

// A chunk value, version chunkFormat:
//
//	byte 0        chunkFormat
//	bytes 1..6    presence: bit i%8 of byte 1+i/8 set when step i has a point
//	per point, in step order:
//	  header      bit 7: a count follows (else the previous point's, 1 for the first)
//	              bits 0-6: 0x7f: the mean equals the previous point's;
//	                        else lz<<3|tz: the mean's bits XOR the previous
//	                        point's (0 for the first) have lz leading and tz
//	                        trailing zero bytes (lz+tz <= 7)
//	  count       uvarint, if flagged
//	  xor         the 8-lz-tz middle bytes of the XOR, big-endian
const (
	chunkFormat = 1
	chunkHead   = 7
	sameMean    = 0x7f
	countFlag   = 0x80
)

// chunkPoint is one step of a decoded chunk: n samples of mean mean (n 0:
// no point).
type chunkPoint struct {
	mean float64
	n    uint64
}

type chunkPoints [chunkSlots]chunkPoint

func (p *chunkPoint) merge(a slotAcc) {
	if p.n == 0 {
		p.mean, p.n = round24(a.sum/float64(a.n)), a.n
		return
	}
	n := p.n + a.n
	p.mean = round24((p.mean*float64(p.n) + a.sum) / float64(n))
	p.n = n
}

// round24 rounds x to 24 significant bits, to nearest (see the package
// comment on why). Bits, not float32, so no range is lost.
func round24(x float64) float64 {
	const drop = 52 - 23 // of the 52 stored mantissa bits, keep 23
	b := math.Float64bits(x)
	r := math.Float64frombits((b + 1<<(drop-1)) &^ (1<<drop - 1))
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return math.Float64frombits(b &^ (1<<drop - 1)) // rounding up overflowed
	}
	return r
}

var errBadChunk = errors.New("damaged series chunk")

// encodeChunk appends the encoding of c to dst.
func encodeChunk(dst []byte, c *chunkPoints) []byte {
	head := len(dst)
	dst = append(dst, chunkFormat, 0, 0, 0, 0, 0, 0)
	var prevBits uint64
	prevN := uint64(1)
	for i, p := range c {
		if p.n == 0 {
			continue
		}
		dst[head+1+i/8] |= 1 << (i % 8)
		b := math.Float64bits(p.mean)
		x := b ^ prevBits
		var h byte
		if p.n != prevN {
			h = countFlag
		}
		lz, tz := 0, 0
		if x == 0 {
			h |= sameMean
		} else {
			lz, tz = bits.LeadingZeros64(x)/8, bits.TrailingZeros64(x)/8
			h |= byte(lz<<3 | tz)
		}
		dst = append(dst, h)
		if p.n != prevN {
			dst = binary.AppendUvarint(dst, p.n)
		}
		if x != 0 {
			for j := 7 - lz; j >= tz; j-- {
				dst = append(dst, byte(x>>(8*j)))
			}
		}
		prevBits, prevN = b, p.n
	}
	return dst
}

// decodeChunk decodes b into c. A nil b is an empty chunk. It never panics
// on damaged input.
func decodeChunk(b []byte, c *chunkPoints) error {
	*c = chunkPoints{}
	if b == nil {
		return nil
	}
	if len(b) < chunkHead || b[0] != chunkFormat {
		return errBadChunk
	}
	p := chunkHead
	var prevBits uint64
	prevN := uint64(1)
	for i := range c {
		if b[1+i/8]&(1<<(i%8)) == 0 {
			continue
		}
		if p >= len(b) {
			return errBadChunk
		}
		h := b[p]
		p++
		n := prevN
		if h&countFlag != 0 {
			v, k := binary.Uvarint(b[p:])
			if k <= 0 || v == 0 {
				return errBadChunk
			}
			n, p = v, p+k
		}
		bitsV := prevBits
		if code := h &^ countFlag; code != sameMean {
			lz, tz := int(code>>3), int(code&7)
			m := 8 - lz - tz
			if m < 1 || p+m > len(b) {
				return errBadChunk
			}
			var x uint64
			for _, by := range b[p : p+m] {
				x = x<<8 | uint64(by)
			}
			p += m
			bitsV ^= x << (8 * tz)
		}
		c[i] = chunkPoint{math.Float64frombits(bitsV), n}
		prevBits, prevN = bitsV, n
	}
	if p != len(b) {
		return errBadChunk
	}
	return nil
}

// chunkPointCount is the number of points of an encoded chunk.
func chunkPointCount(b []byte) int {
	if len(b) < chunkHead {
		return 0
	}
	n := 0
	for _, by := range b[1:chunkHead] {
		n += bits.OnesCount8(by)
	}
	return n
}
