package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// pruneBatch bounds the deletions of one write transaction, pruneScan the
// records one transaction looks at, and dropBuckets the history buckets one
// transaction deletes. Record waits behind any write transaction, and a
// commit that must grow the mapping waits for every read transaction, so the
// pruning work is cut into many short transactions. Variables for the tests.
var (
	pruneBatch  = 2048
	pruneScan   = 16384
	dropBuckets = 64
)

// errNoChange rolls back a write transaction that found nothing to delete,
// sparing its commit (two fdatasyncs).
var errNoChange = errors.New("store: nothing to change")

// PruneHistory applies the history retention: in every entity's history it
// removes the changes whose At is before now-maxAge (maxAge <= 0: no age
// limit) and those older than the entity's newest maxPerEntity (<= 0: no
// count limit), and returns how many it removed. It works in short
// transactions of at most pruneBatch deletions, so that the hub's writes
// never wait long behind it; a crash midway leaves a partly pruned history,
// which the next call finishes. Changes recorded meanwhile are kept. A
// change whose time cannot be decoded is kept (the count limit still removes
// it) and reported in the error, after everything else was pruned.
func (s *Store) PruneHistory(now time.Time, maxAge time.Duration, maxPerEntity int) (removed int, err error) {
	if maxAge <= 0 && maxPerEntity <= 0 {
		return 0, nil
	}
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()
	var cutoff time.Time
	if maxAge > 0 {
		cutoff = now.Add(-maxAge)
	}
	return s.pruneHistory(maxAge > 0, cutoff, max(maxPerEntity, 0))
}

// historyDrop is the keys to delete from one entity's history.
type historyDrop struct {
	entity []byte
	keys   [][]byte
}

// pruneHistory alternates a read transaction that plans up to pruneBatch
// deletions, looking at up to about pruneScan records, and a write
// transaction that carries them out. Planning outside the write transaction
// is sound because pruneMu is held: only Record writes history meanwhile,
// and it only appends. Called with pruneMu held.
func (s *Store) pruneHistory(byAge bool, cutoff time.Time, maxPer int) (removed int, err error) {
	var (
		// Where the next plan resumes: at entity, and if started, at its
		// first key not yet looked at (from) with its count cut (keepFrom,
		// the oldest key the count limit keeps).
		entity, from, keepFrom []byte
		resume, started        bool

		badN     int
		firstBad error
	)
	for {
		var plan []historyDrop
		done := false
		err := s.db.View(func(tx *bolt.Tx) error {
			hist := tx.Bucket(bucketHistory)
			hc := hist.Cursor()
			scanned, planned := 0, 0
			name, v := hc.First()
			if resume {
				name, v = hc.Seek(entity)
			}
			for ; name != nil; name, v = hc.Next() {
				if v != nil {
					continue // a value, not an entity bucket
				}
				b := hist.Bucket(name)
				if !resume || !started || !bytes.Equal(name, entity) {
					if scanned >= pruneScan || planned >= pruneBatch {
						entity, resume, started = bytes.Clone(name), true, false
						return nil
					}
					var steps int
					from = nil
					keepFrom, steps = countCut(b, maxPer)
					scanned += steps
				}
				resume = false
				if keepFrom == nil && !byAge {
					continue // within the count, and no age limit
				}
				d := historyDrop{entity: name}
				c := b.Cursor()
				k, v := c.First()
				if from != nil {
					k, v = c.Seek(from)
				}
				for ; k != nil; k, v = c.Next() {
					if scanned >= pruneScan || planned >= pruneBatch {
						entity, from, resume, started = bytes.Clone(name), bytes.Clone(k), true, true
						plan = appendDrop(plan, d)
						return nil
					}
					scanned++
					if keepFrom != nil && bytes.Compare(k, keepFrom) < 0 {
						d.keys = append(d.keys, bytes.Clone(k))
						planned++
						continue
					}
					if !byAge {
						break // the rest is the newest maxPer
					}
					var ch struct {
						At time.Time `json:"at"`
					}
					if err := json.Unmarshal(v, &ch); err != nil {
						if badN++; firstBad == nil {
							firstBad = fmt.Errorf("change %d of %s: %w", binary.BigEndian.Uint64(k), name, err)
						}
						continue
					}
					if ch.At.Before(cutoff) {
						d.keys = append(d.keys, bytes.Clone(k))
						planned++
					}
				}
				plan = appendDrop(plan, d)
			}
			done = true
			return nil
		})
		if err != nil {
			return removed, fmt.Errorf("store: prune history: %w", err)
		}
		n, err := s.dropHistory(plan)
		removed += n
		if err != nil {
			return removed, fmt.Errorf("store: prune history (%d changes removed so far; the next prune continues): %w", removed, err)
		}
		if done {
			break
		}
	}
	if badN > 0 {
		return removed, fmt.Errorf("store: prune history: kept %d changes whose time could not be decoded (only the count limit removes them); first: %w", badN, firstBad)
	}
	return removed, nil
}

