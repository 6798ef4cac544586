package app

import (
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
