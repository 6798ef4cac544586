package resident

import (
	"testing"
	"time"
)

func TestScheduleSkipsStartUpThenWaitsEvery(t *testing.T) {
	s := Schedule{Every: 15 * time.Minute}
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, false},                // the first collection: start-up still running
		{5 * time.Second, true},   // the second
		{10 * time.Second, false}, // within Every
		{15*time.Minute + 4*time.Second, false},
		{15*time.Minute + 5*time.Second, true},
		{15*time.Minute + 10*time.Second, false},
	}
	for i, st := range steps {
		if got := s.Due(t0.Add(st.at)); got != st.want {
			t.Errorf("collection %d at +%v: due %v, want %v", i+1, st.at, got, st.want)
		}
	}
}
