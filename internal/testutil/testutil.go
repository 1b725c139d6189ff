// Package testutil holds the two helpers every test package of onionswap
// needs and none should write again: a goroutine leak check and a poll
// with a deadline. It imports the standard library only, so any package's
// internal tests can use it.
package testutil

import (
	"runtime"
	"testing"
	"time"
)

// leakGrace: goroutines that are ending (a connection's reader after a
// close, a timer's callback) get this long to be gone.
const leakGrace = 5 * time.Second

// LeakCheck fails t if goroutines started during the test still run
// shortly after it and its cleanups. Call it first: cleanups run
// last-registered first, so the check runs after every other cleanup.
func LeakCheck(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() { NoMoreGoroutines(t, before) })
}

// NoMoreGoroutines waits until at most before goroutines run, and fails
// t with every goroutine's stack if that does not happen within a grace.
func NoMoreGoroutines(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(leakGrace)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Eventually polls cond every 10 ms until it holds, and fails t after d
// with what and cond's last explanation.
func Eventually(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if why != "" {
				t.Fatalf("timed out after %s waiting for %s (last: %s)", d, what, why)
			}
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Holds adapts a plain condition to Eventually.
func Holds(cond func() bool) func() (bool, string) {
	return func() (bool, string) { return cond(), "" }
}
