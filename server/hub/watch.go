package hub

import (
	"context"
	"encoding/json"

	"imagingstatus/wire"
)

// WatchSummaries calls fn with every entity's summary (snapshot true: all
// of them, after a start or a reload) and then with the summaries that
// changed (status, reason, fullest disk, near forecast, alerts), until ctx
// ends or the hub stops. Summaries are published after their status
// change is committed to the state file, so what fn sees is what the hub
// keeps. fn runs on the caller's goroutine, never on the loop: a slow fn
// only delays itself (it then receives each entity's newest summary).
func (h *Hub) WatchSummaries(ctx context.Context, fn func(snapshot bool, views []wire.Entity)) error {
	sub := h.changes.register(detail{})
	defer h.changes.unregister(sub)
	var (
		cur   cursor
		items []viewItem
		seen  = make(map[string]int)
		views []wire.Entity
	)
	for {
		rv := h.changes.read(&cur, detail{}, items, seen)
		items = rv.items
		views = views[:0]
		for _, it := range rv.items {
			var e wire.Entity
			if err := json.Unmarshal(it.bytes, &e); err != nil {
				// The hub encoded it: a failure is a bug, not input.
				h.log.Error("summary not decoded for the alerts", "entity", it.id, "err", err)
				continue
			}
			views = append(views, e)
		}
		if rv.snapshot || len(views) > 0 {
			fn(rv.snapshot, views)
		}
		select {
		case <-sub.wake:
		case <-sub.wakeSum:
		case <-ctx.Done():
			return ctx.Err()
		case <-h.done:
			return errStopped(ctx)
		}
	}
}

// Summary returns an entity's newest summary without asking the loop (a
// badge, which may be public, costs the loop nothing).
func (h *Hub) Summary(id string) (wire.Entity, bool) {
	h.changes.mu.RLock()
	lv := h.changes.latest[id]
	var b []byte
	if lv != nil {
		b = lv.summary
	}
	h.changes.mu.RUnlock()
	var e wire.Entity
	if b == nil || json.Unmarshal(b, &e) != nil {
		return wire.Entity{}, false
	}
	return e, true
}

// Views returns every entity's newest summary in tree order, the entity
// full in full, read from the change log, never the loop: pages drawn for
// visitors (prerendered statuses) cost the loop nothing, however many.
func (h *Hub) Views(full string) []wire.Entity {
	c := h.changes
	c.mu.RLock()
	bs := make([][]byte, 0, len(c.order))
	for _, id := range c.order {
		lv := c.latest[id]
		switch {
		case lv == nil:
		case id == full:
			bs = append(bs, lv.full)
		default:
			bs = append(bs, lv.summary)
		}
	}
	c.mu.RUnlock()
	out := make([]wire.Entity, 0, len(bs))
	for _, b := range bs {
		var e wire.Entity
		if json.Unmarshal(b, &e) == nil {
			out = append(out, e)
		}
	}
	return out
}
