package app

import (
	"sort"
	"time"

	"imagingstatus/wire"
)

// store is the page's copy of the hub's view: every entity by id, kept up to
// date from a snapshot and the changes after it.
type store struct {
	entities map[string]wire.Entity
	order    []string // depth-first tree order, for the selector
	root     string   // the first entity without a parent (General)
	loaded   bool     // a snapshot has arrived
	// skew is hub clock minus browser clock, measured when a frame arrives,
	// so durations computed from hub timestamps do not drift with a wrong
	// browser clock.
	skew time.Duration
}

// apply merges a coalesced batch. A snapshot replaces everything.
func (s *store) apply(b Batch) {
	if b.Snapshot != nil {
		s.entities = make(map[string]wire.Entity, len(b.Snapshot))
		for _, e := range b.Snapshot {
			s.entities[e.ID] = e
		}
		s.root = ""
		for _, e := range b.Snapshot {
			if e.Parent == "" {
				s.root = e.ID
				break
			}
		}
		s.loaded = true
	}
	for _, e := range b.Changes {
		if s.entities == nil {
			s.entities = make(map[string]wire.Entity)
		}
		s.entities[e.ID] = e
	}
	if !b.HubTime.IsZero() && !b.ReceivedAt.IsZero() {
		s.skew = b.HubTime.Sub(b.ReceivedAt)
	}
	if b.Snapshot != nil || len(b.Changes) > 0 {
		s.order = TreeOrder(s.entities)
		if s.root == "" && len(s.order) > 0 {
			s.root = s.order[0]
		}
	}
}

// hubNow is the browser's clock corrected to the hub's.
func (s *store) hubNow(local time.Time) time.Time { return local.Add(s.skew) }

// TreeOrder lists entity ids depth first, siblings by name, so the selector
// reads like the tree. An entity whose parent is unknown is shown as a root.
func TreeOrder(entities map[string]wire.Entity) []string {
	children := make(map[string][]string)
	var roots []string
	for id, e := range entities {
		if _, ok := entities[e.Parent]; e.Parent == "" || !ok || e.Parent == id {
			roots = append(roots, id)
			continue
		}
		children[e.Parent] = append(children[e.Parent], id)
	}
	byName := func(ids []string) {
		sort.Slice(ids, func(i, j int) bool {
			a, b := entities[ids[i]], entities[ids[j]]
			if a.Name != b.Name {
				return a.Name < b.Name
			}
			return a.ID < b.ID
		})
	}
	byName(roots)
	out := make([]string, 0, len(entities))
	seen := make(map[string]bool, len(entities))
	var walk func(id string)
	walk = func(id string) {
		if seen[id] {
			return
		}
		seen[id] = true
		out = append(out, id)
		kids := children[id]
		byName(kids)
		for _, k := range kids {
			walk(k)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	// A parent cycle leaves entities unreached: list them rather than hide them.
	if len(out) < len(entities) {
		var rest []string
		for id := range entities {
			if !seen[id] {
				rest = append(rest, id)
			}
		}
		byName(rest)
		for _, id := range rest {
			walk(id)
		}
	}
	return out
}

// depth of an entity in the tree, for indenting the list.
func depth(e wire.Entity) int {
	if len(e.Path) > 0 {
		return len(e.Path) - 1
	}
	return 0
}
