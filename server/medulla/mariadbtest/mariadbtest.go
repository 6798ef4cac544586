// Package mariadbtest runs a throw-away MariaDB server for tests: a fresh data
// directory and socket under the system temp dir, loopback TCP on a free port,
// root without a password.
//
// The server binary comes from Debian's mariadb-server package
// (apt-get install -y mariadb-server). When it is missing, tests are skipped,
// unless CI or REQUIRE_MARIADB=1 is set in the environment: then they fail.
package mariadbtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// InstallHint is how to get the server on Debian/Ubuntu.
const InstallHint = "apt-get update && apt-get install -y mariadb-server"

// ErrNotInstalled is returned by Start when no server binary is found.
var ErrNotInstalled = errors.New("mariadbtest: no mariadbd/mysqld or mariadb-install-db found (install with: " + InstallHint + ")")

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
)

// Server is one running (or stopped) MariaDB server.
type Server struct {
	dir  string
	bin  string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd exits
	closed bool
}

// Required reports whether a missing server must fail the tests.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("REQUIRE_MARIADB") == "1"
}

// Start initialises a data directory and starts a server on it. Call Stop
// when done (TestMain) or use StartT.
func Start() (*Server, error) {
	bin := lookPath("mariadbd", "mysqld")
	install := lookPath("mariadb-install-db", "mysql_install_db")
	if bin == "" || install == "" {
		return nil, ErrNotInstalled
	}
	// Short path: a unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "mariadbtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin}
	if err := os.Mkdir(s.tmpDir(), 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	args := []string{"--no-defaults", "--datadir=" + s.dataDir(), "--tmpdir=" + s.tmpDir(),
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	out, err := exec.Command(install, args...).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mariadbtest: %s failed: %v\n%s", install, err, out)
	}
	if err := s.Up(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// StartT starts a server for one test and stops it when the test ends, pass
// or fail. It skips (or fails, see Required) when MariaDB is not installed.
func StartT(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	Require(t, err)
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("mariadbtest: stop: %v", err)
		}
	})
	return s
}

// Require turns a Start error into a skip (MariaDB not installed, not
// required) or a fatal failure.
func Require(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrNotInstalled) && !Required() {
		t.Skipf("MariaDB not installed; to run these tests: %s", InstallHint)
	}
	t.Fatal(err)
}

func lookPath(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		// Debian puts mariadbd in /usr/sbin, often not in a user's PATH.
		for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin"} {
			p := filepath.Join(d, n)
			if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
				return p
			}
		}
	}
	return ""
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// tmpDir is the server's own tmpdir. It must not be shared: at start-up a
// server deletes every "#sql*" file in its tmpdir, so servers sharing /tmp
// (tests in parallel) delete each other's temporary tables, and
// mariadb-install-db fails at random ("Error on delete of
// '/tmp/#sql-temptable-…'", "Unknown table 'mysql.tmp_user_sys'").
func (s *Server) tmpDir() string { return filepath.Join(s.dir, "tmp") }

// Socket is the server's unix socket path.
func (s *Server) Socket() string { return filepath.Join(s.dir, "sock") }

// Addr is host:port of the loopback TCP listener.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// DSN is a TCP DSN for user/password on database db ("" for none).
func (s *Server) DSN(user, password, db string) string {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = user, password, "tcp", s.Addr(), db
	return c.FormatDSN()
}

// RootDSN is the root DSN (no password) on database db ("" for none).
func (s *Server) RootDSN(db string) string { return s.DSN("root", "", db) }

// Up starts the server process (again, after Down, on the same port and data).
func (s *Server) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("mariadbtest: server already stopped for good")
	}
	if s.cmd != nil {
		return nil
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if s.port == 0 || attempt > 0 {
			p, err := freePort()
			if err != nil {
				return err
			}
			s.port = p
		}
		if lastErr = s.spawn(); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) spawn() error {
	logPath := filepath.Join(s.dir, "error.log")
	args := []string{"--no-defaults",
		"--datadir=" + s.dataDir(),
		"--tmpdir=" + s.tmpDir(),
		"--socket=" + s.Socket(),
		"--pid-file=" + filepath.Join(s.dir, "mariadbd.pid"),
		"--port=" + strconv.Itoa(s.port),
		"--bind-address=127.0.0.1",
		"--skip-networking=0",
		"--skip-name-resolve",
		"--log-error=" + logPath,
		// Small and fast: these are throw-away databases.
		"--innodb-buffer-pool-size=32M",
		"--innodb-log-file-size=16M",
		"--innodb-flush-log-at-trx-commit=0",
		"--skip-log-bin",
		"--performance-schema=OFF",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mariadbtest: start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() //nolint:errcheck // exit status is not interesting
	s.cmd, s.exited = cmd, exited

	if err := s.waitReady(exited); err != nil {
		s.killLocked()
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w\n--- %s (tail) ---\n%s", err, logPath, tail(string(log), 2000))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitReady polls until root can run a query, the process exits, or the
// start timeout passes.
func (s *Server) waitReady(exited chan struct{}) error {
	db, err := sql.Open("mysql", s.RootDSN("")+"?timeout=1s")
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("mariadbtest: server exited during start-up: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mariadbtest: server not ready after %s: %v", startTimeout, err)
		}
	}
}

// Down stops the server process (SIGTERM, then SIGKILL after a timeout) and
// keeps its data, for a "database down, then back" test.
func (s *Server) Down() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.killLocked()
}

func (s *Server) killLocked() error {
	if s.cmd == nil {
		return nil
	}
	cmd, exited := s.cmd, s.exited
	s.cmd, s.exited = nil, nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = cmd.Process.Kill()
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("mariadbtest: pid %d did not exit after SIGKILL", cmd.Process.Pid)
	}
}

// Stop stops the server for good and removes its directory. Safe to call twice.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.killLocked()
	return errors.Join(err, os.RemoveAll(s.dir))
}

// Exec runs statements as root, one at a time (no multi-statement DSN needed).
func (s *Server) Exec(ctx context.Context, stmts ...string) error {
	db, err := sql.Open("mysql", s.RootDSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, q := range stmts {
		if strings.TrimSpace(q) == "" {
			continue
		}
		if _, err := c.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%w\nin: %s", err, q)
		}
	}
	return nil
}
