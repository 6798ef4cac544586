package app

import (
	"strconv"
	"strings"
	"time"

	"imagingstatus/wire"
)

// The English forms of the Texts formatters, for code and tests that need
// no language.

// HumanBytes writes a byte count in binary units (see Texts.BytesText).
func HumanBytes(n uint64) string { return english.BytesText(n) }

// HumanDuration writes d as "3 d 4 h 5 min" (see Texts.Duration).
func HumanDuration(d time.Duration) string { return english.Duration(d) }

// Ago writes how long ago something happened: "3 s ago", "just now".
func Ago(d time.Duration) string { return english.Ago(d) }

// DescribeStatus maps a status to its English words, icon and action.
func DescribeStatus(s wire.Status) StatusInfo { return english.Status(s) }

// FormatLoad writes a load average with two decimals.
func FormatLoad(v float64) string { return english.Number(v) }

// FormatLatency writes a probe latency: "12 ms", "0.4 ms".
func FormatLatency(ms float64) string { return english.Latency(ms) }

// TreeLabel names an entity by its place in the tree ("General › Public").
func TreeLabel(e wire.Entity) string {
	if len(e.Path) == 0 {
		return e.Name
	}
	return strings.Join(e.Path, " › ")
}

// Percent of part in total, rounded down; 0 when total is 0.
func Percent(part, total uint64) int {
	if total == 0 {
		return 0
	}
	return int(float64(part) * 100 / float64(total))
}

// StatusInfo is how the page shows a status: words, an icon and a colour
// class together, so colour is never the only signal.
type StatusInfo struct {
	Label  string // the words
	Icon   string // icon name, see statusIcons
	Class  string // CSS modifier: status--<Class>
	Action string // what the technician should do
}

// DiskPercent is a partition's use as df computes it (used / (used +
// available), rounded up; wire.Partition.UsedPercent), 0 when unknown. The
// reserve (Partition.Reserved) is neither, so this is the figure that
// reaches 100 % when writing fails.
func DiskPercent(p wire.Partition) int {
	pct, _ := p.UsedPercent()
	return pct
}

// ProblemCount is how many entities need attention now (offline or in
// connection error): what the tab title counts.
func ProblemCount(entities map[string]wire.Entity) int {
	n := 0
	for _, e := range entities {
		if isProblem(e.Status) {
			n++
		}
	}
	return n
}

// isProblem: a status someone must act on now. Not linked is a standing
// configuration, not counted.
func isProblem(s wire.Status) bool {
	return s == wire.StatusOffline || s == wire.StatusConnectionError
}

// PageTitle is the tab title: the number of problems first, when there are
// any, so a tab in the background still says "(2) Imaging status".
func PageTitle(problems int, title string) string {
	if problems <= 0 {
		return title
	}
	return "(" + strconv.Itoa(problems) + ") " + title
}

// MatchEntity says whether e's name or place in the tree contains every
// word of query, ignoring case and accents (the tree's filter box).
func MatchEntity(e wire.Entity, query string) bool {
	hay := foldText(TreeLabel(e) + " " + e.Name + " " + e.ID + " " + e.ServedBy)
	for _, w := range strings.Fields(foldText(query)) {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// foldText lower-cases s and drops the accents of Latin letters, so that
// "ecole" finds "École".
func foldText(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		if f, ok := accentFold[r]; ok {
			b.WriteRune(f)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

var accentFold = func() map[rune]rune {
	m := map[rune]rune{}
	for base, accented := range map[rune]string{
		'a': "àáâãäå", 'c': "ç", 'e': "èéêë", 'i': "ìíîï", 'n': "ñ",
		'o': "òóôõö", 'u': "ùúûü", 'y': "ýÿ",
	} {
		for _, r := range accented {
			m[r] = base
		}
	}
	return m
}()
