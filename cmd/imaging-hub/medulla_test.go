package main_test

// End-to-end tests of the link to Medulla's databases: a real MariaDB server
// (mariadbtest, loaded with its hand-worked fixture) and the real
// imaging-hub and imaging-agent binaries. Each test starts its own database
// server, so the tests run in parallel and one may stop its server.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/agent/repo/sample"
	"imagingstatus/server/hubtest"
	"imagingstatus/server/medulla/mariadbtest"
	"imagingstatus/wire"
)

const (
	// medullaRefresh is the hub's database refresh in these tests.
	medullaRefresh = 300 * time.Millisecond
	// mdWrongPassword is a password no fixture user has.
	mdWrongPassword = "wrong-E2e-Pa55word"
)

// mdHubCmd runs `imaging-hub args…` to the end and returns its stdout, stderr
// and exit code.
func mdHubCmd(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	r := hubtest.Run(t, env, "imaging-hub", args...)
	return r.Stdout, r.Stderr, r.Code
}

func mdWriteFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mdCheckRow is one element of `medulla check`'s output as the fixture makes
// it: every key present, null where there is nothing.
type mdCheckRow struct {
	ID                      string  `json:"id"`
	Name                    string  `json:"name"`
	Parent                  *string `json:"parent"`
	Server                  *string `json:"server"`
	ServedBy                *string `json:"served_by"`
	Clients                 *int    `json:"clients"`
	ClientsWithBackupImages *int    `json:"clients_with_backup_images"`
	Masters                 *int    `json:"masters"`
}

func mdStrOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// mdWantCheck is the hand-worked fixture as `medulla check` must print it,
// decoded as generic JSON.
func mdWantCheck(t *testing.T) []any {
	t.Helper()
	var rows []mdCheckRow
	for _, w := range mariadbtest.FixtureWant() {
		rows = append(rows, mdCheckRow{
			ID: w.ID, Name: w.Name, Parent: mdStrOrNil(w.Parent), Server: mdStrOrNil(w.Server), ServedBy: mdStrOrNil(w.ServedBy),
			Clients: w.Clients, ClientsWithBackupImages: w.ClientsWithBackupImages, Masters: w.Masters,
		})
	}
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	var v []any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// mdAssertCheckOutput checks that out is exactly the fixture's array.
func mdAssertCheckOutput(t *testing.T, out string) {
	t.Helper()
	var got []any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("medulla check output is not a JSON array: %v\n%s", err, out)
	}
	wantKeys := []string{"clients", "clients_with_backup_images", "id", "masters", "name", "parent", "served_by", "server"}
	for i, o := range got {
		m, ok := o.(map[string]any)
		if !ok {
			t.Fatalf("element %d is not an object: %v", i, o)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !reflect.DeepEqual(keys, wantKeys) {
			t.Errorf("element %d (%v) has keys %v, want exactly %v", i, m["id"], keys, wantKeys)
		}
	}
	want := mdWantCheck(t)
	if len(got) != len(want) {
		t.Fatalf("medulla check printed %d entities, want %d:\n%s", len(got), len(want), out)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("entity #%d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
}

// mdNoSecret fails when any of the texts holds one of the passwords.
func mdNoSecret(t *testing.T, what string, texts []string, passwords ...string) {
	t.Helper()
	for _, s := range texts {
		for _, pw := range passwords {
			if strings.Contains(s, pw) {
				t.Errorf("%s holds the password %q:\n%s", what, pw, s)
			}
		}
	}
}

func TestMedullaCheckCommand(t *testing.T) {
	t.Parallel()
	s := mariadbtest.StartFixtureT(t)
	dir := t.TempDir()
	img, glpi := s.FixtureDSNs(mariadbtest.ROPassword)

	t.Run("fixture", func(t *testing.T) {
		out, errOut, code := mdHubCmd(t, nil, "medulla", "check", "--dsn-imaging", img, "--dsn-glpi", glpi)
		if code != 0 {
			t.Fatalf("exit %d, stderr: %s", code, errOut)
		}
		t.Logf("medulla check printed:\n%s", out)
		mdAssertCheckOutput(t, out)
		mdNoSecret(t, "medulla check output", []string{out, errOut}, mariadbtest.ROPassword)
	})

	t.Run("password file", func(t *testing.T) {
		pw := mdWriteFile(t, filepath.Join(dir, "pw"), mariadbtest.ROPassword+"\n")
		img, glpi := s.FixtureDSNs("")
		out, errOut, code := mdHubCmd(t, nil, "medulla", "check", "--dsn-imaging", img, "--dsn-glpi", glpi, "--password-file", pw)
		if code != 0 {
			t.Fatalf("exit %d, stderr: %s", code, errOut)
		}
		mdAssertCheckOutput(t, out)
		// The file wins over a password in the DSNs.
		img, glpi = s.FixtureDSNs(mdWrongPassword)
		out, errOut, code = mdHubCmd(t, nil, "medulla", "check", "--dsn-imaging", img, "--dsn-glpi", glpi, "--password-file", pw)
		if code != 0 {
			t.Fatalf("exit %d, stderr: %s", code, errOut)
		}
		mdAssertCheckOutput(t, out)
	})

	t.Run("config file and environment", func(t *testing.T) {
		pw := mdWriteFile(t, filepath.Join(dir, "pw2"), mariadbtest.ROPassword)
		img, glpi := s.FixtureDSNs("")
		cfg := mdWriteFile(t, filepath.Join(dir, "hub.json"), `{"entities":[{"id":"UUID1"}],
			"medulla":{"imaging_dsn":`+mdJSONString(img)+`,"glpi_dsn":`+mdJSONString(glpi)+`,"password_file":`+mdJSONString(pw)+`}}`)
		out, errOut, code := mdHubCmd(t, nil, "medulla", "check", "--config", cfg)
		if code != 0 {
			t.Fatalf("--config: exit %d, stderr: %s", code, errOut)
		}
		mdAssertCheckOutput(t, out)

		img, glpi = s.FixtureDSNs(mariadbtest.ROPassword)
		out, errOut, code = mdHubCmd(t, []string{"IMAGING_HUB_MEDULLA_IMAGING_DSN=" + img, "IMAGING_HUB_MEDULLA_GLPI_DSN=" + glpi}, "medulla", "check")
		if code != 0 {
			t.Fatalf("environment: exit %d, stderr: %s", code, errOut)
		}
		mdAssertCheckOutput(t, out)
	})

	errCases := []struct {
		name       string
		imaging    string
		glpi       string
		fragments  []string
		passwords  []string
		extraFlags []string
	}{
		{
			name:    "wrong password",
			imaging: s.DSN(mariadbtest.ROUser, mdWrongPassword, mariadbtest.ImagingDB), glpi: s.DSN(mariadbtest.ROUser, mdWrongPassword, mariadbtest.GLPIDB),
			fragments: []string{"access denied", "wrong user or password", mariadbtest.ROUser},
			passwords: []string{mdWrongPassword},
		},
		{
			name:    "user without rights",
			imaging: s.DSN(mariadbtest.NoRightsUser, mariadbtest.NoRightsPassword, mariadbtest.ImagingDB), glpi: s.DSN(mariadbtest.NoRightsUser, mariadbtest.NoRightsPassword, mariadbtest.GLPIDB),
			fragments: []string{"access denied", mariadbtest.NoRightsUser, "grant the user SELECT on"},
			passwords: []string{mariadbtest.NoRightsPassword},
		},
		{
			name:    "missing table",
			imaging: s.DSN(mariadbtest.ROUser, mariadbtest.ROPassword, mariadbtest.BrokenImagingDB), glpi: glpi,
			fragments: []string{"table ImagingServer missing", mariadbtest.BrokenImagingDB, "imaging database"},
			passwords: []string{mariadbtest.ROPassword},
		},
		{
			name:    "missing GLPI table",
			imaging: img, glpi: s.DSN(mariadbtest.ROUser, mariadbtest.ROPassword, mariadbtest.ImagingDB),
			fragments: []string{"table glpi_entities missing", "GLPI"},
			passwords: []string{mariadbtest.ROPassword},
		},
		{
			name:    "unreachable",
			imaging: "u:" + mdWrongPassword + "@tcp(127.0.0.1:1)/imaging", glpi: "u:" + mdWrongPassword + "@tcp(127.0.0.1:1)/glpi",
			fragments:  []string{"unreachable", "127.0.0.1:1"},
			passwords:  []string{mdWrongPassword},
			extraFlags: []string{"--timeout", "10s"},
		},
	}
	for _, c := range errCases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			args := append([]string{"medulla", "check", "--dsn-imaging", c.imaging, "--dsn-glpi", c.glpi}, c.extraFlags...)
			out, errOut, code := mdHubCmd(t, nil, args...)
			if code == 0 {
				t.Fatalf("exit 0, want non-zero; stdout: %s", out)
			}
			if out != "" {
				t.Errorf("stdout on failure: %q", out)
			}
			for _, f := range c.fragments {
				if !strings.Contains(errOut, f) {
					t.Errorf("stderr lacks %q: %s", f, errOut)
				}
			}
			mdNoSecret(t, "medulla check stdout/stderr", []string{out, errOut}, c.passwords...)
			checkWithin(t, "medulla check's refusal", time.Since(start), 15*time.Second)
			t.Logf("exit %d: %s", code, strings.TrimSpace(errOut))
		})
	}
}

func mdJSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// mdStartLinkedHub writes the hub file (medulla section and entities as
// JSON fragments) in e.Dir, a sample repository, and starts the hub. Agent
// tokens (e.NewToken) are made before, for the hashes the entities name.
func mdStartLinkedHub(t *testing.T, e *hubtest.Env, medulla, entities string) {
	t.Helper()
	e.WriteConfig(t, `{"listen":"127.0.0.1:0","plain_http":true,"interval":"`+interval.String()+`","missed_pings":3,
		"medulla":`+medulla+`,
		"entities":[`+entities+`]}`)
	e.GenerateRepo(t, sample.Options{Complete: 2, Clients: 2, ClientsWithImages: 1, WithUUIDCache: true})
	e.StartHub(t)
}

func mdByEntityID(es []wire.Entity) map[string]wire.Entity { return hubtest.ByID(es) }

func mdIntPtrEq(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func mdFmtInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// mdFiguresMatch compares the hub's view of an entity with the
// hand-worked fixture; it returns what differs.
func mdFiguresMatch(v wire.Entity, w mariadbtest.WantEntity) []string {
	var diffs []string
	if v.Name != w.Name || v.Parent != w.Parent {
		diffs = append(diffs, "name/parent "+v.Name+"/"+v.Parent+", want "+w.Name+"/"+w.Parent)
	}
	m := v.Medulla
	if m == nil {
		return append(diffs, "no medulla figures")
	}
	if m.Source != wire.SourceMedulla {
		diffs = append(diffs, "source "+m.Source)
	}
	if !mdIntPtrEq(m.Clients, w.Clients) || !mdIntPtrEq(m.ClientsWithBackupImages, w.ClientsWithBackupImages) || !mdIntPtrEq(m.Masters, w.Masters) {
		diffs = append(diffs, "clients, clients_with_backup_images, masters = "+
			mdToJSON([]any{mdFmtInt(m.Clients), mdFmtInt(m.ClientsWithBackupImages), mdFmtInt(m.Masters)})+", want "+
			mdToJSON([]any{mdFmtInt(w.Clients), mdFmtInt(w.ClientsWithBackupImages), mdFmtInt(w.Masters)}))
	}
	if m.Server != w.Server {
		diffs = append(diffs, "medulla.server "+m.Server+", want "+w.Server)
	}
	if m.NearerLinkedServer != w.NearerLinked {
		diffs = append(diffs, "medulla.nearer_linked_server "+m.NearerLinkedServer+", want "+w.NearerLinked)
	}
	var names []string
	for _, im := range m.MasterImages {
		names = append(names, im.Name)
	}
	if !reflect.DeepEqual(names, w.MasterImages) {
		diffs = append(diffs, "master images "+mdToJSON(names)+", want "+mdToJSON(w.MasterImages))
	}
	return diffs
}

func mdToJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The link on: Medulla's tree, serving rule and figures in REST and the
// viewer stream; agents speak only with a token from the file. Then the
// database stops and comes back during the run.
func TestMedullaHubLink(t *testing.T) {
	t.Parallel()
	db := mariadbtest.StartFixtureT(t)
	e := hubtest.NewEnv(t, "", interval)
	dir := e.Dir
	pw := mdWriteFile(t, filepath.Join(dir, "db.pw"), mariadbtest.ROPassword+"\n")
	img, glpi := db.FixtureDSNs("")
	// Only General (srv-general, from the database) gets a token; Sales'
	// srv-sales is known from the database only. The file also adds an
	// entity of its own under Sales-North.
	h1 := e.NewToken(t, "UUID1")
	e.NewToken(t, "UUID4")
	mdStartLinkedHub(t, e,
		`{"imaging_dsn":`+mdJSONString(img)+`,"glpi_dsn":`+mdJSONString(glpi)+`,"password_file":`+mdJSONString(pw)+`,"refresh":"`+medullaRefresh.String()+`"}`,
		`{"id":"UUID1","server":{"token_sha256":"`+h1+`"}},
		 {"id":"EXTRA","name":"Extra lab","parent":"UUID5"}`)

	want := mariadbtest.FixtureWant()
	var ents map[string]wire.Entity
	hubtest.WaitFor(t, "the database's 9 entities with their figures, and the file's own", func() bool {
		ents = mdByEntityID(e.Entities(t))
		if len(ents) != len(want)+1 {
			return false
		}
		for _, w := range want {
			if v := ents[w.ID]; v.Medulla == nil || v.Medulla.LoadedAt.IsZero() {
				return false
			}
		}
		return true
	})

	t.Run("tree, serving rule and figures", func(t *testing.T) {
		for _, w := range want {
			v := ents[w.ID]
			for _, d := range mdFiguresMatch(v, w) {
				t.Errorf("%s: %s", w.ID, d)
			}
			if v.Medulla.Stale || v.Medulla.Error != "" {
				t.Errorf("%s: stale %v error %q with the database up", w.ID, v.Medulla.Stale, v.Medulla.Error)
			}
			if time.Since(v.Medulla.LoadedAt) > time.Minute {
				t.Errorf("%s: loaded_at %v", w.ID, v.Medulla.LoadedAt)
			}
		}
		// Path from the database.
		if p := ents["UUID5"].Path; !reflect.DeepEqual(p, []string{"Root entity", "General", "Sales", "Sales-North"}) {
			t.Errorf("UUID5 path %q", p)
		}
		if u := ents["UUID1"].Medulla.ServerURL; u != "https://10.0.0.6:9990/imaging_api" {
			t.Errorf("UUID1 server_url %q", u)
		}
		// Activity, newest first.
		act := ents["UUID4"].Medulla.Activity
		if len(act) != 3 || act[0].State != "error" || act[0].Target != "sales-1" || act[0].Detail != "disk not found" || act[2].Target != "sales-prof" {
			t.Errorf("UUID4 activity %s", mdToJSON(act))
		}
	})

	t.Run("served_by follows Medulla's rule", func(t *testing.T) {
		for _, w := range want {
			v := ents[w.ID]
			if v.ServedBy != w.ServedBy {
				t.Errorf("%s (%s): served_by %q (entity %q), want %q as Medulla decides (nearer linked: %q)",
					w.ID, w.Name, v.ServedBy, v.ServedByEntity, w.ServedBy, w.NearerLinked)
			}
		}
		// Sales-North: its parent Sales has a linked recursive server, but
		// Medulla's loop keeps General's.
		if v := ents["UUID5"]; v.ServedByEntity != "UUID1" || !v.Inherited || v.Medulla.NearerLinkedServer != "srv-sales" {
			t.Errorf("UUID5: served_by_entity %q inherited %v nearer %q", v.ServedByEntity, v.Inherited, v.Medulla.NearerLinkedServer)
		}
		// Entities nothing serves in Medulla are not linked.
		for _, id := range []string{"UUID3", "UUID8"} {
			if v := ents[id]; v.Status != wire.StatusNotLinked {
				t.Errorf("%s: status %s (%s), want %s: Medulla's srv-root is not recursive", id, v.Status, v.Reason, wire.StatusNotLinked)
			}
		}
	})

	// The viewer stream carries the same figures.
	t.Run("viewer stream", func(t *testing.T) {
		c, resp, err := websocket.DefaultDialer.Dial(e.Hub.ViewerURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(hubtest.Long))
		var m wire.ViewerMessage
		if err := c.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type != wire.TypeSnapshot || len(m.Entities) != len(want)+1 {
			t.Fatalf("first frame: type %q, %d entities", m.Type, len(m.Entities))
		}
		got := mdByEntityID(m.Entities)
		for _, w := range want {
			for _, d := range mdFiguresMatch(got[w.ID], w) {
				t.Errorf("viewer %s: %s", w.ID, d)
			}
		}
	})

	// The file's own entity sits where the file says, served as its parent.
	if v := ents["EXTRA"]; v.Name != "Extra lab" || v.Parent != "UUID5" || v.ServedBy != "srv-general" || v.Medulla != nil {
		t.Errorf("EXTRA: name %q parent %q served_by %q medulla %s", v.Name, v.Parent, v.ServedBy, mdToJSON(v.Medulla))
	}

	// Before any agent: General and the entities it serves wait for it.
	for _, id := range []string{"UUID1", "UUID5", "EXTRA", "UUID4"} {
		e.WaitStatus(t, id, wire.StatusOffline, "no agent has connected")
	}
	e.Agent(t, "UUID1")
	e.WaitStatus(t, "UUID1", wire.StatusAvailable, "")
	for _, id := range []string{"UUID5", "EXTRA"} {
		if v, _ := e.WaitStatus(t, id, wire.StatusAvailable, ""); v.ServedBy != "srv-general" {
			t.Errorf("%s served by %q once available", id, v.ServedBy)
		}
	}
	if v := e.Entity(t, "UUID1"); v.ServedBy != "srv-general" || v.Repository == nil || v.Repository.ImagesTotal != 2 {
		t.Errorf("UUID1 with its agent: served_by %q repository %+v", v.ServedBy, v.Repository)
	}

	// The database says Sales has srv-sales, but the file gives it no token:
	// no agent may speak for it, with a token of its own or General's. The
	// agent logs the hub's refusal; the hub logs the first of identical
	// refusals in a minute.
	for _, tokenOf := range []string{"UUID4", "UUID1"} {
		p := e.Agent(t, "UUID4", "--token-file", e.TokenFile(tokenOf))
		p.WaitOutput(t, "agent token rejected")
		p.Kill(syscall.SIGTERM)
	}
	if !strings.Contains(e.Hub.Output(), `entity=UUID4 reason="agent token rejected"`) {
		t.Errorf("the hub did not log the refusal for UUID4")
	}
	if v := e.Entity(t, "UUID4"); v.Status == wire.StatusAvailable || strings.Contains(e.Hub.Output(), `msg="agent connected" entity=UUID4`) {
		t.Errorf("an agent spoke for UUID4 without a token in the file: %s (%s)", v.Status, v.Reason)
	}
	if v := e.Entity(t, "UUID1"); v.Status != wire.StatusAvailable {
		t.Errorf("UUID1 disturbed by refused agents: %s (%s)", v.Status, v.Reason)
	}
	// The refusal shows for a deadline, then Sales waits again for its agent.
	e.WaitStatus(t, "UUID4", wire.StatusOffline, "no agent has connected")

	// The database stops during the run.
	statuses := map[string]wire.Status{}
	for _, v := range e.Entities(t) {
		statuses[v.ID] = v.Status
	}
	t.Logf("statuses before the database stops: %v", statuses)
	before := e.Entity(t, "UUID1").Medulla.LoadedAt
	if err := db.Down(); err != nil {
		t.Fatal(err)
	}
	downAt := time.Now()
	hubtest.WaitFor(t, "the figures to be marked stale", func() bool {
		for _, v := range e.Entities(t) {
			if v.Medulla == nil || !v.Medulla.Stale {
				return false
			}
		}
		return true
	})
	// Over several refreshes: statuses unchanged, figures kept with their
	// age, the link reported failing.
	hubtest.Holds(t, "statuses and figures with the database down", 6*medullaRefresh, func() bool {
		got := mdByEntityID(e.Entities(t))
		for _, id := range []string{"UUID1", "UUID5", "EXTRA"} {
			if got[id].Status != wire.StatusAvailable {
				t.Fatalf("%s: %s (%s) with the database down, want available", id, got[id].Status, got[id].Reason)
			}
		}
		for id, st := range statuses {
			if got[id].Status != st {
				t.Fatalf("%s: status %s (%s) with the database down, was %s", id, got[id].Status, got[id].Reason, st)
			}
		}
		for _, w := range want {
			v := got[w.ID]
			if v.Medulla == nil {
				t.Fatalf("%s: figures gone with the database down", w.ID)
			}
			// Viewers read why in a code and a sentence; the database's
			// address stays in the hub's log.
			if !v.Medulla.Stale || v.Medulla.ErrorCode != wire.MedullaUnreachable || strings.Contains(v.Medulla.Error, db.Addr()) {
				t.Fatalf("%s: stale %v error %s %q, want stale, unreachable, without %s", w.ID, v.Medulla.Stale, v.Medulla.ErrorCode, v.Medulla.Error, db.Addr())
			}
			if v.Medulla.LoadedAt.IsZero() || v.Medulla.LoadedAt.After(downAt) {
				t.Fatalf("%s: loaded_at %v with the database down since %v: want the last load's time", w.ID, v.Medulla.LoadedAt, downAt)
			}
			for _, d := range mdFiguresMatch(v, w) {
				t.Errorf("%s with the database down: %s", w.ID, d)
			}
		}
		return true
	})
	t.Logf("database down: UUID1 medulla.error = %q", e.Entity(t, "UUID1").Medulla.Error)

	// Back: fresh figures.
	if err := db.Up(); err != nil {
		t.Fatal(err)
	}
	hubtest.WaitFor(t, "fresh figures after the restart", func() bool {
		for _, v := range e.Entities(t) {
			if v.ID == "EXTRA" {
				if v.Medulla != nil {
					return false
				}
				continue
			}
			if v.Medulla == nil || v.Medulla.Stale || v.Medulla.Error != "" || !v.Medulla.LoadedAt.After(before) {
				return false
			}
		}
		return true
	})
	got := mdByEntityID(e.Entities(t))
	for _, w := range want {
		for _, d := range mdFiguresMatch(got[w.ID], w) {
			t.Errorf("%s after the restart: %s", w.ID, d)
		}
	}
	for _, id := range []string{"UUID1", "UUID5", "EXTRA"} {
		if got[id].Status != wire.StatusAvailable {
			t.Errorf("%s after the restart: %s", id, got[id].Status)
		}
	}

	log := e.Hub.Output()
	for _, f := range []string{"Medulla database link on", "Medulla database link failing", "Medulla database link restored", db.Addr()} {
		if !strings.Contains(log, f) {
			t.Errorf("hub log lacks %q", f)
		}
	}
	mdNoSecret(t, "the hub's log", []string{log}, mariadbtest.ROPassword)
}

// A database the hub cannot read (wrong password, user without rights):
// the hub serves from its file and its agents, and says what is wrong.
func TestMedullaHubBadCredentials(t *testing.T) {
	t.Parallel()
	db := mariadbtest.StartFixtureT(t)
	cases := []struct {
		name      string
		medulla   func(dir string) string
		fragments []string
		password  string
	}{
		{
			name: "wrong password",
			medulla: func(dir string) string {
				pw := mdWriteFile(t, filepath.Join(dir, "db.pw"), mdWrongPassword+"\n")
				img, glpi := db.FixtureDSNs("")
				return `{"imaging_dsn":` + mdJSONString(img) + `,"glpi_dsn":` + mdJSONString(glpi) + `,"password_file":` + mdJSONString(pw) + `,"refresh":"` + medullaRefresh.String() + `"}`
			},
			fragments: []string{"access denied", "wrong user or password", mariadbtest.ROUser},
			password:  mdWrongPassword,
		},
		{
			name: "user without rights",
			medulla: func(string) string {
				// The password in the DSNs this time: it must not leak either.
				img := db.DSN(mariadbtest.NoRightsUser, mariadbtest.NoRightsPassword, mariadbtest.ImagingDB)
				glpi := db.DSN(mariadbtest.NoRightsUser, mariadbtest.NoRightsPassword, mariadbtest.GLPIDB)
				return `{"imaging_dsn":` + mdJSONString(img) + `,"glpi_dsn":` + mdJSONString(glpi) + `,"refresh":"` + medullaRefresh.String() + `"}`
			},
			fragments: []string{"access denied", mariadbtest.NoRightsUser, "grant the user SELECT on"},
			password:  mariadbtest.NoRightsPassword,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := hubtest.NewEnv(t, "", interval)
			h := e.NewToken(t, "UUID1")
			mdStartLinkedHub(t, e, c.medulla(e.Dir),
				`{"id":"UUID0","name":"Root entity"},
				 {"id":"UUID1","name":"General","parent":"UUID0","server":{"name":"srv-general","token_sha256":"`+h+`"}},
				 {"id":"UUID5","name":"Sales-North","parent":"UUID1"}`)
			var ents []wire.Entity
			hubtest.WaitFor(t, "every entity to say the link fails", func() bool {
				ents = e.Entities(t)
				for _, v := range ents {
					if v.Medulla == nil || v.Medulla.Error == "" {
						return false
					}
				}
				return len(ents) == 3
			})
			for _, v := range ents {
				// Viewers read a code and a sentence; what to fix, with the
				// user's name, is in the hub's log.
				if v.Medulla.ErrorCode != wire.MedullaAccessDenied || strings.Contains(v.Medulla.Error, "user") {
					t.Errorf("%s: medulla error %s %q", v.ID, v.Medulla.ErrorCode, v.Medulla.Error)
				}
				for _, f := range c.fragments {
					if !strings.Contains(e.Hub.Output(), f) {
						t.Errorf("the hub's log lacks %q", f)
					}
				}
				if !v.Medulla.Stale || v.Medulla.Clients != nil {
					t.Errorf("%s: medulla %s", v.ID, mdToJSON(v.Medulla))
				}
			}
			t.Logf("medulla.error: %s", ents[0].Medulla.Error)

			// The hub keeps serving: agents, statuses, readiness.
			e.Agent(t, "UUID1")
			e.WaitStatus(t, "UUID1", wire.StatusAvailable, "")
			e.WaitStatus(t, "UUID5", wire.StatusAvailable, "")
			if _, err := hubtest.GetJSON(e.Hub.URL+"/api/v1/entities/UUID5/ready", nil); err != nil {
				t.Errorf("ready UUID5: %v", err)
			}
			// Over several refreshes, still serving and still saying why.
			hubtest.Holds(t, "serving and saying why the link fails", 3*medullaRefresh, func() bool {
				for _, v := range e.Entities(t) {
					if v.Medulla == nil || v.Medulla.ErrorCode != wire.MedullaAccessDenied {
						t.Fatalf("%s: medulla %s", v.ID, mdToJSON(v.Medulla))
					}
				}
				if v := e.Entity(t, "UUID1"); v.Status != wire.StatusAvailable {
					t.Fatalf("UUID1: %s (%s)", v.Status, v.Reason)
				}
				return true
			})
			mdNoSecret(t, "the hub's log", []string{e.Hub.Output()}, c.password)
			body, _ := json.Marshal(e.Entities(t))
			mdNoSecret(t, "REST", []string{string(body)}, c.password)
		})
	}
}
