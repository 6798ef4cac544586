package app

import (
	"strconv"
	"strings"
	"time"

	"imagingstatus/wire"
)

// Why an entity has its status, in the viewer's language. The hub sends a
// code and its parameters (wire/reasons.go) beside its English text; the
// page says the code as a sentence a technician can act on and keeps the
// English text as a detail line.

// Reason is an entity's reason as the page shows it.
type Reason struct {
	// Sentence is what the page says, in its language ("" when the entity
	// has no reason).
	Sentence string
	// Detail is the hub's own English text, shown smaller below; "" when
	// the sentence already is that text (code "other", or unknown).
	Detail string
}

// EntityReason translates e's reason. An entity without a code (a snapshot
// saved by an older page, a history record) is classified from its text.
func (t *Texts) EntityReason(e wire.Entity) Reason {
	return t.ReasonOf(e.ReasonCode, e.ReasonArgs, e.Reason)
}

// ReasonOf translates one reason: its code, parameters and English text.
func (t *Texts) ReasonOf(code string, args map[string]string, raw string) Reason {
	raw = strings.TrimSpace(raw)
	if code == "" && raw != "" {
		code, args = wire.ClassifyReason(raw)
	}
	s := t.reasonSentence(code, args)
	if s == "" {
		// "other", or a code newer than this page: the hub's text is all
		// there is to say.
		return Reason{Sentence: raw}
	}
	if raw == "" || sameWords(raw, s) {
		return Reason{Sentence: s} // the detail would say it twice
	}
	return Reason{Sentence: s, Detail: raw}
}

// ReasonText is a reason's sentence alone, for short places (the wall's
// announcements, the timeline).
func (t *Texts) ReasonText(code string, args map[string]string, raw string) string {
	return t.ReasonOf(code, args, raw).Sentence
}

// reasonSentence is the sentence of a known code, "" for "other" and for
// codes this page does not know.
func (t *Texts) reasonSentence(code string, args map[string]string) string {
	seconds := func() string {
		n, err := strconv.Atoi(args["seconds"])
		if err != nil || n < 0 {
			return "?"
		}
		return t.Duration(time.Duration(n) * time.Second)
	}
	switch code {
	case wire.ReasonProbeFailed:
		return t.probeSentence(args)
	case wire.ReasonMissedPings:
		return t.F(t.ReasonMissedPingsF, seconds())
	case wire.ReasonNoReport:
		return t.F(t.ReasonNoReportF, seconds())
	case wire.ReasonReportStale:
		return t.F(t.ReasonReportStaleF, seconds())
	case wire.ReasonNotRecursive:
		ent, srv := args["server_entity"], args["server"]
		if ent == "" {
			ent = "?"
		}
		if srv == "" {
			srv = "?"
		}
		return t.F(t.ReasonNotRecursiveF, ent, srv)
	case wire.ReasonWaitingReport:
		return t.ReasonWaitingReport
	case wire.ReasonTokenRejected:
		return t.ReasonTokenRejected
	case wire.ReasonTokenRevoked:
		return t.ReasonTokenRevoked
	case wire.ReasonMalformedHello:
		return t.ReasonMalformedHello
	case wire.ReasonProtocol:
		return t.ReasonProtocol
	case wire.ReasonEntityMismatch:
		return t.ReasonEntityMismatch
	case wire.ReasonMalformedReport:
		return t.ReasonMalformedReport
	case wire.ReasonTooLarge:
		return t.ReasonTooLarge
	case wire.ReasonFlood:
		return t.ReasonFlood
	case wire.ReasonAgentClosed:
		return t.ReasonAgentClosed
	case wire.ReasonAgentLost:
		return t.ReasonAgentLost
	case wire.ReasonReplaced:
		return t.ReasonReplaced
	case wire.ReasonUnlinked:
		return t.ReasonUnlinked
	case wire.ReasonNoPong:
		return t.ReasonNoPong
	case wire.ReasonHubShutdown:
		return t.ReasonHubShutdown
	case wire.ReasonNeverConnected:
		return t.ReasonNeverConnected
	case wire.ReasonNotReconnected:
		return t.ReasonNotReconnected
	case wire.ReasonNotLinked:
		return t.ReasonNotLinked
	}
	return ""
}

