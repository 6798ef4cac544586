package wire

import (
	"encoding/json"
	"time"
)

// The hub encodes each entity once for all its viewers and wraps the
// encoded entities into frames; these build the frames' envelopes, byte for
// byte what encoding/json writes for the same ViewerMessage, with "type"
// first and "hub_time" second. Each entity must be the JSON of an Entity.

// AppendSnapshot appends a "snapshot" frame to dst: the hub's time, its
// build (left out when empty), the state file error (left out when empty)
// and every entity the viewer may see, always as a list, "[]" when none.
func AppendSnapshot(dst []byte, hubTime time.Time, version, stateError string, entities [][]byte) []byte {
	head, tail := SnapshotEnvelope(hubTime, version, stateError)
	return append(appendJoined(append(dst, head...), entities), tail...)
}

// AppendChanges appends the frame that carries changed entities to dst: one
// entity as a "change" frame with "entity", several as one "changes" frame
// with "entities" (one message for a burst). With none, dst is returned as
// is: there is nothing to send.
func AppendChanges(dst []byte, hubTime time.Time, entities [][]byte) []byte {
	if len(entities) == 0 {
		return dst
	}
	head, tail := ChangesEnvelope(hubTime, len(entities))
	return append(appendJoined(append(dst, head...), entities), tail...)
}

// SnapshotEnvelope is what comes before and after the entities of a
// snapshot frame (joined by commas), for a writer that streams a large
// frame instead of assembling it: head, entities, tail is AppendSnapshot.
func SnapshotEnvelope(hubTime time.Time, version, stateError string) (head, tail []byte) {
	head = appendHead(nil, TypeSnapshot, hubTime)
	if version != "" {
		head = append(head, `,"version":`...)
		head = appendString(head, version)
	}
	if stateError != "" {
		head = append(head, `,"state_error":`...)
		head = appendString(head, stateError)
	}
	return append(head, `,"entities":[`...), []byte("]}")
}

// ChangesEnvelope is SnapshotEnvelope for the frame of n changed entities
// (n >= 1): a "change" frame for one, a "changes" frame for several.
func ChangesEnvelope(hubTime time.Time, n int) (head, tail []byte) {
	if n == 1 {
		return append(appendHead(nil, TypeChange, hubTime), `,"entity":`...), []byte("}")
	}
	return append(appendHead(nil, TypeChanges, hubTime), `,"entities":[`...), []byte("]}")
}

func appendJoined(dst []byte, items [][]byte) []byte {
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, it...)
	}
	return dst
}

func appendHead(dst []byte, typ string, hubTime time.Time) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...) // a constant: nothing to escape
	dst = append(dst, `","hub_time":"`...)
	dst = hubTime.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// appendString appends s as encoding/json writes it: plain printable ASCII
// as is, anything else (quotes, controls, HTML characters, non-ASCII,
// invalid UTF-8) through encoding/json itself.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
