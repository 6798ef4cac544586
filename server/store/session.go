package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Session is a viewer sign-in: which viewer token it stands for (hex SHA-256 of the token) and when it ends.
type Session struct {
	TokenSHA256 string    `json:"token_sha256"`
	Expires     time.Time `json:"expires"`
}

// maxSessionID bounds a session id (a hex SHA-256 is 64 bytes), so that a
// caller passing the raw cookie by mistake cannot store arbitrary keys.
const maxSessionID = 128

func checkSessionID(id string) error {
	switch {
	case id == "":
		return errors.New("store: empty session id: pass the hex SHA-256 of the cookie value")
	case len(id) > maxSessionID:
		return fmt.Errorf("store: session id of %d bytes, at most %d: pass the hex SHA-256 of the cookie value", len(id), maxSessionID)
	}
	return nil
}

// PutSession stores (or replaces) the session id, the hex SHA-256 of the
// cookie value: the file never holds what a browser presents. It is on
// stable storage when PutSession returns nil, so a sign-in survives a crash.
func (s *Store) PutSession(id string, sess Session) error {
	if err := checkSessionID(id); err != nil {
		return err
	}
	v, err := json.Marshal(&sess)
	if err != nil {
		return fmt.Errorf("store: encode session: %w", err)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSessions).Put([]byte(id), v); err != nil {
			return fmt.Errorf("store: save session: %w", err)
		}
		return nil
	})
}

// GetSession returns the session id and whether it exists. An expired
// session is returned as stored until PruneSessions deletes it: the caller
// compares Expires with its clock.
func (s *Store) GetSession(id string) (Session, bool, error) {
	if err := checkSessionID(id); err != nil {
		return Session{}, false, err
	}
	var sess Session
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSessions).Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		if err := json.Unmarshal(v, &sess); err != nil {
			return fmt.Errorf("store: decode session (PruneSessions deletes it): %w", err)
		}
		return nil
	})
	if err != nil {
		return Session{}, false, err
	}
	return sess, found, nil
}

// DeleteSession deletes the session id (a sign-out); deleting a session
// that does not exist is not an error. Durable when it returns nil.
func (s *Store) DeleteSession(id string) error {
	if err := checkSessionID(id); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketSessions).Delete([]byte(id)); err != nil {
			return fmt.Errorf("store: delete session: %w", err)
		}
		return nil
	})
}

// PruneSessions deletes expired sessions and, when validTokens is non-nil, those whose token hash is not in it (a token removed from the configuration ends its sessions). Returns how many were deleted.
//
// A session expires at Expires (not after it); one that cannot be decoded
// is deleted too, since it cannot be checked. Like PruneHistory it works in
// short transactions; each one decides and deletes, so a session stored
// meanwhile is judged by what it holds at that moment.
func (s *Store) PruneSessions(now time.Time, validTokens map[string]bool) (int, error) {
	removed := 0
	var from []byte
	for {
		var next []byte
		n := 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketSessions)
			c := b.Cursor()
			k, v := c.First()
			if from != nil {
				k, v = c.Seek(from)
			}
			var drop [][]byte
			for scanned := 0; k != nil; k, v = c.Next() {
				if scanned >= pruneScan || len(drop) >= pruneBatch {
					next = bytes.Clone(k)
					break
				}
				scanned++
				var sess Session
				if json.Unmarshal(v, &sess) != nil || !sess.Expires.After(now) ||
					(validTokens != nil && !validTokens[sess.TokenSHA256]) {
					drop = append(drop, bytes.Clone(k))
				}
			}
			if len(drop) == 0 {
				return errNoChange
			}
			for _, k := range drop {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n = len(drop)
			return nil
		})
		if err != nil && !errors.Is(err, errNoChange) {
			return removed, fmt.Errorf("store: prune sessions (%d deleted so far): %w", removed, err)
		}
		removed += n
		if next == nil {
			return removed, nil
		}
		from = next
	}
}
