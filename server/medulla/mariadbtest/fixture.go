package mariadbtest

import (
	"context"
	"testing"
	"time"
)

// The fixture: a GLPI tree four levels deep and an imaging database shaped
// like Medulla's (services/contrib/imaging/sql/schema-001.sql: same column
// types, only the columns the medulla package reads, plus the NOT NULL ones
// that matter). One copy, shared by the medulla package's tests and the
// end-to-end tests of cmd/imaging-hub.
//
// GLPI tree (id name, parent)                 imaging Entity row   servers on it
//   0 Root entity (NULL)                      2 "UUID0"            S1 srv-root   linked, NOT recursive
//   ├─ 1 General (0)                          1 "UUID1" (Medulla's  S4 srv-parked unlinked (parked)
//   │  │                                        default "root" row) S6 srv-general linked, recursive
//   │  └─ 4 Sales (1)                         5 "UUID4"            S5 srv-sales  linked, recursive
//   │     └─ 5 Sales-North (4)                —                    —
//   ├─ 2 Public (0)                           3 "UUID2"            S2 srv-public linked, recursive
//   │  └─ 6 Labs (2)                          4 "UUID6"            S3 srv-labs   linked, NOT recursive
//   │     └─ 7 Lab-A (6)                      7 "UUID7"            — (targets, no server)
//   └─ 3 Private (0)                          —                    —
//      └─ 8 Archive (3)                       —                    —
//
// Besides "glpi" and "imaging", the server holds "imaging_broken" (Medulla's
// tables without ImagingServer), a read-only user (ROUser) with SELECT on the
// three, and a user without any rights (NoRightsUser). FixtureWant gives
// what Medulla's rules make of it, worked out by hand.

// Users the fixture creates.
const (
	ROUser           = "medulla_ro"
	ROPassword       = "ro-S3cret-Pa55word"
	NoRightsUser     = "norights"
	NoRightsPassword = "norights-Pa55word"
)

// Databases the fixture creates.
const (
	GLPIDB          = "glpi"
	ImagingDB       = "imaging"
	BrokenImagingDB = "imaging_broken" // lacks the ImagingServer table
)

var fixtureServer = []string{
	"CREATE DATABASE " + GLPIDB,
	"CREATE DATABASE " + ImagingDB,
	"CREATE DATABASE " + BrokenImagingDB,
	"CREATE USER " + ROUser + "@'%' IDENTIFIED BY '" + ROPassword + "'",
	"GRANT SELECT ON " + GLPIDB + ".* TO " + ROUser + "@'%'",
	"GRANT SELECT ON " + ImagingDB + ".* TO " + ROUser + "@'%'",
	"GRANT SELECT ON " + BrokenImagingDB + ".* TO " + ROUser + "@'%'",
	"CREATE USER " + NoRightsUser + "@'%' IDENTIFIED BY '" + NoRightsPassword + "'",
}

var fixtureGLPI = []string{
	// GLPI 10: the root's entities_id is NULL.
	`CREATE TABLE glpi.glpi_entities (
  id INT UNSIGNED NOT NULL,
  name VARCHAR(255) DEFAULT NULL,
  entities_id INT UNSIGNED DEFAULT 0,
  completename TEXT,
  PRIMARY KEY (id)
)`,
	`INSERT INTO glpi.glpi_entities (id, name, entities_id, completename) VALUES
  (0, 'Root entity', NULL, 'Root entity'),
  (1, 'General', 0, 'Root entity > General'),
  (2, 'Public', 0, 'Root entity > Public'),
  (3, 'Private', 0, 'Root entity > Private'),
  (4, 'Sales', 1, 'Root entity > General > Sales'),
  (5, 'Sales-North', 4, 'Root entity > General > Sales > Sales-North'),
  (6, 'Labs', 2, 'Root entity > Public > Labs'),
  (7, 'Lab-A', 6, 'Root entity > Public > Labs > Lab-A'),
  (8, 'Archive', 3, 'Root entity > Private > Archive')`,
}