// packageServerProbes are the probe names people give the package server's
// imaging API (the service Medulla's ImagingServer.url points to).
var packageServerProbes = map[string]bool{
	"package-server": true, "packageserver": true, "package_server": true, "pkgserver": true,
	"imaging-api": true, "imaging_api": true, "imagingapi": true,
}

// probeSentence names the failing service by what it is, with its target,
// and says the cause.
func (t *Texts) probeSentence(args map[string]string) string {
	name, target := args["probe"], args["target"]
	with := func(subject string) string {
		if target == "" {
			return subject
		}
		return subject + " (" + target + ")"
	}
	var s string
	switch {
	case name == "repository":
		// The agent's repository probe fails only when the repository
		// cannot be read, whatever the system's words for it.
		s = t.F(t.ReasonRepositoryF, with(t.ReasonRepository))
	default:
		subject := t.F(t.ReasonServiceF, name)
		if name == "" {
			subject = t.ReasonServiceUnnamed
		} else if packageServerProbes[strings.ToLower(name)] {
			subject = t.ReasonPackageServer
		}
		format := t.ReasonProbeOtherF
		switch args["cause"] {
		case wire.CauseRefused:
			format = t.ReasonProbeRefusedF
		case wire.CauseTimeout:
			format = t.ReasonProbeTimeoutF
		case wire.CauseTLS:
			format = t.ReasonProbeTLSF
		case wire.CauseDNS:
			format = t.ReasonProbeDNSF
		case wire.CauseHTTP:
			format = t.ReasonProbeHTTPF
		case wire.CauseUnreadable:
			format = t.ReasonProbeUnreadableF
		}
		s = t.F(format, with(subject))
	}
	switch n, _ := strconv.Atoi(args["count"]); {
	case n == 2:
		s += " " + t.ReasonOneMoreProbe
	case n > 2:
		s += " " + t.F(t.ReasonMoreProbesF, n-1)
	}
	return s
}

// MedullaErrorSentence says why Medulla's databases cannot be read, from the
// hub's code only: the raw error may name the database's user, host or
// socket, which viewers must not see.
func (t *Texts) MedullaErrorSentence(code string) string {
	switch code {
	case wire.MedullaUnreachable:
		return t.MedullaErrUnreachable
	case wire.MedullaTimeout:
		return t.MedullaErrTimeout
	case wire.MedullaAccessDenied:
		return t.MedullaErrAccess
	case wire.MedullaSchema:
		return t.MedullaErrSchema
	case wire.MedullaConfig:
		return t.MedullaErrConfig
	}
	return t.MedullaErrOther
}

// AlertKind names what an alert is about; status alerts take the entity's
// status word when it is a problem.
func (t *Texts) AlertKind(kind string, status wire.Status) string {
	switch kind {
	case wire.AlertDisk:
		return t.AlertDisk
	case wire.AlertForecast:
		return t.AlertForecast
	}
	if isProblem(status) {
		return t.Status(status).Label
	}
	return t.AlertStatus
}

// AlertLine says one firing alert: "Offline since 10:32 (12 min), sent at
// 10:34".
func (t *Texts) AlertLine(a wire.EntityAlert, status wire.Status, now time.Time) string {
	since := a.Since
	if since.IsZero() {
		since = a.FiredAt
	}
	return t.F(t.AlertLineF, t.AlertKind(a.Kind, status), t.when(since, now), t.Duration(now.Sub(since)), t.when(a.FiredAt, now))
}

// when is a time of day, or a date for what is older than a day (a clock
// time alone would then read as today).
func (t *Texts) when(v, now time.Time) string {
	if now.Sub(v) >= 20*time.Hour {
		return t.Date(v)
	}
	return t.Clock(v)
}

// sameWords: a and b differ at most in case and a final full stop.
func sameWords(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}
