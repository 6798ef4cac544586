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
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"imagingstatus/server"
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
  imaging-hub ready --hub URL --entity ID           exit 0 when the entity is available
  imaging-hub medulla check [--config FILE] [--dsn-imaging DSN --dsn-glpi DSN] [--password-file FILE]
                                                    read Medulla's databases once, print the entities as JSON
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

	var runner *link.Runner
	if mc, ok, err := medullaConfig(cfg.Source.Medulla, "", "", ""); err != nil {
		return err
	} else if ok {
		db, err := medulla.Open(mc)
		if err != nil {
			return err
		}
		defer db.Close()
		var refresh time.Duration
		if cfg.Source.Medulla != nil {
			refresh = time.Duration(cfg.Source.Medulla.Refresh)
		}
		runner = link.New(cfg.Source, db, srv.Hub(), refresh, log)
		go runner.Run(ctx)
		log.Info("Medulla database link on", "imaging", medulla.RedactDSN(mc.ImagingDSN), "glpi", medulla.RedactDSN(mc.GLPIDSN))
	}

	// SIGHUP reloads the file: tokens removed from it are revoked at once.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				next, err := config.Load(*cfgPath)
				if err != nil {
					log.Error("configuration not reloaded; keeping the running one", "err", err)
					continue
				}
				if runner != nil {
					runner.ReloadFile(next.Source)
				} else if err := srv.Hub().Reload(ctx, next); err != nil {
					log.Error("configuration reload", "err", err)
				}
			}
		}
	}()
	return srv.ListenAndServe(ctx, *listen)
}

// Environment variables that may carry Medulla's DSNs instead of the file.
const (
	envImagingDSN = "IMAGING_HUB_MEDULLA_IMAGING_DSN"
	envGLPIDSN    = "IMAGING_HUB_MEDULLA_GLPI_DSN"
)

// medullaConfig gathers the database link from flags, the environment and
// the file's "medulla" section, in that order of precedence; ok is false
// when no link is configured at all.
func medullaConfig(l *config.MedullaLink, dsnImaging, dsnGLPI, pwFile string) (medulla.Config, bool, error) {
	var c medulla.Config
	if l != nil {
		c.ImagingDSN, c.GLPIDSN = l.ImagingDSN, l.GLPIDSN
		if pwFile == "" {
			pwFile = l.PasswordFile
		}
	}
	if v := os.Getenv(envImagingDSN); v != "" {
		c.ImagingDSN = v
	}
	if v := os.Getenv(envGLPIDSN); v != "" {
		c.GLPIDSN = v
	}
	if dsnImaging != "" {
		c.ImagingDSN = dsnImaging
	}
	if dsnGLPI != "" {
		c.GLPIDSN = dsnGLPI
	}
	if c.ImagingDSN == "" && c.GLPIDSN == "" {
		return c, false, nil
	}
	if c.ImagingDSN == "" || c.GLPIDSN == "" {
		return c, false, fmt.Errorf("the Medulla link needs both DSNs: imaging (--dsn-imaging, $%s or \"imaging_dsn\") and GLPI (--dsn-glpi, $%s or \"glpi_dsn\")", envImagingDSN, envGLPIDSN)
	}
	if pwFile != "" {
		var err error
		if c, err = c.WithPasswordFile(pwFile); err != nil {
			return c, false, err
		}
	}
	return c, true, nil
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
	mc, ok, err := medullaConfig(l, *dsnImaging, *dsnGLPI, *pwFile)
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
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r, err := ready.Check(ctx, *hub, *entity)
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
