package link

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/server/medulla"
	"imagingstatus/wire"
)

func ip(n int) *int { return &n }

func snapshot() *medulla.Snapshot {
	general := &medulla.Server{Name: "srv-general", Associated: true, Recursive: true, EntityID: "UUID1"}
	sales := &medulla.Server{Name: "srv-sales", Associated: true, EntityID: "UUID4"}
	return &medulla.Snapshot{LoadedAt: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Entities: []medulla.Entity{
		{ID: "UUID0", Name: "Root entity"},
		{ID: "UUID1", Name: "General", Parent: "UUID0", Server: general, ServedBy: general, Clients: ip(3), ClientsWithBackupImages: ip(1), Masters: ip(2),
			MasterImages: []medulla.MasterImage{{UUID: "m1", Name: "win11", Size: 42}}},
		{ID: "UUID4", Name: "Sales", Parent: "UUID1", Server: sales, ServedBy: sales, Clients: ip(2), ClientsWithBackupImages: ip(0), Masters: ip(0)},
		// Medulla's rule picks the root-most recursive server, not Sales' own.
		{ID: "UUID5", Name: "Sales-North", Parent: "UUID4", ServedBy: general, NearestLinkedAncestor: sales},
		{ID: "UUID6", Name: "Parked", Parent: "UUID0", Server: &medulla.Server{Name: "srv-parked", EntityID: "UUID6"}},
		// Sales' server is not recursive: Medulla serves Sales' other child from nobody.
		{ID: "UUID7", Name: "Sales-South", Parent: "UUID4", NearestLinkedAncestor: sales},
	}}
}

const hash = "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3"

