package store

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"imagingstatus/wire"
)

func hexSHA(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestSessionPutGetDelete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openT(t, path)
	alice := Session{TokenSHA256: hexSHA("token-alice"), Expires: t0.Add(24 * time.Hour)}
	bob := Session{TokenSHA256: hexSHA("token-bob"), Expires: t0.Add(time.Hour)}
	idA, idB := hexSHA("cookie-1"), hexSHA("cookie-2")

	for _, tc := range []struct {
		name string
		id   string
		ok   bool
	}{
		{"empty", "", false},
		{"129 bytes", strings.Repeat("a", 129), false},
		{"128 bytes", strings.Repeat("a", 128), true},
		{"hex sha256", idA, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			putErr := s.PutSession(tc.id, alice)
			_, _, getErr := s.GetSession(tc.id)
			delErr := s.DeleteSession(tc.id)
			for op, err := range map[string]error{"PutSession": putErr, "GetSession": getErr, "DeleteSession": delErr} {
				if tc.ok && err != nil {
					t.Errorf("%s(%d bytes): %v", op, len(tc.id), err)
				}
				if !tc.ok && (err == nil || !strings.Contains(err.Error(), "session id")) {
					t.Errorf("%s(%d bytes) = %v, want a session id error", op, len(tc.id), err)
				}
			}
		})
	}

	if sess, ok, err := s.GetSession(idA); ok || err != nil || sess != (Session{}) {
		t.Fatalf("GetSession(unknown) = %+v, %v, %v", sess, ok, err)
	}
	if err := s.PutSession(idA, alice); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSession(idB, bob); err != nil {
		t.Fatal(err)
	}
	wantSession(t, s, idA, alice)
	wantSession(t, s, idB, bob)
	// Put replaces.
	bob.Expires = bob.Expires.Add(time.Hour)
	if err := s.PutSession(idB, bob); err != nil {
		t.Fatal(err)
	}
	wantSession(t, s, idB, bob)

	// Sessions are in the file: they survive Close and Open.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path)
	wantSession(t, s, idA, alice)
	wantSession(t, s, idB, bob)

	if err := s.DeleteSession(idA); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(idA); err != nil {
		t.Fatalf("deleting a deleted session: %v", err)
	}
	if _, ok, err := s.GetSession(idA); ok || err != nil {
		t.Fatalf("GetSession after DeleteSession = %v, %v", ok, err)
	}
	wantSession(t, s, idB, bob)
}

func wantSession(t *testing.T, s *Store, id string, want Session) {
	t.Helper()
	got, ok, err := s.GetSession(id)
	if err != nil || !ok || got.TokenSHA256 != want.TokenSHA256 || !got.Expires.Equal(want.Expires) {
		t.Fatalf("GetSession(%s) = %+v, %v, %v; want %+v", id[:8], got, ok, err, want)
	}
}

func TestPruneSessions(t *testing.T) {
	now := t0
	tokA, tokB, tokGone := hexSHA("token-a"), hexSHA("token-b"), hexSHA("token-removed")
	sessions := map[string]Session{
		"a-live":    {TokenSHA256: tokA, Expires: now.Add(time.Hour)},
		"a-expired": {TokenSHA256: tokA, Expires: now.Add(-time.Second)},
		"a-ends":    {TokenSHA256: tokA, Expires: now}, // ends now: expired
		"b-live":    {TokenSHA256: tokB, Expires: now.Add(time.Nanosecond)},
		"gone-live": {TokenSHA256: tokGone, Expires: now.Add(time.Hour)},
	}
	for _, tc := range []struct {
		name        string
		validTokens map[string]bool
		removed     int
		left        string
	}{
		{"nil: only expiry", nil, 2 + 1, "a-live,b-live,gone-live"},
		{"token removed", map[string]bool{tokA: true, tokB: true}, 3 + 1, "a-live,b-live"},
		{"empty: all tokens removed", map[string]bool{}, 5 + 1, ""},
		{"false entry is not valid", map[string]bool{tokA: true, tokB: false, tokGone: true}, 3 + 1, "a-live,gone-live"},
	} {
		for _, bt := range []struct {
			name        string
			batch, scan int
		}{{"default", pruneBatch, pruneScan}, {"tiny transactions", 1, 2}} {
			t.Run(tc.name+"/"+bt.name, func(t *testing.T) {
				withSmallBatches(t, bt.batch, bt.scan, dropBuckets)
				path := filepath.Join(t.TempDir(), "state.db")
				s := openT(t, path)
				for id, sess := range sessions {
					if err := s.PutSession(hexSHA(id), sess); err != nil {
						t.Fatal(err)
					}
				}
				// An undecodable session cannot be checked: it goes too
				// (the "+ 1" above).
				if err := s.db.Update(func(tx *bolt.Tx) error {
					return tx.Bucket(bucketSessions).Put([]byte(hexSHA("garbage")), []byte("{"))
				}); err != nil {
					t.Fatal(err)
				}
				if _, _, err := s.GetSession(hexSHA("garbage")); err == nil {
					t.Fatal("GetSession of an undecodable session: no error")
				}
				n, err := s.PruneSessions(now, tc.validTokens)
				if err != nil || n != tc.removed {
					t.Fatalf("PruneSessions = %d, %v; want %d", n, err, tc.removed)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = openT(t, path)
				var left []string
				for _, id := range []string{"a-live", "a-expired", "a-ends", "b-live", "gone-live", "garbage"} {
					_, ok, err := s.GetSession(hexSHA(id))
					if err != nil {
						t.Fatal(err)
					}
					if ok {
						left = append(left, id)
					}
				}
				if got := strings.Join(left, ","); got != tc.left {
					t.Fatalf("sessions left: [%s], want [%s]", got, tc.left)
				}
				if n, err := s.PruneSessions(now, tc.validTokens); n != 0 || err != nil {
					t.Fatalf("second PruneSessions = %d, %v", n, err)
				}
			})
		}
	}
}

// TestSessionsBucketAdded: a schema-1 file written before sessions existed
// opens, and gets the bucket.
func TestSessionsBucketAdded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keySchema, []byte("1")); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketViews); err != nil {
			return err
		}
		_, err = tx.CreateBucket(bucketHistory)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openT(t, path)
	id := hexSHA("cookie")
	want := Session{TokenSHA256: hexSHA("token"), Expires: t0}
	if err := s.PutSession(id, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Record([]Change{{Entity: "a", At: t0, To: wire.StatusOffline}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path)
	wantSession(t, s, id, want)
}
