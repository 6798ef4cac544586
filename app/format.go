package ui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"imagingstatus/wire"
)

// HumanBytes writes a byte count in binary units (KiB, MiB, ...), as df -h
// and most administrators read disk sizes.
func HumanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n)
	i := -1
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	// One decimal below 10 keeps "1.5 GiB" readable without "152.3 GiB" noise.
	if v < 10 {
		s := strconv.FormatFloat(math.Floor(v*10)/10, 'f', 1, 64)
		return strings.TrimSuffix(s, ".0") + " " + units[i]
	}
	return strconv.FormatFloat(math.Floor(v), 'f', 0, 64) + " " + units[i]
}

// HumanDuration writes d as days, hours and minutes ("3 d 4 h 5 min"),
// dropping leading zero units; under a minute it gives seconds.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return strconv.Itoa(int(d/time.Second)) + " s"
	}
	days := int(d / (24 * time.Hour))
	hours := int(d % (24 * time.Hour) / time.Hour)
	mins := int(d % time.Hour / time.Minute)
	var parts []string
	if days > 0 {
		parts = append(parts, strconv.Itoa(days)+" d")
	}
	if days > 0 || hours > 0 {
		parts = append(parts, strconv.Itoa(hours)+" h")
	}
	parts = append(parts, strconv.Itoa(mins)+" min")
	return strings.Join(parts, " ")
}

// Ago writes how long ago something happened: "3 s ago", "4 min ago".
func Ago(d time.Duration) string {
	if d < 2*time.Second {
		return "just now"
	}
	return HumanDuration(d) + " ago"
}

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

// DescribeStatus maps a status to its words, icon and action (DESIGN.md).
func DescribeStatus(s wire.Status) StatusInfo {
	switch s {
	case wire.StatusAvailable:
		return StatusInfo{"Available", "check", "available", "You can create or deploy an image."}
	case wire.StatusOffline:
		return StatusInfo{"Offline", "off", "offline", "Contact the administrator."}
	case wire.StatusConnectionError:
		return StatusInfo{"Connection error", "warn", "connection-error", "Report it to the technical team."}
	case wire.StatusNotLinked:
		return StatusInfo{"No imaging server", "unlinked", "not-linked", "Link an imaging server to this entity."}
	default:
		return StatusInfo{fmt.Sprintf("Unknown status %q", string(s)), "unknown", "unknown", "Reload the page; if this stays, report it to the technical team."}
	}
}

// FormatLoad writes a load average with two decimals.
func FormatLoad(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// FormatLatency writes a probe latency: "12 ms", "0.4 ms".
func FormatLatency(ms float64) string {
	if ms < 10 {
		return strings.TrimSuffix(strconv.FormatFloat(ms, 'f', 1, 64), ".0") + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
}

// plural writes "1 image", "2 images".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
