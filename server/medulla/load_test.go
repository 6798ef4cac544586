package medulla

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"testing"
	"time"
)

func byID(t *testing.T, s *Snapshot) map[string]Entity {
	t.Helper()
	m := map[string]Entity{}
	for _, e := range s.Entities {
		m[e.ID] = e
	}
	return m
}

func name(s *Server) string {
	if s == nil {
		return "<nil>"
	}
	return s.Name
}

func num(p *int) string {
	if p == nil {
		return "nil"
	}
	return strconv.Itoa(*p)
}

func TestLoadTreeAndServers(t *testing.T) {
	snap, err := load(t, roConfig(needDB(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Entities) != 9 {
		t.Fatalf("got %d entities, want the 9 of glpi_entities", len(snap.Entities))
	}
	if time.Since(snap.LoadedAt) > time.Minute {
		t.Errorf("LoadedAt %v", snap.LoadedAt)
	}
	ents := byID(t, snap)
	want := []struct {
		id, name, parent       string
		server, servedBy, near string
		why                    string
	}{
		{"UUID0", "Root entity", "", "srv-root", "srv-root", "<nil>", "own linked server (not recursive: serves only itself)"},
		{"UUID1", "General", "UUID0", "srv-general", "srv-general", "<nil>", "Entity 1 holds the parked srv-parked (id 4) and the linked srv-general (id 6): the linked one is preferred"},
		{"UUID2", "Public", "UUID0", "srv-public", "srv-public", "<nil>", "own linked server"},
		{"UUID3", "Private", "UUID0", "<nil>", "<nil>", "srv-root", "path [UUID0]: srv-root is linked but not recursive, so nothing serves it; srv-root is the nearest linked ancestor"},
		{"UUID4", "Sales", "UUID1", "srv-sales", "srv-sales", "<nil>", "own linked server"},
		{"UUID5", "Sales-North", "UUID4", "<nil>", "srv-general", "srv-sales", "path [UUID4 UUID1 UUID0]: recursive+linked on UUID4 and UUID1, Medulla keeps the root-most (UUID1), nearer srv-sales is reported"},
		{"UUID6", "Labs", "UUID2", "srv-labs", "srv-labs", "<nil>", "own linked server; not being recursive does not matter for its own entity"},
		{"UUID7", "Lab-A", "UUID6", "<nil>", "srv-public", "srv-labs", "path [UUID6 UUID2 UUID0]: srv-labs not recursive, srv-root not recursive, so srv-public; srv-labs is nearer"},
		{"UUID8", "Archive", "UUID3", "<nil>", "<nil>", "srv-root", "path [UUID3 UUID0]: no recursive linked server"},
	}
	for _, w := range want {
		e, ok := ents[w.id]
		if !ok {
			t.Errorf("%s missing", w.id)
			continue
		}
		if e.Name != w.name || e.Parent != w.parent || name(e.Server) != w.server || name(e.ServedBy) != w.servedBy || name(e.NearestLinkedAncestor) != w.near {
			t.Errorf("%s: got name=%q parent=%q server=%s served_by=%s nearest=%s; want %q %q %s %s %s (%s)",
				w.id, e.Name, e.Parent, name(e.Server), name(e.ServedBy), name(e.NearestLinkedAncestor),
				w.name, w.parent, w.server, w.servedBy, w.near, w.why)
		}
	}
	gen := ents["UUID1"].Server
	if gen.URL != "https://10.0.0.6:9990/imaging_api" || gen.PackageServerUUID != "UUIDPS6" || !gen.Associated || !gen.Recursive || gen.EntityID != "UUID1" {
		t.Errorf("srv-general row: %+v", *gen)
	}
	if got := ents["UUID5"].FullName; got != "Root entity > General > Sales > Sales-North" {
		t.Errorf("FullName %q", got)
	}
}

func TestLoadFigures(t *testing.T) {
	snap, err := load(t, roConfig(needDB(t)))
	if err != nil {
		t.Fatal(err)
	}
	ents := byID(t, snap)
	// clients, clients with backup images, masters; "nil" where the entity
	// has no server row of its own (Medulla shows no figure).
	want := map[string][3]string{
		// T1 (type 1), T2 (type 3); T3 is a profile, T4 deleted → 2.
		// Backup: T1 (images 1 and 2, both is_master 0, counted once); T2's
		// only image is master-win11 → 1.
		// Masters on srv-root: master-win11 → 1.
		"UUID0": {"2", "1", "1"},
		// T5, T6 (type 1), T7 (type 3); T8 deleted → 3.
		// Backup: T5 (backup-gen-1, is_master NULL counts as not master);
		// T6's image is a master; T7 has none → 1.
		// Masters: master-ubuntu is on srv-parked and srv-general, both on
		// Entity 1; Medulla counts join rows → 2.
		"UUID1": {"3", "1", "2"},
		// T12; its restoration log has no MasteredOn → 1, 0.
		// master-win11 is also on srv-public → 1.
		"UUID2": {"1", "0", "1"},
		// T9, T10; T11 is a profile (its backup does not count) → 2.
		// Backup: T10 (backup-sales-2) → 1. Masters: master-debian → 1
		// (backup-sales-2 on the same server is not a master).
		"UUID4": {"2", "1", "1"},
		// No targets, master-lab on srv-labs → 0, 0, 1.
		"UUID6": {"0", "0", "1"},
		// Lab-A has targets and a backup, but no server row: no figures.
		"UUID7": {"nil", "nil", "nil"},
		"UUID3": {"nil", "nil", "nil"},
		"UUID5": {"nil", "nil", "nil"},
		"UUID8": {"nil", "nil", "nil"},
	}
	for id, w := range want {
		e := ents[id]
		got := [3]string{num(e.Clients), num(e.ClientsWithBackupImages), num(e.Masters)}
		if got != w {
			t.Errorf("%s: clients, backup, masters = %v, want %v", id, got, w)
		}
	}

	masters := func(id string) []string {
		var out []string
		for _, m := range ents[id].MasterImages {
			out = append(out, m.Name)
		}
		return out
	}
	// Each master listed once even when Masters counts it twice; master-nowhere
	// is on no server, so nowhere.
	for id, w := range map[string][]string{
		"UUID0": {"master-win11"}, "UUID1": {"master-ubuntu"}, "UUID2": {"master-win11"},
		"UUID4": {"master-debian"}, "UUID6": {"master-lab"}, "UUID7": nil,
	} {
		if got := masters(id); !reflect.DeepEqual(got, w) {
			t.Errorf("%s masters %v, want %v", id, got, w)
		}
	}
	m := ents["UUID4"].MasterImages[0]
	if m.Size != 9000 || m.UUID != "img-9" || !m.Created.Equal(time.Date(2026, 1, 5, 9, 0, 0, 0, time.Local)) {
		t.Errorf("master-debian: %+v", m)
	}
	if !ents["UUID6"].MasterImages[0].Created.IsZero() {
		t.Errorf("master-lab has no creation_date: %+v", ents["UUID6"].MasterImages[0])
	}
}

func TestLoadActivity(t *testing.T) {
	s := needDB(t)
	snap, err := load(t, roConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	ents := byID(t, snap)
	lines := func(e Entity) []string {
		var out []string
		for _, g := range e.Activity {
			out = append(out, g.Time.Format("01-02")+" "+g.State+" "+g.Target+" "+g.Detail)
		}
		return out
	}
	// Root's targets T1..T4 (every type) have logs 1, 2, 3, 11, 13: newest first.
	wantRoot := []string{
		"01-22 menu pc-root-1 menu shown",
		"01-20 boot pc-root-old booted",
		"01-12 backup pc-root-2 master captured",
		"01-11 backup pc-root-1 backup done",
		"01-10 backup pc-root-1 backup done",
	}
	if got := lines(ents["UUID0"]); !reflect.DeepEqual(got, wantRoot) {
		t.Errorf("UUID0 activity\n got %q\nwant %q", got, wantRoot)
	}
	// Sales: logs 7 (profile), 8, 12.
	wantSales := []string{"01-21 error sales-1 disk not found", "01-17 backup sales-2 backup done", "01-16 backup sales-prof backup done"}
	if got := lines(ents["UUID4"]); !reflect.DeepEqual(got, wantSales) {
		t.Errorf("UUID4 activity\n got %q\nwant %q", got, wantSales)
	}
	// Lab-A has no server but its log lines are still there.
	if got := lines(ents["UUID7"]); len(got) != 1 || got[0] != "01-18 backup laba-1 backup done" {
		t.Errorf("UUID7 activity %q", got)
	}

	// LogLines bounds each entity's list to its newest lines.
	cfg := roConfig(s)
	cfg.LogLines = 2
	snap, err = load(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(byID(t, snap)["UUID0"]); !reflect.DeepEqual(got, wantRoot[:2]) {
		t.Errorf("UUID0 activity with LogLines=2: %q", got)
	}
}

// wantCheckJSON is what `medulla check` prints on the fixture.
const wantCheckJSON = `[
  {
    "id": "UUID0",
    "name": "Root entity",
    "parent": null,
    "server": "srv-root",
    "served_by": "srv-root",
    "clients": 2,
    "clients_with_backup_images": 1,
    "masters": 1
  },
  {
    "id": "UUID1",
    "name": "General",
    "parent": "UUID0",
    "server": "srv-general",
    "served_by": "srv-general",
    "clients": 3,
    "clients_with_backup_images": 1,
    "masters": 2
  },
  {
    "id": "UUID2",
    "name": "Public",
    "parent": "UUID0",
    "server": "srv-public",
    "served_by": "srv-public",
    "clients": 1,
    "clients_with_backup_images": 0,
    "masters": 1
  },
  {
    "id": "UUID3",
    "name": "Private",
    "parent": "UUID0",
    "server": null,
    "served_by": null,
    "clients": null,
    "clients_with_backup_images": null,
    "masters": null
  },
  {
    "id": "UUID4",
    "name": "Sales",
    "parent": "UUID1",
    "server": "srv-sales",
    "served_by": "srv-sales",
    "clients": 2,
    "clients_with_backup_images": 1,
    "masters": 1
  },
  {
    "id": "UUID5",
    "name": "Sales-North",
    "parent": "UUID4",
    "server": null,
    "served_by": "srv-general",
    "clients": null,
    "clients_with_backup_images": null,
    "masters": null
  },
  {
    "id": "UUID6",
    "name": "Labs",
    "parent": "UUID2",
    "server": "srv-labs",
    "served_by": "srv-labs",
    "clients": 0,
    "clients_with_backup_images": 0,
    "masters": 1
  },
  {
    "id": "UUID7",
    "name": "Lab-A",
    "parent": "UUID6",
    "server": null,
    "served_by": "srv-public",
    "clients": null,
    "clients_with_backup_images": null,
    "masters": null
  },
  {
    "id": "UUID8",
    "name": "Archive",
    "parent": "UUID3",
    "server": null,
    "served_by": null,
    "clients": null,
    "clients_with_backup_images": null,
    "masters": null
  }
]
`

func TestCheckJSON(t *testing.T) {
	s := needDB(t)
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Check(ctx, roConfig(s), &buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("medulla check printed:\n%s", buf.String())
	if buf.String() != wantCheckJSON {
		t.Errorf("Check printed\n%s\nwant\n%s", buf.String(), wantCheckJSON)
	}
	var arr []map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &arr); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"clients", "clients_with_backup_images", "id", "masters", "name", "parent", "served_by", "server"}
	for _, o := range arr {
		var keys []string
		for k := range o {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !reflect.DeepEqual(keys, wantKeys) {
			t.Fatalf("keys %v, want exactly %v", keys, wantKeys)
		}
	}
}
