//go:build itest

package tor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveEchoOn serves the echo of serveEcho on l and reports the error
// that ends its Accept loop.
func serveEchoOn(l net.Listener) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				done <- err
				return
			}
			go func() {
				defer c.Close()
				for {
					f, err := readFrame(c)
					if err != nil || writeFrame(c, f) != nil {
						return
					}
				}
			}()
		}
	}()
	return done
}

func acceptEnded(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		if err == nil {
			t.Fatalf("%s: Accept ended without an error", what)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Accept still blocked", what)
		return nil
	}
}

// TestEphemeralOverTor: per-round ephemeral services beside the node's
// own, on real tors. Each is reachable at its own address; a closed one
// no longer is; a new one gets a new address; a tor restart re-adds the
// node's service but loses the ephemeral ones (Accept fails with
// ErrOnionLost); closing the transport closes the rest.
func TestEphemeralOverTor(t *testing.T) {
	t.Parallel()
	var a, b *node
	var wg sync.WaitGroup
	wg.Go(func() { a = startNode(t, "kate", managedConfig(t, "kate"), true) })
	wg.Go(func() { b = startNode(t, "leo", managedConfig(t, "leo"), false) })
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	ctx, cancel := context.WithTimeout(context.Background(), itestRecovery)
	defer cancel()
	e1, err := a.tr.ListenEphemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := a.tr.ListenEphemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acc1, acc2 := serveEchoOn(e1), serveEchoOn(e2)
	seen := map[string]bool{a.addr: true}
	for _, e := range []*OnionListener{e1, e2} {
		if seen[e.Addr().String()] {
			t.Fatalf("ephemeral address %s not fresh", e.Addr())
		}
		seen[e.Addr().String()] = true
	}

	// (a) all three reachable at once.
	t0 := time.Now()
	a.waitPublished(t)
	for _, e := range []*OnionListener{e1, e2} {
		if err := e.WaitPublished(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, addr := range []string{a.addr, e1.Addr().String(), e2.Addr().String()} {
		b.echoRetry(t, addr, itestRecovery)
	}
	t.Logf("node's and two ephemeral services published and reached in %v", time.Since(t0).Round(time.Millisecond))

	// (b) a closed ephemeral service no longer accepts; Close is idempotent.
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	acceptEnded(t, acc1, "closed e1")
	t1 := time.Now()
	dctx, dcancel := context.WithTimeout(context.Background(), itestDial+5*time.Second)
	err = b.echo(dctx, e1.Addr().String())
	dcancel()
	if err == nil {
		t.Fatal("closed ephemeral service still answers")
	}
	t.Logf("dial to the closed ephemeral service failed after %v: %v", time.Since(t1).Round(time.Millisecond), err)

	// (c) a new one after a Close gets a new address.
	e3, err := a.tr.ListenEphemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seen[e3.Addr().String()] {
		t.Fatalf("address %s reused", e3.Addr())
	}
	acc3 := serveEchoOn(e3)

	// (e) a tor restart: tor comes back, the ephemeral services are lost
	// and say so.
	pid := a.tr.Status().TorPID
	if bs, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !bytes.Contains(bs, []byte(itestDir)) {
		t.Fatalf("pid %d is not our tor: %q", pid, bs)
	}
	t2 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, acc := range []<-chan error{acc2, acc3} {
		if err := acceptEnded(t, acc, "after the tor restart"); !errors.Is(err, ErrOnionLost) {
			t.Fatalf("Accept after the tor restart: %v", err)
		}
	}
	for a.tr.Status().Restarts == 0 || !a.tr.Status().Connected {
		if time.Since(t2) > itestRecovery {
			t.Fatal("managed tor not restarted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	recordPID(a.tr.Status().TorPID, "managed kate restarted")
	// That the node's own service is reachable again is
	// TestManagedTorKilled's to prove, with a dialer that holds no stale
	// descriptor of it: b reached it above, and its tor may keep trying
	// the dead introduction points of the cached descriptor for minutes
	// on a loaded machine.
	t.Logf("after SIGKILL: tor restarted after %v; ephemeral services lost", time.Since(t2).Round(time.Millisecond))

	// (d) closing the transport closes a live ephemeral listener.
	e4, err := a.tr.ListenEphemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seen[e4.Addr().String()] || e4.Addr().String() == e3.Addr().String() {
		t.Fatalf("address %s reused", e4.Addr())
	}
	acc4 := serveEchoOn(e4)
	a.close()
	acceptEnded(t, acc4, "after the transport's Close")
}