// imagingSchema creates Medulla's imaging tables in database db; skip names
// a table to leave out.
func imagingSchema(db, skip string) []string {
	tables := []struct{ name, body string }{
		{"ImagingLogState", `id INT NOT NULL AUTO_INCREMENT, label Text NOT NULL, PRIMARY KEY (id)`},
		{"Entity", `id INT NOT NULL AUTO_INCREMENT, name Text NOT NULL, uuid Text NOT NULL, PRIMARY KEY (id)`},
		{"Target", "id INT NOT NULL AUTO_INCREMENT, name Text NOT NULL, uuid Text NOT NULL, `type` INT NOT NULL, fk_entity INT NOT NULL, PRIMARY KEY (id), KEY fk_target_entity_idx (fk_entity)"},
		{"ImagingServer", `id INT NOT NULL AUTO_INCREMENT, name Text NOT NULL, url Text NOT NULL, packageserver_uuid Text NOT NULL,
  is_recursive Bool NOT NULL DEFAULT 1, associated Bool NOT NULL DEFAULT 0, fk_entity INT NOT NULL, PRIMARY KEY (id)`},
		{"Image", "id INT NOT NULL AUTO_INCREMENT, name Text NOT NULL, uuid Text NOT NULL, `desc` Text NOT NULL, `size` BIGINT NOT NULL, is_master TINYINT(1) DEFAULT FALSE, creation_date datetime, fk_state INT NOT NULL, PRIMARY KEY (id)"},
		{"ImageOnImagingServer", `fk_image INT NOT NULL, fk_imaging_server INT NOT NULL, UNIQUE (fk_image, fk_imaging_server)`},
		{"ImagingLog", `id INT NOT NULL AUTO_INCREMENT, timestamp datetime, detail Text NOT NULL, fk_imaging_log_state INT NOT NULL, fk_target INT NOT NULL, PRIMARY KEY (id), KEY fk_imaging_log_target_idx (fk_target)`},
		{"MasteredOn", `fk_image INT NOT NULL, fk_imaging_log INT NOT NULL, UNIQUE (fk_image, fk_imaging_log)`},
	}
	var out []string
	for _, t := range tables {
		if t.name != skip {
			out = append(out, "CREATE TABLE "+db+"."+t.name+" ("+t.body+")")
		}
	}
	return out
}

