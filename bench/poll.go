package bench

import (
	"context"
	"fmt"
	"time"
)

// Poll first and last waits between two checks of a condition: the wait
// doubles from PollFirst up to PollMax, so a condition that holds soon is
// seen soon and a long wait costs few checks.
const (
	PollFirst = 5 * time.Millisecond
	PollMax   = 250 * time.Millisecond
)

// ErrTimeout is wrapped by Poll's error when the ceiling passed.
var ErrTimeout = fmt.Errorf("timed out")

// Poll checks cond until it returns true, ctx ends or within has passed
// (the ceiling: a bound for a stuck run, not an expected duration). It
// waits PollFirst after the first check, doubling up to PollMax. It
// returns how long it waited; the error wraps ErrTimeout or ctx's error.
// This is the one wait-for-a-condition of the benchmarks and the tests:
// no fixed sleeps.
func Poll(ctx context.Context, within time.Duration, cond func() bool) (time.Duration, error) {
	start := time.Now()
	wait := PollFirst
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for {
		if cond() {
			return time.Since(start), nil
		}
		left := within - time.Since(start)
		if left <= 0 {
			return time.Since(start), fmt.Errorf("%w after %v", ErrTimeout, within)
		}
		t.Reset(min(wait, left))
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, PollMax)
	}
}

// sleepCtx waits d unless ctx ends first; false when ctx ended. The
// benchmarks use it for measurement windows (a fixed length is the point
// there), never to wait for something to happen.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	return true
}
