// Command imaging-demo runs the product on one machine with an embedded
// configuration: a hub with a state file (so it keeps history), a real agent
// on this machine with a generated sample repository, a second agent whose
// service probe fails, a third that comes and goes every minute, a made-up
// server whose disk fills (a synthetic series, labelled as such), an
// unlinked entity and inheriting sub-entities. Ctrl-C stops every process
// it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"imagingstatus/agent/repo/sample"
	"imagingstatus/server"
	"imagingstatus/server/config"
	"imagingstatus/server/hub"
	"imagingstatus/server/store"
)

var version = "dev"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "imaging-demo:", err)
		os.Exit(1)
	}
}

func run() error {
	self, _ := os.Executable()
	addr := flag.String("addr", envOr("DEMO_ADDR", "127.0.0.1:8080"), "listen address of the demo hub")
	agentBin := flag.String("agent", filepath.Join(filepath.Dir(self), "imaging-agent"), "imaging-agent binary")
	interval := flag.Duration("interval", 2*time.Second, "report interval (short, so changes show quickly)")
	flag.Parse()
	if _, err := os.Stat(*agentBin); err != nil {
		return fmt.Errorf("agent binary: %w (run `make demo`, which builds it)", err)
	}

	dir, err := os.MkdirTemp("", "imaging-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Three linked servers, each with its own token (only hashes go into the configuration).
	tokens := map[string]string{}
	srv := func(entity, name string) *config.Server {
		tok, hash, err := config.GenerateToken()
		if err != nil {
			panic(err)
		}
		tokens[entity] = filepath.Join(dir, entity+".token")
		if err := os.WriteFile(tokens[entity], []byte(tok), 0o600); err != nil {
			panic(err)
		}
		return &config.Server{Name: name, TokenSHA256: hash}
	}
	cfg, err := config.File{
		Listen:    *addr,
		PlainHTTP: true, // a local demo on loopback
		Interval:  config.Duration(*interval),
		Entities: []config.Entity{
			{ID: "UUID0", Name: "General", Server: srv("UUID0", "imaging-general")},
			{ID: "UUID1", Name: "Public", Parent: "UUID0"},
			{ID: "UUID5", Name: "Workshop", Parent: "UUID1"},
			{ID: "UUID2", Name: "Private", Parent: "UUID0", Server: srv("UUID2", "imaging-private")},
			{ID: "UUID3", Name: "Branch office", Parent: "UUID0", Server: srv("UUID3", "imaging-branch")},
			{ID: "UUID4", Name: "Partners"},
			{ID: "UUID6", Name: "Archive", Parent: "UUID0", Server: srv("UUID6", "imaging-archive"), SyntheticHistory: true},
		},
		// Samples every 10 s and forecasts every 30 s, so that the charts
		// and the forecast fill within two minutes (defaults: 1 and 5 min).
		History: &config.History{SampleEvery: config.Duration(10 * time.Second), ForecastEvery: config.Duration(30 * time.Second)},
	}.Resolve()
	if err != nil {
		return err
	}

	repoDir := filepath.Join(dir, "imaging")
	legacy, imageSize := sampleSizes(diskUsed(dir))
	if _, err := sample.Generate(repoDir, sample.Options{
		Complete: sampleComplete, Legacy: legacy, InProgress: 1, Failed: 1, Invalid: 1,
		Clients: 9, ClientsWithImages: 6, WithUUIDCache: true, ImageSize: imageSize,
	}); err != nil {
		return fmt.Errorf("generate the sample repository: %w", err)
	}

	// A state file in the demo's directory: the status history, uptime,
	// figure history and forecasts work as in production.
	st, err := store.Open(filepath.Join(dir, "imaging-hub.state"))
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	if err := seedArchive(st, "UUID6", start); err != nil {
		return fmt.Errorf("seed the demo's synthetic disk history: %w", err)
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	app, err := appHandler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s (set DEMO_ADDR to use another address): %w", *addr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := server.New(cfg, server.Options{Logger: log, App: app, Hub: hub.Options{Version: version, Store: st}, Sessions: server.StoreSessions(st)})
	hubDone := make(chan error, 1)
	go func() { hubDone <- s.Serve(ctx, ln) }()

	hubURL := "http://" + ln.Addr().String()
	agents := []struct {
		entity string
		args   []string
	}{
		{"UUID0", []string{"--repo", repoDir}},
		{"UUID2", []string{"--repo", repoDir, "--probe", "package-server=tcp://127.0.0.1:1"}},
	}
	var wg sync.WaitGroup
	startAgent := func(entity string, args []string) (*exec.Cmd, error) {
		args = append([]string{"run", "--hub", hubURL, "--entity", entity, "--token-file", tokens[entity], "--interval", interval.String()}, args...)
		cmd := exec.CommandContext(ctx, *agentBin, args...)
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 5 * time.Second
		cmd.SysProcAttr = procAttr()
		cmd.Stderr = os.Stderr
		cmd.Env = append(os.Environ(), "IMAGING_AGENT_TOKEN=")
		return cmd, cmd.Start()
	}
	for _, a := range agents {
		cmd, err := startAgent(a.entity, a.args)
		if err != nil {
			stop()
			<-hubDone
			return fmt.Errorf("start agent for %s: %w", a.entity, err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = cmd.Wait() }()
	}
	// Branch office flaps: its agent runs 40 s, stops (a clean shutdown is
	// Offline at once), and comes back 20 s later, so the timeline and the
	// uptime have something to show.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			cmd, err := startAgent("UUID3", []string{"--repo", repoDir})
			if err != nil {
				log.Warn("demo: start the flapping agent", "err", err)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(40 * time.Second):
				_ = cmd.Process.Signal(syscall.SIGTERM)
			}
			_ = cmd.Wait()
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Second):
			}
		}
	}()
	archiveToken, err := os.ReadFile(tokens["UUID6"])
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		runArchiveAgent(ctx, hubURL, "UUID6", string(archiveToken), *interval, start, log)
	}()

	fmt.Printf(`
Imaging status demo is running: open %s/

  General        imaging-general  real agent on this machine, sample repository  -> Available
  Public         (inherits General's server)                                  -> Available
  Workshop       (inherits General's server, two levels down)                 -> Available
  Private        imaging-private  agent whose package-server probe fails      -> Connection error
  Branch office  imaging-branch   agent that stops 20 s every minute          -> Available / Offline
  Archive        imaging-archive  made-up server, disk filling (synthetic)    -> Available, disk full in ~10 days
  Partners       no imaging server                                            -> No imaging server

Open an entity to see its 24-hour timeline, uptime, disk and memory charts
and the disk-full forecast (they fill within two minutes).

REST: %s/api/v1/entities    Press Ctrl-C to stop.
`, hubURL, hubURL)

	<-ctx.Done()
	fmt.Println("\nstopping agents and hub…")
	wg.Wait() // agents got SIGTERM through their context and say goodbye
	if err := <-hubDone; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// The sample repository's images declare sizes without taking the space;
// they sit on this machine's real disk, whose figures the page shows
// beside them. So that the demo never shows more image bytes than the disk
// holds, the images together declare at most half of what is used there.
const (
	sampleComplete = 12
	sampleLegacy   = 3
	legacyBytes    = 4_000_000 << 10 // what the sample's legacy images declare, each (about)
	minImageSize   = 64 << 20
)

// sampleSizes picks the legacy image count and the size of each complete
// image for a disk with used bytes in use (0: unknown).
func sampleSizes(used uint64) (legacy int, imageSize uint64) {
	budget := used / 2
	legacy = sampleLegacy
	if budget < 2*sampleLegacy*legacyBytes {
		legacy = 0 // a nearly empty disk: no 4 GB legacy images
	}
	left := budget - uint64(legacy)*legacyBytes
	imageSize = max(left/sampleComplete, minImageSize)
	return legacy, min(imageSize, 64<<30)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
