// Package probe checks the imaging services of a server: TCP ports, HTTP(S)
// endpoints and the repository being readable. Each result carries its
// latency and, on failure, an error text meant for a human.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"imagingstatus/wire"
)

// DefaultTimeout bounds one round of probes when Options.Timeout is zero.
const DefaultTimeout = 3 * time.Second

// Kinds of probe.
const (
	KindTCP   = "tcp"
	KindHTTP  = "http"
	KindHTTPS = "https"
)

const acceptedForms = `accepted forms: "tcp://host:port", "https://host[:port]/path", "http://host[:port]/path", each optionally prefixed by "name="`

// Spec is one probe to run. New derives everything from Target, so a Spec
// can also be written literally; Kind is informative.
type Spec struct {
	Name   string // shown to people; defaults to the target's host:port[/path]
	Target string // canonical URL
	Kind   string // KindTCP, KindHTTP or KindHTTPS
}

// Parse reads "[name=]tcp://host:port", "[name=]https://host[:port]/path"
// or "[name=]http://host[:port]/path".
func Parse(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	name, target := "", s
	// An "=" before "://" names the probe; one after it is in the URL query.
	if eq := strings.Index(s, "="); eq >= 0 {
		if sep := strings.Index(s, "://"); sep < 0 || eq < sep {
			name, target = strings.TrimSpace(s[:eq]), strings.TrimSpace(s[eq+1:])
			if name == "" {
				return Spec{}, fmt.Errorf("probe %q: empty name before \"=\"; %s", s, acceptedForms)
			}
		}
	}
	u, err := parseTarget(target)
	if err != nil {
		return Spec{}, fmt.Errorf("probe %q: %v; %s", s, err, acceptedForms)
	}
	if name == "" {
		name = u.Host + strings.TrimSuffix(u.Path, "/")
	}
	return Spec{Name: name, Target: u.String(), Kind: u.Scheme}, nil
}

// parseTarget validates a probe URL.
func parseTarget(target string) (*url.URL, error) {
	if target == "" {
		return nil, errors.New("empty target")
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, errors.New("missing //host")
	}
	// The target is shown in reports and the UI: no credentials in it.
	if u.User != nil {
		return nil, errors.New("credentials in the URL are not allowed")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, errors.New("missing host")
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("bad port %q", port)
		}
	}
	switch u.Scheme {
	case KindTCP:
		if port == "" {
			return nil, errors.New("tcp probe needs a port")
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, errors.New("tcp probe takes no path or query")
		}
		u.Path = ""
	case KindHTTP, KindHTTPS:
		u.Fragment = ""
	case "":
		return nil, errors.New("missing scheme")
	default:
		return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	return u, nil
}

// Options tune a Prober.
type Options struct {
	Timeout time.Duration // for one whole round; DefaultTimeout when zero
	// InsecureSkipVerify accepts any certificate: an explicit choice for a
	// self-signed certificate that CAFile cannot name.
	InsecureSkipVerify bool
	CAFile             string // PEM file of extra CAs trusted by HTTPS probes
}

// Prober runs a fixed set of probes. Build it once: it owns one HTTP client.
type Prober struct {
	specs   []Spec
	urls    []*url.URL
	timeout time.Duration
	insec   bool
	dialer  *net.Dialer
	client  *http.Client
}

