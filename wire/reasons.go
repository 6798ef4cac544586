package wire

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Reason codes: why an entity has its status, for the page to say in the
// viewer's language (Entity.ReasonCode, with ReasonArgs); Entity.Reason
// keeps the hub's English text as a detail line.
const (
	ReasonMissedPings     = "missed_pings"         // args: seconds
	ReasonNoReport        = "no_report"            // connected, no report yet; args: seconds
	ReasonReportStale     = "report_stale"         // pings answered, reports stopped; args: seconds
	ReasonWaitingReport   = "waiting_first_report" // just connected
	ReasonProbeFailed     = "probe_failed"         // args: probe, target, cause, count
	ReasonTokenRejected   = "token_rejected"
	ReasonMalformedHello  = "malformed_hello"
	ReasonProtocol        = "protocol_unsupported"
	ReasonEntityMismatch  = "entity_mismatch"
	ReasonMalformedReport = "malformed_report"
	ReasonTooLarge        = "message_too_large"
	ReasonFlood           = "flood"
	ReasonAgentClosed     = "agent_closed" // a clean agent shutdown
	ReasonAgentLost       = "agent_lost"   // the connection broke
	ReasonReplaced        = "replaced"
	ReasonTokenRevoked    = "token_revoked"
	ReasonUnlinked        = "unlinked"
	ReasonNoPong          = "no_pong"
	ReasonHubShutdown     = "hub_shutdown"
	ReasonNeverConnected  = "never_connected"
	ReasonNotReconnected  = "not_reconnected"
	ReasonNotLinked       = "not_linked"
	// ReasonNotRecursive: an ancestor has a server, but Medulla's rule does
	// not let it serve sub-entities; args: server, server_entity (its name).
	ReasonNotRecursive = "not_recursive"
	ReasonOther        = "other"
)

// Probe failure causes (ReasonProbeFailed's "cause").
const (
	CauseRefused    = "refused"    // the port refuses connections
	CauseTimeout    = "timeout"    // no answer in time
	CauseTLS        = "tls"        // certificate or TLS handshake
	CauseDNS        = "dns"        // the name does not resolve
	CauseHTTP       = "http"       // an HTTP error status
	CauseUnreadable = "unreadable" // the repository is missing or unreadable
	CauseOther      = "other"
)

// The fixed English texts of the hub's connection reasons. The hub uses
// them as they are; ClassifyReason maps each to its code.
const (
	TextTokenRejected   = "agent token rejected"
	TextMalformedHello  = "the agent's first message was malformed: check that the agent's version is supported by this hub"
	TextProtocol        = "the agent speaks a protocol version this hub does not support: upgrade the agent or the hub"
	TextEntityMismatch  = "the agent's hello names another entity than its connection request"
	TextMalformedReport = "the agent sent a malformed report (details in the hub's log)"
	TextTooLarge        = "the agent sent a message larger than the hub accepts"
	TextAgentClosed     = "the agent closed its connection (shutdown)"
	TextAgentLost       = "connection to the agent lost"
	TextReplaced        = "replaced by a newer connection from the same imaging server"
	TextTokenRevoked    = "agent token revoked by a configuration change"
	TextUnlinked        = "imaging server no longer linked in the hub configuration"
	TextNoPong          = "no answer to pings within the deadline"
	TextHubShutdown     = "hub shutting down"
	TextWaitingReport   = "agent connected, waiting for its first report"
	TextNeverConnected  = "no agent has connected since the hub started"
	TextNotReconnected  = "no agent has reconnected since the hub restarted"
	TextNotLinked       = "no imaging server is linked to this entity or to any of its parents"
)

var fixedReasons = map[string]string{
	TextTokenRejected: ReasonTokenRejected, TextMalformedHello: ReasonMalformedHello, TextProtocol: ReasonProtocol,
	TextEntityMismatch: ReasonEntityMismatch, TextMalformedReport: ReasonMalformedReport, TextTooLarge: ReasonTooLarge,
	TextAgentClosed: ReasonAgentClosed, TextAgentLost: ReasonAgentLost, TextReplaced: ReasonReplaced,
	TextTokenRevoked: ReasonTokenRevoked, TextUnlinked: ReasonUnlinked, TextNoPong: ReasonNoPong,
	TextHubShutdown: ReasonHubShutdown, TextWaitingReport: ReasonWaitingReport, TextNeverConnected: ReasonNeverConnected,
	TextNotReconnected: ReasonNotReconnected, TextNotLinked: ReasonNotLinked,
}

