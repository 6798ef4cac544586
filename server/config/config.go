// Package config reads the hub's configuration file: the entity tree, which
// entities are linked to an imaging server, the hashes of those servers'
// agent tokens, and the timing of the offline deadline.
package config

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"imagingstatus/wire"
)

// Defaults used when the file leaves a field out.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultInterval     = 5 * time.Second
	DefaultMissedPings  = 3
	minInterval         = 50 * time.Millisecond // short intervals are for tests
	maxEntities         = 100_000
	tokenBytes          = 32
	TokenHashHexLength  = sha256.Size * 2
	envTokenHashPrefix  = "sha256:"
	maxServerNameLength = wire.MaxString
)

// Duration is a time.Duration written as "5s" in JSON.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"5s\": %w", err)
	}
	v, err := parseDays(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// File is the configuration file as written by an administrator.
type File struct {
	Listen string `json:"listen,omitempty"`
	// Interval is how often agents report and the hub pings them.
	Interval Duration `json:"interval,omitempty"`
	// MissedPings is how many intervals without a frame make a server Offline.
	MissedPings int      `json:"missed_pings,omitempty"`
	Entities    []Entity `json:"entities"`
	// Medulla links Medulla's databases: entities, parents and servers come
	// from there, and the entries above then override or add to them.
	Medulla *MedullaLink `json:"medulla,omitempty"`
	// TLS serves HTTPS and WSS. Without it the hub refuses to start unless
	// PlainHTTP says plain HTTP is wanted (a local demo, or TLS ended by a
	// reverse proxy on the same host).
	TLS       *TLS `json:"tls,omitempty"`
	PlainHTTP bool `json:"plain_http,omitempty"`
	// StateFile keeps the last known states and the history of status
	// changes across restarts (default: imaging-hub.state beside the file).
	StateFile string `json:"state_file,omitempty"`
	// Viewers says who may read the statuses.
	Viewers *Viewers `json:"viewers,omitempty"`
	// PublicURLs are the addresses people and agents use to reach the hub
	// (e.g. "https://imaging.example:8443"). The hub answers only requests
	// whose Host is one of them, the listen address, a loopback name or one
	// of the machine's own names and addresses: a name rebound to the hub by
	// someone else's DNS gets 421 (DNS rebinding).
	PublicURLs []string `json:"public_urls,omitempty"`
	// History bounds the recorded status changes.
	History *History `json:"history,omitempty"`
	// Limits bound what one source address may hold open.
	Limits *Limits `json:"limits,omitempty"`
	// Alerts tell people (webhooks, e-mail) when a server is down or its
	// disk fills up.
	Alerts *Alerts `json:"alerts,omitempty"`
	// PublicBadges serves the status badges without viewer authentication
	// (they show one word and a colour).
	PublicBadges bool `json:"public_badges,omitempty"`
}

// History is the retention of recorded status changes: older changes, and
// those past the newest MaxChanges of an entity, are removed every hour.
type History struct {
	MaxAge     Duration `json:"max_age,omitempty"`     // default 90 days
	MaxChanges int      `json:"max_changes,omitempty"` // per entity, default 10,000
	// SampleEvery is how often every live server's figures go into the
	// figure history (default 1 min); ForecastEvery how often the disk-full
	// forecasts are recomputed (default 5 min).
	SampleEvery   Duration `json:"sample_every,omitempty"`
	ForecastEvery Duration `json:"forecast_every,omitempty"`
}

// Sampling returns the figure history's sampling and forecast periods.
func (c *Config) Sampling() (sample, forecast time.Duration) {
	sample, forecast = time.Minute, 5*time.Minute
	if h := c.Source.History; h != nil {
		if h.SampleEvery > 0 {
			sample = time.Duration(h.SampleEvery)
		}
		if h.ForecastEvery > 0 {
			forecast = time.Duration(h.ForecastEvery)
		}
	}
	return sample, forecast
}

// Limits bound the connections of one source address.
type Limits struct {
	// ConnectionsPerAddress caps open TCP connections from one address
	// (default 1024: a whole office behind one NAT still gets in).
	ConnectionsPerAddress int `json:"connections_per_address,omitempty"`
	// HandshakesPerAddress and Handshakes cap agent handshakes not yet
	// authenticated (defaults 8 and 256).
	HandshakesPerAddress int `json:"handshakes_per_address,omitempty"`
	Handshakes           int `json:"handshakes,omitempty"`
}

// Defaults of the retention and of the limits.
const (
	DefaultHistoryMaxAge         = 90 * 24 * time.Hour
	DefaultHistoryMaxChanges     = 10_000
	DefaultConnectionsPerAddress = 1024
	DefaultHandshakesPerAddress  = 8
	DefaultHandshakes            = 256
	DefaultSessionLifetime       = 30 * 24 * time.Hour
)

// HistoryRetention is the retention in force, defaults applied.
func (c *Config) HistoryRetention() (maxAge time.Duration, maxChanges int) {
	maxAge, maxChanges = DefaultHistoryMaxAge, DefaultHistoryMaxChanges
	if h := c.Source.History; h != nil {
		if h.MaxAge > 0 {
			maxAge = time.Duration(h.MaxAge)
		}
		if h.MaxChanges > 0 {
			maxChanges = h.MaxChanges
		}
	}
	return maxAge, maxChanges
}

// ConnLimits returns the limits in force, defaults applied.
func (c *Config) ConnLimits() Limits {
	l := Limits{ConnectionsPerAddress: DefaultConnectionsPerAddress, HandshakesPerAddress: DefaultHandshakesPerAddress, Handshakes: DefaultHandshakes}
	if s := c.Source.Limits; s != nil {
		if s.ConnectionsPerAddress > 0 {
			l.ConnectionsPerAddress = s.ConnectionsPerAddress
		}
		if s.HandshakesPerAddress > 0 {
			l.HandshakesPerAddress = s.HandshakesPerAddress
		}
		if s.Handshakes > 0 {
			l.Handshakes = s.Handshakes
		}
	}
	return l
}

// SessionLifetime is how long a viewer's sign-in lasts.
func (c *Config) SessionLifetime() time.Duration {
	if v := c.Source.Viewers; v != nil && v.SessionLifetime > 0 {
		return time.Duration(v.SessionLifetime)
	}
	return DefaultSessionLifetime
}

// TLS names the hub's certificate and key (PEM files).
type TLS struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// Viewer authentication modes.
const (
	ViewerAuthNone  = "none"  // anyone who reaches the hub reads everything
	ViewerAuthToken = "token" // viewer tokens, each with an entity scope, exchanged for a cookie
	ViewerAuthProxy = "proxy" // a trusted reverse proxy names the user in a header
)

// Viewers configures who may read statuses, and what.
type Viewers struct {
	Auth   string        `json:"auth"`
	Tokens []ViewerToken `json:"tokens,omitempty"`
	// ProxyHeader (default X-Remote-User) is trusted only from TrustedProxies.
	ProxyHeader    string   `json:"proxy_header,omitempty"`
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// ProxyScopes maps a user to the entities (and their subtrees) they may
	// see; "*" is the scope of users not listed; a user matched by neither
	// sees nothing.
	ProxyScopes map[string][]string `json:"proxy_scopes,omitempty"`
	// SessionLifetime is how long a sign-in (the cookie /login sets) lasts
	// (default 30 days).
	SessionLifetime Duration `json:"session_lifetime,omitempty"`
}

// ViewerToken is a kiosk or user token. Scope lists entity ids whose
// subtrees it may see; empty means every entity.
type ViewerToken struct {
	Name        string   `json:"name"`
	TokenSHA256 string   `json:"token_sha256"`
	Scope       []string `json:"scope,omitempty"`
}

// MedullaLink says where Medulla's databases are. The DSNs may be given by
// the environment instead (EnvMedullaImagingDSN, EnvMedullaGLPIDSN) and the
// password by a file, so that the configuration file holds no secret;
// ResolveMedulla says which wins.
type MedullaLink struct {
	ImagingDSN   string   `json:"imaging_dsn,omitempty"`
	GLPIDSN      string   `json:"glpi_dsn,omitempty"`
	PasswordFile string   `json:"password_file,omitempty"`
	Refresh      Duration `json:"refresh,omitempty"` // default 60 s
}

// Entity is one node of the tree.
type Entity struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Parent string  `json:"parent,omitempty"`
	Server *Server `json:"server,omitempty"`
	// ServedByOverride is set by the Medulla link: the entity whose server
	// serves this one by Medulla's own rule, instead of the nearest linked
	// ancestor.
	ServedByOverride string `json:"-"`
	// SyntheticHistory says the figure history of this entity's server is
	// made up (the demo feeds one): its disk forecast is labelled synthetic.
	SyntheticHistory bool `json:"synthetic_history,omitempty"`
	// NotServed is set by the Medulla link when Medulla's rule gives the
	// entity no server although an ancestor has one (not recursive).
	NotServed bool `json:"-"`
}