var fixtureImagingData = []string{
	// Medulla's states, ids as in schema-001.sql.
	`INSERT INTO imaging.ImagingLogState (id, label) VALUES (1,'unknown'),(2,'boot'),(3,'menu'),(4,'restoration'),(5,'backup'),(6,'postinstall'),(7,'error'),(8,'delete'),(9,'inventory')`,
	// Entity 1 is Medulla's default row ("root", "UUID1"), i.e. GLPI entity 1.
	`INSERT INTO imaging.Entity (id, name, uuid) VALUES
  (1, 'root', 'UUID1'), (2, 'Root entity', 'UUID0'), (3, 'Public', 'UUID2'), (4, 'Labs', 'UUID6'),
  (5, 'Sales', 'UUID4'), (7, 'Lab-A', 'UUID7')`,
	`INSERT INTO imaging.ImagingServer (id, name, url, packageserver_uuid, is_recursive, associated, fk_entity) VALUES
  (1, 'srv-root',    'https://10.0.0.1:9990/imaging_api', 'UUIDPS1', 0, 1, 2),
  (2, 'srv-public',  'https://10.0.0.2:9990/imaging_api', 'UUIDPS2', 1, 1, 3),
  (3, 'srv-labs',    'https://10.0.0.3:9990/imaging_api', 'UUIDPS3', 0, 1, 4),
  (4, 'srv-parked',  'https://10.0.0.4:9990/imaging_api', 'UUIDPS4', 1, 0, 1),
  (5, 'srv-sales',   'https://10.0.0.5:9990/imaging_api', 'UUIDPS5', 1, 1, 5),
  (6, 'srv-general', 'https://10.0.0.6:9990/imaging_api', 'UUIDPS6', 1, 1, 1)`,
	// Types: 1 computer, 2 profile, 3 computer in profile, 5 deleted computer.
	"INSERT INTO imaging.Target (id, name, uuid, `type`, fk_entity) VALUES" + `
  (1, 'pc-root-1', 'UUID101', 1, 2), (2, 'pc-root-2', 'UUID102', 3, 2), (3, 'prof-root', 'UUID1', 2, 2), (4, 'pc-root-old', 'UUID104', 5, 2),
  (5, 'gen-1', 'UUID105', 1, 1), (6, 'gen-2', 'UUID106', 1, 1), (7, 'gen-3', 'UUID107', 3, 1), (8, 'gen-del', 'UUID108', 5, 1),
  (9, 'sales-1', 'UUID109', 1, 5), (10, 'sales-2', 'UUID110', 3, 5), (11, 'sales-prof', 'UUID2', 2, 5),
  (12, 'pub-1', 'UUID112', 1, 3),
  (13, 'laba-1', 'UUID113', 1, 7), (14, 'laba-2', 'UUID114', 1, 7)`,
	"INSERT INTO imaging.Image (id, name, uuid, `desc`, `size`, is_master, creation_date, fk_state) VALUES" + `
  (1,  'backup-pc-root-1',   'img-1',  '', 1000, 0,    '2026-01-10 10:00:00', 1),
  (2,  'backup-pc-root-1-b', 'img-2',  '', 1001, 0,    '2026-01-11 10:00:00', 1),
  (3,  'master-win11',       'img-3',  '', 3000, 1,    '2026-01-12 10:00:00', 1),
  (4,  'backup-gen-1',       'img-4',  '', 4000, NULL, '2026-01-13 10:00:00', 1),
  (5,  'master-ubuntu',      'img-5',  '', 5000, 1,    '2026-01-14 10:00:00', 1),
  (6,  'backup-gen-del',     'img-6',  '', 6000, 0,    '2026-01-15 10:00:00', 1),
  (7,  'backup-sales-prof',  'img-7',  '', 7000, 0,    '2026-01-16 10:00:00', 1),
  (8,  'backup-sales-2',     'img-8',  '', 8000, 0,    '2026-01-17 10:00:00', 1),
  (9,  'master-debian',      'img-9',  '', 9000, 1,    '2026-01-05 09:00:00', 1),
  (10, 'backup-laba-1',      'img-10', '', 10000, 0,   '2026-01-18 10:00:00', 1),
  (11, 'master-lab',         'img-11', '', 11000, 1,   NULL,                  1),
  (12, 'master-nowhere',     'img-12', '', 12000, 1,   '2026-01-01 00:00:00', 1)`,
	// master-win11 on two servers of two entities; master-ubuntu on the two
	// servers of Entity 1 (the parked one and the linked one).
	`INSERT INTO imaging.ImageOnImagingServer (fk_image, fk_imaging_server) VALUES
  (1,1),(2,1),(3,1),(3,2),(4,6),(5,4),(5,6),(8,5),(9,5),(11,3)`,
	`INSERT INTO imaging.ImagingLog (id, timestamp, detail, fk_imaging_log_state, fk_target) VALUES
  (1,  '2026-01-10 10:00:00', 'backup done',         5, 1),
  (2,  '2026-01-11 10:00:00', 'backup done',         5, 1),
  (3,  '2026-01-12 10:00:00', 'master captured',     5, 2),
  (4,  '2026-01-13 10:00:00', 'backup done',         5, 5),
  (5,  '2026-01-14 10:00:00', 'master captured',     5, 6),
  (6,  '2026-01-15 10:00:00', 'backup done',         5, 8),
  (7,  '2026-01-16 10:00:00', 'backup done',         5, 11),
  (8,  '2026-01-17 10:00:00', 'backup done',         5, 10),
  (9,  '2026-01-18 10:00:00', 'backup done',         5, 13),
  (10, '2026-01-19 10:00:00', 'restored master-win11', 4, 12),
  (11, '2026-01-20 10:00:00', 'booted',              2, 4),
  (12, '2026-01-21 10:00:00', 'disk not found',      7, 9),
  (13, '2026-01-22 10:00:00', 'menu shown',          3, 1)`,
	`INSERT INTO imaging.MasteredOn (fk_image, fk_imaging_log) VALUES
  (1,1),(2,2),(3,3),(4,4),(5,5),(6,6),(7,7),(8,8),(10,9)`,
}

// Fixture returns the statements that build the fixture on a fresh server,
// to run as root (Server.Exec).
func Fixture() []string {
	var all []string
	all = append(all, fixtureServer...)
	all = append(all, fixtureGLPI...)
	all = append(all, imagingSchema(ImagingDB, "")...)
	all = append(all, fixtureImagingData...)
	all = append(all, imagingSchema(BrokenImagingDB, "ImagingServer")...)
	return all
}

// LoadFixture builds the fixture on the server (once per server).
func (s *Server) LoadFixture(ctx context.Context) error {
	return s.Exec(ctx, Fixture()...)
}

// StartFixtureT is StartT with the fixture loaded.
func StartFixtureT(t testing.TB) *Server {
	t.Helper()
	s := StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.LoadFixture(ctx); err != nil {
		t.Fatalf("mariadbtest: load fixture: %v", err)
	}
	return s
}

// FixtureDSNs are the read-only user's DSNs on the fixture's imaging and
// GLPI databases, with password (pass "" to leave it out, e.g. for a
// password file).
func (s *Server) FixtureDSNs(password string) (imaging, glpi string) {
	return s.DSN(ROUser, password, ImagingDB), s.DSN(ROUser, password, GLPIDB)
}

