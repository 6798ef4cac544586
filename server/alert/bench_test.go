package alert

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/wire"
)

// BenchmarkEvaluate10000: one judgement of 10,000 entities (the engine
// makes one a second), a tenth of them Offline and alerting.
func BenchmarkEvaluate10000(b *testing.B) {
	const h = "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3"
	var ents []string
	for i := range 10_000 {
		ents = append(ents, fmt.Sprintf(`{"id":"E%d","name":"Entity %d","server":{"name":"srv-%d","token_sha256":"%s"}}`, i, i, i, h))
	}
	cfg, err := config.Parse([]byte(`{"entities":[` + strings.Join(ents, ",") + `]}`))
	if err != nil {
		b.Fatal(err)
	}
	ev := newEvaluator()
	views := make([]wire.Entity, 10_000)
	for i := range views {
		st := wire.StatusAvailable
		if i%10 == 0 {
			st = wire.StatusOffline
		}
		p := 50
		views[i] = wire.Entity{ID: fmt.Sprintf("E%d", i), Name: "x", ServedBy: fmt.Sprintf("srv-%d", i), Status: st, Since: t0, FullestPct: &p}
	}
	ev.observe(true, views)
	r := config.AlertRules{}.Resolved()
	b.ResetTimer()
	for i := range b.N {
		ev.evaluate(t0.Add(time.Duration(i)*time.Second), cfg, r)
	}
}
