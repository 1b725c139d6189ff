//go:build itest

package tor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cretz/bine/control"
)

// torCommand sends one control command to n's tor and returns tor's
// reply lines.
func torCommand(t *testing.T, n *node, line string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := n.tr.session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var resp *control.Response
	err = s.cmd(ctx, func(c *control.Conn) (err error) {
		resp, err = c.SendRequest("%s", line)
		// bine calls every code but 250 an error; 251-259 are successes
		// too (ONION_CLIENT_AUTH_ADD: 251 replaced, 252 decrypted).
		var te *textproto.Error
		if errors.As(err, &te) && te.Code/10 == 25 {
			err = nil
		}
		return err
	})
	if err != nil {
		t.Fatalf("%s: %s: %v", n.name, strings.Fields(line)[0], err)
	}
	return resp.RawLines
}

// dialClientAuthErr dials addr from n until tor's answer is about client
// authorization (the descriptor is found and cannot be decrypted), not
// the transient "descriptor not found yet" of a service just published.
func dialClientAuthErr(t *testing.T, n *node, addr string) (*SOCKSError, time.Duration) {
	t.Helper()
	t0 := time.Now()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), itestDial)
		err := n.echo(ctx, addr)
		cancel()
		var se *SOCKSError
		switch {
		case err == nil:
			t.Fatalf("%s reached the authorized service without the right key", n.name)
		case errors.Is(err, ErrClientAuth) && errors.As(err, &se):
			t.Logf("%s -> authorized service: %v", n.name, err)
			return se, time.Since(t0)
		case time.Since(t0) > itestRecovery:
			t.Fatalf("%s: no client authorization error after %v (%d attempts): %v", n.name, time.Since(t0), attempt, err)
		}
		t.Logf("%s -> authorized service: attempt %d: %v", n.name, attempt, err)
		time.Sleep(time.Second)
	}
}

// TestAuthorizedOverTor: an onion service restricted by v3 client
// authorization on real tors. A client tor without a key gets SOCKS 0xF4
// (ErrClientAuth), with a wrong key 0xF5; with the key (added through
// ONION_CLIENT_AUTH_ADD, base64) it exchanges frames. After the service's
// tor is killed and restarted, the service is re-added at the same
// address and still restricted: a client that forgot everything (NEWNYM
// purges its descriptors and ephemeral client keys) gets 0xF4 again, and
// reaches it once it has the key again, this time from the
// .auth_private file of AuthPrivateLine in its ClientOnionAuthDir.
func TestAuthorizedOverTor(t *testing.T) {
	t.Parallel()
	var a, b *node
	var wg sync.WaitGroup
	wg.Go(func() { a = startNode(t, "olga", managedConfig(t, "olga"), false) })
	wg.Go(func() { b = startNode(t, "pete", managedConfig(t, "pete"), false) })
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	key, err := GenerateClientAuth()
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := GenerateClientAuth()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), itestRecovery)
	defer cancel()
	t0 := time.Now()
	l, err := a.tr.ListenAuthorized(ctx, AuthorizedService{
		KeyFile:    filepath.Join(itestDir, t.Name(), "olga", "dashboard.key"),
		Port:       80,
		ClientAuth: []ClientAuthKey{key.Public()},
	})
	if err != nil {
		t.Fatal(err)
	}
	acc := serveEchoOn(l)
	if err := l.WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	addr, id := l.Addr().String(), l.addr.ServiceID
	t.Logf("authorized service published in %v", time.Since(t0).Round(time.Millisecond))

	// (a) no key: the descriptor is fetched but unreadable.
	se, took := dialClientAuthErr(t, b, addr)
	if se.Code != 0xF4 {
		t.Fatalf("without a key: SOCKS reply %#x, want 0xf4", se.Code)
	}
	t.Logf("without a key: refused after %v: %v", took.Round(time.Millisecond), se)

	// (b) a wrong key: tor re-reads its cached descriptor with it.
	t.Logf("ONION_CLIENT_AUTH_ADD (wrong key): %q", torCommand(t, b, "ONION_CLIENT_AUTH_ADD "+id+" "+wrong.ControlPortKey()))
	se, took = dialClientAuthErr(t, b, addr)
	if se.Code != 0xF5 {
		t.Fatalf("with a wrong key: SOCKS reply %#x, want 0xf5", se.Code)
	}
	t.Logf("with a wrong key: refused after %v", took.Round(time.Millisecond))

	// (c) the right key replaces it: frames go both ways.
	t1 := time.Now()
	t.Logf("ONION_CLIENT_AUTH_ADD (right key): %q", torCommand(t, b, "ONION_CLIENT_AUTH_ADD "+id+" "+key.ControlPortKey()))
	n := b.echoRetry(t, addr, itestRecovery)
	t.Logf("with the key: reached in %v (%d attempts)", time.Since(t1).Round(time.Millisecond), n)

	// (d) the service's tor is killed; it comes back at the same address,
	// still restricted.
	pid := a.tr.Status().TorPID
	if bs, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !bytes.Contains(bs, []byte(itestDir)) {
		t.Fatalf("pid %d is not our tor: %q", pid, bs)
	}
	t2 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Re-added once the new tor lists it among this connection's
	// services; its new descriptor then replaces the old one.
	for {
		if a.tr.Status().Restarts > 0 && a.tr.Status().Connected {
			if r := strings.Join(torCommand(t, a, "GETINFO onions/current"), "\n"); strings.Contains(r, id) {
				break
			}
		}
		if time.Since(t2) > itestRecovery {
			t.Fatal("authorized service not re-added after the tor restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	recordPID(a.tr.Status().TorPID, "managed olga restarted")
	if err := l.WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	if l.Addr().String() != addr {
		t.Fatalf("address changed: %s -> %s", addr, l.Addr())
	}
	t.Logf("after SIGKILL: service re-added and published after %v", time.Since(t2).Round(time.Millisecond))
	// NEWNYM: pete forgets the old descriptor, its intro points (dead
	// with the old tor) and the key.
	torCommand(t, b, "SIGNAL NEWNYM")
	se, _ = dialClientAuthErr(t, b, addr)
	if se.Code != 0xF4 {
		t.Fatalf("after the restart, without a key: SOCKS reply %#x, want 0xf4", se.Code)
	}
	// This time the key comes as Tor Browser's would: a .auth_private
	// file in ClientOnionAuthDir (base32, where the control port takes
	// base64).
	authDir := filepath.Join(itestDir, t.Name(), "pete", "onion_auth")
	line, err := key.AuthPrivateLine(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(authDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(authDir, "dashboard.auth_private"), []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	torCommand(t, b, `SETCONF ClientOnionAuthDir="`+authDir+`"`)
	n = b.echoRetry(t, addr, itestRecovery)
	t.Logf("after SIGKILL: reachable with the key again after %v (%d attempts)", time.Since(t2).Round(time.Millisecond), n)

	a.close()
	acceptEnded(t, acc, "after the transport's Close")
}
