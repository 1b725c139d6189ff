package tor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onionswap/onionswap/internal/testutil"
)

// TestListenAuthorized: authorized services beside the node's own and an
// ephemeral one, each on its own key and listener. The exact ADD_ONION
// (V3Auth flag, one ClientAuthV3 per distinct client, the node's
// defences, the service's own virtual port); the key file created 0600
// and reused (same address); a key already in use and bad options
// refused; Close removes one; the transport's Close the rest.
func TestListenAuthorized(t *testing.T) {
	testutil.LeakCheck(t)
	f := newFakeTor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	cfg := attachConfig(f)
	cfg.KeyFile = filepath.Join(dir, "onion.key")
	cfg.PoWDefense = true
	tr, err := NewTorTransport(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	own, err := tr.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := goldenPair(t).Public(), mustClientAuth(t).Public()
	dashKey := filepath.Join(dir, "dashboard", "onion.key")
	d, err := tr.ListenAuthorized(ctx, AuthorizedService{KeyFile: dashKey, Port: 80, ClientAuth: []ClientAuthKey{c1, c2, c1}})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Authorized() || d.Ephemeral() || own.(*OnionListener).Authorized() {
		t.Fatal("Authorized()/Ephemeral() wrong")
	}
	if fi, err := os.Stat(dashKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("service key file: %v %v", fi, err)
	}
	line, local := addOnionLine(t, f, d, "80")
	want := "ADD_ONION ED25519-V3:" + base64Key(d.key) + " Flags=MaxStreamsCloseCircuit,V3Auth MaxStreams=16 Port=80," + local +
		" ClientAuthV3=" + goldenPubB32 + " ClientAuthV3=" + c2.String() + " PoWDefensesEnabled=1"
	if line != want {
		t.Fatalf("ADD_ONION\n got %q\nwant %q", line, want)
	}
	ownLine, _ := addOnionLine(t, f, own.(*OnionListener), "80")
	if strings.Contains(ownLine, "V3Auth") || strings.Contains(ownLine, "ClientAuthV3") {
		t.Fatalf("node's own service got client auth: %q", ownLine)
	}
	if err := d.WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(d.Addr().String(), ".onion:80") || d.Addr().String() == own.Addr().String() {
		t.Fatalf("address %s", d.Addr())
	}
	e, err := tr.ListenEphemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := tr.ListenAuthorized(ctx, AuthorizedService{KeyFile: filepath.Join(dir, "other.key"), Port: 8080, ClientAuth: []ClientAuthKey{c2}})
	if err != nil {
		t.Fatal(err)
	}
	if line, _ := addOnionLine(t, f, d2, "8080"); !strings.HasSuffix(line, " ClientAuthV3="+c2.String()+" PoWDefensesEnabled=1") {
		t.Fatalf("second authorized service: %q", line)
	}

	// A key already published here is refused at once, not after tor's
	// collision retries; so are bad options. None reaches tor.
	before := countPrefix(f.commands(), "ADD_ONION ")
	for name, opts := range map[string]AuthorizedService{
		"same key":          {KeyFile: dashKey, Port: 81, ClientAuth: []ClientAuthKey{c1}},
		"node's key":        {KeyFile: cfg.KeyFile, Port: 80, ClientAuth: []ClientAuthKey{c1}},
		"no clients":        {KeyFile: filepath.Join(dir, "x.key"), Port: 80},
		"zero client":       {KeyFile: filepath.Join(dir, "x.key"), Port: 80, ClientAuth: []ClientAuthKey{{}}},
		"no port":           {KeyFile: filepath.Join(dir, "x.key"), ClientAuth: []ClientAuthKey{c1}},
		"no key file":       {Port: 80, ClientAuth: []ClientAuthKey{c1}},
		"port out of range": {KeyFile: filepath.Join(dir, "x.key"), Port: 65536, ClientAuth: []ClientAuthKey{c1}},
	} {
		_, err := tr.ListenAuthorized(ctx, opts)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if strings.Contains(name, "key") && name != "no key file" && !errors.Is(err, ErrAlreadyListening) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if n := countPrefix(f.commands(), "ADD_ONION "); n != before {
		t.Fatalf("%d ADD_ONION sent for refused services", n-before)
	}

	// Close removes it (DEL_ONION once); the same key file gives the same
	// address again, e.g. to change the set of clients.
	id := d.addr.ServiceID
	acc := acceptErr(d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if waitErr(t, acc, "closed authorized") == nil {
		t.Fatal("Accept after Close")
	}
	if n := countPrefix(f.commands(), "DEL_ONION "+id); n != 1 {
		t.Fatalf("%d DEL_ONION", n)
	}
	d3, err := tr.ListenAuthorized(ctx, AuthorizedService{KeyFile: dashKey, Port: 80, ClientAuth: []ClientAuthKey{c2}})
	if err != nil {
		t.Fatal(err)
	}
	if d3.Addr().String() != d.Addr().String() {
		t.Fatalf("address changed with the same key file: %s -> %s", d.Addr(), d3.Addr())
	}

	// The transport's Close removes every service.
	acc2, acc3 := acceptErr(d2), acceptErr(d3)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if waitErr(t, acc2, "d2") == nil || waitErr(t, acc3, "d3") == nil {
		t.Fatal("Accept after the transport's Close")
	}
	cmds := f.commands()
	for _, l := range []*OnionListener{d2, e, own.(*OnionListener)} {
		if countPrefix(cmds, "DEL_ONION "+l.addr.ServiceID) != 1 {
			t.Fatalf("no DEL_ONION for %s at the transport's Close", l.Addr())
		}
	}
	if n := countPrefix(cmds, "DEL_ONION "+id); n != 2 {
		t.Fatalf("DEL_ONION of the dashboard's id sent %d times, want 2 (two listeners)", n)
	}
	if _, err := tr.ListenAuthorized(ctx, AuthorizedService{KeyFile: dashKey, Port: 80, ClientAuth: []ClientAuthKey{c1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestAuthorizedReaddedOnReconnect: after tor is lost and the session
// replaced, authorized services are re-added with the same key and the
// same client keys, like the node's own; an ephemeral one is not.
func TestAuthorizedReaddedOnReconnect(t *testing.T) {
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
	dir := t.TempDir()
	c1, c2 := mustClientAuth(t).Public(), mustClientAuth(t).Public()
	a1, err := tr.ListenAuthorized(ctx, AuthorizedService{KeyFile: filepath.Join(dir, "a1.key"), Port: 80, ClientAuth: []ClientAuthKey{c1}})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := tr.ListenAuthorized(ctx, AuthorizedService{KeyFile: filepath.Join(dir, "a2.key"), Port: 443, ClientAuth: []ClientAuthKey{c1, c2}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := tr.ListenEphemeral(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := map[*OnionListener]string{}
	for _, l := range []*OnionListener{a1, a2} {
		if err := l.WaitPublished(ctx); err != nil {
			t.Fatal(err)
		}
		first[l], _ = addOnionLine(t, f, l, map[*OnionListener]string{a1: "80", a2: "443"}[l])
	}
	f.dropAll()
	testutil.Eventually(t, 5*time.Second, "services re-added", testutil.Holds(func() bool {
		cmds := f.commands()
		return tr.Status().Restarts == 1 &&
			countPrefix(cmds, "ADD_ONION ED25519-V3:"+base64Key(own.(*OnionListener).key)) == 2 &&
			countPrefix(cmds, "ADD_ONION ED25519-V3:"+base64Key(a1.key)) == 2 &&
			countPrefix(cmds, "ADD_ONION ED25519-V3:"+base64Key(a2.key)) == 2
	}))
	for _, l := range []*OnionListener{a1, a2} {
		var lines []string
		for _, c := range f.commands() {
			if strings.HasPrefix(c, "ADD_ONION ED25519-V3:"+base64Key(l.key)+" ") {
				lines = append(lines, c)
			}
		}
		// The local port is the same listener's: the line is identical.
		if len(lines) != 2 || lines[1] != first[l] {
			t.Fatalf("re-added as %q, first %q", lines, first[l])
		}
		if err := l.WaitPublished(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := countPrefix(f.commands(), "ADD_ONION ED25519-V3:"+base64Key(e.key)); n != 1 {
		t.Fatalf("ephemeral service added %d times", n)
	}
	// Still served after the reconnect: Close on the new session sends
	// DEL_ONION there.
	if err := a1.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(f.commands(), "DEL_ONION "+a1.addr.ServiceID); n != 1 {
		t.Fatalf("%d DEL_ONION after the reconnect", n)
	}
}

// TestFakeRefusesClientAuthLikeTor: the fake control port answers client
// authorization mistakes as tor does, so the tests above would notice a
// missing V3Auth flag or a mangled key.
func TestFakeRefusesClientAuthLikeTor(t *testing.T) {
	k := goldenPubB32
	for args, want := range map[string]string{
		"ED25519-V3:x Flags=MaxStreamsCloseCircuit Port=80,1 ClientAuthV3=" + k:        "No auth type specified",
		"ED25519-V3:x Flags=V3Auth Port=80,1":                                          "No auth clients specified",
		"ED25519-V3:x Flags=V3Auth Port=80,1 ClientAuthV3=" + k[:51]:                   "Cannot decode",
		"ED25519-V3:x Flags=MaxStreamsCloseCircuit,V3Auth Port=80,1 ClientAuthV3=" + k: "",
		"ED25519-V3:x Flags=MaxStreamsCloseCircuit Port=80,1":                          "",
	} {
		if got := fakeCheckClientAuth(args); !strings.Contains(got, want) || (want == "") != (got == "") {
			t.Fatalf("%q: got %q, want %q", args, got, want)
		}
	}
}

func mustClientAuth(t *testing.T) *ClientAuthPair {
	t.Helper()
	p, err := GenerateClientAuth()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
