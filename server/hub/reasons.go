package hub

import (
	"strconv"
	"time"

	"imagingstatus/wire"
)

// The reasons an entity may show for a closed or refused agent connection.
// They are fixed texts: nothing a peer sends ever reaches an entity's
// reason, the history or a viewer. What the peer sent goes to the log only,
// clipped and escaped (logDetail).
// wire holds the texts, so that each has a code the page translates.
const (
	reasonTokenRejected   = wire.TextTokenRejected
	reasonMalformedHello  = wire.TextMalformedHello
	reasonProtocol        = wire.TextProtocol
	reasonEntityMismatch  = wire.TextEntityMismatch
	reasonMalformedReport = wire.TextMalformedReport
	reasonTooLarge        = wire.TextTooLarge
	reasonAgentClosed     = wire.TextAgentClosed
	reasonConnectionLost  = wire.TextAgentLost
	reasonReplaced        = wire.TextReplaced
	reasonRevoked         = wire.TextTokenRevoked
	reasonUnlinked        = wire.TextUnlinked
	reasonNoPong          = wire.TextNoPong
	reasonShutdown        = wire.TextHubShutdown
)

func reasonFlood(max int, interval time.Duration) string { return wire.FloodText(max, interval) }

func reasonMissedPings(deadline time.Duration) string { return wire.MissedPingsText(deadline) }

// logEntity is an entity id as a peer named it: as is when it is a valid
// id, escaped and clipped otherwise.
func logEntity(s string) string {
	if s == "" || wire.ValidEntityID(s) {
		return s
	}
	return logDetail(s)
}

// maxLogDetail bounds what of a peer's bytes reaches a log line.
const maxLogDetail = 200

// logDetail makes a peer-influenced text safe for a log line: clipped, and
// quoted so that control characters and invalid UTF-8 are escaped.
func logDetail(s string) string {
	if len(s) > maxLogDetail {
		s = s[:maxLogDetail] + "…"
	}
	return strconv.QuoteToASCII(s)
}
