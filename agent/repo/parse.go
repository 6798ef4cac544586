package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"imagingstatus/wire"
)

// DavosInfo is what davosInfo.json says. Fields of the wrong type are
// ignored rather than failing the image: only the JSON syntax and an object
// at the top level are required.
type DavosInfo struct {
	Title       string
	Description string
	Size        uint64
	SizeKnown   bool
	HasError    *bool // nil when absent or not understood
}

// decodeDavosInfo decodes davosInfo.json leniently (see DavosInfo).
func decodeDavosInfo(b []byte) (DavosInfo, error) {
	var info DavosInfo
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return info, errors.New("not a JSON object")
		}
		return info, errors.New("not valid JSON")
	}
	if m == nil {
		return info, errors.New("not a JSON object")
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) > 0 {
		return info, errors.New("data after the JSON object")
	}
	var s string
	if json.Unmarshal(m["title"], &s) == nil {
		info.Title = s
	}
	s = ""
	if json.Unmarshal(m["description"], &s) == nil {
		info.Description = s
	}
	if raw, ok := m["size"]; ok {
		info.Size, info.SizeKnown = jsonSize(raw)
	}
	if raw, ok := m["has_error"]; ok {
		info.HasError = jsonBool(raw)
	}
	return info, nil
}

// jsonSize accepts a non-negative integer or float, or such a number in a string.
func jsonSize(raw json.RawMessage) (uint64, bool) {
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		n = json.Number(strings.TrimSpace(s))
	}
	if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
		return u, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f < 0 || math.IsNaN(f) || f >= math.MaxUint64 {
		return 0, false
	}
	return uint64(f), true
}

func jsonBool(raw json.RawMessage) *bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	var b bool
	switch x := v.(type) {
	case bool:
		b = x
	case float64:
		b = x != 0
	case string:
		p, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return nil
		}
		b = p
	default:
		return nil
	}
	return &b
}

// text decodes a legacy metadata file: UTF-8, or Latin-1 when not valid UTF-8
// (old Pulse 2 installations wrote titles in the system encoding).
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// legacyTitle finds the "title …" line of conf.txt.
func legacyTitle(b []byte) string {
	for line := range strings.Lines(text(b)) {
		line = strings.TrimSpace(line)
		if len(line) < 5 || !strings.EqualFold(line[:5], "title") {
			continue
		}
		rest := line[5:]
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' && rest[0] != '=' && rest[0] != ':' {
			continue // e.g. "titles"
		}
		rest = strings.TrimSpace(rest)
		rest = strings.TrimLeft(rest, "=:")
		return strings.TrimSpace(rest)
	}
	return ""
}

// parseDuK reads `du -k` output: the first field is the size in KiB.
func parseDuK(b []byte) (uint64, bool) {
	f := strings.Fields(text(b))
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil || n > math.MaxUint64/1024 {
		return 0, false
	}
	return n, true
}

// parseProgress reads the first integer of progress.txt ("42", "100%", "progress: 7").
func parseProgress(b []byte) (int, bool) {
	s := text(b)
	i := strings.IndexAny(s, "0123456789")
	if i < 0 {
		return 0, false
	}
	j := i
	for j < len(s) && j-i < 9 && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(s[i:j])
	return n, err == nil
}

// logErrorLine returns the first line of a Clonezilla / legacy log tail that
// reports a failure, or "". Deliberately narrow: a log full of partclone
// statistics mentions "error" in harmless places ("0 errors"), so only lines
// starting with "error"/"failed" or Clonezilla's failure phrases count.
func logErrorLine(b []byte) string {
	for line := range strings.Lines(text(b)) {
		t := strings.TrimSpace(line)
		l := strings.ToLower(t)
		if strings.HasPrefix(l, "error") || strings.HasPrefix(l, "failed") ||
			strings.Contains(l, "failed to save") || strings.Contains(l, "partclone fail") ||
			strings.Contains(l, "was not saved") {
			return t
		}
	}
	return ""
}

// clean makes s acceptable to wire validation: valid UTF-8, no control
// characters, at most wire.MaxString bytes.
func clean(s string) string {
	if plain(s) {
		return s // the common case (a UUID), without allocating
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > wire.MaxString {
		cut := wire.MaxString
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// plain says whether clean(s) == s for a printable ASCII s.
func plain(s string) bool {
	if len(s) > wire.MaxString || s != "" && (s[0] == ' ' || s[len(s)-1] == ' ') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// macFromUUIDv1 returns the node field of a version-1 UUID
// (xxxxxxxx-xxxx-1xxx-xxxx-nnnnnnnnnnnn) as aa:bb:cc:dd:ee:ff, or "".
func macFromUUIDv1(s string) string {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return ""
	}
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		if _, ok := unhex(s[i]); !ok {
			return ""
		}
	}
	if s[14] != '1' {
		return ""
	}
	return normalizeMAC(s[24:])
}

// macBitsFromUUIDv1 is macFromUUIDv1 as a 48-bit number, without allocating.
func macBitsFromUUIDv1(s string) (uint64, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' || s[14] != '1' {
		return 0, false
	}
	for i := 0; i < 24; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		if _, ok := unhex(s[i]); !ok {
			return 0, false
		}
	}
	return parseMACBits(s[24:])
}

// parseMACBits reads 12 hex digits (colons or dashes between pairs allowed,
// as normalizeMAC accepts) as a 48-bit number.
func parseMACBits(s string) (uint64, bool) {
	var v uint64
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' || c == '-' {
			if n == 0 || n%2 != 0 {
				return 0, false
			}
			continue
		}
		d, ok := unhex(c)
		if !ok || n == 12 {
			return 0, false
		}
		v = v<<4 | uint64(d)
		n++
	}
	return v, n == 12
}

// normalizeMAC accepts aa:bb:cc:dd:ee:ff, aa-bb-…, or 12 hex digits, in any
// case, and returns the lower-case colon form, or "".
func normalizeMAC(s string) string {
	var hex [12]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' || c == '-' {
			if n == 0 || n%2 != 0 {
				return ""
			}
			continue
		}
		v, ok := unhex(c)
		if !ok || n == 12 {
			return ""
		}
		hex[n] = "0123456789abcdef"[v]
		n++
	}
	if n != 12 {
		return ""
	}
	out := make([]byte, 0, 17)
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hex[i], hex[i+1])
	}
	return string(out)
}

// parseUUIDCache parses uuid-cache.txt leniently: sections are computer
// UUIDs, `mac` is kept; comments (; #), blank lines, keys outside a section
// and lines without = or : are skipped. It returns lower-case computer UUID →
// normalised MAC.
func parseUUIDCache(b []byte) map[string]string {
	out := make(map[string]string)
	section := ""
	for line := range strings.Lines(text(b)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				section = ""
				continue
			}
			section = strings.ToLower(strings.TrimSpace(line[1:end]))
			continue
		}
		if section == "" {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			continue
		}
		if !strings.EqualFold(strings.TrimSpace(line[:i]), "mac") {
			continue
		}
		v := strings.Trim(strings.TrimSpace(line[i+1:]), `"'`)
		if mac := normalizeMAC(v); mac != "" {
			out[section] = mac
		}
	}
	return out
}
