// Command imaging-hub runs the imaging status hub, makes agent tokens and
// checks an entity's readiness from scripts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"imagingstatus/server"
	"imagingstatus/server/alert"
	"imagingstatus/server/config"
	"imagingstatus/server/link"
	"imagingstatus/server/medulla"
	"imagingstatus/server/ready"
	"imagingstatus/server/store"
)

var version = "dev"

const usage = `imaging-hub: live status of every imaging server of a Medulla deployment.

Usage:
  imaging-hub serve --config FILE [--listen ADDR]   run the hub
  imaging-hub token                                 make an agent token and its hash
  imaging-hub ready --hub URL --entity ID [--token-file FILE]
                                                    exit 0 when the entity is available
  imaging-hub medulla check [--config FILE] [--dsn-imaging DSN --dsn-glpi DSN] [--password-file FILE]
                                                    read Medulla's databases once, print the entities as JSON
  imaging-hub alert test --config FILE             send a test message to every alert target; exit 1 naming those that fail
  imaging-hub version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "token":
		err = token(os.Stdout)
	case "ready":
		os.Exit(readyCmd(os.Args[2:]))
	case "medulla":
		if len(os.Args) < 3 || os.Args[2] != "check" {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		err = medullaCheck(os.Args[3:])
	case "alert":
		if len(os.Args) < 3 || os.Args[2] != "test" {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		err = alertTest(os.Args[3:], os.Stdout)
	case "version":
		fmt.Println(version)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imaging-hub:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	cfgPath := fs.String("config", "", "hub configuration file (JSON)")
	listen := fs.String("listen", "", "listen address (overrides the file's \"listen\")")
	_ = fs.Parse(args)
	if os.Getenv("GOGC") == "" {
		// Most of the hub's heap is long-lived (sessions, last views): a
		// smaller margin keeps 10,000 agents under 500 MiB for a little GC.
		debug.SetGCPercent(50)
	}
	if *cfgPath == "" {
		return errors.New("serve needs --config FILE (see README.md for its format)")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if err := cfg.CheckTransport(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// The MySQL driver logs on its own; route it through ours.
	_ = mysql.SetLogger(slog.NewLogLogger(log.With("component", "mysql").Handler(), slog.LevelWarn))
	if v := cfg.Source.Viewers; v == nil || v.Auth == config.ViewerAuthNone {
		log.Warn("viewers are not authenticated: anyone who reaches the hub reads every status (set \"viewers\" in the configuration)")
	}
	statePath := cfg.Source.StateFile
	if statePath == "" {
		statePath = filepath.Join(filepath.Dir(*cfgPath), "imaging-hub.state")
	}
	st, err := store.Open(statePath)
	if err != nil {
		return err
	}
	defer st.Close()
	hopt := hubOptions(version)
	hopt.Store = st
	app, err := appHandler(version)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := server.New(cfg, server.Options{Logger: log, App: app, Hub: hopt, Sessions: server.StoreSessions(st)})

	// The configuration in force goes to the hub, or through the Medulla
	// link's runner when the link is on.
	var target config.Target = srv.Hub()
	if mc, ok, err := link.MedullaConfig(config.MedullaLink{}, os.Getenv, cfg.Source.Medulla); err != nil {
		return err
	} else if ok {
		db, err := medulla.Open(mc)
		if err != nil {
			return err
		}
		defer db.Close()
		runner := link.New(cfg.Source, db, srv.Hub(), 0, log)
		go runner.Run(ctx)
		target = runner
		log.Info("Medulla database link on", "imaging", medulla.RedactDSN(mc.ImagingDSN), "glpi", medulla.RedactDSN(mc.GLPIDSN))
	}

	// SIGHUP reloads the file: tokens removed from it are revoked at once.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go config.NewReloader(*cfgPath, cfg, target, log).Run(ctx, hup)
	return srv.ListenAndServe(ctx, *listen)
}

// alertTest sends a test message to every alert target of the file.
func alertTest(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("alert test", flag.ExitOnError)
	cfgPath := fs.String("config", "", "hub configuration file whose \"alerts\" targets to test")
	_ = fs.Parse(args)
	if *cfgPath == "" {
		return errors.New("alert test needs --config FILE")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := alert.SendTest(ctx, cfg, alert.Options{Version: version})
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, r.Target)
			fmt.Fprintf(out, "FAIL %s (%s): %v\n", r.Target, r.Kind, r.Err)
			continue
		}
		fmt.Fprintf(out, "ok   %s (%s)\n", r.Target, r.Kind)
	}
	if len(failed) > 0 {
		return fmt.Errorf("alert targets failing: %s", strings.Join(failed, ", "))
	}
	return nil
}

func medullaCheck(args []string) error {
	fs := flag.NewFlagSet("medulla check", flag.ExitOnError)
	cfgPath := fs.String("config", "", "hub configuration file whose \"medulla\" section to use")
	dsnImaging := fs.String("dsn-imaging", "", "DSN of Medulla's imaging database, e.g. medulla_ro@tcp(db:3306)/imaging")
	dsnGLPI := fs.String("dsn-glpi", "", "DSN of the GLPI database, e.g. medulla_ro@tcp(db:3306)/glpi")
	pwFile := fs.String("password-file", "", "file holding the database password (kept out of the DSNs)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after")
	_ = fs.Parse(args)
	var l *config.MedullaLink
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		l = cfg.Source.Medulla
	}
	mc, ok, err := link.MedullaConfig(config.MedullaLink{ImagingDSN: *dsnImaging, GLPIDSN: *dsnGLPI, PasswordFile: *pwFile}, os.Getenv, l)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("medulla check needs --dsn-imaging and --dsn-glpi (or a --config with a \"medulla\" section)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	return medulla.Check(ctx, mc, os.Stdout)
}

func token(w io.Writer) error {
	tok, hash, err := config.GenerateToken()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "token:       %s\ntoken_sha256: %s\n\nPut the token in the agent's token file (mode 0600) and the hash in the hub configuration's \"token_sha256\".\n", tok, hash)
	return nil
}

func readyCmd(args []string) int {
	fs := flag.NewFlagSet("ready", flag.ExitOnError)
	hub := fs.String("hub", "http://127.0.0.1:8080", "hub base URL")
	entity := fs.String("entity", "", "entity id")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after")
	tokenFile := fs.String("token-file", "", "file holding a viewer token, when the hub authenticates viewers")
	_ = fs.Parse(args)
	token := ""
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "imaging-hub ready: read the viewer token:", err)
			return 2
		}
		token = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r, err := ready.Check(ctx, *hub, *entity, token)
	if err != nil {
		fmt.Fprintln(os.Stderr, "imaging-hub ready:", err)
		return 2
	}
	if !r.Ready {
		fmt.Printf("%s: not ready: %s (%s)\n", r.ID, r.Status, r.Reason)
		return 1
	}
	fmt.Printf("%s: ready\n", r.ID)
	return 0
}