var (
	reMissedSecs   = regexp.MustCompile(`^no answer from the agent for (\d+) s \(missed pings\)$`)
	reMissedWithin = regexp.MustCompile(`^no answer from the agent within (\S+) \(missed pings\)$`)
	reNoReport     = regexp.MustCompile(`^the agent is connected but has sent no report for (\d+) s$`)
	reStale        = regexp.MustCompile(`^the agent answers pings but its last report is (\d+) s old$`)
	reProbe        = regexp.MustCompile(`^probe (.+?) \((.*?)\) failed: (.*)$`)
	reNotRecursive = regexp.MustCompile(`^(.+)'s server (.+) does not serve sub-entities: make it recursive in Medulla or link a server here$`)
)

// NotRecursiveText is the reason of an entity that Medulla's rule leaves
// without a server although an ancestor has one.
func NotRecursiveText(ancestorName, server string) string {
	return ancestorName + "'s server " + server + " does not serve sub-entities: make it recursive in Medulla or link a server here"
}

// FloodText is the reason of a session cut for sending too much.
func FloodText(max int, interval time.Duration) string {
	return "the agent sent too many messages (more than " + strconv.Itoa(max) + " per " + interval.String() + ")"
}

// MissedPingsText is the reason of a session whose pings went unanswered.
func MissedPingsText(deadline time.Duration) string {
	return "no answer from the agent within " + deadline.String() + " (missed pings)"
}

// ClassifyReason returns the code of one of the hub's reason texts, and
// its parameters; ReasonOther for a text it does not know (a reason kept
// in a state file written by an older hub).
func ClassifyReason(text string) (code string, args map[string]string) {
	if text == "" {
		return "", nil
	}
	if c, ok := fixedReasons[text]; ok {
		return c, nil
	}
	if m := reMissedSecs.FindStringSubmatch(text); m != nil {
		return ReasonMissedPings, map[string]string{"seconds": m[1]}
	}
	if m := reMissedWithin.FindStringSubmatch(text); m != nil {
		if d, err := time.ParseDuration(m[1]); err == nil {
			return ReasonMissedPings, map[string]string{"seconds": strconv.Itoa(int(d.Round(time.Second).Seconds()))}
		}
	}
	if m := reNoReport.FindStringSubmatch(text); m != nil {
		return ReasonNoReport, map[string]string{"seconds": m[1]}
	}
	if m := reStale.FindStringSubmatch(text); m != nil {
		return ReasonReportStale, map[string]string{"seconds": m[1]}
	}
	if strings.HasPrefix(text, "the agent sent too many messages") {
		return ReasonFlood, nil
	}
	if m := reNotRecursive.FindStringSubmatch(text); m != nil {
		return ReasonNotRecursive, map[string]string{"server_entity": m[1], "server": m[2]}
	}
	// Several failing probes are joined by "; ": the first is named, with
	// how many failed.
	first, _, _ := strings.Cut(text, "; probe ")
	if m := reProbe.FindStringSubmatch(first); m != nil {
		return ReasonProbeFailed, map[string]string{"probe": m[1], "target": m[2], "cause": probeCause(m[3]),
			"count": strconv.Itoa(strings.Count(text, "; probe ") + 1)}
	}
	return ReasonOther, nil
}

// probeCause reads a probe's error as a cause a technician can act on.
func probeCause(err string) string {
	e := strings.ToLower(err)
	switch {
	case strings.Contains(e, "connection refused"):
		return CauseRefused
	case strings.Contains(e, "timeout") || strings.Contains(e, "deadline exceeded") || strings.Contains(e, "timed out"):
		return CauseTimeout
	case strings.Contains(e, "certificate") || strings.Contains(e, "x509") || strings.Contains(e, "tls"):
		return CauseTLS
	case strings.Contains(e, "no such host") || strings.Contains(e, "lookup "):
		return CauseDNS
	case strings.Contains(e, "not readable") || strings.Contains(e, "no such directory") || strings.Contains(e, "permission denied") ||
		strings.Contains(e, "no such file"):
		return CauseUnreadable
	case strings.Contains(e, "http") || strings.Contains(e, "status"):
		return CauseHTTP
	}
	return CauseOther
}
