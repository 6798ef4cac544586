package medulla

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagingstatus/server/medulla/mariadbtest"
)

// wantErr checks the kind and that the message holds every fragment and none
// of the passwords.
func wantErr(t *testing.T, err error, kind Kind, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", kind)
	}
	var me *Error
	if !errors.As(err, &me) {
		t.Fatalf("%T %v is not a *medulla.Error", err, err)
	}
	if me.Kind != kind {
		t.Errorf("kind %v, want %v: %v", me.Kind, kind, err)
	}
	msg := err.Error()
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("message lacks %q: %s", f, msg)
		}
	}
	for _, pw := range []string{roPassword, noPassword, "wrong-Pa55word"} {
		if strings.Contains(msg, pw) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), pw) {
			t.Errorf("message holds a password: %s", msg)
		}
	}
	t.Logf("%v error: %s", kind, msg)
}

func TestErrorWrongPassword(t *testing.T) {
	s := needDB(t)
	cfg := roConfig(s)
	cfg.GLPIDSN = s.DSN(roUser, "wrong-Pa55word", "glpi")
	_, err := load(t, cfg)
	wantErr(t, err, KindAccessDenied, "GLPI database", roUser, "wrong user or password")
}

func TestErrorUserWithoutRights(t *testing.T) {
	s := needDB(t)
	_, err := load(t, Config{
		ImagingDSN: s.DSN(noUser, noPassword, "imaging"),
		GLPIDSN:    s.DSN(roUser, roPassword, "glpi"),
	})
	wantErr(t, err, KindAccessDenied, "imaging database", noUser, "grant the user SELECT on imaging.*")
}

func TestErrorMissingTable(t *testing.T) {
	s := needDB(t)
	cfg := roConfig(s)
	cfg.ImagingDSN = s.DSN(roUser, roPassword, "imaging_broken")
	_, err := load(t, cfg)
	wantErr(t, err, KindSchema, "imaging database: table ImagingServer missing", `"imaging_broken"`, "is this Medulla's imaging database?")

	// glpi_entities is read from the GLPI DSN: pointing it at the imaging
	// database names the GLPI table.
	cfg = roConfig(s)
	cfg.GLPIDSN = s.DSN(roUser, roPassword, "imaging")
	_, err = load(t, cfg)
	wantErr(t, err, KindSchema, "GLPI database: table glpi_entities missing", "is this GLPI's database?")
}

func TestErrorUnknownDatabase(t *testing.T) {
	s := needDB(t)
	cfg := roConfig(s)
	cfg.ImagingDSN = s.RootDSN("no_such_db")
	_, err := load(t, cfg)
	wantErr(t, err, KindSchema, `database "no_such_db" does not exist`)
}

func TestErrorUnreachable(t *testing.T) {
	// A port nobody listens on (a stopped server's port would do too).
	cfg := Config{
		ImagingDSN:   "u:" + roPassword + "@tcp(127.0.0.1:1)/imaging",
		GLPIDSN:      "u:" + roPassword + "@tcp(127.0.0.1:1)/glpi",
		QueryTimeout: 2 * time.Second,
	}
	var buf bytes.Buffer
	err := Check(context.Background(), cfg, &buf)
	wantErr(t, err, KindUnreachable, "GLPI database", "127.0.0.1:1", "unreachable")
	if buf.Len() != 0 {
		t.Errorf("Check wrote %q on failure", buf.String())
	}
}

func TestErrorBadDSN(t *testing.T) {
	_, err := Open(Config{ImagingDSN: "user:" + roPassword + "@tcp(127.0.0.1:3306", GLPIDSN: "x@/glpi"})
	wantErr(t, err, KindConfig, "imaging database: invalid DSN")
	_, err = Open(Config{ImagingDSN: "u:" + roPassword + "@tcp(127.0.0.1:3306)/", GLPIDSN: "x@/glpi"})
	wantErr(t, err, KindConfig, "names no database")
	_, err = Open(Config{ImagingDSN: "u@/imaging"})
	wantErr(t, err, KindConfig, "GLPI database: no DSN")
}

// A slow database (a table locked by someone else) gives a timeout, not a hang.
func TestErrorQueryTimeout(t *testing.T) {
	s := needDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	locker, err := Open(Config{ImagingDSN: s.RootDSN("imaging"), GLPIDSN: s.RootDSN("glpi")})
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	c, err := locker.imaging.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "LOCK TABLES Target WRITE"); err != nil {
		t.Fatal(err)
	}
	defer c.ExecContext(ctx, "UNLOCK TABLES") //nolint:errcheck

	cfg := roConfig(s)
	cfg.QueryTimeout = 500 * time.Millisecond
	start := time.Now()
	_, err = load(t, cfg)
	wantErr(t, err, KindTimeout, "imaging database", "no answer within 500ms")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Load took %v", d)
	}
}

// The database stopped during a run: Load fails with a clear error, then
// works again once it is back. Its own server, so the shared one stays up.
func TestDatabaseDownThenBack(t *testing.T) {
	mariadbtest.Require(t, srvErr) // skip alike when MariaDB is missing
	s := mariadbtest.StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Exec(ctx, fixture()...); err != nil {
		t.Fatal(err)
	}
	l, err := Open(roConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	snap, err := l.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(snap.Entities); n != 9 {
		t.Fatalf("%d entities", n)
	}
	if err := s.Down(); err != nil {
		t.Fatal(err)
	}
	_, err = l.Load(ctx)
	wantErr(t, err, KindUnreachable, "GLPI database", s.Addr(), "unreachable")

	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	snap, err = l.Load(ctx)
	if err != nil {
		t.Fatalf("Load after restart: %v", err)
	}
	if e := byID(t, snap)["UUID1"]; e.Clients == nil || *e.Clients != 3 {
		t.Errorf("after restart: %+v", e)
	}
}

func TestWithPasswordFile(t *testing.T) {
	s := needDB(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(roPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Config{
		ImagingDSN: s.DSN(roUser, "", "imaging"),
		GLPIDSN:    s.DSN(roUser, "placeholder", "glpi"),
	}.WithPasswordFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, cfg); err != nil {
		t.Fatalf("Load with the password from a file: %v", err)
	}
	for _, out := range []string{cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(out, roPassword) || !strings.Contains(out, "medulla_ro:*****@tcp(") {
			t.Errorf("Config printed as %s", out)
		}
	}

	if _, err := (Config{}).WithPasswordFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing password file: no error")
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600) //nolint:errcheck
	if _, err := (Config{}).WithPasswordFile(empty); err == nil {
		t.Error("empty password file: no error")
	}
}