// WantEntity is what Medulla's rules make of one fixture entity.
type WantEntity struct {
	ID     string
	Name   string
	Parent string // "" at the root
	// Server is the entity's own server row (linked or not), ServedBy the
	// server that serves it by Medulla's rule, NearerLinked the nearest
	// ancestor's linked server when the rule passes it over; "" for none.
	Server, ServedBy, NearerLinked string
	// Figures are nil where the entity has no server row of its own
	// (Medulla shows none).
	Clients, ClientsWithBackupImages, Masters *int
	// MasterImages lists each master on the entity's servers once, by name.
	MasterImages []string
}

func n(v int) *int { return &v }

// FixtureWant is the fixture worked out by hand, in GLPI id order.
func FixtureWant() []WantEntity {
	return []WantEntity{
		{
			ID: "UUID0", Name: "Root entity", Server: "srv-root", ServedBy: "srv-root",
			// Own linked server (not recursive: serves only itself).
			// Clients: T1 (type 1), T2 (type 3); T3 is a profile, T4 deleted → 2.
			// Backup: T1 (images 1 and 2, both is_master 0, counted once);
			// T2's only image is master-win11 → 1.
			// Masters on srv-root: master-win11 → 1.
			Clients: n(2), ClientsWithBackupImages: n(1), Masters: n(1),
			MasterImages: []string{"master-win11"},
		},
		{
			ID: "UUID1", Name: "General", Parent: "UUID0", Server: "srv-general", ServedBy: "srv-general",
			// Entity 1 holds the parked srv-parked (id 4) and the linked
			// srv-general (id 6): the linked one is preferred.
			// Clients: T5, T6 (type 1), T7 (type 3); T8 deleted → 3.
			// Backup: T5 (backup-gen-1, is_master NULL counts as not master);
			// T6's image is a master; T7 has none → 1.
			// Masters: master-ubuntu is on srv-parked and srv-general, both on
			// Entity 1; Medulla counts join rows → 2 (listed once).
			Clients: n(3), ClientsWithBackupImages: n(1), Masters: n(2),
			MasterImages: []string{"master-ubuntu"},
		},
		{
			ID: "UUID2", Name: "Public", Parent: "UUID0", Server: "srv-public", ServedBy: "srv-public",
			// Clients: T12; its restoration log has no MasteredOn → 1, 0.
			// master-win11 is also on srv-public → 1.
			Clients: n(1), ClientsWithBackupImages: n(0), Masters: n(1),
			MasterImages: []string{"master-win11"},
		},
		{
			// Path [UUID0]: srv-root is linked but not recursive, so nothing
			// serves it; srv-root is still the nearest linked ancestor.
			ID: "UUID3", Name: "Private", Parent: "UUID0", NearerLinked: "srv-root",
		},
		{
			ID: "UUID4", Name: "Sales", Parent: "UUID1", Server: "srv-sales", ServedBy: "srv-sales",
			// Clients: T9, T10; T11 is a profile (its backup does not count) → 2.
			// Backup: T10 (backup-sales-2) → 1. Masters: master-debian → 1
			// (backup-sales-2 on the same server is not a master).
			Clients: n(2), ClientsWithBackupImages: n(1), Masters: n(1),
			MasterImages: []string{"master-debian"},
		},
		{
			// Path [UUID4 UUID1 UUID0]: recursive and linked on UUID4 and
			// UUID1; Medulla keeps the root-most (UUID1's srv-general), the
			// nearer srv-sales is reported.
			ID: "UUID5", Name: "Sales-North", Parent: "UUID4", ServedBy: "srv-general", NearerLinked: "srv-sales",
		},
		{
			ID: "UUID6", Name: "Labs", Parent: "UUID2", Server: "srv-labs", ServedBy: "srv-labs",
			// Own linked server; not being recursive does not matter for its
			// own entity. No targets; master-lab on srv-labs → 0, 0, 1.
			Clients: n(0), ClientsWithBackupImages: n(0), Masters: n(1),
			MasterImages: []string{"master-lab"},
		},
		{
			// Path [UUID6 UUID2 UUID0]: srv-labs and srv-root are not
			// recursive, so srv-public; srv-labs is nearer. Lab-A has targets
			// and a backup but no server row: no figures.
			ID: "UUID7", Name: "Lab-A", Parent: "UUID6", ServedBy: "srv-public", NearerLinked: "srv-labs",
		},
		{
			// Path [UUID3 UUID0]: no recursive linked server.
			ID: "UUID8", Name: "Archive", Parent: "UUID3", NearerLinked: "srv-root",
		},
	}
}