// Server is the imaging server linked to an entity. Only the SHA-256 of its
// agent token is stored: a leaked file does not let anyone speak for it.
type Server struct {
	Name        string `json:"name"`
	TokenSHA256 string `json:"token_sha256"`
}

// Config is a validated File with the tree resolved.
type Config struct {
	// Source is the validated input, kept to merge again with Medulla's data.
	Source      File
	Listen      string
	Interval    time.Duration
	MissedPings int
	// Entities in tree order: each parent before its children, siblings in
	// file order.
	Entities []ResolvedEntity
	index    map[string]int
}

// ResolvedEntity is an entity with its place in the tree worked out.
type ResolvedEntity struct {
	Entity
	Path []string // names from the root down
	// ServedBy is the id of the entity whose server serves this one (itself
	// or its nearest linked ancestor); empty when no server serves it.
	ServedBy  string
	tokenHash []byte
}

// SyntheticHistory says whether entity id's figure history is made up.
func (c *Config) SyntheticHistory(id string) bool {
	e, ok := c.Lookup(id)
	return ok && e.SyntheticHistory
}

// Deadline is how long a server may stay silent before it is Offline.
func (c *Config) Deadline() time.Duration { return time.Duration(c.MissedPings) * c.Interval }

// Lookup returns an entity by id.
func (c *Config) Lookup(id string) (*ResolvedEntity, bool) {
	i, ok := c.index[id]
	if !ok {
		return nil, false
	}
	return &c.Entities[i], true
}

