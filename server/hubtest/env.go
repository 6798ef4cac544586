package hubtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagingstatus/agent/repo/sample"
	"imagingstatus/bench"
	"imagingstatus/server/config"
	"imagingstatus/wire"
)

// Env is one test's installation: a directory with the hub's configuration
// (hub.json), agent token files, a sample repository for the agents, and
// the hub once started.
type Env struct {
	Dir      string
	Config   string            // Dir/hub.json
	Repo     string            // Dir/imaging once GenerateRepo ran
	Interval time.Duration     // the agents' --interval (and what the configuration should say)
	Tokens   map[string]string // entity → agent token
	Hub      *Hub
}

// NewEnv makes an empty installation in a temporary directory (dir "" for
// a new one).
func NewEnv(t testing.TB, dir string, interval time.Duration) *Env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	return &Env{Dir: dir, Config: filepath.Join(dir, "hub.json"), Interval: interval, Tokens: map[string]string{}}
}

// NewToken makes an agent token for entity, writes it to Dir/<entity>.token
// (mode 600) and returns its SHA-256 for the configuration.
func (e *Env) NewToken(t testing.TB, entity string) (sha256 string) {
	t.Helper()
	tok, hash, err := config.GenerateToken()
	if err != nil {
		t.Fatal(err)
	}
	e.Tokens[entity] = tok
	e.WriteFile(t, entity+".token", tok+"\n")
	return hash
}

// TokenFile is the token file of entity.
func (e *Env) TokenFile(entity string) string { return filepath.Join(e.Dir, entity+".token") }

// WriteFile writes a file (mode 600) under Dir and returns its path.
func (e *Env) WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(e.Dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// WriteConfig writes the hub's configuration: JSON text, or anything
// json.Marshal takes (a config.File).
func (e *Env) WriteConfig(t testing.TB, cfg any) {
	t.Helper()
	s, ok := cfg.(string)
	if !ok {
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s = string(b)
	}
	e.WriteFile(t, filepath.Base(e.Config), s)
}

// GenerateRepo writes a sample imaging repository at Dir/imaging.
func (e *Env) GenerateRepo(t testing.TB, o sample.Options) sample.Expected {
	t.Helper()
	e.Repo = filepath.Join(e.Dir, "imaging")
	exp, err := sample.Generate(e.Repo, o)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// StartHub starts the hub on the configuration (extra arguments after
// it) and returns once it listens.
func (e *Env) StartHub(t testing.TB, extra ...string) *Hub {
	t.Helper()
	e.Hub = StartHub(t, append([]string{"--config", e.Config}, extra...)...)
	return e.Hub
}

// RestartHub starts the hub again where it listened (the previous one
// should have ended).
func (e *Env) RestartHub(t testing.TB) *Hub {
	t.Helper()
	e.Hub = e.Hub.Restart(t)
	return e.Hub
}

// Agent starts a real agent for entity with its token file, the sample
// repository and the interval; extra arguments come last, so they may
// override any of these (--hub, --token-file).
func (e *Env) Agent(t testing.TB, entity string, extra ...string) *Proc {
	t.Helper()
	args := []string{"run", "--hub", e.Hub.URL, "--entity", entity, "--token-file", e.TokenFile(entity), "--interval", e.Interval.String()}
	if e.Repo != "" {
		args = append(args, "--repo", e.Repo)
	}
	return Start(t, "imaging-agent", append(args, extra...)...)
}

// Entity is the hub's REST view of one entity.
func (e *Env) Entity(t testing.TB, id string) wire.Entity {
	t.Helper()
	var v wire.Entity
	if _, err := GetJSON(e.Hub.URL+"/api/v1/entities/"+id, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Entities is the hub's REST list of entities.
func (e *Env) Entities(t testing.TB) []wire.Entity {
	t.Helper()
	var v []wire.Entity
	if _, err := GetJSON(e.Hub.URL+"/api/v1/entities", &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// ByID indexes entities by id.
func ByID(es []wire.Entity) map[string]wire.Entity {
	m := make(map[string]wire.Entity, len(es))
	for _, e := range es {
		m[e.ID] = e
	}
	return m
}

// WaitStatus waits until entity id has status st with a reason holding
// reason; it returns the entity and how long it waited.
func (e *Env) WaitStatus(t testing.TB, id string, st wire.Status, reason string) (wire.Entity, time.Duration) {
	t.Helper()
	var v wire.Entity
	var err error
	d, perr := bench.Poll(context.Background(), Long, func() bool {
		_, err = GetJSON(e.Hub.URL+"/api/v1/entities/"+id, &v)
		return err == nil && v.Status == st && strings.Contains(v.Reason, reason)
	})
	if perr != nil {
		t.Fatalf("waiting for %s to be %s (%q): %v; last seen %s (%q), %v", id, st, reason, perr, v.Status, v.Reason, err)
	}
	return v, d
}

// client is the tests' HTTP client: a ceiling, not an expected time.
var client = &http.Client{Timeout: 30 * time.Second}

// GetJSON fetches url into v (nil: read and drop the body) and says how
// long it took. It never calls t.Fatal, so goroutines may use it.
func GetJSON(url string, v any) (time.Duration, error) {
	start := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		return time.Since(start), err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return time.Since(start), fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	if v == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	} else {
		err = json.NewDecoder(resp.Body).Decode(v)
	}
	return time.Since(start), err
}
