// Package store keeps the hub's durable state in one embedded bbolt file:
// the last known view of every entity and the history of status changes, so
// that after a hub SIGKILL (or a crash of the machine) and a restart the page
// shows the last known states and no recorded status change is lost.
//
// Durability. Every write is one bbolt read-write transaction. bbolt is
// copy-on-write: Commit writes the new pages, fdatasyncs the file, then writes
// the new meta page and fdatasyncs again, so when Commit returns the
// transaction is on stable storage, and a process killed at any instant leaves
// either the previous or the new meta page in force — never a torn file. This
// holds only with DB.NoSync false (the default; Open sets it explicitly and
// refuses a DB with it set): with NoSync a commit only reaches the page
// cache, which survives a SIGKILL but not a power loss or kernel crash. The hub reports a
// change to viewers only after Record returned, so a change a viewer saw is
// never lost. The cost is two fdatasyncs per Record call (milliseconds on a
// disk), which is why the hub batches: one Record per loop iteration with all
// changes of that iteration, not one per change.
//
// Layout (schema 1):
//
//	meta/schema            "1"
//	views/<entity id>      JSON wire.Entity
//	history/<entity id>/   one nested bucket per entity:
//	    <8-byte big-endian sequence> JSON Change
//	sessions/<session id>  JSON Session (id: hex SHA-256 of the cookie value)
//	series/                figure history, see series.go: ids/<entity>\x00<figure>
//	    (4-byte series id), horizon/<tier> (8-byte Unix time), and per tier
//	    (5m, 30m, 6h; <tier>.open for the chunks being filled)
//	    <4-byte chunk number><4-byte series id> 48 packed points
//
// The sequence comes from the entity bucket's NextSequence, so iterating an
// entity's bucket is chronological and never depends on clocks. An entity
// bucket that retention empties is removed (and recreated by the next
// change). Buckets are only added within a schema: Open creates the missing
// ones (sessions did not exist in the first files of schema 1), and older
// builds ignore the ones they do not know.
//
// Damaged files. Before bbolt maps the file, Open checks its header (see
// checkHeader): an empty file, or one shorter than its header says, is
// refused with ErrCorrupt instead of crashing the process inside bbolt, and
// a damaged one of the two meta pages is rewritten from the other.
//
// Retention. PruneHistory (age and count per entity) and PruneSessions run
// in many short transactions, so the hub's writes never wait long behind
// them.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"imagingstatus/wire"
)

// LockTimeout bounds how long Open waits for the file lock held by another
// process before it gives up with ErrInUse.
const LockTimeout = 2 * time.Second

// schemaVersion is the layout written by this build.
const schemaVersion = "1"

var (
	bucketMeta     = []byte("meta")
	bucketViews    = []byte("views")
	bucketHistory  = []byte("history")
	bucketSessions = []byte("sessions")
	bucketAlerts   = []byte("alerts")
	keySchema      = []byte("schema")
)

// ErrInUse is wrapped by Open's error when another process (another hub)
// holds the state file's lock.
var ErrInUse = errors.New("state file is in use by another hub process")

// ErrCorrupt is wrapped by Open's error when the file is not a readable hub
// state file (garbage, damaged, or written by an incompatible build).
var ErrCorrupt = errors.New("state file is corrupt or not a hub state file")

// Store is the hub's state file. Its methods are safe for concurrent use
// (bbolt serialises writers), though the hub writes from one goroutine.
type Store struct {
	db   *bolt.DB
	path string
	// pruneMu serialises the pruning methods: PruneHistory plans its
	// deletions in read transactions and relies on nothing but itself
	// deleting history meanwhile (Prune deletes whole buckets).
	pruneMu sync.Mutex
}

// A Change is one status transition of one entity.
type Change struct {
	Entity string      `json:"entity"`
	At     time.Time   `json:"at"`
	From   wire.Status `json:"from,omitempty"`
	To     wire.Status `json:"to"`
	Reason string      `json:"reason,omitempty"`
}

// Open opens the state file at path, creating it (mode 0600) if it does not
// exist. It waits at most LockTimeout for another process's lock, then fails
// with an error wrapping ErrInUse. A file that is not a valid hub state file
// fails with an error wrapping ErrCorrupt that names the file and says to
// move it aside; so does an existing empty file, or one shorter than its
// header says (truncated). The whole file is consistency-checked on open
// (cost grows with the file, which PruneHistory keeps small).
func Open(path string) (*Store, error) {
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	if err := checkHeader(path); err != nil {
		return nil, err
	}

	db, err := openDB(path)
	if err != nil {
		return nil, describeOpenError(path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if created {
		// bbolt fsyncs the file, not the directory entry that names it: sync
		// the directory once so a new file survives a crash of the machine.
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("state file %s: sync its directory: %w", path, err)
		}
	}
	return s, nil
}

// openDB is bolt.Open with the options this package relies on, turning a
// panic on a damaged file into an error.
func openDB(path string) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, corrupt(path, fmt.Errorf("%v", r))
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{
		Timeout: LockTimeout,
		// NoSync must stay false: see the package comment.
		NoSync:       false,
		FreelistType: bolt.FreelistMapType,
	})
}

