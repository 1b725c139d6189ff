package tor

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/testutil"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// addOnionLine returns the ADD_ONION command the fake received for the
// service of l, and the local address it maps the virtual port to.
func addOnionLine(t *testing.T, f *fakeTor, l *OnionListener, port string) (line, local string) {
	t.Helper()
	blob := base64Key(l.key)
	for _, c := range f.commands() {
		if strings.HasPrefix(c, "ADD_ONION ED25519-V3:"+blob+" ") {
			line = c
		}
	}
	if line == "" {
		t.Fatalf("no ADD_ONION for %s", l.Addr())
	}
	i := strings.Index(line, " Port="+port+",")
	if i < 0 {
		t.Fatalf("ADD_ONION without virtual port %s: %q", port, line)
	}
	local, _, _ = strings.Cut(line[i+len(" Port="+port+","):], " ")
	return line, local
}

// base64Key is k as ADD_ONION's ED25519-V3 blob.
func base64Key(k *OnionKey) string { return base64.StdEncoding.EncodeToString(k.kp.PrivateKey()) }

func countPrefix(lines []string, prefix string) (n int) {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// acceptErr runs Accept on l in the background, closing what it accepts,
// and reports the error that ends it.
func acceptErr(l *OnionListener) <-chan error {
	ch := make(chan error, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				ch <- err
				return
			}
			c.Close()
		}
	}()
	return ch
}

func waitErr(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: Accept still blocked", what)
		return nil
	}
}

// TestListenEphemeral: ephemeral services beside the node's own, each
// with a fresh key on its own local listener and the node's virtual
// port and defences; Close removes one (idempotently); closing the
// transport closes the rest; no ephemeral address is logged at Info.
func TestListenEphemeral(t *testing.T) {
	testutil.LeakCheck(t)
	f := newFakeTor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var logs syncBuffer
	cfg := attachConfig(f)
	keyDir := t.TempDir()
	cfg.KeyFile = filepath.Join(keyDir, "onion.key")
	cfg.PoWDefense = true
	cfg.OnionPort = 8333
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tr, err := NewTorTransport(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	own, err := tr.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e1, err := tr.ListenEphemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := tr.ListenEphemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if own.(*OnionListener).Ephemeral() || !e1.Ephemeral() {
		t.Fatal("Ephemeral() wrong")
	}
	addrs := map[string]bool{own.Addr().String(): true, e1.Addr().String(): true, e2.Addr().String(): true}
	if len(addrs) != 3 {
		t.Fatalf("addresses not distinct: %v", addrs)
	}
	locals := map[string]bool{}
	for _, l := range []*OnionListener{own.(*OnionListener), e1, e2} {
		if _, err := ParseOnionAddr(l.Addr().String()); err != nil || !strings.HasSuffix(l.Addr().String(), ".onion:8333") {
			t.Fatalf("addr %s: %v", l.Addr(), err)
		}
		line, local := addOnionLine(t, f, l, "8333")
		if !strings.Contains(line, " PoWDefensesEnabled=1") || !strings.Contains(line, " MaxStreams=16") {
			t.Fatalf("ADD_ONION without the node's defences: %q", line)
		}
		locals[local] = true
		if err := l.WaitPublished(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(locals) != 3 {
		t.Fatalf("local listeners shared: %v", locals)
	}
	// Inbound streams of an ephemeral service reach its own Accept.
	_, local1 := addOnionLine(t, f, e1, "8333")
	go func() {
		if c, err := net.Dial("tcp", local1); err == nil {
			c.Close()
		}
	}()
	c, err := e1.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// Ephemeral keys are never written to disk.
	if ents, _ := os.ReadDir(keyDir); len(ents) != 1 || ents[0].Name() != "onion.key" {
		t.Fatalf("key dir holds %v", ents)
	}

	// Close: DEL_ONION once, Accept fails, a second Close is harmless.
	id1 := e1.addr.ServiceID
	acc1 := acceptErr(e1)
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(f.commands(), "DEL_ONION "+id1); n != 1 {
		t.Fatalf("%d DEL_ONION for the closed service", n)
	}
	if waitErr(t, acc1, "closed ephemeral") == nil {
		t.Fatal("Accept after Close")
	}
	if err := e1.WaitPublished(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitPublished after Close: %v", err)
	}
	// A new one after a Close gets a new address.
	e3, err := tr.ListenEphemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if addrs[e3.Addr().String()] {
		t.Fatalf("address %s reused", e3.Addr())
	}

	// Info logs name the node's address, never an ephemeral one.
	info := logs.String()
	if !strings.Contains(info, own.(*OnionListener).addr.ServiceID) {
		t.Fatalf("node's address not logged: %s", info)
	}
	for _, l := range []*OnionListener{e1, e2, e3} {
		if strings.Contains(info, l.addr.ServiceID) {
			t.Fatalf("ephemeral address %s logged at Info: %s", l.Addr(), info)
		}
	}

	// Closing the transport closes the ephemeral listeners.
	acc2, acc3 := acceptErr(e2), acceptErr(e3)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if waitErr(t, acc2, "e2") == nil || waitErr(t, acc3, "e3") == nil {
		t.Fatal("Accept after the transport's Close")
	}
	cmds := f.commands()
	for _, l := range []*OnionListener{e2, e3} {
		if countPrefix(cmds, "DEL_ONION "+l.addr.ServiceID) != 1 {
			t.Fatalf("no DEL_ONION for %s at the transport's Close", l.Addr())
		}
	}
	if _, err := tr.ListenEphemeral(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("ListenEphemeral after Close: %v", err)
	}
}

// TestEphemeralLostOnReconnect: after tor is lost and the session
// replaced, the node's service is re-added with its key but an ephemeral
// one is not: its Accept and WaitPublished fail with ErrOnionLost.
func TestEphemeralLostOnReconnect(t *testing.T) {
	testutil.LeakCheck(t)
	f := newFakeTor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := NewTorTransport(ctx, attachConfig(f))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	own, err := tr.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e, err := tr.ListenEphemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	acc := acceptErr(e)
	f.dropAll()
	err = waitErr(t, acc, "lost ephemeral")
	if !errors.Is(err, ErrOnionLost) {
		t.Fatalf("Accept after the tor restart: %v", err)
	}
	wantErrContains(t, err, "tor restarted")
	if err := e.WaitPublished(ctx); !errors.Is(err, ErrOnionLost) {
		t.Fatalf("WaitPublished after the tor restart: %v", err)
	}
	testutil.Eventually(t, 5*time.Second, "node's service re-added", testutil.Holds(func() bool {
		return tr.Status().Restarts == 1 && own.(*OnionListener).WaitPublished(ctx) == nil &&
			countPrefix(f.commands(), "ADD_ONION ED25519-V3:"+base64Key(own.(*OnionListener).key)) == 2
	}))
	if n := countPrefix(f.commands(), "ADD_ONION ED25519-V3:"+base64Key(e.key)); n != 1 {
		t.Fatalf("ephemeral service added %d times", n)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(f.commands(), "DEL_ONION "); n != 0 {
		t.Fatalf("DEL_ONION sent to the new tor for a service it never had (%d)", n)
	}
	// The new session serves new ephemeral services.
	e2, err := tr.ListenEphemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	if e2.Addr().String() == e.Addr().String() {
		t.Fatal("address reused")
	}
}
