package cluster

import (
	"context"
	"fmt"
	"time"
)

// Poll calls cond every interval until it reports done or ctx ends; the
// timeout error carries cond's last explanation. It is the one wait of the
// integration suites (they poll real processes: no condition variable to
// wait on).
func Poll(ctx context.Context, interval time.Duration, what string, cond func() (bool, string)) error {
	var last string
	for {
		ok, why := cond()
		if ok {
			return nil
		}
		last = why
		select {
		case <-ctx.Done():
			if last == "" {
				return fmt.Errorf("timed out waiting for %s", what)
			}
			return fmt.Errorf("timed out waiting for %s (last: %s)", what, last)
		case <-time.After(interval):
		}
	}
}

// Holds adapts a plain condition to Poll.
func Holds(cond func() bool) func() (bool, string) {
	return func() (bool, string) { return cond(), "" }
}
