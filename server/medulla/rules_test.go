package medulla

import (
	"database/sql"
	"reflect"
	"testing"
)

func g(id int64, parent any, n string) glpiRow {
	r := glpiRow{id: id, name: n}
	if p, ok := parent.(int); ok {
		r.parent = sql.NullInt64{Int64: int64(p), Valid: true}
	}
	return r
}

func srvRow(id int64, n, entity string, associated, recursive bool) serverRow {
	return serverRow{id: id, Server: Server{Name: n, EntityID: entity, Associated: associated, Recursive: recursive}}
}

// Without a database: the serving rule on shapes the fixture does not hold.
func TestBuildRules(t *testing.T) {
	glpi := []glpiRow{
		g(0, -1, "root"), // GLPI 9.x root: parent -1
		g(1, 0, "A"),
		g(2, 1, "B"),
		g(3, 2, "C"),
		g(10, 11, "loop1"), // a cycle Medulla would loop on
		g(11, 10, "loop2"),
		g(12, 99, "orphan"), // parent row missing
	}
	d := &imagingData{
		servers: []serverRow{
			srvRow(1, "parked-only", "UUID1", false, true), // A: only an unlinked server
			srvRow(2, "root-srv", "UUID0", true, true),
			srvRow(3, "b-srv", "UUID2", true, false), // linked, not recursive
		},
		clients: map[string]counts{"UUID1": {clients: 4, backup: 2, masters: 0}},
	}
	ents := map[string]Entity{}
	for _, e := range build(glpi, d) {
		ents[e.ID] = e
	}
	cases := []struct {
		id, parent, server, servedBy, near string
	}{
		{"UUID0", "", "root-srv", "root-srv", "<nil>"},
		// An unlinked own server is shown but serves nobody: inherited from root.
		{"UUID1", "UUID0", "parked-only", "root-srv", "<nil>"},
		{"UUID2", "UUID1", "b-srv", "b-srv", "<nil>"},
		// Non-recursive b-srv cannot serve C; it is still the nearest linked one.
		{"UUID3", "UUID2", "<nil>", "root-srv", "b-srv"},
		{"UUID10", "UUID11", "<nil>", "root-srv", "<nil>"},
		{"UUID12", "UUID99", "<nil>", "root-srv", "<nil>"},
	}
	for _, c := range cases {
		e := ents[c.id]
		got := []string{e.Parent, name(e.Server), name(e.ServedBy), name(e.NearestLinkedAncestor)}
		want := []string{c.parent, c.server, c.servedBy, c.near}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: parent, server, served_by, nearest = %q, want %q", c.id, got, want)
		}
	}
	if a := ents["UUID1"]; a.Clients == nil || *a.Clients != 4 || *a.ClientsWithBackupImages != 2 || *a.Masters != 0 {
		t.Errorf("A figures %v %v %v", a.Clients, a.ClientsWithBackupImages, a.Masters)
	}
	if ents["UUID3"].Clients != nil {
		t.Error("C has no server row: figures must be nil")
	}

	// getLocationParentPath: parents nearest first, then UUID0 always.
	byID := map[int64]glpiRow{}
	for _, r := range glpi {
		byID[r.id] = r
	}
	if p := parentPath(byID[3], byID); !reflect.DeepEqual(p, []string{"UUID2", "UUID1", "UUID0"}) {
		t.Errorf("path of C: %v", p)
	}
	if p := parentPath(byID[0], byID); !reflect.DeepEqual(p, []string{"UUID0"}) {
		t.Errorf("path of root: %v", p)
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"u:secret-pw@tcp(db:3306)/imaging":     "u:*****@tcp(db:3306)/imaging",
		"u@unix(/run/mysqld/mysqld.sock)/glpi": "u@unix(/run/mysqld/mysqld.sock)/glpi",
		"u:secret-pw@tcp(db:3306":              "u:*****@tcp(db:3306",
		"":                                     "",
	} {
		if got := RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormUUID(t *testing.T) {
	if normUUID("uuid7  ") != "UUID7" {
		t.Error(normUUID("uuid7  "))
	}
}
