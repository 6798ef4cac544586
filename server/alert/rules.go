package alert

import (
	"sort"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/wire"
)

// diskHysteresis: a disk alert ends only when the partition is this many
// points under the threshold, so a disk hovering at 90 % does not send a
// message at every report.
const diskHysteresis = 2

// condition is one entity's alertable condition, from the moment it began
// to hold until it ends (and, if it fired, its "resolved" message is made).
type condition struct {
	Entity string `json:"entity"`
	Kind   string `json:"kind"`
	// Start is when it began to hold; Fired when its alert was made (zero:
	// still waiting for its delay); Sent when it was last made (repeats).
	Start time.Time `json:"start"`
	Fired time.Time `json:"fired,omitzero"`
	Sent  time.Time `json:"sent,omitzero"`
	// ClearSince is when it stopped holding (zero while it holds): a fired
	// condition ends after holding no longer for its delay.
	ClearSince time.Time `json:"clear_since,omitzero"`
	// What the message says.
	Status   wire.Status `json:"status,omitempty"`
	Previous wire.Status `json:"previous,omitempty"`
	Reason   string      `json:"reason,omitempty"`
	Mount    string      `json:"mount,omitempty"`
	Percent  int         `json:"percent,omitempty"`
	DaysLeft float64     `json:"days_left,omitempty"`
}

type condKey struct{ entity, kind string }

// evaluator turns the entities' summaries into alert messages. It is a
// plain value owned by the engine's goroutine.
type evaluator struct {
	views map[string]wire.Entity
	// prev is each entity's status before its current one (what an alert
	// says it was).
	prev  map[string]wire.Status
	conds map[condKey]*condition
	// snapshot says the views are whole: until then, conditions restored
	// from the state file are kept as they are.
	snapshot bool
}

func newEvaluator() *evaluator {
	return &evaluator{views: map[string]wire.Entity{}, prev: map[string]wire.Status{}, conds: map[condKey]*condition{}}
}

// observe takes new summaries; a snapshot replaces them all.
func (ev *evaluator) observe(snapshot bool, views []wire.Entity) {
	if snapshot {
		ev.snapshot = true
		old := ev.views
		ev.views = make(map[string]wire.Entity, len(views))
		for _, v := range views {
			ev.views[v.ID] = v
			if o, ok := old[v.ID]; ok && o.Status != v.Status {
				ev.prev[v.ID] = o.Status
			}
		}
		return
	}
	for _, v := range views {
		if o, ok := ev.views[v.ID]; ok && o.Status != v.Status {
			ev.prev[v.ID] = o.Status
		}
		ev.views[v.ID] = v
	}
}

// statusDelay is how long a status must hold to alert; false: not an
// alertable status.
func statusDelay(r config.Rules, s wire.Status) (time.Duration, bool) {
	switch s {
	case wire.StatusOffline:
		return r.OfflineAfter, true
	case wire.StatusConnectionError:
		return r.ConnectionErrorAfter, true
	}
	return 0, false
}

// holds says whether kind holds for v now, and fills what the message says.
func holds(r config.Rules, kind string, v wire.Entity, c *condition) bool {
	switch kind {
	case wire.AlertStatus:
		if v.Stale {
			// A state restored after a restart is not confirmed yet: it
			// neither starts nor ends an alert.
			return c != nil
		}
		if _, ok := statusDelay(r, v.Status); !ok {
			return false
		}
		if c != nil {
			c.Status, c.Reason = v.Status, v.Reason
		}
		return true
	case wire.AlertDisk:
		if r.DiskUsedPercent <= 0 || v.FullestPct == nil {
			return false
		}
		limit := r.DiskUsedPercent
		if c != nil && !c.Fired.IsZero() {
			limit -= diskHysteresis
		}
		if *v.FullestPct < limit {
			return false
		}
		if c != nil {
			c.Mount, c.Percent = v.FullestMount, *v.FullestPct
		}
		return true
	case wire.AlertForecast:
		f := v.DiskForecast
		if r.DiskFullWithin <= 0 || f == nil || f.DaysLeft == nil || time.Duration(*f.DaysLeft*float64(24*time.Hour)) > r.DiskFullWithin {
			return false
		}
		if c != nil {
			c.Mount, c.DaysLeft = f.Mountpoint, *f.DaysLeft
		}
		return true
	}
	return false
}

var kinds = []string{wire.AlertStatus, wire.AlertDisk, wire.AlertForecast}

// delay is how long a condition must hold before it fires, and how long it
// must be clear before it ends.
func delay(r config.Rules, c *condition) time.Duration {
	if c.Kind == wire.AlertStatus {
		d, _ := statusDelay(r, c.Status)
		return d
	}
	return 0
}

