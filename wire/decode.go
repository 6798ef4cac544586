package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what a peer may send. A frame over MaxAgentFrame is refused by
// the socket before it is decoded.
const (
	// MaxAgentFrame bounds every agent frame: a report's figures take a few
	// KiB, and an image list comes in pages (ImagesPage) of at most
	// MaxPageImages images or PageBytes of JSON, whichever comes first.
	MaxAgentFrame  = 1 << 20
	MaxPageImages  = 1000
	PageBytes      = 512 << 10
	MaxImagePages  = 256
	MaxString      = 256
	MaxPath        = 4096
	MaxPartitions  = 256
	MaxProbes      = 64
	MaxImages      = 100_000
	MaxErrors      = 32
	MaxEntityIDLen = 64
)

// Bounds on the figures of a report. A value outside them is a bug or a
// hostile peer, never a measurement, and is refused with a reason.
const (
	// MaxBytes bounds a partition's size and swap: 128 PiB, beyond any
	// single file system an imaging server mounts, and low enough that
	// Summarize's Used*100 cannot wrap around a uint64.
	MaxBytes = 1 << 57
	// MaxMemory bounds RAM: 4 PiB, the 52-bit physical address space of
	// x86-64 and arm64.
	MaxMemory = 1 << 52
	// MaxUptimeSeconds is 100 years (of 365.25 days).
	MaxUptimeSeconds = 36525 * 24 * 3600
	// MaxLatencyMS is one hour: a probe times out long before.
	MaxLatencyMS = 3.6e6
	// MaxLoad bounds a load average; MaxCPUs the CPU count.
	MaxLoad = 1e6
	MaxCPUs = 1 << 16
)

// The dates a report may carry: a clock outside them is wrong (an unset
// RTC reads 1970).
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// PlausibleTime says whether a report may carry t: the zero time (unknown,
// e.g. a boot time the agent could not read) or a date from 2000-01-01 to
// 2100-01-01.
func PlausibleTime(t time.Time) bool {
	return t.IsZero() || !t.Before(minTime) && !t.After(maxTime)
}

func checkTime(field string, t time.Time) error {
	if !PlausibleTime(t) {
		return invalid("%s %s out of range (2000-01-01 to 2100-01-01, or unset)", field, clip(t.Format(time.RFC3339Nano)))
	}
	return nil
}

// ErrInvalid wraps every validation failure so callers can tell bad input
// from I/O errors.
var ErrInvalid = errors.New("invalid message")

// EntityIDPattern is the syntax of an entity id (e.g. "UUID0", "public"),
// unanchored, for building route patterns; it reads the same as a Go and a
// JavaScript regular expression. Its bound is MaxEntityIDLen.
const EntityIDPattern = `[A-Za-z0-9._-]{1,64}`

var entityIDPattern = regexp.MustCompile(`^` + EntityIDPattern + `$`)

