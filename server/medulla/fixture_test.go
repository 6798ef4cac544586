package medulla

import (
	"reflect"
	"strings"
	"testing"

	"imagingstatus/server/medulla/mariadbtest"
)

// Test data: the fixture of package mariadbtest (a GLPI tree four levels
// deep and an imaging database shaped like Medulla's; its doc comment draws
// the tree and mariadbtest.FixtureWant works out Medulla's figures by hand).
// The expectations in load_test.go are the same numbers.

const (
	roUser     = mariadbtest.ROUser
	roPassword = mariadbtest.ROPassword
	noUser     = mariadbtest.NoRightsUser
	noPassword = mariadbtest.NoRightsPassword
)

// fixture builds the databases on a fresh server.
func fixture() []string { return mariadbtest.Fixture() }

// The hand-worked expectations the end-to-end tests use agree with Load.
func TestFixtureWant(t *testing.T) {
	snap, err := load(t, roConfig(needDB(t)))
	if err != nil {
		t.Fatal(err)
	}
	want := mariadbtest.FixtureWant()
	if len(snap.Entities) != len(want) {
		t.Fatalf("%d entities, want %d", len(snap.Entities), len(want))
	}
	for i, w := range want {
		e := snap.Entities[i]
		var masters []string
		for _, m := range e.MasterImages {
			masters = append(masters, m.Name)
		}
		got := []string{e.ID, e.Name, e.Parent, name(e.Server), name(e.ServedBy), name(e.NearestLinkedAncestor),
			num(e.Clients), num(e.ClientsWithBackupImages), num(e.Masters), strings.Join(masters, ",")}
		exp := []string{w.ID, w.Name, w.Parent, orNil(w.Server), orNil(w.ServedBy), orNil(w.NearerLinked),
			num(w.Clients), num(w.ClientsWithBackupImages), num(w.Masters), strings.Join(w.MasterImages, ",")}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("entity #%d:\n got %q\nwant %q", i, got, exp)
		}
	}
}

func orNil(s string) string {
	if s == "" {
		return "<nil>"
	}
	return s
}