// evaluate moves every condition on to now and returns the alerts due,
// grouped by server.
func (ev *evaluator) evaluate(now time.Time, cfg *config.Config, r config.Rules) []Message {
	if !ev.snapshot {
		return nil
	}
	var due []item
	inScope := func(id string) bool {
		if len(r.Scope) == 0 {
			_, ok := cfg.Lookup(id)
			return ok
		}
		return cfg.Within(id, r.Scope)
	}
	for id, v := range ev.views {
		if !inScope(id) || v.ServedBy == "" {
			continue
		}
		for _, kind := range kinds {
			k := condKey{id, kind}
			c := ev.conds[k]
			if holds(r, kind, v, c) {
				if c == nil {
					c = &condition{Entity: id, Kind: kind, Start: now, Previous: ev.prev[id]}
					if kind == wire.AlertStatus && !v.Since.IsZero() && !v.Since.After(now) {
						c.Start = v.Since // the status has held since then
					}
					holds(r, kind, v, c)
					ev.conds[k] = c
				}
				c.ClearSince = time.Time{}
				switch {
				case c.Fired.IsZero() && now.Sub(c.Start) >= delay(r, c):
					c.Fired, c.Sent = now, now
					due = append(due, item{c: *c, v: v, kind: kind})
				case !c.Fired.IsZero() && r.Repeat > 0 && now.Sub(c.Sent) >= r.Repeat:
					c.Sent = now
					due = append(due, item{c: *c, v: v, kind: kind, repeat: true})
				}
				continue
			}
			if c == nil {
				continue
			}
			if c.Fired.IsZero() {
				delete(ev.conds, k) // never fired: ends silently (a flap)
				continue
			}
			if c.ClearSince.IsZero() {
				c.ClearSince = now
			}
			if now.Sub(c.ClearSince) >= delay(r, c) {
				delete(ev.conds, k)
				due = append(due, item{c: *c, v: v, kind: KindResolved})
			}
		}
	}
	// Conditions of entities gone from the tree or the scope end without a
	// message: nobody is to be told about them any more.
	for k := range ev.conds {
		if v, ok := ev.views[k.entity]; !ok || !inScope(k.entity) || v.ServedBy == "" {
			delete(ev.conds, k)
		}
	}
	return group(due, now)
}

// firing returns the alerts firing, by entity, oldest first.
func (ev *evaluator) firing() map[string][]wire.EntityAlert {
	out := map[string][]wire.EntityAlert{}
	for _, c := range ev.conds {
		if !c.Fired.IsZero() {
			out[c.Entity] = append(out[c.Entity], wire.EntityAlert{Kind: c.Kind, Since: c.Start, FiredAt: c.Fired})
		}
	}
	for _, as := range out {
		sort.Slice(as, func(i, j int) bool {
			if !as[i].Since.Equal(as[j].Since) {
				return as[i].Since.Before(as[j].Since)
			}
			return as[i].Kind < as[j].Kind
		})
	}
	return out
}

// saved and restore carry the conditions across a restart.
func (ev *evaluator) saved() []condition {
	out := make([]condition, 0, len(ev.conds))
	for _, c := range ev.conds {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Entity != out[j].Entity {
			return out[i].Entity < out[j].Entity
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

func (ev *evaluator) restore(cs []condition) {
	for i := range cs {
		c := cs[i]
		if !wire.ValidEntityID(c.Entity) {
			continue
		}
		ev.conds[condKey{c.Entity, c.Kind}] = &c
	}
}

// item is one condition due, before grouping.
type item struct {
	c      condition
	v      wire.Entity
	kind   string
	repeat bool
}

// group makes one message per server and condition: "imaging-public is
// Offline: Public, Workshop".
func group(due []item, now time.Time) []Message {
	type key struct {
		kind, of, server string
		status           wire.Status
		mount            string
		repeat           bool
	}
	byKey := map[key]*Message{}
	var order []key
	sort.Slice(due, func(i, j int) bool { return due[i].v.ID < due[j].v.ID })
	for _, it := range due {
		k := key{kind: it.kind, server: it.v.ServedBy, status: it.c.Status, mount: it.c.Mount, repeat: it.repeat}
		if it.kind == KindResolved {
			k.of = it.c.Kind
		}
		m := byKey[k]
		if m == nil {
			m = &Message{Kind: it.kind, Resolves: k.of, Server: it.v.ServedBy, Status: it.c.Status, Previous: it.c.Previous,
				Since: it.c.Start, Reason: it.c.Reason, Mount: it.c.Mount, Percent: it.c.Percent, DaysLeft: it.c.DaysLeft,
				Repeat: it.repeat, At: now, CurrentStatus: it.v.Status}
			if it.kind == KindResolved {
				m.Ended = it.c.ClearSince
			}
			byKey[k] = m
			order = append(order, k)
		}
		if it.c.Start.Before(m.Since) {
			m.Since = it.c.Start
		}
		m.Entities = append(m.Entities, EntityRef{ID: it.v.ID, Name: it.v.Name})
	}
	out := make([]Message, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out
}