// CheckToken reports whether token is the agent token of the server linked
// to entity id, comparing hashes in constant time.
func (c *Config) CheckToken(id, token string) bool {
	e, ok := c.Lookup(id)
	if !ok || e.Server == nil {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	return len(e.tokenHash) == sha256.Size && subtle.ConstantTimeCompare(sum[:], e.tokenHash) == 1
}

// CheckTokenHash is CheckToken for a token already hashed (a live session
// keeps only the hash, to re-check it when the configuration changes).
func (c *Config) CheckTokenHash(id string, sum [sha256.Size]byte) bool {
	e, ok := c.Lookup(id)
	return ok && e.Server != nil && len(e.tokenHash) == sha256.Size && subtle.ConstantTimeCompare(sum[:], e.tokenHash) == 1
}

// Load reads and validates a configuration file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read hub configuration: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("hub configuration %s: %w", path, err)
	}
	return c, nil
}

// Parse validates a configuration. Errors name the offending entity.
func Parse(b []byte) (*Config, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not valid JSON for the hub configuration: %w", err)
	}
	return f.Resolve()
}

// Resolve validates a File and works out the tree.
func (f File) Resolve() (*Config, error) {
	c := &Config{Source: f, Listen: f.Listen, Interval: time.Duration(f.Interval), MissedPings: f.MissedPings}
	// With Medulla linked, file entries may only add a token or a name to an
	// entity the database describes: names, parents and hashes may be missing
	// until the first load.
	partial := f.Medulla != nil
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Interval < minInterval {
		return nil, fmt.Errorf("interval %v is too short (minimum %v)", c.Interval, minInterval)
	}
	if c.MissedPings == 0 {
		c.MissedPings = DefaultMissedPings
	}
	if c.MissedPings < 1 || c.MissedPings > 100 {
		return nil, fmt.Errorf("missed_pings %d out of range 1..100", c.MissedPings)
	}
	if err := f.checkSecurity(); err != nil {
		return nil, err
	}
	if len(f.Entities) == 0 {
		return nil, errors.New("no entities: list at least the root entity")
	}
	if len(f.Entities) > maxEntities {
		return nil, fmt.Errorf("%d entities (max %d)", len(f.Entities), maxEntities)
	}
	byID := make(map[string]Entity, len(f.Entities))
	children := make(map[string][]string)
	var roots []string
	for i, e := range f.Entities {
		if !wire.ValidEntityID(e.ID) {
			return nil, fmt.Errorf("entity #%d: id %q must be 1-64 letters, digits, '.', '_' or '-'", i+1, e.ID)
		}
		if _, dup := byID[e.ID]; dup {
			return nil, fmt.Errorf("entity %s is listed twice", e.ID)
		}
		if strings.TrimSpace(e.Name) == "" {
			if !partial {
				return nil, fmt.Errorf("entity %s has no name", e.ID)
			}
			e.Name = e.ID
		}
		if len(e.Name) > wire.MaxString {
			return nil, fmt.Errorf("entity %s: name longer than %d bytes", e.ID, wire.MaxString)
		}
		if s := e.Server; s != nil {
			if partial && strings.TrimSpace(s.Name) == "" {
				cp := *s
				cp.Name = "server of " + e.ID
				e.Server = &cp
				s = &cp
			}
			if strings.TrimSpace(s.Name) == "" || len(s.Name) > maxServerNameLength {
				return nil, fmt.Errorf("entity %s: server needs a name of 1-%d bytes", e.ID, maxServerNameLength)
			}
			h := strings.TrimPrefix(strings.ToLower(s.TokenSHA256), envTokenHashPrefix)
			// A server known only from Medulla has no hash: no agent can speak for it yet.
			if _, err := hex.DecodeString(h); err != nil || len(h) != TokenHashHexLength && !(partial && h == "") {
				return nil, fmt.Errorf("entity %s: token_sha256 must be %d hex digits (run `imaging-hub token` to make one)", e.ID, TokenHashHexLength)
			}
		}
		byID[e.ID] = e
		if e.Parent == "" {
			roots = append(roots, e.ID)
		} else {
			children[e.Parent] = append(children[e.Parent], e.ID)
		}
	}
	for _, e := range f.Entities {
		if e.Parent != "" {
			if _, ok := byID[e.Parent]; !ok {
				if !partial {
					return nil, fmt.Errorf("entity %s: parent %s is not listed", e.ID, e.Parent)
				}
				// Until Medulla's tree is loaded, an orphan stands at the root.
				e.Parent = ""
				byID[e.ID] = e
				roots = append(roots, e.ID)
			}
		}
	}
	// Walk from the roots: whatever is not reached sits on a cycle.
	c.index = make(map[string]int, len(f.Entities))
	var walk func(id string, path []string, servedBy string)
	walk = func(id string, path []string, servedBy string) {
		e := byID[id]
		p := append(append([]string(nil), path...), e.Name)
		r := ResolvedEntity{Entity: e, Path: p, ServedBy: servedBy}
		if o, ok := c.index[e.ServedByOverride]; ok && c.Entities[o].Server != nil {
			r.ServedBy = e.ServedByOverride
		} else if e.NotServed {
			r.ServedBy = ""
		}
		if e.Server != nil {
			r.ServedBy = e.ID
			h, _ := hex.DecodeString(strings.TrimPrefix(strings.ToLower(e.Server.TokenSHA256), envTokenHashPrefix))
			r.tokenHash = h
		}
		c.index[id] = len(c.Entities)
		c.Entities = append(c.Entities, r)
		for _, ch := range children[id] {
			walk(ch, p, r.ServedBy)
		}
	}
	for _, r := range roots {
		walk(r, nil, "")
	}
	if len(c.Entities) != len(f.Entities) {
		for _, e := range f.Entities {
			if _, ok := c.index[e.ID]; !ok {
				return nil, fmt.Errorf("entity %s is on a parent cycle", e.ID)
			}
		}
	}
	return c, nil
}

