// Command imaging-agent reports an imaging server's disks, load, imaging
// repository and services to the imaging status hub.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"imagingstatus/agent"
	"imagingstatus/agent/probe"
	"imagingstatus/agent/push"
	"imagingstatus/agent/resident"
	"imagingstatus/wire"
)

var version = "dev"

// TokenEnv names the environment variable that may hold the agent token.
const TokenEnv = push.TokenEnv

const usage = `imaging-agent: reports this imaging server to the imaging status hub.

Usage:
  imaging-agent run    --hub URL --entity ID --token-file FILE [options]   push reports to the hub
  imaging-agent report [--repo DIR] [--probe URL]...                      print one report as JSON;
                                                                          exit status 1 when a check fails
  imaging-agent version

The token is read from --token-file (mode 600: no access for group or others)
or from $IMAGING_AGENT_TOKEN, never from the command line.
Options:
`

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

type opts struct {
	hub, entity, tokenFile, repo, caFile, probeCA string
	interval, probeTimeout                        time.Duration
	probes                                        multi
	probeInsecure                                 bool
}

func flags(name string, o *opts) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.StringVar(&o.hub, "hub", "", "hub base URL, e.g. https://hub.example:8443")
	fs.StringVar(&o.entity, "entity", "", "id of the entity this imaging server is linked to (e.g. UUID1)")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the agent token (else $"+TokenEnv+")")
	fs.StringVar(&o.repo, "repo", agent.DefaultRepository, "imaging repository root")
	fs.DurationVar(&o.interval, "interval", 5*time.Second, "report interval (keep it at or below the hub's)")
	fs.Var(&o.probes, "probe", "imaging service to check: tcp://host:port or https://host:port/path, optionally name=URL (repeatable)")
	fs.BoolVar(&o.probeInsecure, "probe-insecure", false, "accept a self-signed certificate on HTTPS probes")
	fs.StringVar(&o.probeCA, "probe-ca", "", "PEM file of a CA to trust for HTTPS probes")
	fs.DurationVar(&o.probeTimeout, "probe-timeout", 3*time.Second, "timeout of each probe")
	fs.StringVar(&o.caFile, "ca-file", "", "PEM file of a CA to trust for the hub's certificate (default: system roots)")
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage); fs.PrintDefaults() }
	return fs
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var o opts
	var err error
	switch os.Args[1] {
	case "run":
		_ = flags("run", &o).Parse(os.Args[2:])
		err = run(o)
	case "report":
		_ = flags("report", &o).Parse(os.Args[2:])
		err = report(o, os.Stdout)
	case "version":
		fmt.Println(version)
	case "-h", "--help", "help":
		flags("", &o).Usage()
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imaging-agent:", err)
		os.Exit(1)
	}
}

func collector(o opts) (*agent.Collector, error) {
	specs := make([]probe.Spec, 0, len(o.probes))
	for _, p := range o.probes {
		s, err := probe.Parse(p)
		if err != nil {
			return nil, fmt.Errorf("--probe: %w", err)
		}
		specs = append(specs, s)
	}
	var prober *probe.Prober
	if len(specs) > 0 {
		var err error
		prober, err = probe.New(specs, probe.Options{Timeout: o.probeTimeout, InsecureSkipVerify: o.probeInsecure, CAFile: o.probeCA})
		if err != nil {
			return nil, err
		}
	}
	return agent.NewCollector(o.repo, prober), nil
}

// report prints one report, exactly as the push loop encodes it (indented),
// and fails when a check failed: the repository is missing or unreadable,
// or a probe fails. It is the installation check.
func report(o opts, stdout io.Writer) error {
	c, err := collector(o)
	if err != nil {
		return err
	}
	c.Watch = false // one collection: nothing to watch
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	col := c.Collect(ctx)
	// Fitted and encoded as the push loop does: what is printed is what the
	// hub receives.
	col.Report = push.Fit(col.Report)
	var compact, out bytes.Buffer
	var enc push.Encoder
	if err := enc.Encode(&compact, col, false); err != nil {
		return fmt.Errorf("encode the report: %w", err)
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return fmt.Errorf("encode the report: %w", err)
	}
	out.WriteByte('\n')
	if _, err := out.WriteTo(stdout); err != nil {
		return err
	}
	return failedChecks(col.Probes)
}

// failedChecks is nil when every probe passed, else an error naming each
// failure and what to look at.
func failedChecks(probes []wire.Probe) error {
	var failed []string
	for _, p := range probes {
		if !p.OK {
			failed = append(failed, fmt.Sprintf("%s (%s): %s", p.Name, p.Target, p.Error))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("check failed: %s; fix it (see the report above, or the --repo and --probe flags) and run the report again", strings.Join(failed, "; "))
}

// releaseEvery is how often the agent lets go of code pages it has not
// used since (see agent/resident).
const releaseEvery = 15 * time.Minute

func run(o opts) error {
	if o.hub == "" || o.entity == "" {
		return errors.New("run needs --hub URL and --entity ID")
	}
	// The agent lives beside the imaging service for months: keep the heap
	// close to what is live (a scan's garbage is freed soon) unless the
	// administrator set GOGC. A memory limit below the live heap (the image
	// list of a large repository) would make the GC run without end.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	// One goroutine does the work: more Ps only add threads (each with its
	// stacks) and per-P caches to the resident set.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	tok, err := push.ReadToken(o.tokenFile)
	if err != nil {
		return err
	}
	tlsCfg, err := hubTLS(o.caFile)
	if err != nil {
		return err
	}
	c, err := collector(o)
	if err != nil {
		return err
	}
	defer c.Close()
	host, _ := os.Hostname()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("imaging agent starting", "version", version, "entity", o.entity, "repo", o.repo, "interval", o.interval)
	release := resident.Schedule{Every: releaseEvery}
	collect := func(ctx context.Context) push.Collected {
		col := c.Collect(ctx)
		if release.Due(time.Now()) {
			if n, err := resident.ReleaseCode(); err != nil {
				log.Warn("could not release the agent's unused code pages (it only uses more memory)", "err", err)
			} else {
				log.Debug("released unused code pages", "bytes", n)
			}
		}
		return col
	}
	return push.Run(ctx, push.Config{
		Hub: o.hub, Token: tok, Entity: o.entity, Hostname: host, AgentVersion: version,
		Interval: o.interval, TLS: tlsCfg, Logger: log,
	}, collect)
}

func hubTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read --ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
