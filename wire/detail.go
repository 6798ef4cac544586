package wire

import (
	"net/url"
	"slices"
	"strings"
)

// AllEntities, in a detail list, asks for every entity in full.
const AllEntities = "*"

// Detail says which entities a viewer receives in full; the others come as
// summaries (Summarize). It has one meaning on the upgrade's `?detail=` and
// in a subscribe message:
//
//   - every entity in full: no `?detail=` at all, or "*" in the list;
//   - none in full (summaries only): an empty list (`?detail=`, or
//     {"type":"subscribe","detail":[]});
//   - otherwise the listed ids, at most MaxSubscribe.
//
// The zero Detail is "none in full".
type Detail struct {
	All bool
	IDs []string // when !All; no duplicates, in the order asked
}

// DetailAll is every entity in full; DetailNone is summaries only.
var (
	DetailAll  = Detail{All: true}
	DetailNone = Detail{}
)

// DetailOf is the listed entities in full and summaries of the others.
func DetailOf(ids ...string) Detail { return NewDetail(ids) }

// NewDetail gives a detail list (a subscribe message's, or the ids of a
// `?detail=`) its meaning: "*" anywhere is all, an empty or nil list is
// none; empty ids and repeats are dropped. It does not validate: decoders
// do (DecodeViewerRequest, ParseDetailQuery).
func NewDetail(ids []string) Detail {
	var d Detail
	for _, id := range ids {
		switch {
		case id == AllEntities:
			return DetailAll
		case id == "" || slices.Contains(d.IDs, id):
		default:
			d.IDs = append(d.IDs, id)
		}
	}
	return d
}

// ParseDetailQuery reads the viewer upgrade's `?detail=` (values are
// url.Values["detail"], present whether the key was there): absent is all
// in full; each value is a comma-separated list of entity ids or "*".
func ParseDetailQuery(values []string, present bool) (Detail, error) {
	if !present {
		return DetailAll, nil
	}
	var ids []string
	for _, v := range values {
		for id := range strings.SplitSeq(v, ",") {
			if id != "" {
				ids = append(ids, id)
			}
		}
	}
	if err := checkDetailIDs(ids); err != nil {
		return Detail{}, err
	}
	return NewDetail(ids), nil
}

// checkDetailIDs bounds and validates a detail list as a viewer sent it.
func checkDetailIDs(ids []string) error {
	if len(ids) > MaxSubscribe {
		return invalid("%d entities to receive in full (max %d)", len(ids), MaxSubscribe)
	}
	for _, id := range ids {
		if id != AllEntities && !ValidEntityID(id) {
			return invalid("entity %q is not a valid entity id", clip(id))
		}
	}
	return nil
}

// Full says whether the entity id is sent in full.
func (d Detail) Full(id string) bool { return d.All || slices.Contains(d.IDs, id) }

// Equal says whether d and o send the same entities in full.
func (d Detail) Equal(o Detail) bool {
	if d.All || o.All {
		return d.All == o.All
	}
	return slices.Equal(d.IDs, o.IDs)
}

// Query is what to append to ViewerPath's URL to ask for d on the upgrade:
// "" for all, else "?detail=" and the ids.
func (d Detail) Query() string {
	if d.All {
		return ""
	}
	return "?detail=" + url.QueryEscape(strings.Join(d.IDs, ","))
}

// Request is the subscribe message that asks for d.
func (d Detail) Request() ViewerRequest {
	if d.All {
		return ViewerRequest{Type: TypeSubscribe, Detail: []string{AllEntities}}
	}
	return ViewerRequest{Type: TypeSubscribe, Detail: append([]string{}, d.IDs...)}
}