// HashToken returns the hex SHA-256 of an agent token, as stored in the file.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// GenerateToken makes a new random agent token and its hash.
func GenerateToken() (token, hash string, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate token: %w", err)
	}
	token = hex.EncodeToString(b)
	return token, HashToken(token), nil
}

func (f File) checkSecurity() error {
	if f.TLS != nil && (f.TLS.Cert == "" || f.TLS.Key == "") {
		return errors.New("tls needs both \"cert\" and \"key\" (PEM files)")
	}
	for i, u := range f.PublicURLs {
		if _, err := PublicHost(u); err != nil {
			return fmt.Errorf("public_urls[%d]: %w", i, err)
		}
	}
	if h := f.History; h != nil && (h.MaxAge < 0 || h.MaxChanges < 0 || h.SampleEvery < 0 || h.ForecastEvery < 0) {
		return errors.New("history: durations and max_changes must not be negative")
	}
	if l := f.Limits; l != nil && (l.ConnectionsPerAddress < 0 || l.HandshakesPerAddress < 0 || l.Handshakes < 0) {
		return errors.New("limits: values must not be negative")
	}
	if a := f.Alerts; a != nil {
		if err := a.check(); err != nil {
			return err
		}
	}
	if v := f.Viewers; v != nil && v.SessionLifetime < 0 {
		return errors.New("viewers.session_lifetime must not be negative")
	}
	v := f.Viewers
	if v == nil {
		return nil
	}
	switch v.Auth {
	case ViewerAuthNone:
	case ViewerAuthToken:
		if len(v.Tokens) == 0 {
			return errors.New("viewers.auth is \"token\" but viewers.tokens is empty (run `imaging-hub token` to make one)")
		}
		for i, t := range v.Tokens {
			h := strings.ToLower(t.TokenSHA256)
			if _, err := hex.DecodeString(h); err != nil || len(h) != TokenHashHexLength || t.Name == "" {
				return fmt.Errorf("viewers.tokens[%d]: needs a name and a token_sha256 of %d hex digits", i, TokenHashHexLength)
			}
		}
	case ViewerAuthProxy:
		if len(v.TrustedProxies) == 0 {
			return errors.New("viewers.auth is \"proxy\" but viewers.trusted_proxies is empty: list the proxy's addresses (CIDR)")
		}
		for _, c := range v.TrustedProxies {
			if _, err := netip.ParsePrefix(c); err != nil {
				if _, err2 := netip.ParseAddr(c); err2 != nil {
					return fmt.Errorf("viewers.trusted_proxies: %q is neither an address nor a CIDR", c)
				}
			}
		}
	default:
		return fmt.Errorf("viewers.auth %q: choose \"none\", \"token\" or \"proxy\"", v.Auth)
	}
	return nil
}

// PublicHost returns the host name (lower case, without port) of a
// public_urls entry such as "https://imaging.example:8443".
func PublicHost(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil {
		return "", fmt.Errorf("%q: write it as https://NAME[:PORT] (the address people and agents use to reach the hub)", raw)
	}
	return strings.ToLower(u.Hostname()), nil
}

// CheckTransport refuses to serve plain HTTP unless asked for: the hub
// would otherwise hand out the infrastructure map and accept agent tokens
// in clear.
func (c *Config) CheckTransport() error {
	if c.Source.TLS == nil && !c.Source.PlainHTTP {
		return errors.New("no \"tls\" section: give the hub a certificate ({\"cert\": FILE, \"key\": FILE}), or set \"plain_http\": true to serve plain HTTP on purpose (a local test, or TLS ended by a reverse proxy on the same host)")
	}
	return nil
}

// Within reports whether entity id is one of roots or lies under one of them.
func (c *Config) Within(id string, roots []string) bool {
	for e, ok := c.Lookup(id); ok; e, ok = c.Lookup(e.Parent) {
		for _, r := range roots {
			if e.ID == r {
				return true
			}
		}
		if e.Parent == "" {
			break
		}
	}
	return false
}