// ValidEntityID says whether s can name an entity (e.g. "UUID0", "public").
func ValidEntityID(s string) bool { return entityIDPattern.MatchString(s) }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// strict decodes exactly one JSON value with no unknown field and nothing
// after it. The frame must be valid UTF-8 as a whole: encoding/json would
// silently turn invalid bytes inside strings into U+FFFD, so the string
// checks after decoding would never see them.
func strict(b []byte, v any) error {
	if !utf8.Valid(b) {
		return invalid("frame is not valid UTF-8 (first bad byte at offset %d)", firstInvalid(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("%v", err)
	}
	if dec.More() {
		return invalid("data after the JSON value")
	}
	return nil
}

// DecodeHello decodes and validates an agent's first frame. An unsupported
// protocol version is reported as such so the agent can be told.
func DecodeHello(b []byte) (Hello, error) {
	var h Hello
	if err := strict(b, &h); err != nil {
		return h, err
	}
	if h.Type != TypeHello {
		return h, invalid("first frame must be a hello, got type %q", clip(h.Type))
	}
	if h.ProtocolVersion != ProtocolVersion {
		return h, invalid("protocol version %d not supported (this hub speaks %d)", h.ProtocolVersion, ProtocolVersion)
	}
	if !ValidEntityID(h.Entity) {
		return h, invalid("entity %q is not a valid entity id", clip(h.Entity))
	}
	if err := checkString("agent_version", h.AgentVersion, MaxString); err != nil {
		return h, err
	}
	if err := checkString("hostname", h.Hostname, MaxString); err != nil {
		return h, err
	}
	return h, nil
}

// DecodeReport decodes and validates an agent's report.
func DecodeReport(b []byte) (Report, error) {
	var r Report
	if err := strict(b, &r); err != nil {
		return r, err
	}
	if r.Type != TypeReport {
		return r, invalid("expected a report, got type %q", clip(r.Type))
	}
	return r, r.Validate()
}

// DecodeImagesPage decodes and validates a page of an image list. That it
// follows its report, in order, is for the reader of the socket to check.
func DecodeImagesPage(b []byte) (ImagesPage, error) {
	var p ImagesPage
	if err := strict(b, &p); err != nil {
		return p, err
	}
	if p.Type != TypeImages {
		return p, invalid("expected a page of images, got type %q", clip(p.Type))
	}
	if p.Page < 0 || p.Page >= MaxImagePages {
		return p, invalid("image page %d out of range (0 to %d)", p.Page, MaxImagePages-1)
	}
	if len(p.Images) > MaxPageImages {
		return p, invalid("%d images in a page (max %d)", len(p.Images), MaxPageImages)
	}
	if len(p.Images) == 0 && !(p.Last && p.Page == 0) {
		return p, invalid("image page %d is empty (only an empty list's single page may be)", p.Page)
	}
	return p, validateImages(p.Images)
}

// firstInvalid returns the offset of the first byte of b that does not
// start a valid UTF-8 sequence, or len(b).
func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// Validate checks every field of a report for sizes and sane numbers. A zero
// time is accepted as "unknown".
func (r *Report) Validate() error { return r.Figures.validate() }

func (f *Figures) validate() error {
	if err := checkString("hostname", f.Hostname, MaxString); err != nil {
		return err
	}
	if err := checkTime("collected_at", f.CollectedAt); err != nil {
		return err
	}
	if err := checkTime("boot_time", f.BootTime); err != nil {
		return err
	}
	if f.UptimeSeconds > MaxUptimeSeconds {
		return invalid("uptime_seconds %d out of range (max %d, 100 years)", f.UptimeSeconds, uint64(MaxUptimeSeconds))
	}
	if len(f.Partitions) > MaxPartitions {
		return invalid("%d partitions (max %d)", len(f.Partitions), MaxPartitions)
	}
	for i, p := range f.Partitions {
		for _, s := range []struct{ name, v string }{{"device", p.Device}, {"mountpoint", p.Mountpoint}, {"fstype", p.FSType}} {
			if err := checkString(fmt.Sprintf("partitions[%d].%s", i, s.name), s.v, MaxPath); err != nil {
				return err
			}
		}
		if p.Total > MaxBytes {
			return invalid("partitions[%d]: total_bytes %d out of range (max %d)", i, p.Total, uint64(MaxBytes))
		}
		if p.Used > p.Total || p.Free > p.Total {
			return invalid("partitions[%d]: used %d or free %d exceeds total %d", i, p.Used, p.Free, p.Total)
		}
	}
	if m := f.Memory; m != nil {
		if m.Total > MaxMemory || m.SwapTotal > MaxBytes {
			return invalid("memory: total_bytes %d or swap_total_bytes %d out of range (max %d and %d)", m.Total, m.SwapTotal, uint64(MaxMemory), uint64(MaxBytes))
		}
		if m.Used > m.Total || m.Available > m.Total || m.SwapUsed > m.SwapTotal {
			return invalid("memory figures exceed their totals")
		}
	}
	if l := f.Load; l != nil {
		for _, v := range []float64{l.Load1, l.Load5, l.Load15} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > MaxLoad {
				return invalid("load average %v out of range", v)
			}
		}
		if l.CPUs < 0 || l.CPUs > MaxCPUs {
			return invalid("cpu count %d out of range", l.CPUs)
		}
	}
	if repo := f.Repository; repo != nil {
		if err := repo.validate(); err != nil {
			return err
		}
	}
	if len(f.Probes) > MaxProbes {
		return invalid("%d probes (max %d)", len(f.Probes), MaxProbes)
	}
	for i, p := range f.Probes {
		if err := checkString(fmt.Sprintf("probes[%d].name", i), p.Name, MaxString); err != nil {
			return err
		}
		if err := checkString(fmt.Sprintf("probes[%d].target", i), p.Target, MaxPath); err != nil {
			return err
		}
		if err := checkString(fmt.Sprintf("probes[%d].error", i), p.Error, MaxPath); err != nil {
			return err
		}
		if math.IsNaN(p.LatencyMS) || math.IsInf(p.LatencyMS, 0) || p.LatencyMS < 0 || p.LatencyMS > MaxLatencyMS {
			return invalid("probes[%d]: latency %v ms out of range (0 to %v, one hour)", i, p.LatencyMS, MaxLatencyMS)
		}
	}
	if len(f.Errors) > MaxErrors {
		return invalid("%d errors (max %d)", len(f.Errors), MaxErrors)
	}
	for i, e := range f.Errors {
		if err := checkString(fmt.Sprintf("errors[%d]", i), e, MaxPath); err != nil {
			return err
		}
	}
	return nil
}

func (repo *Repository) validate() error {
	if err := checkString("repository.root", repo.Root, MaxPath); err != nil {
		return err
	}
	counts := []int{repo.ImagesTotal, repo.ImagesComplete, repo.ImagesInProgress, repo.ImagesFailed, repo.ImagesInvalid, repo.Clients, repo.ClientsWithImages}
	for _, c := range counts {
		if c < 0 || c > 10*MaxImages {
			return invalid("repository count %d out of range", c)
		}
	}
	if repo.ImagesComplete+repo.ImagesInProgress+repo.ImagesFailed+repo.ImagesInvalid != repo.ImagesTotal {
		return invalid("repository image counts do not add up to images_total")
	}
	if repo.ClientsWithImages > repo.Clients {
		return invalid("clients_with_images %d exceeds clients %d", repo.ClientsWithImages, repo.Clients)
	}
	if len(repo.Images) > MaxImages {
		return invalid("%d images (max %d)", len(repo.Images), MaxImages)
	}
	if repo.ImagesOmitted && len(repo.Images) > 0 {
		return invalid("images_omitted with a non-empty image list")
	}
	if repo.ImagesFollow && (repo.ImagesOmitted || len(repo.Images) > 0) {
		return invalid("images_follow with images_omitted or an image list in the report")
	}
	return validateImages(repo.Images)
}

func validateImages(images []Image) error {
	for i, im := range images {
		for _, f := range []struct{ name, v string }{{"uuid", im.UUID}, {"title", im.Title}, {"format", im.Format}, {"state", im.State}, {"source_mac", im.SourceMAC}, {"problem", im.Problem}} {
			if err := checkString(fmt.Sprintf("images[%d].%s", i, f.name), f.v, MaxString); err != nil {
				return err
			}
		}
		switch im.State {
		case ImageComplete, ImageInProgress, ImageFailed, ImageInvalid:
		default:
			return invalid("images[%d]: unknown state %q", i, clip(im.State))
		}
		if err := checkTime(fmt.Sprintf("images[%d].created", i), im.Created); err != nil {
			return err
		}
	}
	return nil
}

func checkString(field, s string, max int) error {
	if len(s) > max {
		return invalid("%s is %d bytes (max %d)", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	if strings.ContainsRune(s, 0) {
		return invalid("%s contains a NUL byte", field)
	}
	return nil
}

// clip keeps error messages short when they quote hostile input. It cuts on
// a rune boundary so a clipped valid string stays valid UTF-8 (the hub sends
// these reasons in close frames, which must be UTF-8).
func clip(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	n := limit
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
