package medulla

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"imagingstatus/server/medulla/mariadbtest"
)

// One server for the package run; a test that stops its server starts its own.
var (
	srv    *mariadbtest.Server
	srvErr error
)

func TestMain(m *testing.M) {
	srv, srvErr = mariadbtest.Start()
	if srvErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		srvErr = srv.Exec(ctx, fixture()...)
		cancel()
	}
	code := m.Run()
	if srv != nil {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping MariaDB:", err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// needDB skips (or fails, in CI) when the shared server could not start.
func needDB(t *testing.T) *mariadbtest.Server {
	t.Helper()
	mariadbtest.Require(t, srvErr)
	return srv
}

func roConfig(s *mariadbtest.Server) Config {
	return Config{
		ImagingDSN: s.DSN(roUser, roPassword, "imaging"),
		GLPIDSN:    s.DSN(roUser, roPassword, "glpi"),
	}
}

func load(t *testing.T, cfg Config) (*Snapshot, error) {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return l.Load(ctx)
}