// countCut returns the key of the maxPer-th newest record of b, the oldest
// the count limit keeps (nil: no limit, or not more than maxPer records),
// and how many records it stepped over.
func countCut(b *bolt.Bucket, maxPer int) (keepFrom []byte, steps int) {
	if maxPer <= 0 {
		return nil, 0
	}
	c := b.Cursor()
	k, _ := c.Last()
	for steps = 1; k != nil && steps < maxPer; steps++ {
		k, _ = c.Prev()
	}
	if k == nil {
		return nil, steps
	}
	if prev, _ := c.Prev(); prev == nil {
		return nil, steps // exactly maxPer
	}
	return bytes.Clone(k), steps
}

func appendDrop(plan []historyDrop, d historyDrop) []historyDrop {
	if len(d.keys) == 0 {
		return plan
	}
	d.entity = bytes.Clone(d.entity)
	return append(plan, d)
}

// dropHistory deletes the planned keys in one transaction and removes the
// entity buckets it empties.
func (s *Store) dropHistory(plan []historyDrop) (int, error) {
	if len(plan) == 0 {
		return 0, nil
	}
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		hist := tx.Bucket(bucketHistory)
		for _, d := range plan {
			b := hist.Bucket(d.entity)
			if b == nil {
				continue
			}
			for _, k := range d.keys {
				if err := b.Delete(k); err != nil {
					return fmt.Errorf("delete change %d of %s: %w", binary.BigEndian.Uint64(k), d.entity, err)
				}
			}
			n += len(d.keys)
			if k, _ := b.Cursor().First(); k == nil {
				if err := hist.DeleteBucket(d.entity); err != nil {
					return fmt.Errorf("delete the emptied history of %s: %w", d.entity, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Prune keeps at most keep changes per entity (the oldest are dropped; keep
// 0 drops all history) and forgets the views of entities not in
// keepEntities, after a configuration change. A nil keepEntities leaves the
// views alone; an empty non-nil one forgets them all. The history of an
// entity no longer configured is kept (bounded by keep) so that it is not
// lost if the entity comes back. Like PruneHistory it works in short
// transactions, the views last. The file does not shrink; bbolt reuses the
// freed pages.
func (s *Store) Prune(keep int, keepEntities map[string]bool) error {
	if keep < 0 {
		return fmt.Errorf("store: prune: keep %d < 0", keep)
	}
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()
	if keep == 0 {
		if err := s.dropAllHistory(); err != nil {
			return fmt.Errorf("store: prune: %w", err)
		}
	} else if _, err := s.pruneHistory(false, time.Time{}, keep); err != nil {
		return err
	}
	if keepEntities == nil {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		views := tx.Bucket(bucketViews)
		var forget [][]byte
		if err := views.ForEach(func(k, _ []byte) error {
			if !keepEntities[string(k)] {
				forget = append(forget, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range forget {
			if err := views.Delete(k); err != nil {
				return fmt.Errorf("store: prune: forget the view of %s: %w", k, err)
			}
		}
		return nil
	})
}

// dropAllHistory deletes every entity's history bucket, dropBuckets per
// transaction.
func (s *Store) dropAllHistory() error {
	var names [][]byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHistory).ForEachBucket(func(k []byte) error {
			names = append(names, bytes.Clone(k))
			return nil
		})
	}); err != nil {
		return err
	}
	for len(names) > 0 {
		chunk := names[:min(dropBuckets, len(names))]
		names = names[len(chunk):]
		if err := s.db.Update(func(tx *bolt.Tx) error {
			hist := tx.Bucket(bucketHistory)
			for _, name := range chunk {
				if err := hist.DeleteBucket(name); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
					return fmt.Errorf("delete the history of %s: %w", name, err)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}
