package server

import (
	"imagingstatus/server/store"
	"imagingstatus/server/viewerauth"
)

// StoreSessions keeps viewer sign-ins in the state file, so they survive a
// restart; the file holds only hashes of the cookies.
func StoreSessions(st *store.Store) viewerauth.Sessions { return storeSessions{st} }

type storeSessions struct{ s *store.Store }

func (a storeSessions) PutSession(id string, s viewerauth.Session) error {
	return a.s.PutSession(id, store.Session(s))
}

func (a storeSessions) GetSession(id string) (viewerauth.Session, bool, error) {
	s, ok, err := a.s.GetSession(id)
	return viewerauth.Session(s), ok, err
}

func (a storeSessions) DeleteSession(id string) error { return a.s.DeleteSession(id) }