func TestMerge(t *testing.T) {
	file := config.File{Medulla: &config.MedullaLink{}, Entities: []config.Entity{
		{ID: "UUID1", Server: &config.Server{TokenSHA256: hash}},                                              // token for a database server
		{ID: "UUID4", Name: "Sales (renamed)"},                                                                // override a name
		{ID: "lab", Name: "Lab", Parent: "UUID0", Server: &config.Server{Name: "srv-lab", TokenSHA256: hash}}, // added
	}}
	cfg, err := Merge(file, snapshot()).Resolve()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range cfg.Entities {
		srv := ""
		if e.Server != nil {
			srv = e.Server.Name
		}
		got = append(got, e.ID+"|"+e.Name+"|"+srv+"|"+e.ServedBy)
	}
	want := []string{
		"UUID0|Root entity||",
		"UUID1|General|srv-general|UUID1",
		"UUID4|Sales (renamed)|srv-sales|UUID4",
		"UUID5|Sales-North||UUID1", // Medulla's rule, not the nearest (UUID4)
		"UUID7|Sales-South||",      // Medulla gives it no server: not the parent's
		"UUID6|Parked||",           // a parked, unlinked server serves nobody
		"lab|Lab|srv-lab|lab",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("merged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !cfg.CheckToken("UUID1", "123") {
		t.Fatal("the file's token hash was lost in the merge")
	}
	if cfg.CheckToken("UUID4", "123") || cfg.CheckToken("UUID4", "") {
		t.Fatal("a server known only from the database accepted a token")
	}
}

func TestFigures(t *testing.T) {
	f := Figures(snapshot())
	g := f["UUID1"]
	if g.Source != wire.SourceMedulla || *g.Clients != 3 || *g.ClientsWithBackupImages != 1 || *g.Masters != 2 || len(g.MasterImages) != 1 || g.Server != "srv-general" {
		t.Fatalf("General: %+v", g)
	}
	if n := f["UUID5"]; n.Clients != nil || n.NearerLinkedServer != "srv-sales" {
		t.Fatalf("Sales-North: %+v", n)
	}
	if p := f["UUID6"]; !strings.Contains(p.Server, "not linked") {
		t.Fatalf("Parked: %+v", p)
	}
}

type fakeLoader struct {
	mu   sync.Mutex
	err  error
	snap *medulla.Snapshot
}

func (f *fakeLoader) Load(context.Context) (*medulla.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap, f.err
}

// pingingLoader is a Loader that can also be pinged.
type pingingLoader struct {
	fakeLoader
	pingErr error
}

func (p *pingingLoader) Ping(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pingErr
}

func (p *pingingLoader) setPing(err error) {
	p.mu.Lock()
	p.pingErr = err
	p.mu.Unlock()
}

// A database that goes down between two loads is seen within an agent
// interval, and its return reloads at once.
func TestRunnerSeesAFailureWithinAnInterval(t *testing.T) {
	loader := &pingingLoader{fakeLoader: fakeLoader{snap: snapshot()}}
	hub := &fakeHub{}
	file := config.File{Medulla: &config.MedullaLink{}, Interval: config.Duration(20 * time.Millisecond)}
	r := New(file, loader, hub, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	wait(t, "first load", func() bool { _, f := hub.last(); return f != nil && f["UUID1"] != nil && !f["UUID1"].Stale })
	loader.setPing(&medulla.Error{DB: "GLPI", Kind: medulla.KindTimeout, Msg: "GLPI database: timeout"})
	wait(t, "stale within the interval, not at the hourly refresh", func() bool {
		_, f := hub.last()
		return f["UUID1"].Stale && f["UUID1"].ErrorCode == wire.MedullaTimeout
	})
	loader.setPing(nil)
	wait(t, "fresh again", func() bool { _, f := hub.last(); return !f["UUID1"].Stale })
}

func (f *fakeLoader) set(s *medulla.Snapshot, err error) {
	f.mu.Lock()
	f.snap, f.err = s, err
	f.mu.Unlock()
}

type fakeHub struct {
	mu      sync.Mutex
	reloads []*config.Config
	figs    []map[string]*wire.Medulla
}

func (h *fakeHub) Reload(_ context.Context, c *config.Config) error {
	h.mu.Lock()
	h.reloads = append(h.reloads, c)
	h.mu.Unlock()
	return nil
}

func (h *fakeHub) SetMedulla(_ context.Context, f map[string]*wire.Medulla) error {
	h.mu.Lock()
	h.figs = append(h.figs, f)
	h.mu.Unlock()
	return nil
}

func (h *fakeHub) last() (int, map[string]*wire.Medulla) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.figs) == 0 {
		return len(h.reloads), nil
	}
	return len(h.reloads), h.figs[len(h.figs)-1]
}

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(3 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestRunnerDatabaseDownAndBack(t *testing.T) {
	loader := &fakeLoader{snap: snapshot()}
	hub := &fakeHub{}
	r := New(config.File{Medulla: &config.MedullaLink{}}, loader, hub, 20*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	wait(t, "first load", func() bool { n, f := hub.last(); return n == 1 && f != nil && f["UUID1"] != nil })
	loader.set(nil, &medulla.Error{DB: "imaging", Kind: medulla.KindUnreachable,
		Msg: `imaging database (user "medulla_ro", tcp(db.example:3306), database "imaging") unreachable: connection refused`})
	wait(t, "stale figures", func() bool {
		_, f := hub.last()
		return f["UUID1"].Stale && f["UUID1"].ErrorCode == wire.MedullaUnreachable && *f["UUID1"].Clients == 3
	})
	// Viewers never read the database's user or address.
	if _, f := hub.last(); strings.Contains(f["UUID1"].Error, "medulla_ro") || strings.Contains(f["UUID1"].Error, "db.example") ||
		f["UUID1"].Error != wire.MedullaErrorText(wire.MedullaUnreachable) {
		t.Fatalf("viewers read %q", f["UUID1"].Error)
	}
	loader.set(snapshot(), nil)
	wait(t, "fresh figures", func() bool { _, f := hub.last(); return !f["UUID1"].Stale && f["UUID1"].Error == "" })
	if n, _ := hub.last(); n != 1 {
		t.Fatalf("the hub was reloaded %d times for an unchanged tree", n)
	}
	// A file reload with a new token re-merges at once.
	r.ReloadFile(config.File{Medulla: &config.MedullaLink{}, Entities: []config.Entity{{ID: "UUID4", Server: &config.Server{TokenSHA256: hash}}}})
	wait(t, "reload after the file changed", func() bool { n, _ := hub.last(); return n == 2 })
	hub.mu.Lock()
	c := hub.reloads[1]
	hub.mu.Unlock()
	if !c.CheckToken("UUID4", "123") {
		t.Fatal("the reloaded file's token is not in force")
	}
}

func TestRunnerNeverLoaded(t *testing.T) {
	loader := &fakeLoader{err: &medulla.Error{DB: "GLPI", Kind: medulla.KindAccessDenied, Msg: `GLPI database (user "glpi", unix(/run/mysqld/mysqld.sock)): access denied`}}
	hub := &fakeHub{}
	r := New(config.File{Medulla: &config.MedullaLink{}, Entities: []config.Entity{{ID: "UUID1", Name: "General"}}}, loader, hub, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	wait(t, "the failure shown", func() bool {
		_, f := hub.last()
		return f != nil && f["UUID1"] != nil && f["UUID1"].Stale && f["UUID1"].ErrorCode == wire.MedullaAccessDenied &&
			!strings.Contains(f["UUID1"].Error, "mysqld.sock") && f["UUID1"].Clients == nil
	})
}