// New validates the specs and builds the HTTP client they share.
func New(specs []Spec, o Options) (*Prober, error) {
	p := &Prober{
		specs:   make([]Spec, len(specs)),
		urls:    make([]*url.URL, len(specs)),
		timeout: o.Timeout,
		insec:   o.InsecureSkipVerify,
		dialer:  &net.Dialer{},
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	for i, s := range specs {
		u, err := parseTarget(s.Target)
		if err != nil {
			return nil, fmt.Errorf("probe %q: %v; %s", s.Target, err, acceptedForms)
		}
		s.Kind = u.Scheme
		if s.Name == "" {
			s.Name = u.Host + strings.TrimSuffix(u.Path, "/")
		}
		p.specs[i], p.urls[i] = s, u
	}

	tlsConf := &tls.Config{InsecureSkipVerify: o.InsecureSkipVerify}
	if o.CAFile != "" {
		pool, err := loadCA(o.CAFile)
		if err != nil {
			return nil, err
		}
		tlsConf.RootCAs = pool
	}
	p.client = &http.Client{
		Transport: &http.Transport{
			// Probes target this server's own services: an HTTP_PROXY set
			// for the hub connection must not reroute them.
			Proxy:       nil,
			DialContext: p.dialer.DialContext,
			// No keep-alives: the agent holds no sockets between rounds, and
			// every round measures a fresh connection like a client makes.
			DisableKeepAlives:      true,
			TLSClientConfig:        tlsConf,
			MaxResponseHeaderBytes: 64 << 10,
		},
		// A redirect is an answer; following it could leave the server.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p, nil
}

// loadCA returns the system pool plus the certificates of file.
func loadCA(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("probe CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("probe CA file %s: no PEM certificate found", file)
	}
	return pool, nil
}

// Run runs every probe concurrently and returns their results in spec
// order once all have answered or the timeout has passed.
func (p *Prober) Run(ctx context.Context) []wire.Probe {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	out := make([]wire.Probe, len(p.specs))
	var wg sync.WaitGroup
	for i := range p.specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = p.one(ctx, i)
		}()
	}
	wg.Wait()
	return out
}

func (p *Prober) one(ctx context.Context, i int) wire.Probe {
	s, u := p.specs[i], p.urls[i]
	r := wire.Probe{Name: s.Name, Target: s.Target}
	start := time.Now()
	var err error
	if s.Kind == KindTCP {
		err = p.tcp(ctx, u.Host)
	} else {
		err = p.http(ctx, u)
	}
	r.LatencyMS = float64(time.Since(start)) / float64(time.Millisecond)
	if err != nil {
		r.Error = p.explain(ctx, err)
	} else {
		r.OK = true
	}
	return r
}

func (p *Prober) tcp(ctx context.Context, addr string) error {
	c, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// http is OK when the server answers with a status below 500: a 401 or 404
// from the imaging API still proves the service is up and speaking HTTP;
// a 5xx says the service itself is broken.
func (p *Prober) http(ctx context.Context, u *url.URL) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "imaging-agent-probe")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	// Keep-alives are off: no need to drain, only to bound what is read.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return nil
}

// explain turns an error into a sentence for the person reading the report.
func (p *Prober) explain(ctx context.Context, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the target is shown beside the error already
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (isTimeout(err) && ctx.Err() != nil):
		return fmt.Sprintf("no answer within %v", p.timeout)
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknown):
		return err.Error() + " – pass --probe-ca FILE to trust its CA, or --probe-insecure for a self-signed certificate"
	case errors.As(err, &hostname):
		return err.Error() + " – probe the host name the certificate was issued for"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return err.Error() + " – renew the service's certificate"
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// RepoReadable checks that the repository root and its masters/ directory
// can be opened and listed. An empty masters/ is fine (no image yet).
func RepoReadable(root string) wire.Probe {
	r := wire.Probe{Name: "repository", Target: root}
	start := time.Now()
	err := readOne(root)
	if err == nil {
		err = readOne(filepath.Join(root, "masters"))
	}
	r.LatencyMS = float64(time.Since(start)) / float64(time.Millisecond)
	if err != nil {
		r.Error = err.Error()
	} else {
		r.OK = true
	}
	return r
}

// readOne opens dir and reads one entry: enough to prove it is a readable
// directory without listing a masters/ of 10,000 images.
func readOne(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err != nil && err != io.EOF {
		if fi, serr := f.Stat(); serr == nil && !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	return nil
}