func describeOpenError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return &openError{kind: ErrInUse, cause: err, msg: fmt.Sprintf(
			"state file %s is in use by another hub process (lock not obtained within %s): stop that hub or give this one another state file",
			path, LockTimeout)}
	case errors.Is(err, ErrCorrupt):
		return err
	case errors.Is(err, berrors.ErrInvalid),
		errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrInvalidMapping):
		return corrupt(path, err)
	default:
		return &openError{cause: err, msg: fmt.Sprintf(
			"state file %s cannot be opened (%v): check its permissions and directory, or move it aside to start with an empty state",
			path, err)}
	}
}

func corrupt(path string, cause error) error {
	return &openError{kind: ErrCorrupt, cause: cause, msg: fmt.Sprintf(
		"state file %s is corrupt or not a hub state file (%v): move it aside (e.g. mv %s %s.bad) and restart the hub, which then starts with an empty state",
		path, cause, path, path)}
}

// openError is a message for the operator that still matches its kind
// (ErrInUse, ErrCorrupt) and its cause with errors.Is.
type openError struct {
	kind, cause error
	msg         string
}

func (e *openError) Error() string { return e.msg }

func (e *openError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.cause}
	}
	return []error{e.kind, e.cause}
}

// init checks the whole file and creates the buckets of a new file.
func (s *Store) init() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = corrupt(s.path, fmt.Errorf("%v", r))
		}
	}()
	if s.db.NoSync {
		return fmt.Errorf("state file %s: opened with NoSync, which would lose recorded changes", s.path)
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		var first error
		for e := range tx.Check() { // drain: Check's goroutine ends when closed
			if first == nil {
				first = e
			}
		}
		if first != nil {
			return corrupt(s.path, first)
		}
		if tx.Bucket(bucketMeta) == nil {
			// A new file is empty; a bbolt file of some other program is not.
			return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				return corrupt(s.path, fmt.Errorf("unexpected bucket %q", name))
			})
		}
		return nil
	}); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch v := meta.Get(keySchema); {
		case v == nil:
			if err := meta.Put(keySchema, []byte(schemaVersion)); err != nil {
				return err
			}
		case string(v) != schemaVersion:
			return corrupt(s.path, fmt.Errorf("schema %q, this hub reads schema %s", v, schemaVersion))
		}
		for _, name := range [][]byte{bucketViews, bucketHistory, bucketSessions, bucketAlerts} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return initSeries(tx)
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Path is the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Close releases the file and its lock.
func (s *Store) Close() error { return s.db.Close() }

type encoded struct {
	key, value []byte
}

func encodeViews(views []wire.Entity) ([]encoded, error) {
	out := make([]encoded, 0, len(views))
	for i := range views {
		if views[i].ID == "" {
			return nil, errors.New("store: view without an entity id")
		}
		b, err := json.Marshal(&views[i])
		if err != nil {
			return nil, fmt.Errorf("store: encode view of %s: %w", views[i].ID, err)
		}
		out = append(out, encoded{[]byte(views[i].ID), b})
	}
	return out, nil
}

func putViews(tx *bolt.Tx, views []encoded) error {
	b := tx.Bucket(bucketViews)
	for _, v := range views {
		if err := b.Put(v.key, v.value); err != nil {
			return fmt.Errorf("store: save view of %s: %w", v.key, err)
		}
	}
	return nil
}

// Record appends changes to their entities' histories and saves views as
// the entities' last known states, all in one transaction that is on stable
// storage when Record returns nil (see the package comment). Either all of
// it is written or none. Encoding happens before the transaction.
func (s *Store) Record(changes []Change, views []wire.Entity) error {
	if len(changes) == 0 && len(views) == 0 {
		return nil
	}
	ch := make([]encoded, 0, len(changes))
	for i := range changes {
		if changes[i].Entity == "" {
			return errors.New("store: change without an entity id")
		}
		b, err := json.Marshal(&changes[i])
		if err != nil {
			return fmt.Errorf("store: encode change of %s: %w", changes[i].Entity, err)
		}
		ch = append(ch, encoded{[]byte(changes[i].Entity), b})
	}
	vs, err := encodeViews(views)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		hist := tx.Bucket(bucketHistory)
		for _, c := range ch {
			b, err := hist.CreateBucketIfNotExists(c.key)
			if err != nil {
				return fmt.Errorf("store: history of %s: %w", c.key, err)
			}
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(seq), c.value); err != nil {
				return fmt.Errorf("store: append change of %s: %w", c.key, err)
			}
		}
		return putViews(tx, vs)
	})
}

// SaveViews saves views as the entities' last known states, without
// history (periodic refreshes of figures). Durable when it returns nil.
func (s *Store) SaveViews(views []wire.Entity) error {
	if len(views) == 0 {
		return nil
	}
	vs, err := encodeViews(views)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return putViews(tx, vs) })
}

// LastKnown returns every stored view, by entity id.
func (s *Store) LastKnown() (map[string]wire.Entity, error) {
	out := map[string]wire.Entity{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketViews).ForEach(func(k, v []byte) error {
			var e wire.Entity
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: decode view of %s: %w", k, err)
			}
			out[string(k)] = e
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// History returns the entity's changes newest first, at most limit of them
// (limit <= 0: all). An entity without history gives an empty slice.
func (s *Store) History(entity string, limit int) ([]Change, error) {
	var out []Change
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHistory).Bucket([]byte(entity))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var ch Change
			if err := json.Unmarshal(v, &ch); err != nil {
				return fmt.Errorf("store: decode change %d of %s: %w", binary.BigEndian.Uint64(k), entity, err)
			}
			out = append(out, ch)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []Change{}
	}
	return out, nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}
