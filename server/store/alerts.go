package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

var keyAlertState = []byte("state")

// AlertState returns the alert engine's saved state (nil when none).
func (s *Store) AlertState() ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketAlerts); b != nil {
			if v := b.Get(keyAlertState); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read the alerts' state: %w", err)
	}
	return out, nil
}

// PutAlertState replaces the alert engine's state; durable when it returns
// nil.
func (s *Store) PutAlertState(v []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketAlerts)
		if err != nil {
			return fmt.Errorf("store: save the alerts' state: %w", err)
		}
		if err := b.Put(keyAlertState, v); err != nil {
			return fmt.Errorf("store: save the alerts' state: %w", err)
		}
		return nil
	})
}
