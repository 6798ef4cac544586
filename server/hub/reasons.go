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
const (
	reasonTokenRejected   = "agent token rejected"
	reasonMalformedHello  = "the agent's first message was malformed: check that the agent's version is supported by this hub"
	reasonProtocol        = "the agent speaks a protocol version this hub does not support: upgrade the agent or the hub"
	reasonEntityMismatch  = "the agent's hello names another entity than its connection request"
	reasonMalformedReport = "the agent sent a malformed report (details in the hub's log)"
	reasonTooLarge        = "the agent sent a message larger than the hub accepts"
	reasonAgentClosed     = "the agent closed its connection (shutdown)"
	reasonConnectionLost  = "connection to the agent lost"
	reasonReplaced        = "replaced by a newer connection from the same imaging server"
	reasonRevoked         = "agent token revoked by a configuration change"
	reasonUnlinked        = "imaging server no longer linked in the hub configuration"
	reasonNoPong          = "no answer to pings within the deadline"
	reasonShutdown        = "hub shutting down"
)

func reasonFlood(max int, interval time.Duration) string {
	return "the agent sent too many messages (more than " + strconv.Itoa(max) + " per " + interval.String() + ")"
}

func reasonMissedPings(deadline time.Duration) string {
	return "no answer from the agent within " + deadline.String() + " (missed pings)"
}

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
